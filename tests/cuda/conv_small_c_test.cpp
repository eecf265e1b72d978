// Kiln's few-input-channel convolution (conv_small_c.h) launched directly against a host loop in double: FP16 and
// BF16; C in {1, 3, 4}; 1x1, 3x3 pad 1, 7x7 stride 2 pad 3, 3x3 stride 2 pad 0, asymmetric pads and a non-square
// kernel and stride; M in {8, 24, 64}; N = 2, H = 7, W = 13 (tiles cut at the right and bottom edges); with and
// without bias, residual and ReLU; nothing written past y. One-hot weights check each tap (dy, dx, c) exactly,
// so a wrong gather offset or B fragment names the tap. The host side (which problems the kernel takes, the
// signature part, the tactic text) is checked without a GPU. The tactic path (recorded tactic, timing cache) is
// conv_small_c_tactic_test.cpp.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <functional>
#include <memory>
#include <sstream>

#include "backends/cuda/kernels/conv_cudnn.h"
#include "backends/cuda/kernels/conv_small_c.h"
#include "backends/cuda/kernels/conv_small_c_tactic.h"
#include "cuda/cuda_op_tester.h"
#include "cuda/device_bytes_test_util.h"

namespace kiln::testing {
namespace {

//! Kernel, stride and pads (the bottom / right pads set the output size).
struct Window {
    const char* name;
    int kh, kw, sh, sw, top, left, bottom, right;
};

const Window kWindows[] = {
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

Operands randomOperands(const Case& k) {
    Operands o;
    o.x = randomTensor(k.t, {k.n, k.h, k.w, k.c}, seed());
    o.w = randomTensor(k.t, {k.m, k.win.kh, k.win.kw, k.c}, seed(), -0.5, 0.5);
    if (k.bias) o.b = randomTensor(k.t, {k.m}, seed());
    if (k.z) o.z = randomTensor(k.t, {k.n, k.oh(), k.ow(), k.m}, seed());
    return o;
}

//! y [n, oh, ow, m] in double, from the operands as stored.
std::vector<double> reference(const Case& k, const Operands& o) {
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

constexpr size_t kGuard = 256;  // poisoned bytes after y that the kernel must leave alone

//! Runs the kernel; y comes back as a host tensor. Poisoned with 0xFF bytes (NaN in FP16 and BF16) beforehand, so
//! an element the kernel does not write fails the comparison; the guard bytes after y must stay 0xFF.
Tensor runKernel(const Case& k, const Operands& o) {
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
    EXPECT_TRUE(cuda::smallChannelConvServes(conv));
    const cuda::SmallChannelConvParams p =
        cuda::smallChannelConvParams(conv, cuda::FusedConvOperands{x.get(), w.get(), b.get(), z.get(), dy.p}, k.relu);
    EXPECT_TRUE(cuda::smallChannelConvSupports(p));
    EXPECT_EQ(cuda::launchSmallChannelConv(p, nullptr), cudaSuccess);
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
void expectMatches(const Case& k, const Tensor& got, const std::vector<double>& want, double rel) {
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

constexpr DataType kTypes[] = {DataType::kFloat16, DataType::kBFloat16};

TEST(CudaSmallChannelConv, MatchesTheReferenceOnEveryWindowAndEpilogue) {
    KILN_REQUIRE_GPU();
    struct Epilogue {
        bool bias, z, relu;
    };
    const Epilogue epilogues[] = {{true, false, false}, {true, true, true}, {false, false, true}, {false, true, false}};
    for (DataType t : kTypes) {
        for (int c : {1, 3, 4}) {
            for (int m : {8, 24, 64}) {
                for (const Window& win : kWindows) {
                    for (const Epilogue& e : epilogues) {
                        const Case k{t, 2, 7, 13, c, m, win, e.bias, e.z, e.relu};
                        SCOPED_TRACE(k.name());
                        const Operands o = randomOperands(k);
                        expectMatches(k, runKernel(k, o), reference(k, o), scaledTolerance(t));
                        if (HasFailure()) return;  // one failing case says enough
                    }
                }
            }
        }
    }
}

// More tiles than resident CTAs (each CTA loops over several), and ResNet's stem at a size with whole tiles.
TEST(CudaSmallChannelConv, ManyTilesPerCta) {
    KILN_REQUIRE_GPU();
    for (DataType t : kTypes) {
        for (const Case& k : {Case{t, 4, 130, 130, 3, 64, kWindows[1], true, false, true},
                              Case{t, 2, 64, 64, 3, 64, kWindows[2], true, false, true}}) {
            SCOPED_TRACE(k.name());
            const Operands o = randomOperands(k);
            expectMatches(k, runKernel(k, o), reference(k, o), scaledTolerance(t));
        }
    }
}

//! 1.0 in `t`'s bits.
uint16_t oneBits(DataType t) { return t == DataType::kFloat16 ? 0x3C00 : 0x3F80; }

// Output channel m has one weight of 1 at tap k = (m + shift * M) mod K, the rest 0: y[., m] is exactly the input
// that tap reads (or 0 in the padding). The shifts together cover every tap.
TEST(CudaSmallChannelConv, OneHotWeightsPickEachTapExactly) {
    KILN_REQUIRE_GPU();
    for (DataType t : kTypes) {
        for (int c : {1, 3, 4}) {
            for (const Window& win : {kWindows[2], kWindows[5]}) {
                const Case k{t, 2, 7, 13, c, 64, win, false, false, false};
                const int taps = win.kh * win.kw * c;
                for (int shift = 0; shift * k.m < taps; ++shift) {
                    SCOPED_TRACE(k.name() + " shift " + std::to_string(shift));
                    Operands o;
                    o.x = randomTensor(t, {k.n, k.h, k.w, k.c}, seed());
                    o.w = Tensor(t, {k.m, win.kh, win.kw, c});
                    for (int m = 0; m < k.m; ++m) {
                        o.w.data<uint16_t>()[size_t(m) * taps + size_t((m + shift * k.m) % taps)] = oneBits(t);
                    }
                    const Tensor got = runKernel(k, o);
                    const std::vector<double> want = reference(k, o);
                    int reported = 0;
                    for (int64_t i = 0; i < got.numel() && reported < 5; ++i) {
                        if (got.getDouble(i) == want[size_t(i)]) continue;
                        ++reported;
                        const int m = int(i % k.m), tap = (m + shift * k.m) % taps;
                        ADD_FAILURE() << "pixel " << i / k.m << " channel " << m << " (tap dy " << tap / (win.kw * c)
                                      << " dx " << tap / c % win.kw << " c " << tap % c << "): got " << got.getDouble(i)
                                      << ", want " << want[size_t(i)];
                    }
                }
            }
        }
    }
}

// Host side: no GPU needed.

cuda::SmallChannelConvParams resnetStem() {
    cuda::SmallChannelConvParams p;
    p.batch = 256;
    p.inH = p.inW = 224;
    p.channels = 3;
    p.outChannels = 64;
    p.kernelH = p.kernelW = 7;
    p.strideH = p.strideW = 2;
    p.padTop = p.padLeft = 3;
    p.outH = p.outW = 112;
    return p;
}

TEST(CudaSmallChannelConvHost, SupportsOnlyItsProblems) {
    using P = cuda::SmallChannelConvParams;
    EXPECT_TRUE(cuda::smallChannelConvSupports(resnetStem()));
    const std::pair<const char*, std::function<void(P&)>> accepted[] = {
        {"bfloat16", [](P& p) { p.dtype = DataType::kBFloat16; }},
        {"1 channel", [](P& p) { p.channels = 1; }},
        {"4 channels", [](P& p) { p.channels = 4; }},
        {"8 outputs", [](P& p) { p.outChannels = 8; }},
        {"9x9 over 3 channels (K 243 -> 256)", [](P& p) { p.kernelH = p.kernelW = 9; }},
        {"empty batch", [](P& p) { p.batch = 0; }},
    };
    for (const auto& [name, change] : accepted) {
        P p = resnetStem();
        change(p);
        EXPECT_TRUE(cuda::smallChannelConvSupports(p)) << name;
    }
    const std::pair<const char*, std::function<void(P&)>> refused[] = {
        {"float32", [](P& p) { p.dtype = DataType::kFloat32; }},
        {"5 channels", [](P& p) { p.channels = 5; }},
        {"0 channels", [](P& p) { p.channels = 0; }},
        {"72 outputs", [](P& p) { p.outChannels = 72; }},
        {"12 outputs", [](P& p) { p.outChannels = 12; }},
        {"9x9 over 4 channels (K 324)",
         [](P& p) {
             p.kernelH = p.kernelW = 9;
             p.channels = 4;
         }},
        {"stride 0", [](P& p) { p.strideW = 0; }},
        {"negative pad", [](P& p) { p.padTop = -1; }},
    };
    for (const auto& [name, change] : refused) {
        P p = resnetStem();
        change(p);
        EXPECT_FALSE(cuda::smallChannelConvSupports(p)) << name;
        // Refused before anything reaches the GPU.
        EXPECT_EQ(cuda::launchSmallChannelConv(p, nullptr), cudaErrorInvalidValue) << name;
    }
    P misaligned = resnetStem();
    misaligned.y = reinterpret_cast<void*>(uintptr_t{0x1002});
    EXPECT_EQ(cuda::launchSmallChannelConv(misaligned, nullptr), cudaErrorInvalidValue);
}

//! The fused call's problem for UNet's first convolution, as conv_nhwc.cpp describes it to cuDNN.
cuda::CudnnConvProblem unetFirst() {
    cuda::CudnnConvProblem p;
    p.dtype = DataType::kFloat16;
    p.channelsLast = true;
    p.in = {16, 3, 512, 512, 0};
    p.filter = {64, 3, 3, 3, 0};
    p.out = {16, 64, 512, 512, 0};
    p.pad = {1, 1, 0};
    return p;
}

TEST(CudaSmallChannelConvHost, OfferedOnlyWhereItServesAndSaidSoInTheSignature) {
    cuda::CudnnConvProblem p = unetFirst();
    EXPECT_TRUE(cuda::smallChannelConvServes(p));
    const std::string sig = cuda::cudnnFusedConvSignature(p, true, SIZE_MAX);
    EXPECT_NE(sig.find("|kiln=small_c1"), std::string::npos) << sig;
    cuda::CudnnConvProblem wide = p;
    wide.in[1] = wide.filter[1] = 64;
    EXPECT_FALSE(cuda::smallChannelConvServes(wide));
    EXPECT_EQ(cuda::cudnnFusedConvSignature(wide, true, SIZE_MAX).find("kiln="), std::string::npos);
    cuda::CudnnConvProblem other = p;
    other.group = 3;
    other.filter[1] = 1;
    EXPECT_FALSE(cuda::smallChannelConvServes(other)) << "grouped";
    other = p;
    other.dilation = {2, 2, 1};
    EXPECT_FALSE(cuda::smallChannelConvServes(other)) << "dilated";
    other = p;
    other.channelsLast = false;
    EXPECT_FALSE(cuda::smallChannelConvServes(other)) << "NCHW";
    other = p;
    other.dtype = DataType::kFloat32;
    EXPECT_FALSE(cuda::smallChannelConvServes(other)) << "float32";

    int y = 0;
    alignas(16) char out[32];
    const cuda::FusedConvOperands aligned{&y, &y, &y, nullptr, out};
    EXPECT_TRUE(cuda::smallChannelConvApplies(p, aligned));
    const cuda::FusedConvOperands shifted{&y, &y, &y, nullptr, out + 2};
    EXPECT_FALSE(cuda::smallChannelConvApplies(p, shifted)) << "y not 16-byte aligned";
    const cuda::FusedConvOperands shiftedZ{&y, &y, &y, out + 4, out};
    EXPECT_FALSE(cuda::smallChannelConvApplies(p, shiftedZ)) << "z not 16-byte aligned";

    EXPECT_TRUE(cuda::isSmallChannelTactic(cuda::kSmallChannelTactic));
    EXPECT_TRUE(cuda::isSmallChannelTactic("kiln small_c v9 workspace=0")) << "another version: decoded, refused";
    EXPECT_FALSE(cuda::isSmallChannelTactic("algo=1 math=1 workspace=0"));
    EXPECT_FALSE(cuda::isSmallChannelTactic("graph engine=1 knobs= workspace=0"));
    EXPECT_NE(std::string(cuda::kSmallChannelTactic).find("workspace=0"), std::string::npos)
        << "every tactic text names its workspace (tactics_test.cpp checks it of every layer)";
}

}  // namespace
}  // namespace kiln::testing
