// Kiln's weights-stationary 64-channel convolution (conv_wgmma.h, wgmma on sm_90a) launched directly against a host
// loop in double: FP16 and BF16; 1x1, 3x3 pad 1 and 3x3 with asymmetric pads; N = 2,
// H in {5, 9}, W in {13, 70, 130} (row segments of 64 pixels cut at the right edge); with and without bias,
// residual and ReLU; nothing written past y. One-hot weights name the tap (dy, dx, c) a wrong descriptor or A
// fragment reads; a capped grid makes each CTA run several strips of odd heights (the ring's phases wrap, and the
// warpgroups' turns run on across strips). A recorded tactic runs
// the kernel through the fused channels-last call. The host side runs without a GPU.
#include <gtest/gtest.h>

#include <cstring>
#include <functional>
#include <string>

#include "backends/cuda/kernels/conv_cudnn.h"
#include "backends/cuda/kernels/conv_wgmma.h"
#include "backends/cuda/kernels/conv_wgmma_tactic.h"
#include "cuda/conv_direct_test_util.h"
#include "cuda/cuda_op_tester.h"

namespace kiln::testing {
namespace {

//! Skips (with the reason) where the device is not compute capability 9.0.
#define KILN_REQUIRE_SM90() \
    KILN_REQUIRE_GPU();     \
    if (!cuda::wgmmaConvDeviceSupported()) GTEST_SKIP() << "needs compute capability 9.0"

const Window kStride1Windows[] = {kWindows[0], kWindows[1], kWindows[4]};  // 1x1, 3x3 pad 1, 3x3 pads 0,2,1,0

Tensor runKernel(const Case& k, const Operands& o, int maxCtas = 0) {
    return runConvKernel(k, o, [maxCtas](const cuda::CudnnConvProblem& conv, const cuda::SmallChannelConvParams& p) {
        EXPECT_TRUE(cuda::wgmmaConvServes(conv));
        return cuda::launchWgmmaConv(p, nullptr, maxCtas);
    });
}

TEST(CudaWgmmaConv, MatchesTheReferenceOnEveryWindowAndEpilogue) {
    KILN_REQUIRE_SM90();
    struct Epilogue {
        bool bias, z, relu;
    };
    const Epilogue epilogues[] = {{true, false, false}, {true, true, true}, {false, false, true}, {false, true, false}};
    for (DataType t : kTypes) {
        for (const Window& win : kStride1Windows) {
            // Every epilogue on a small image; one on wider rows (three segments, the last one cut at 2 pixels).
            for (const Epilogue& e : epilogues) {
                for (int w : {13, 70}) {
                    const Case k{t, 2, 5, w, 64, 64, win, e.bias, e.z, e.relu};
                    SCOPED_TRACE(k.name());
                    const Operands o = randomOperands(k);
                    expectMatches(k, runKernel(k, o), reference(k, o), scaledTolerance(t));
                    if (HasFailure()) return;  // one failing case says enough
                }
            }
            const Case k{t, 2, 9, 130, 64, 64, win, true, true, true};
            SCOPED_TRACE(k.name());
            const Operands o = randomOperands(k);
            expectMatches(k, runKernel(k, o), reference(k, o), scaledTolerance(t));
            if (HasFailure()) return;
        }
    }
}

// Two CTAs for all the row segments (strips of 17 rows, one cut at a CTA's range): the ring of input rows wraps
// across strips many times, and a strip's first row falls to either warpgroup.
TEST(CudaWgmmaConv, ManyStripsPerCta) {
    KILN_REQUIRE_SM90();
    for (DataType t : kTypes) {
        for (const Window& win : {kWindows[1], kWindows[0]}) {
            const Case k{t, 2, 17, 130, 64, 64, win, true, true, true};
            SCOPED_TRACE(k.name());
            const Operands o = randomOperands(k);
            expectMatches(k, runKernel(k, o, 2), reference(k, o), scaledTolerance(t));
        }
    }
}

// One-hot weights (conv_direct_test_util.h's expectOneHotTaps) name the tap (dy, dx, c) a wrong descriptor or A
// fragment reads; rows of 70 pixels span two segments.
TEST(CudaWgmmaConv, OneHotWeightsPickEachTapExactly) {
    KILN_REQUIRE_SM90();
    for (DataType t : kTypes) {
        for (const Window& win : {kWindows[1], kWindows[0]}) {
            expectOneHotTaps(Case{t, 2, 5, 70, 64, 64, win, false, false, false},
                             [](const Case& k, const Operands& o) { return runKernel(k, o); });
            if (HasFailure()) return;
        }
    }
}

//! v rounded to `t` (float16 or bfloat16) and back, as a stored intermediate would be.
double roundedTo(DataType t, double v) {
    const auto f = static_cast<float>(v);
    return t == DataType::kFloat16 ? double(float(Half(f))) : double(float(BFloat16(f)));
}

// The head computed in the epilogue (WgmmaConvHead): out = conv1x1(h, w2) + b2 with h the convolution's result
// rounded to its dtype, against the two layers in double; y is not written; nothing past out is.
TEST(CudaWgmmaConv, HeadMatchesTheTwoLayers) {
    KILN_REQUIRE_SM90();
    for (DataType t : kTypes) {
        for (const Window& win : {kWindows[1], kWindows[0]}) {
            for (int heads : {1, 2, 3, cuda::kWgmmaConvMaxHead}) {
                const Case k{t, 2, 9, 130, 64, 64, win, true, false, heads != 3};
                SCOPED_TRACE(k.name() + " head " + std::to_string(heads));
                const Operands o = randomOperands(k);
                const Tensor w2 = randomTensor(t, {heads, 64}, seed(), -0.2, 0.2);
                const Tensor b2 = heads == 1 ? Tensor() : randomTensor(t, {heads}, seed());
                DeviceCopy dw2(w2), db2(b2);
                Tensor out(t, {k.n, k.oh(), k.ow(), heads});
                DeviceBytes dout(out.byteSize() + kGuard);
                ASSERT_EQ(cudaMemset(dout.p, 0xFF, out.byteSize() + kGuard), cudaSuccess);
                const cuda::WgmmaConvHead head{dw2.get(), db2.get(), dout.p, heads};
                runConvKernel(k, o, [&head](const cuda::CudnnConvProblem&, const cuda::SmallChannelConvParams& p) {
                    return cuda::launchWgmmaConv(p, nullptr, 3, &head);  // 3 CTAs: strips cut mid-column
                });
                ASSERT_EQ(cudaMemcpy(out.raw(), dout.p, out.byteSize(), cudaMemcpyDeviceToHost), cudaSuccess);
                const std::vector<char> guard = download(dout.at(out.byteSize()), kGuard);
                for (size_t i = 0; i < kGuard; ++i) ASSERT_EQ(static_cast<unsigned char>(guard[i]), 0xFF) << i;
                const std::vector<double> y = reference(k, o);
                std::vector<double> want(out.numel());
                for (size_t px = 0; px < want.size() / size_t(heads); ++px) {
                    for (int j = 0; j < heads; ++j) {
                        double sum = b2.defined() ? b2.getDouble(j) : 0.0;
                        for (int c = 0; c < 64; ++c) sum += roundedTo(t, y[px * 64 + c]) * w2.getDouble(j * 64 + c);
                        want[px * heads + j] = sum;
                    }
                }
                Case named = k;
                named.m = heads;
                expectMatches(named, out, want, scaledTolerance(t));
                if (HasFailure()) return;
            }
        }
    }
}

//! MaxPoolNhwc's 2x2 stride-2 window over channels-last `y` [n, oh, ow, 64], picked by its rule (taps (0,0), (0,1),
//! (1,0), (1,1); the first counts, a later one replaces it only when strictly greater) as raw 16-bit values.
std::vector<uint16_t> pool2x2(const Tensor& y) {
    const int64_t n = y.dim(0), oh = y.dim(1), ow = y.dim(2), c = y.dim(3);
    const auto* raw = static_cast<const uint16_t*>(y.raw());
    std::vector<uint16_t> out;
    for (int64_t i = 0; i < n; ++i) {
        for (int64_t py = 0; py < oh / 2; ++py) {
            for (int64_t px = 0; px < ow / 2; ++px) {
                for (int64_t ch = 0; ch < c; ++ch) {
                    int64_t best = -1;
                    for (int64_t tap = 0; tap < 4; ++tap) {
                        const int64_t at = ((i * oh + 2 * py + tap / 2) * ow + 2 * px + tap % 2) * c + ch;
                        if (best < 0 || y.getDouble(at) > y.getDouble(best)) best = at;
                    }
                    out.push_back(raw[best]);
                }
            }
        }
    }
    return out;
}

// The 2x2 MaxPool in the epilogue (WgmmaConvPool): y bit for bit the kernel's without the pool, the pooled output bit
// for bit MaxPoolNhwc's rule over that y, nothing written past it; ReLU makes ties of zeros (the first stays), rows
// of 130 pixels cut the last segment, and capped grids put row pairs at the CTAs' range ends.
TEST(CudaWgmmaConv, PoolMatchesMaxPoolOverY) {
    KILN_REQUIRE_SM90();
    for (DataType t : kTypes) {
        for (const Window& win : {kWindows[1], kWindows[0]}) {
            for (int ctas : {0, 3, 7}) {
                const Case k{t, 2, 18, 130, 64, 64, win, true, ctas == 3, true};
                SCOPED_TRACE(k.name() + " ctas " + std::to_string(ctas));
                const Operands o = randomOperands(k);
                const Tensor plain = runKernel(k, o);
                Tensor pooled(t, {k.n, k.oh() / 2, k.ow() / 2, 64});
                DeviceBytes dp(pooled.byteSize() + kGuard);
                ASSERT_EQ(cudaMemset(dp.p, 0xFF, pooled.byteSize() + kGuard), cudaSuccess);
                const cuda::WgmmaConvPool pool{dp.p};
                const Tensor y = runConvKernel(
                    k, o, [&pool, ctas](const cuda::CudnnConvProblem&, const cuda::SmallChannelConvParams& p) {
                        return cuda::launchWgmmaConv(p, nullptr, ctas, nullptr, &pool);
                    });
                ASSERT_EQ(cudaMemcpy(pooled.raw(), dp.p, pooled.byteSize(), cudaMemcpyDeviceToHost), cudaSuccess);
                const std::vector<char> guard = download(dp.at(pooled.byteSize()), kGuard);
                for (size_t i = 0; i < kGuard; ++i) ASSERT_EQ(static_cast<unsigned char>(guard[i]), 0xFF) << i;
                ASSERT_EQ(std::memcmp(y.raw(), plain.raw(), y.byteSize()), 0)
                    << "y differs from the kernel's without the pool";
                const std::vector<uint16_t> want = pool2x2(y);
                const auto* got = static_cast<const uint16_t*>(pooled.raw());
                int bad = 0;
                for (size_t i = 0; i < want.size() && bad < 5; ++i) {
                    if (got[i] != want[i]) {
                        ++bad;
                        ADD_FAILURE() << "pooled element " << i << ": 0x" << std::hex << got[i] << ", want 0x"
                                      << want[i];
                    }
                }
                if (HasFailure()) return;
            }
        }
    }
}

//! A 3x3 pad 1 problem the kernel serves, 8x8, for the host-side checks (no pointers).
cuda::WgmmaConvParams hostProblem() {
    cuda::WgmmaConvParams p;
    p.batch = 1;
    p.inH = p.inW = p.outH = p.outW = 8;
    p.channels = p.outChannels = 64;
    p.kernelH = p.kernelW = 3;
    p.padTop = p.padLeft = 1;
    return p;
}

TEST(CudaWgmmaConvHost, RefusesAMalformedPool) {
    cuda::WgmmaConvParams p = hostProblem();
    alignas(16) int dummy[8] = {};
    p.x = p.w = p.y = dummy;
    EXPECT_TRUE(cuda::wgmmaConvPoolSupports(p));
    cuda::WgmmaConvPool pool{nullptr};
    EXPECT_EQ(cuda::launchWgmmaConv(p, nullptr, 0, nullptr, &pool), cudaErrorInvalidValue) << "no out";
    pool.out = reinterpret_cast<char*>(dummy) + 2;
    EXPECT_EQ(cuda::launchWgmmaConv(p, nullptr, 0, nullptr, &pool), cudaErrorInvalidValue) << "an unaligned out";
    pool.out = dummy;
    const cuda::WgmmaConvHead head{dummy, nullptr, dummy, 2};
    EXPECT_EQ(cuda::launchWgmmaConv(p, nullptr, 0, &head, &pool), cudaErrorInvalidValue) << "a head with a pool";
    p.y = nullptr;
    EXPECT_EQ(cuda::launchWgmmaConv(p, nullptr, 0, nullptr, &pool), cudaErrorInvalidValue) << "no y";
    p.y = dummy;
    p.inH = p.outH = 7;
    EXPECT_FALSE(cuda::wgmmaConvPoolSupports(p)) << "odd height";
    EXPECT_EQ(cuda::launchWgmmaConv(p, nullptr, 0, nullptr, &pool), cudaErrorInvalidValue) << "odd height";
    p.inH = p.outH = 8;
    p.inW = p.outW = 9;
    EXPECT_FALSE(cuda::wgmmaConvPoolSupports(p)) << "odd width";
}

TEST(CudaWgmmaConvHost, RefusesAMalformedHead) {
    cuda::WgmmaConvParams p = hostProblem();
    alignas(16) int dummy[4] = {};
    cuda::WgmmaConvHead head{dummy, nullptr, dummy, 0};
    EXPECT_EQ(cuda::launchWgmmaConv(p, nullptr, 0, &head), cudaErrorInvalidValue) << "k = 0";
    head.k = cuda::kWgmmaConvMaxHead + 1;
    EXPECT_EQ(cuda::launchWgmmaConv(p, nullptr, 0, &head), cudaErrorInvalidValue) << "k past the most";
    head.k = 2;
    head.w2 = nullptr;
    EXPECT_EQ(cuda::launchWgmmaConv(p, nullptr, 0, &head), cudaErrorInvalidValue) << "no w2";
    head.w2 = dummy;
    p.z = dummy;
    EXPECT_EQ(cuda::launchWgmmaConv(p, nullptr, 0, &head), cudaErrorInvalidValue) << "a z with a head";
}

//! A FusedConvNhwc node with a recorded tactic: x [2, h, h, 64], w [64, r, r, 64], pad (r - 1) / 2, bias, ReLU.
OpTester fusedConv(DataType t, int64_t h, int64_t r, bool z, const std::string& tactic) {
    const int64_t c = 64;
    const int64_t pad = (r - 1) / 2;
    cuda::CudnnConvProblem p;
    p.dtype = t;
    p.channelsLast = true;
    p.in = {2, int(c), int(h), int(h), 0};
    p.filter = {64, int(c), int(r), int(r), 0};
    p.out = {2, 64, int(h), int(h), 0};
    p.pad = {int(pad), int(pad), 0};
    EXPECT_TRUE(cuda::wgmmaConvServes(p));
    OpTester o("FusedConvNhwc", 1, "kiln");
    o.input(randomTensor(t, {2, h, h, c}, seed())).constInput(randomTensor(t, {64, r, r, c}, seed(), -0.2, 0.2));
    o.constInput(randomTensor(t, {64}, seed()));
    if (z) o.input(randomTensor(t, {2, h, h, 64}, seed()));
    o.attr("pads", std::vector<int64_t>{pad, pad, pad, pad}).attr("activation", std::string("Relu"));
    const std::string sig = cuda::cudnnFusedConvSignature(p, true, SIZE_MAX);
    EXPECT_NE(sig.find("|kiln=wgmma64_1"), std::string::npos) << sig;
    return o.attr(cuda::kTacticAttribute, std::vector<std::string>{sig, tactic});
}

TEST(CudaWgmmaConvTactic, RecordedTacticRunsTheKernel) {
    KILN_REQUIRE_SM90();
    for (DataType t : kTypes) {
        for (const auto& [r, z] : {std::pair{3, false}, std::pair{3, true}, std::pair{1, true}}) {
            SCOPED_TRACE(std::string(dataTypeName(t)) + " r " + std::to_string(r) + (z ? " z" : ""));
            const uint64_t runs = cuda::wgmmaConvRuns();
            expectCudaMatchesCpuScaled(fusedConv(t, 21, r, z, cuda::kWgmmaConvTactic), scaledTolerance(t));
            EXPECT_GT(cuda::wgmmaConvRuns(), runs) << "the recorded tactic did not run the Kiln kernel";
        }
        const uint64_t runs = cuda::wgmmaConvRuns();
        expectCudaMatchesCpuScaled(fusedConv(t, 21, 3, true, "kiln wgmma64 v9 workspace=0"), scaledTolerance(t));
        EXPECT_EQ(cuda::wgmmaConvRuns(), runs) << "an unknown version ran the kernel";
    }
}

// Host side: no GPU needed.

cuda::WgmmaConvParams unetLevel0() {
    cuda::WgmmaConvParams p;
    p.batch = 16;
    p.inH = p.inW = p.outH = p.outW = 512;
    p.channels = 64;
    p.outChannels = 64;
    p.kernelH = p.kernelW = 3;
    p.padTop = p.padLeft = 1;
    return p;
}

TEST(CudaWgmmaConvHost, SupportsOnlyItsProblems) {
    using P = cuda::WgmmaConvParams;
    EXPECT_TRUE(cuda::wgmmaConvSupports(unetLevel0()));
    const std::pair<const char*, std::function<void(P&)>> accepted[] = {
        {"bfloat16", [](P& p) { p.dtype = DataType::kBFloat16; }},
        {"1x1", [](P& p) { p.kernelH = p.kernelW = 1, p.padTop = p.padLeft = 0; }},
        {"pads 0, bottom / right 2", [](P& p) { p.padTop = p.padLeft = 0, p.outH = p.outW = 512; }},
        {"empty batch", [](P& p) { p.batch = 0; }},
        {"odd sizes", [](P& p) { p.inH = p.outH = 17, p.inW = p.outW = 130; }},
    };
    for (const auto& [name, change] : accepted) {
        P p = unetLevel0();
        change(p);
        EXPECT_TRUE(cuda::wgmmaConvSupports(p)) << name;
    }
    const std::pair<const char*, std::function<void(P&)>> refused[] = {
        {"float32", [](P& p) { p.dtype = DataType::kFloat32; }},
        {"32 output channels", [](P& p) { p.outChannels = 32; }},
        {"128 output channels", [](P& p) { p.outChannels = 128; }},
        {"96 channels", [](P& p) { p.channels = 96; }},
        {"128 channels", [](P& p) { p.channels = 128; }},
        {"3 channels", [](P& p) { p.channels = 3; }},
        {"stride 2", [](P& p) { p.strideH = p.strideW = 2, p.outH = p.outW = 256; }},
        {"5x5", [](P& p) { p.kernelH = p.kernelW = 5, p.padTop = p.padLeft = 2; }},
        {"1x3", [](P& p) { p.kernelH = 1, p.padTop = 0; }},
        {"negative pad", [](P& p) { p.padTop = -1; }},
        {"a negative bottom pad", [](P& p) { p.outH = 509; }},
    };
    for (const auto& [name, change] : refused) {
        P p = unetLevel0();
        change(p);
        EXPECT_FALSE(cuda::wgmmaConvSupports(p)) << name;
        EXPECT_EQ(cuda::launchWgmmaConv(p, nullptr), cudaErrorInvalidValue) << name;
    }
}

TEST(CudaWgmmaConvHost, OfferedOnlyWhereItServesAndSaidSoInTheSignature) {
    cuda::CudnnConvProblem p;
    p.dtype = DataType::kFloat16;
    p.channelsLast = true;
    p.in = {16, 64, 512, 512, 0};
    p.filter = {64, 64, 3, 3, 0};
    p.out = {16, 64, 512, 512, 0};
    p.pad = {1, 1, 0};
    EXPECT_TRUE(cuda::wgmmaConvServes(p));
    const std::string sig = cuda::cudnnFusedConvSignature(p, true, SIZE_MAX);
    EXPECT_NE(sig.find("|kiln=wgmma64_1"), std::string::npos) << sig;
    cuda::CudnnConvProblem nchw = p;
    nchw.channelsLast = false;
    EXPECT_FALSE(cuda::wgmmaConvServes(nchw));
    cuda::CudnnConvProblem wide = p;
    wide.filter[0] = wide.out[1] = 128;
    EXPECT_FALSE(cuda::wgmmaConvServes(wide));
    EXPECT_EQ(cuda::cudnnFusedConvSignature(wide, true, SIZE_MAX).find("kiln="), std::string::npos);
    cuda::CudnnConvProblem concat = p;
    concat.in[1] = concat.filter[1] = 128;
    EXPECT_FALSE(cuda::wgmmaConvServes(concat));
    cuda::CudnnConvProblem dilated = p;
    dilated.dilation = {2, 2, 1};
    EXPECT_FALSE(cuda::wgmmaConvServes(dilated));
    EXPECT_TRUE(cuda::isWgmmaConvTactic(cuda::kWgmmaConvTactic));
    EXPECT_TRUE(cuda::isWgmmaConvTactic("kiln wgmma64 v9 workspace=0")) << "another version: decoded, refused";
    EXPECT_FALSE(cuda::isWgmmaConvTactic(cuda::kSmallChannelTactic));
    EXPECT_FALSE(cuda::isWgmmaConvTactic("algo=1 math=1 workspace=0"));
}

}  // namespace
}  // namespace kiln::testing
