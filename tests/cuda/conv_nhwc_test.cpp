// CUDA FusedConvNhwc and ConvTransposeNhwc (channels-last, made by the nhwc-layout pass) against the CPU reference:
// FP32/FP16/BF16, odd channel counts, strides, pads (symmetric and asymmetric), dilations, groups, depthwise, 1x1,
// batch 1 and 5, bias + residual + every activation, cuDNN's fused call for ReLU, the float64 / empty fallbacks and
// the errors; the fused nodes of conv-head-fusion (`kiln_head`) and conv-pool-fusion (`kiln_pool`) on Kiln's wgmma
// kernel and on the fallbacks, and their malformed forms.
#include <iostream>
#include <tuple>

#include "backends/cuda/kernels/conv_cudnn.h"
#include "backends/cuda/kernels/conv_wgmma.h"
#include "backends/cuda/kernels/conv_wgmma_tactic.h"
#include "cuda/cuda_op_tester.h"

namespace kiln::testing {
namespace {

using Ints = std::vector<int64_t>;

constexpr DataType kTensorCoreTypes[] = {DataType::kFloat32, DataType::kFloat16, DataType::kBFloat16};

Tensor random(DataType t, Shape s) { return randomTensor(t, std::move(s), seed()); }

//! FusedConvNhwc over a runtime X [N, H, W, C] and constant W [M, kH, kW, C/group], with a constant bias when asked.
OpTester nhwcConv(DataType t, Shape x, Shape w, bool bias = true) {
    OpTester op("FusedConvNhwc", 1, "kiln");
    const int64_t m = w[0];
    op.input(random(t, std::move(x))).constInput(random(t, std::move(w)));
    if (bias) op.constInput(random(t, {m}));
    return op;
}

//! Compares with the reference; FP16 problems (what the layout pass makes for kFP16) must have run in cuDNN. BF16
//! ones that cuDNN refuses are listed (they still pass, through the direct kernel) as conv_test.cpp does.
void expectMatches(const OpTester& op, DataType t) {
    const uint64_t refusals = cuda::cudnnConvRefusals();
    expectCudaMatchesCpuScaled(op, scaledTolerance(t));
    if (t == DataType::kFloat16) {
        EXPECT_EQ(cuda::cudnnConvRefusals(), refusals) << "cuDNN refused the problem: it ran the direct kernel";
    } else if (t == DataType::kBFloat16 && cuda::cudnnConvRefusals() != refusals) {
        std::cout << "  note: cuDNN refused a bfloat16 channels-last problem (direct kernel ran)\n";
    }
}

TEST(CudaConvNhwc, StridesPadsDilationsGroupsOddChannels) {
    KILN_REQUIRE_GPU();
    for (DataType t : kTensorCoreTypes) {
        for (int64_t n : {1, 5}) {
            SCOPED_TRACE(std::string(dataTypeName(t)) + " batch " + std::to_string(n));
            // ResNet's stem: 7x7 stride 2 over 3 channels.
            expectMatches(
                nhwcConv(t, {n, 32, 32, 3}, {16, 7, 7, 3}).attr("strides", Ints{2, 2}).attr("pads", Ints{3, 3, 3, 3}),
                t);
            expectMatches(nhwcConv(t, {n, 14, 14, 7}, {8, 3, 3, 7}).attr("pads", Ints{1, 1, 1, 1}), t);
            expectMatches(nhwcConv(t, {n, 14, 14, 16}, {32, 1, 1, 16}, false).attr("strides", Ints{2, 2}), t);
            expectMatches(
                nhwcConv(t, {n, 15, 15, 5}, {7, 3, 3, 5}).attr("dilations", Ints{2, 2}).attr("pads", Ints{2, 2, 2, 2}),
                t);
            expectMatches(nhwcConv(t, {n, 9, 9, 6}, {9, 3, 3, 2}).attr("group", int64_t{3}), t);
            expectMatches(
                nhwcConv(t, {n, 13, 11, 17}, {17, 3, 3, 1}).attr("group", int64_t{17}).attr("pads", Ints{1, 1, 1, 1}),
                t);
            // Asymmetric pads (an explicit zero border in workspace) and SAME_UPPER with stride 2 over an even size.
            expectMatches(nhwcConv(t, {n, 10, 9, 5}, {6, 3, 3, 5}).attr("pads", Ints{0, 1, 2, 0}), t);
            expectMatches(nhwcConv(t, {n, 16, 16, 8}, {8, 3, 3, 8})
                              .attr("strides", Ints{2, 2})
                              .attr("auto_pad", std::string("SAME_UPPER")),
                          t);
        }
    }
}

struct Act {
    const char* name;
    std::vector<float> params;
};
const Act kActs[] = {{"", {}},        {"Relu", {}}, {"LeakyRelu", {0.2f}},         {"Clip", {-0.5f, 0.75f}},
                     {"Sigmoid", {}}, {"Tanh", {}}, {"HardSigmoid", {0.3f, 0.4f}}, {"HardSwish", {}}};

TEST(CudaConvNhwc, EveryActivationWithBiasAndResidual) {
    KILN_REQUIRE_GPU();
    for (DataType t : kTensorCoreTypes) {
        for (const Act& act : kActs) {
            SCOPED_TRACE(std::string(dataTypeName(t)) + " " + act.name);
            OpTester withResidual = nhwcConv(t, {5, 9, 9, 8}, {16, 3, 3, 8}).attr("pads", Ints{1, 1, 1, 1});
            withResidual.input(random(t, {5, 9, 9, 16})).attr("activation", std::string(act.name));
            if (!act.params.empty()) withResidual.attr("activation_params", act.params);
            expectMatches(withResidual, t);
            OpTester plain = nhwcConv(t, {1, 8, 8, 3}, {4, 3, 3, 3}, false).attr("activation", std::string(act.name));
            if (!act.params.empty()) plain.attr("activation_params", act.params);
            expectMatches(plain, t);
        }
        // Residual without bias (input 2 omitted): the fused call gets a zero bias.
        OpTester noBias("FusedConvNhwc", 1, "kiln");
        noBias.input(random(t, {1, 6, 6, 7}))
            .constInput(random(t, {8, 1, 1, 7}))
            .absentInput()
            .input(random(t, {1, 6, 6, 8}))
            .attr("activation", std::string("Relu"));
        expectMatches(noBias, t);
    }
}

// The point of the channels-last path: ResNet's convolutions (bias, residual, ReLU) are one cuDNN call in FP16.
TEST(CudaConvNhwc, HalfReluIsOneFusedCall) {
    KILN_REQUIRE_GPU();
    const DataType t = DataType::kFloat16;
    const uint64_t fusedRefusals = cuda::cudnnFusedConvRefusals();
    OpTester block = nhwcConv(t, {2, 14, 14, 64}, {64, 3, 3, 64}).attr("pads", Ints{1, 1, 1, 1});
    block.input(random(t, {2, 14, 14, 64})).attr("activation", std::string("Relu"));
    expectMatches(block, t);
    OpTester stem = nhwcConv(t, {1, 56, 56, 64}, {256, 1, 1, 64}).attr("activation", std::string("Relu"));
    expectMatches(stem, t);
    EXPECT_EQ(cuda::cudnnFusedConvRefusals(), fusedRefusals)
        << "cudnnConvolutionBiasActivationForward refused FP16 NHWC ReLU problems: they ran as two launches";
}

TEST(CudaConvNhwc, Float64AndEmptyBatchRunTheFallback) {
    KILN_REQUIRE_GPU();
    const DataType t = DataType::kFloat64;
    OpTester f64 = nhwcConv(t, {3, 9, 8, 4}, {6, 3, 3, 2})
                       .attr("group", int64_t{2})
                       .attr("pads", Ints{1, 0, 2, 1})
                       .attr("strides", Ints{2, 1});
    f64.input(random(t, {3, 5, 7, 6})).attr("activation", std::string("Relu"));
    expectCudaMatchesCpuScaled(f64, scaledTolerance(t));
    expectMatches(nhwcConv(DataType::kFloat16, {0, 5, 5, 3}, {4, 3, 3, 3}), DataType::kFloat16);
}

OpTester nhwcConvTranspose(DataType t, Shape x, Shape w, int64_t group = 1) {
    OpTester op("ConvTransposeNhwc", 1, "kiln");
    const int64_t m = w[3] * group;
    op.input(random(t, std::move(x))).constInput(random(t, std::move(w))).constInput(random(t, {m}));
    return op.attr("group", group);
}

TEST(CudaConvTransposeNhwc, ExactCroppedAndGrouped) {
    KILN_REQUIRE_GPU();
    for (DataType t : kTensorCoreTypes) {
        for (int64_t n : {1, 5}) {
            SCOPED_TRACE(std::string(dataTypeName(t)) + " batch " + std::to_string(n));
            // Exactly cuDNN's backward data (kernel 2 stride 2, UNet's, is GEMMs: conv_transpose_gemm_test.cpp).
            expectMatches(nhwcConvTranspose(t, {n, 7, 7, 16}, {16, 3, 3, 8}).attr("strides", Ints{2, 2}), t);
            // output_padding and asymmetric pads: computed whole, then cropped / zero-extended.
            expectMatches(nhwcConvTranspose(t, {n, 5, 5, 4}, {4, 3, 3, 3})
                              .attr("strides", Ints{2, 2})
                              .attr("pads", Ints{1, 1, 1, 1})
                              .attr("output_padding", Ints{1, 1}),
                          t);
            expectMatches(nhwcConvTranspose(t, {n, 5, 6, 4}, {4, 3, 3, 3})
                              .attr("strides", Ints{2, 2})
                              .attr("pads", Ints{0, 1, 2, 0}),
                          t);
            expectMatches(nhwcConvTranspose(t, {n, 4, 4, 6}, {6, 3, 3, 2}, 3).attr("dilations", Ints{2, 2}), t);
        }
    }
    const DataType f64 = DataType::kFloat64;
    expectCudaMatchesCpuScaled(nhwcConvTranspose(f64, {2, 3, 4, 5}, {5, 2, 2, 3}).attr("strides", Ints{2, 2}),
                               scaledTolerance(f64));
}

TEST(CudaConvNhwc, ErrorsMatchTheReference) {
    KILN_REQUIRE_GPU();
    const DataType f = DataType::kFloat16;
    // Both backends fail on each of these (expectCudaMatchesCpu checks the CUDA side fails when the CPU does).
    expectCudaMatchesCpu(nhwcConv(f, {1, 8, 8}, {4, 3, 3, 3}));     // X not 4-D
    expectCudaMatchesCpu(nhwcConv(f, {1, 8, 8, 3}, {4, 3, 3, 2}));  // channel mismatch
    expectCudaMatchesCpu(nhwcConv(f, {1, 2, 2, 3}, {4, 3, 3, 3}));  // input smaller than the kernel
    expectCudaMatchesCpu(nhwcConv(f, {1, 8, 8, 6}, {4, 3, 3, 3}).attr("group", int64_t{4}));
    OpTester badResidual = nhwcConv(f, {1, 8, 8, 3}, {4, 3, 3, 3});
    badResidual.input(random(f, {1, 8, 7, 4}));
    expectCudaMatchesCpu(badResidual);
    expectCudaMatchesCpu(nhwcConv(f, {1, 8, 8, 3}, {4, 3, 3, 3}).attr("activation", std::string("Gelu")));
    expectCudaMatchesCpu(nhwcConvTranspose(f, {1, 5, 5, 4}, {3, 3, 3, 2}));  // W.dim(0) != C
    expectCudaMatchesCpu(nhwcConvTranspose(f, {1, 5, 5}, {4, 3, 3, 2}));
}

//! conv-head-fusion's node (ops.def: kiln_head): conv X [n, h, h, c] with W [m, 3, 3, c], pad 1, ReLU, then the
//! 1x1 head W2 [k, 1, 1, m] + B2.
OpTester headConv(DataType t, int64_t n, int64_t h, int64_t c, int64_t m, int64_t k) {
    OpTester op = nhwcConv(t, {n, h, h, c}, {m, 3, 3, c}).attr("pads", Ints{1, 1, 1, 1}).attr("kiln_head", int64_t{1});
    op.attr("activation", std::string("Relu"));
    op.absentInput().constInput(randomTensor(t, {k, 1, 1, m}, seed(), -0.2, 0.2)).constInput(random(t, {k}));
    return op;
}

// Where Kiln's wgmma kernel serves (compute capability 9.0, 64 -> 64, k <= 8) it computes the head in its epilogue;
// elsewhere (other channel counts, k past 8, other GPUs) h goes through workspace: both match the reference.
TEST(CudaConvNhwc, FusedHeadMatchesTheReference) {
    KILN_REQUIRE_GPU();
    for (DataType t : {DataType::kFloat16, DataType::kBFloat16}) {
        SCOPED_TRACE(dataTypeName(t));
        const uint64_t runs = cuda::wgmmaConvRuns();
        expectCudaMatchesCpuScaled(headConv(t, 2, 20, 64, 64, 2), scaledTolerance(t));
        if (cuda::wgmmaConvDeviceSupported()) {
            EXPECT_GT(cuda::wgmmaConvRuns(), runs) << "the wgmma kernel did not compute the head";
        }
        expectCudaMatchesCpuScaled(headConv(t, 2, 11, 8, 16, 3), scaledTolerance(t));   // workspace: 8 channels
        expectCudaMatchesCpuScaled(headConv(t, 1, 9, 64, 64, 12), scaledTolerance(t));  // workspace: k past 8
    }
}

TEST(CudaConvNhwc, MalformedHeadIsRefused) {
    KILN_REQUIRE_GPU();
    const DataType f = DataType::kFloat16;
    OpTester op = nhwcConv(f, {1, 8, 8, 8}, {8, 3, 3, 8}).attr("pads", Ints{1, 1, 1, 1}).attr("kiln_head", int64_t{1});
    op.absentInput().constInput(random(f, {2, 1, 1, 4}));  // W2 over 4 channels, the convolution has 8
    auto built = op.build();
    ASSERT_TRUE(built.isOk()) << built.status().message();
    auto r = runOnCuda(*built->graph, built->feeds);
    ASSERT_FALSE(r.isOk());
    EXPECT_NE(r.status().message().find("head weights 'W2'"), std::string::npos) << r.status().message();
}

//! conv-pool-fusion's node (ops.def: kiln_pool): conv X [n, h, w, c] with W [m, r, r, c], pad (r - 1) / 2, bias,
//! ReLU (and a residual Z); outputs y and its 2x2 MaxPool.
OpTester pooledConv(DataType t, Shape x, int64_t m, int64_t r, bool z) {
    const int64_t pad = (r - 1) / 2;
    const Shape yShape{x[0], x[1], x[2], m};
    OpTester op = nhwcConv(t, x, {m, r, r, x[3]}).attr("pads", Ints{pad, pad, pad, pad});
    if (z) op.input(random(t, yShape));
    return op.attr("activation", std::string("Relu")).attr("kiln_pool", int64_t{1}).outputs(2);
}

// Where Kiln's wgmma kernel serves (compute capability 9.0, 64 -> 64, even output dims) it pools in its epilogue;
// elsewhere (other channel counts, odd dims: the floor drops the last row and column) the pool kernel runs over y:
// both match the reference.
TEST(CudaConvNhwc, FusedPoolMatchesTheReference) {
    KILN_REQUIRE_GPU();
    for (DataType t : {DataType::kFloat16, DataType::kBFloat16}) {
        SCOPED_TRACE(dataTypeName(t));
        for (const auto& [r, z] : {std::pair{3, false}, std::pair{3, true}, std::pair{1, false}}) {
            const uint64_t runs = cuda::wgmmaConvRuns();
            expectCudaMatchesCpuScaled(pooledConv(t, {2, 20, 70, 64}, 64, r, z), scaledTolerance(t));
            if (cuda::wgmmaConvDeviceSupported()) {
                EXPECT_GT(cuda::wgmmaConvRuns(), runs) << "the wgmma kernel did not pool, r " << r;
            }
        }
        const uint64_t runs = cuda::wgmmaConvRuns();
        expectCudaMatchesCpuScaled(pooledConv(t, {2, 11, 9, 64}, 64, 3, true), scaledTolerance(t));   // odd dims
        expectCudaMatchesCpuScaled(pooledConv(t, {1, 12, 10, 8}, 16, 3, false), scaledTolerance(t));  // 8 -> 16
        EXPECT_EQ(cuda::wgmmaConvRuns(), runs) << "the wgmma kernel ran where it does not serve";
    }
}

TEST(CudaConvNhwc, MalformedPoolIsRefused) {
    KILN_REQUIRE_GPU();
    const DataType f = DataType::kFloat16;
    for (const auto& [value, outputs, message] :
         {std::tuple{int64_t{2}, size_t{2}, "attribute 'kiln_pool' must be 0 or 1, got 2"},
          std::tuple{int64_t{1}, size_t{1}, "kiln_pool needs 2 outputs"},
          std::tuple{int64_t{-1}, size_t{2}, "'kiln_head' and 'kiln_pool' cannot both be set"}}) {
        OpTester op = nhwcConv(f, {1, 8, 8, 64}, {64, 3, 3, 64}).attr("pads", Ints{1, 1, 1, 1});
        // -1: kiln_pool = 1 with kiln_head = 1.
        op.attr("kiln_pool", value < 0 ? int64_t{1} : value).outputs(outputs);
        if (value < 0) op.attr("kiln_head", int64_t{1});
        auto built = op.build();
        ASSERT_TRUE(built.isOk()) << built.status().message();
        auto r = runOnCuda(*built->graph, built->feeds);
        ASSERT_FALSE(r.isOk()) << message;
        EXPECT_NE(r.status().message().find(message), std::string::npos) << r.status().message();
    }
}

}  // namespace
}  // namespace kiln::testing
