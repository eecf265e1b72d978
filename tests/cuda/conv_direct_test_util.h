// Shared by the tests of Kiln's direct channels-last convolution kernels (conv_small_c_test.cpp,
// conv_wgmma_test.cpp): windows, cases, random operands, a host reference in double, a device run with poisoned
// output and guard bytes, and a comparison that names the first mismatching (image, row, column, channel).
#pragma once

#include <gtest/gtest.h>

#include <cmath>
#include <functional>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

#include "backends/cuda/kernels/conv_cudnn.h"
#include "backends/cuda/kernels/conv_small_c_tactic.h"
#include "cuda/cuda_op_tester.h"
#include "cuda/device_bytes_test_util.h"

namespace kiln::testing {

//! Kernel, stride and pads (the bottom / right pads set the output size).
struct Window {
    const char* name;
    int kh, kw, sh, sw, top, left, bottom, right;
};

inline const Window kWindows[] = {
    {"1x1", 1, 1, 1, 1, 0, 0, 0, 0},
    {"3x3 pad 1", 3, 3, 1, 1, 1, 1, 1, 1},
    {"7x7/2 pad 3", 7, 7, 2, 2, 3, 3, 3, 3},
    {"3x3/2 pad 0", 3, 3, 2, 2, 0, 0, 0, 0},
    {"3x3 pads 0,2,1,0", 3, 3, 1, 1, 0, 2, 1, 0},
    {"5x3/(2,1) pads 2,1,1,1", 5, 3, 2, 1, 2, 1, 1, 1},
};

struct Case {
    DataType t;
    int n, h, w, c, m;
    Window win;
    bool bias, z, relu;
    int oh() const { return (h + win.top + win.bottom - win.kh) / win.sh + 1; }
    int ow() const { return (w + win.left + win.right - win.kw) / win.sw + 1; }
    std::string name() const {
        std::ostringstream s;
        s << dataTypeName(t) << " " << n << "x" << h << "x" << w << "x" << c << " -> " << m << " " << win.name
          << (bias ? " +bias" : "") << (z ? " +z" : "") << (relu ? " relu" : "");
        return s.str();
    }
};

struct Operands {
    Tensor x, w, b, z;
};

inline Operands randomOperands(const Case& k) {
    Operands o;
    o.x = randomTensor(k.t, {k.n, k.h, k.w, k.c}, seed());
    o.w = randomTensor(k.t, {k.m, k.win.kh, k.win.kw, k.c}, seed(), -0.5, 0.5);
    if (k.bias) o.b = randomTensor(k.t, {k.m}, seed());
    if (k.z) o.z = randomTensor(k.t, {k.n, k.oh(), k.ow(), k.m}, seed());
    return o;
}

//! y [n, oh, ow, m] in double, from the operands as stored.
inline std::vector<double> reference(const Case& k, const Operands& o) {
    std::vector<double> y(size_t(k.n) * k.oh() * k.ow() * k.m);
    size_t at = 0;
    for (int b = 0; b < k.n; ++b) {
        for (int oy = 0; oy < k.oh(); ++oy) {
            for (int ox = 0; ox < k.ow(); ++ox) {
                for (int m = 0; m < k.m; ++m, ++at) {
                    double s = k.bias ? o.b.getDouble(m) : 0.0;
                    for (int dy = 0; dy < k.win.kh; ++dy) {
                        const int iy = oy * k.win.sh - k.win.top + dy;
                        for (int dx = 0; dx < k.win.kw; ++dx) {
                            const int ix = ox * k.win.sw - k.win.left + dx;
                            if (iy < 0 || iy >= k.h || ix < 0 || ix >= k.w) continue;
                            for (int c = 0; c < k.c; ++c) {
                                s += o.x.getDouble(((int64_t(b) * k.h + iy) * k.w + ix) * k.c + c) *
                                     o.w.getDouble(((int64_t(m) * k.win.kh + dy) * k.win.kw + dx) * k.c + c);
                            }
                        }
                    }
                    if (k.z) s += o.z.getDouble(int64_t(at));
                    y[at] = k.relu && s < 0 ? 0.0 : s;
                }
            }
        }
    }
    return y;
}

//! A device copy of `t` (nothing for an undefined tensor).
struct DeviceCopy {
    std::unique_ptr<DeviceBytes> bytes;
    explicit DeviceCopy(const Tensor& t) {
        if (!t.defined()) return;
        bytes = std::make_unique<DeviceBytes>(t.byteSize());
        EXPECT_EQ(cudaMemcpy(bytes->p, t.raw(), t.byteSize(), cudaMemcpyHostToDevice), cudaSuccess);
    }
    const void* get() const { return bytes ? bytes->p : nullptr; }
};

inline constexpr size_t kGuard = 256;  // poisoned bytes after y that the kernel must leave alone

//! The fused problem of a case as the tactic path maps it, and its kernel parameters.
using ConvLauncher = std::function<cudaError_t(const cuda::CudnnConvProblem&, const cuda::SmallChannelConvParams&)>;

//! Runs a kernel through `launch`; y comes back as a host tensor. Poisoned with 0xFF bytes (NaN in FP16 and BF16)
//! beforehand, so an element the kernel does not write fails the comparison; the guard bytes after y must stay
//! 0xFF.
inline Tensor runConvKernel(const Case& k, const Operands& o, const ConvLauncher& launch) {
    DeviceCopy x(o.x), w(o.w), b(o.b), z(o.z);
    Tensor y(k.t, {k.n, k.oh(), k.ow(), k.m});
    DeviceBytes dy(y.byteSize() + kGuard);
    EXPECT_EQ(cudaMemset(dy.p, 0xFF, y.byteSize() + kGuard), cudaSuccess);
    // The problem as the fused call describes it (its pads are the top / left ones; the output dims imply the
    // bottom / right ones), mapped as the tactic path maps it.
    cuda::CudnnConvProblem conv;
    conv.dtype = k.t;
    conv.channelsLast = true;
    conv.in = {k.n, k.c, k.h, k.w, 0};
    conv.filter = {k.m, k.c, k.win.kh, k.win.kw, 0};
    conv.out = {k.n, k.m, k.oh(), k.ow(), 0};
    conv.pad = {k.win.top, k.win.left, 0};
    conv.stride = {k.win.sh, k.win.sw, 1};
    const cuda::SmallChannelConvParams p =
        cuda::smallChannelConvParams(conv, cuda::FusedConvOperands{x.get(), w.get(), b.get(), z.get(), dy.p}, k.relu);
    EXPECT_EQ(launch(conv, p), cudaSuccess);
    EXPECT_EQ(cudaDeviceSynchronize(), cudaSuccess);
    EXPECT_EQ(cudaMemcpy(y.raw(), dy.p, y.byteSize(), cudaMemcpyDeviceToHost), cudaSuccess);
    const std::vector<char> guard = download(dy.at(y.byteSize()), kGuard);
    for (size_t i = 0; i < kGuard; ++i) {
        if (static_cast<unsigned char>(guard[i]) != 0xFF) {
            ADD_FAILURE() << "byte " << i << " past y was written";
            break;
        }
    }
    return y;
}

//! Each element within rel * max |reference| of the reference (expectCudaMatchesCpuScaled's measure); the first
//! mismatches are named by (image, row, column, channel).
inline void expectMatches(const Case& k, const Tensor& got, const std::vector<double>& want, double rel) {
    double scale = 0;
    for (double v : want) scale = std::max(scale, std::fabs(v));
    const double tol = rel * std::max(scale, 1e-3);
    int reported = 0, bad = 0;
    for (int64_t i = 0; i < got.numel(); ++i) {
        const double g = got.getDouble(i), d = std::fabs(g - want[size_t(i)]);
        if (d <= tol) continue;  // NaN fails here too
        ++bad;
        if (reported++ < 5) {
            const int64_t m = i % k.m, px = i / k.m;
            ADD_FAILURE() << k.name() << ": y[" << px / (k.oh() * k.ow()) << ", " << px / k.ow() % k.oh() << ", "
                          << px % k.ow() << ", " << m << "] = " << g << ", want " << want[size_t(i)] << " (tol " << tol
                          << ")";
        }
    }
    EXPECT_EQ(bad, 0) << k.name() << ": " << bad << " of " << got.numel() << " elements differ";
}

inline constexpr DataType kTypes[] = {DataType::kFloat16, DataType::kBFloat16};

//! 1.0 in `t`'s bits.
inline uint16_t oneBits(DataType t) { return t == DataType::kFloat16 ? 0x3C00 : 0x3F80; }

//! Output channel m has one weight of 1 at tap k = (m + shift * M) mod K (K = kH * kW * C, k = (dy * kW + dx) * C
//! + c), the rest 0: y[., m] is exactly the input that tap reads (or 0 in the padding). Runs every shift (together
//! they cover every tap) through `run` and names the tap of the first mismatches.
inline void expectOneHotTaps(const Case& k, const std::function<Tensor(const Case&, const Operands&)>& run) {
    const int taps = k.win.kh * k.win.kw * k.c;
    for (int shift = 0; shift * k.m < taps; ++shift) {
        SCOPED_TRACE(k.name() + " shift " + std::to_string(shift));
        Operands o;
        o.x = randomTensor(k.t, {k.n, k.h, k.w, k.c}, seed());
        o.w = Tensor(k.t, {k.m, k.win.kh, k.win.kw, k.c});
        for (int m = 0; m < k.m; ++m) {
            o.w.data<uint16_t>()[size_t(m) * taps + size_t((m + shift * k.m) % taps)] = oneBits(k.t);
        }
        const Tensor got = run(k, o);
        const std::vector<double> want = reference(k, o);
        int reported = 0;
        for (int64_t i = 0; i < got.numel() && reported < 8; ++i) {
            if (got.getDouble(i) == want[size_t(i)]) continue;
            ++reported;
            const int m = int(i % k.m), tap = (m + shift * k.m) % taps;
            const int64_t px = i / k.m;
            ADD_FAILURE() << "pixel (" << px / (k.oh() * k.ow()) << ", " << px / k.ow() % k.oh() << ", " << px % k.ow()
                          << ") channel " << m << " (tap dy " << tap / (k.win.kw * k.c) << " dx "
                          << tap / k.c % k.win.kw << " c " << tap % k.c << "): got " << got.getDouble(i) << ", want "
                          << want[size_t(i)];
        }
        if (::testing::Test::HasFailure()) return;
    }
}

}  // namespace kiln::testing
