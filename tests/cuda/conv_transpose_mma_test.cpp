// Kiln's one-pass ConvTranspose kernel for non-overlapping taps (kernels/conv_transpose_mma.h), called directly:
// - weights that copy input channel m % C into output channel m, times (tap + 1), plus small integer inputs and bias:
//   every result is exact, so a wrong row, tap, channel or fragment shows as a named (n, oh, ow, channel) mismatch;
// - random operands against a float64 host reference, FP16 and BF16: row tails (15 and 429 pixels), C of 8, 24 and
//   136 (a K tail), M of 8, 40 and 64 (column tiles with tails), kernels 2x2, 1x2 and 3x3, the slot at offset 0 and
//   inside a wider Concat row, bias or none; the channels outside the slot must keep their sentinel;
// - UNet's up.3 (x [1, 256, 256, 128] → 64 of 128 channels) against the cuBLASLt path;
// - what convTransposeMmaSupports accepts (host only).
// Which engine the graph's ConvTransposes take is tested in conv_transpose_gemm_test.cpp,
// conv_transpose_concat_test.cpp and nhwc_engine_test.cpp.
#include <cuda_runtime.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <string>
#include <vector>

#include "backends/cuda/kernels/conv_transpose_mma.h"
#include "cuda/conv_transpose_test_util.h"
#include "cuda/cuda_op_tester.h"
#include "cuda/device_bytes_test_util.h"

namespace kiln::testing {
namespace {

constexpr uint16_t kSentinel = 0xFFFF;  // NaN in float16 and bfloat16: an element left unwritten fails too
constexpr DataType kTypes[] = {DataType::kFloat16, DataType::kBFloat16};

struct Problem {
    int64_t n, h, w, c, m, kH, kW;
    int64_t outChannels, offset;  //!< The output row and the slot's first channel.
    bool bias;

    int64_t oh() const { return h * kH; }
    int64_t ow() const { return w * kW; }
    int64_t pixels() const { return n * oh() * ow(); }
};

std::string describe(DataType t, const Problem& p) {
    return std::string(dataTypeName(t)) + " x [" + std::to_string(p.n) + "," + std::to_string(p.h) + "," +
           std::to_string(p.w) + "," + std::to_string(p.c) + "] kernel " + std::to_string(p.kH) + "x" +
           std::to_string(p.kW) + " M " + std::to_string(p.m) + " into channels [" + std::to_string(p.offset) + ", " +
           std::to_string(p.offset + p.m) + ") of " + std::to_string(p.outChannels) +
           (p.bias ? " with bias" : " without bias");
}

struct Operands {
    Tensor x;     //!< [n, h, w, c]
    Tensor w;     //!< [c, kH, kW, m]
    Tensor bias;  //!< [m] (unused without bias)
};

Operands randomOperands(DataType t, const Problem& p) {
    return {randomTensor(t, {p.n, p.h, p.w, p.c}, seed()), randomTensor(t, {p.c, p.kH, p.kW, p.m}, seed()),
            randomTensor(t, {p.m}, seed())};
}

void setValue(Tensor& t, int64_t i, float v) {
    if (t.dtype() == DataType::kFloat16) {
        t.data<Half>()[i] = Half(v);
    } else {
        t.data<BFloat16>()[i] = BFloat16(v);
    }
}

//! W[c, i, j, m] = (tap i * kW + j) + 1 where c == m % C, else 0; x integers in [-3, 3]; bias[m] = m % 5 - 2.
Operands identityOperands(DataType t, const Problem& p) {
    Operands o{randomTensor(t, {p.n, p.h, p.w, p.c}, seed(), -3, 3), Tensor(t, {p.c, p.kH, p.kW, p.m}),
               Tensor(t, {p.m})};
    for (int64_t i = 0; i < o.x.numel(); ++i) setValue(o.x, i, std::round(static_cast<float>(o.x.getDouble(i))));
    for (int64_t c = 0; c < p.c; ++c) {
        for (int64_t tap = 0; tap < p.kH * p.kW; ++tap) {
            for (int64_t m = 0; m < p.m; ++m) {
                setValue(o.w, (c * p.kH * p.kW + tap) * p.m + m, m % p.c == c ? static_cast<float>(tap + 1) : 0.0f);
            }
        }
    }
    for (int64_t m = 0; m < p.m; ++m) setValue(o.bias, m, static_cast<float>(m % 5 - 2));
    return o;
}

//! The slot [n, oh, ow, m] in float64 from the operands as rounded to the dtype.
std::vector<double> reference(const Problem& p, const Operands& o) {
    std::vector<double> y(static_cast<size_t>(p.pixels() * p.m));
    std::vector<double> xs(static_cast<size_t>(p.c));
    for (int64_t pix = 0; pix < p.n * p.h * p.w; ++pix) {
        const int64_t nh = pix / p.w, wi = pix % p.w;
        for (int64_t c = 0; c < p.c; ++c) xs[static_cast<size_t>(c)] = o.x.getDouble(pix * p.c + c);
        for (int64_t i = 0; i < p.kH; ++i) {
            for (int64_t j = 0; j < p.kW; ++j) {
                const int64_t out = (nh * p.kH + i) * p.ow() + wi * p.kW + j;
                for (int64_t m = 0; m < p.m; ++m) {
                    double sum = p.bias ? o.bias.getDouble(m) : 0.0;
                    for (int64_t c = 0; c < p.c; ++c) {
                        sum += xs[static_cast<size_t>(c)] * o.w.getDouble(((c * p.kH + i) * p.kW + j) * p.m + m);
                    }
                    y[static_cast<size_t>(out * p.m + m)] = sum;
                }
            }
        }
    }
    return y;
}

double toDouble(DataType t, uint16_t bits) {
    return t == DataType::kFloat16 ? Half::toFloat(bits) : BFloat16::toFloat(bits);
}

void upload(void* dst, const Tensor& t) {
    ASSERT_EQ(cudaMemcpy(dst, t.raw(), t.byteSize(), cudaMemcpyHostToDevice), cudaSuccess);
}

//! The kernel's output rows [pixels, outChannels] (bits), the output filled with kSentinel first.
std::vector<uint16_t> runKernel(DataType t, const Problem& p, const Operands& o) {
    DeviceBytes x(o.x.byteSize()), w(o.w.byteSize()), bias(o.bias.byteSize());
    const size_t outElems = static_cast<size_t>(p.pixels() * p.outChannels);
    DeviceBytes out(outElems * 2);
    upload(x.p, o.x);
    upload(w.p, o.w);
    upload(bias.p, o.bias);
    std::vector<uint16_t> got(outElems, kSentinel);
    EXPECT_EQ(cudaMemcpy(out.p, got.data(), outElems * 2, cudaMemcpyHostToDevice), cudaSuccess);
    cuda::ConvTransposeMmaParams params;
    params.input = x.p;
    params.weights = w.p;
    params.bias = p.bias ? bias.p : nullptr;
    params.out = out.p;
    params.batch = p.n;
    params.h = p.h;
    params.w = p.w;
    params.c = p.c;
    params.m = p.m;
    params.kH = p.kH;
    params.kW = p.kW;
    params.outChannels = p.outChannels;
    params.offset = p.offset;
    EXPECT_TRUE(cuda::convTransposeMmaSupports(t, params));
    EXPECT_EQ(cuda::launchConvTransposeMma(t, params, nullptr), cudaSuccess);
    EXPECT_EQ(cudaDeviceSynchronize(), cudaSuccess);
    EXPECT_EQ(cudaMemcpy(got.data(), out.p, outElems * 2, cudaMemcpyDeviceToHost), cudaSuccess);
    return got;
}

//! Every slot element within rel * max |want| of want (rel 0: exact), every other channel still kSentinel. Names the
//! first mismatches by output position, input pixel and tap.
void expectSlot(DataType t, const Problem& p, const std::vector<uint16_t>& got, const std::vector<double>& want,
                double rel) {
    double maxAbs = 0;
    for (double v : want) maxAbs = std::max(maxAbs, std::fabs(v));
    const double bound = rel * maxAbs;
    int64_t bad = 0;
    for (int64_t pix = 0; pix < p.pixels(); ++pix) {
        for (int64_t ch = 0; ch < p.outChannels; ++ch) {
            const uint16_t bits = got[static_cast<size_t>(pix * p.outChannels + ch)];
            const bool inSlot = ch >= p.offset && ch < p.offset + p.m;
            double expected = 0;
            bool ok = !inSlot && bits == kSentinel;
            if (inSlot) {
                expected = want[static_cast<size_t>(pix * p.m + ch - p.offset)];
                ok = std::fabs(toDouble(t, bits) - expected) <= bound;
            }
            if (ok) continue;
            if (++bad <= 8) {
                const int64_t ow = pix % p.ow(), oh = pix / p.ow() % p.oh(), n = pix / p.ow() / p.oh();
                ADD_FAILURE() << "(n " << n << ", oh " << oh << ", ow " << ow << ", channel " << ch
                              << ") = input pixel (" << n << ", " << oh / p.kH << ", " << ow / p.kW << ") tap ("
                              << oh % p.kH << ", " << ow % p.kW << ") "
                              << (inSlot ? "slot channel " + std::to_string(ch - p.offset) + ": got " +
                                               std::to_string(toDouble(t, bits)) + ", want " + std::to_string(expected)
                                         : std::string("outside the slot: overwritten"));
            }
        }
    }
    EXPECT_EQ(bad, 0) << "elements wrong (bound " << bound << ")";
}

// Row tails, K tails (C = 136), column tails (M = 40: 160 columns; 3x3 M = 64: 576), slots inside wider rows.
const Problem kProblems[] = {
    {1, 3, 5, 8, 8, 2, 2, 8, 0, true},        // 15 rows, one 32-column tile, the slot is the whole row
    {1, 3, 5, 24, 40, 2, 2, 56, 16, false},   // the slot in the middle of a Concat row, no bias
    {2, 7, 9, 136, 64, 2, 2, 128, 64, true},  // K = 4 chunks of 32 + 8; the slot last
    {3, 11, 13, 24, 64, 3, 3, 72, 8, true},   // 429 rows (4 tiles, the last 45), 5 column tiles
    {2, 5, 7, 24, 40, 1, 2, 40, 0, true},     // kH = 1
    {1, 9, 4, 136, 8, 2, 2, 24, 16, false},   // M = 8: 4 taps in one 32-column tile
    {1, 1, 1, 8, 64, 2, 2, 64, 0, true},      // one pixel
};

//! Every problem in both dtypes with operands from `make`, within `rel` (per dtype) of the reference.
void expectEveryProblem(Operands (*make)(DataType, const Problem&), double (*rel)(DataType)) {
    for (DataType t : kTypes) {
        for (const Problem& p : kProblems) {
            SCOPED_TRACE(describe(t, p));
            const Operands o = make(t, p);
            expectSlot(t, p, runKernel(t, p, o), reference(p, o), rel(t));
        }
    }
}

TEST(CudaConvTransposeMma, IdentityWeightsPlaceEveryTapExactly) {
    KILN_REQUIRE_GPU();
    expectEveryProblem(identityOperands, [](DataType) { return 0.0; });
}

TEST(CudaConvTransposeMma, RandomOperandsMatchTheReference) {
    KILN_REQUIRE_GPU();
    expectEveryProblem(randomOperands, scaledTolerance);
}

TEST(CudaConvTransposeMma, UNetUp3MatchesCublasLt) {
    KILN_REQUIRE_GPU();
    // x [1, 256, 256, 128] → channels [offset, offset + 64) of a [1, 512, 512, 128] Concat, both slots.
    DirectKernelRun run(ir::OpKind::kConvTransposeNhwc, size_t(64) << 20);
    const int64_t h = 256, c = 128, m = 64, total = 128;
    for (DataType t : kTypes) {
        const cuda::ConvShape s = upsampleShape(t, 1, h, h, c, m, 2, 2);
        const Tensor xh = randomTensor(t, {1, h, h, c}, seed()), wh = randomTensor(t, {c, 2, 2, m}, seed());
        const Tensor bh = randomTensor(t, {m}, seed());
        DeviceBytes x(xh.byteSize()), w(wh.byteSize()), b(bh.byteSize());
        upload(x.p, xh);
        upload(w.p, wh);
        upload(b.p, bh);
        const cuda::DeviceTensor xt = deviceTensor(t, x.p, {1, h, h, c}), wt = deviceTensor(t, w.p, {c, 2, 2, m});
        const cuda::DeviceTensor bt = deviceTensor(t, b.p, {m});
        const size_t outBytes = size_t(4 * h * h * total) * 2;
        for (int64_t offset : {int64_t{0}, m}) {
            SCOPED_TRACE(std::string(dataTypeName(t)) + " offset " + std::to_string(offset));
            DeviceBytes kiln(outBytes), lt(outBytes);
            ASSERT_EQ(cudaMemset(kiln.p, 0xFF, outBytes), cudaSuccess);
            ASSERT_EQ(cudaMemset(lt.p, 0xFF, outBytes), cudaSuccess);
            const uint64_t mmaRuns = cuda::convTransposeMmaRuns();
            cuda::CudaKernelContext ctx = run.context();
            ASSERT_TRUE(cuda::convTransposeMma(ctx, s, xt, wt, &bt, kiln.p, total, offset).isOk());
            EXPECT_EQ(cuda::convTransposeMmaRuns(), mmaRuns + 1);
            const Status ltRun = cuda::convTransposeGemmSlice(ctx, s, xt, wt, &bt, lt.p, total, offset,
                                                              cuda::ConvTransposeEngine::kCublasLt);
            ASSERT_TRUE(ltRun.isOk()) << ltRun.message();
            EXPECT_EQ(cuda::convTransposeMmaRuns(), mmaRuns + 1) << "kCublasLt ran Kiln's kernel";
            ASSERT_EQ(cudaDeviceSynchronize(), cudaSuccess);
            const std::vector<char> got = download(kiln.p, outBytes), want = download(lt.p, outBytes);
            const size_t elems = outBytes / 2;
            std::vector<uint16_t> g(elems), wv(elems);
            std::memcpy(g.data(), got.data(), outBytes);
            std::memcpy(wv.data(), want.data(), outBytes);
            double maxAbs = 0;
            for (size_t i = 0; i < elems; ++i) {
                if (wv[i] != kSentinel) maxAbs = std::max(maxAbs, std::fabs(toDouble(t, wv[i])));
            }
            int64_t bad = 0;
            for (size_t i = 0; i < elems; ++i) {
                const bool same =
                    g[i] == wv[i] || (g[i] != kSentinel && wv[i] != kSentinel &&
                                      std::fabs(toDouble(t, g[i]) - toDouble(t, wv[i])) <= scaledTolerance(t) * maxAbs);
                if (!same && ++bad <= 8) {
                    ADD_FAILURE() << "element " << i << " (pixel " << i / total << ", channel " << i % total
                                  << "): Kiln " << toDouble(t, g[i]) << ", cuBLASLt " << toDouble(t, wv[i]);
                }
            }
            EXPECT_EQ(bad, 0);
        }
    }
}

// Host only: runs without a GPU.
TEST(CudaConvTransposeMma, SupportsOnlyAlignedHalfProblems) {
    cuda::ConvTransposeMmaParams p;
    p.input = reinterpret_cast<const void*>(uintptr_t{0x1000});
    p.weights = reinterpret_cast<const void*>(uintptr_t{0x2000});
    p.out = reinterpret_cast<void*>(uintptr_t{0x3000});
    p.batch = 2;
    p.h = 5;
    p.w = 7;
    p.c = 24;
    p.m = 40;
    p.kH = 2;
    p.kW = 2;
    p.outChannels = 80;
    p.offset = 40;
    const auto h = DataType::kFloat16;
    EXPECT_TRUE(cuda::convTransposeMmaSupports(h, p));
    EXPECT_TRUE(cuda::convTransposeMmaSupports(DataType::kBFloat16, p));
    EXPECT_FALSE(cuda::convTransposeMmaSupports(DataType::kFloat32, p));
    auto refuses = [&](auto change) {
        cuda::ConvTransposeMmaParams q = p;
        change(q);
        return !cuda::convTransposeMmaSupports(h, q);
    };
    EXPECT_TRUE(refuses([](auto& q) { q.c = 12; }));
    EXPECT_TRUE(refuses([](auto& q) { q.m = 36; }));
    EXPECT_TRUE(refuses([](auto& q) { q.outChannels = 84; }));
    EXPECT_TRUE(refuses([](auto& q) { q.offset = 36; }));
    EXPECT_TRUE(refuses([](auto& q) { q.offset = 48; }));  // past the row's end
    EXPECT_TRUE(refuses([](auto& q) { q.c = 0; }));
    EXPECT_TRUE(refuses([](auto& q) { q.input = reinterpret_cast<const void*>(uintptr_t{0x1008}); }));
    EXPECT_TRUE(refuses([](auto& q) { q.weights = reinterpret_cast<const void*>(uintptr_t{0x2002}); }));
    EXPECT_TRUE(refuses([](auto& q) { q.out = reinterpret_cast<void*>(uintptr_t{0x3004}); }));
    EXPECT_FALSE(refuses([](auto& q) { q.batch = 0; }));  // nothing to do, but not refused
}

}  // namespace
}  // namespace kiln::testing
