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
#include "cuda/conv_direct_test_util.h"
#include "cuda/cuda_op_tester.h"
#include "cuda/device_bytes_test_util.h"

namespace kiln::testing {
namespace {

//! Runs the small-channel kernel (conv_direct_test_util.h's runConvKernel).
Tensor runKernel(const Case& k, const Operands& o) {
    return runConvKernel(k, o, [](const cuda::CudnnConvProblem& conv, const cuda::SmallChannelConvParams& p) {
        EXPECT_TRUE(cuda::smallChannelConvServes(conv));
        EXPECT_TRUE(cuda::smallChannelConvSupports(p));
        return cuda::launchSmallChannelConv(p, nullptr);
    });
}

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

// One-hot weights (conv_direct_test_util.h's expectOneHotTaps) check each tap exactly.
TEST(CudaSmallChannelConv, OneHotWeightsPickEachTapExactly) {
    KILN_REQUIRE_GPU();
    for (DataType t : kTypes) {
        for (int c : {1, 3, 4}) {
            for (const Window& win : {kWindows[2], kWindows[5]}) {
                expectOneHotTaps(Case{t, 2, 7, 13, c, 64, win, false, false, false},
                                 [](const Case& k, const Operands& o) { return runKernel(k, o); });
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
    // 64 -> 64 is the wgmma kernel's problem (conv_wgmma_test.cpp), not this kernel's.
    EXPECT_EQ(cuda::cudnnFusedConvSignature(wide, true, SIZE_MAX).find("kiln=small_c1"), std::string::npos);
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
