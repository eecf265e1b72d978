// CUDA Conv, ConvTranspose and FusedConv against the CPU reference: cuDNN paths (symmetric pads, the explicit
// border of asymmetric pads, ConvTranspose's crop), the direct kernels (float64), every dtype, the fused epilogue
// with each activation, TF32, and the error paths.
#include "backends/cuda/kernels/conv_cudnn.h"
#include "cuda/cuda_op_tester.h"

namespace kiln::testing {
namespace {

using Ints = std::vector<int64_t>;

constexpr DataType kFloatTypes[] = {DataType::kFloat32, DataType::kFloat16, DataType::kBFloat16, DataType::kFloat64};

Tensor random(DataType t, Shape s) { return randomTensor(t, std::move(s), seed()); }

//! `op` over a runtime X and constant W (as in real models), with a constant bias of `bias` values when non-zero.
OpTester convOp(const char* op, DataType t, Shape x, Shape w, int64_t bias = 0) {
    const bool fused = std::string(op) == "FusedConv";
    OpTester tester(op, fused ? 1 : 17, fused ? "kiln" : "");
    tester.input(random(t, std::move(x))).constInput(random(t, std::move(w)));
    if (bias > 0) tester.constInput(random(t, {bias}));
    return tester;
}

//! Compares with the reference; float32 and float16 problems must also have run in cuDNN (not the direct kernel).
void expectMatches(const OpTester& op, DataType t) {
    const uint64_t refusals = cuda::cudnnConvRefusals();
    expectCudaMatchesCpuScaled(op, scaledTolerance(t));
    if (t == DataType::kFloat32 || t == DataType::kFloat16) {
        EXPECT_EQ(cuda::cudnnConvRefusals(), refusals) << "cuDNN refused the problem: it ran the direct kernel";
    }
}

TEST(CudaConv, ResNetShapes) {
    KILN_REQUIRE_GPU();
    for (DataType t : {DataType::kFloat32, DataType::kFloat16, DataType::kBFloat16}) {
        SCOPED_TRACE(dataTypeName(t));
        // Stem: 7x7 stride 2 over 3 channels.
        expectMatches(convOp("Conv", t, {1, 3, 32, 32}, {16, 3, 7, 7}, 16)
                          .attr("strides", Ints{2, 2})
                          .attr("pads", Ints{3, 3, 3, 3}),
                      t);
        expectMatches(convOp("Conv", t, {3, 16, 14, 14}, {16, 16, 3, 3}, 16).attr("pads", Ints{1, 1, 1, 1}), t);
        expectMatches(convOp("Conv", t, {3, 16, 14, 14}, {32, 16, 1, 1}).attr("strides", Ints{2, 2}), t);
    }
}

TEST(CudaConv, DepthwiseGroupedDilated) {
    KILN_REQUIRE_GPU();
    for (DataType t : {DataType::kFloat32, DataType::kFloat16}) {
        SCOPED_TRACE(dataTypeName(t));
        expectMatches(convOp("Conv", t, {3, 17, 13, 11}, {17, 1, 3, 3}, 17)
                          .attr("group", int64_t{17})
                          .attr("pads", Ints{1, 1, 1, 1}),
                      t);
        expectMatches(convOp("Conv", t, {1, 6, 9, 9}, {9, 2, 3, 3}).attr("group", int64_t{3}), t);
        expectMatches(convOp("Conv", t, {1, 5, 15, 15}, {7, 5, 3, 3}, 7)
                          .attr("dilations", Ints{2, 2})
                          .attr("pads", Ints{2, 2, 2, 2}),
                      t);
    }
}

TEST(CudaConv, OneAndThreeSpatialDims) {
    KILN_REQUIRE_GPU();
    for (DataType t : {DataType::kFloat32, DataType::kFloat16}) {
        SCOPED_TRACE(dataTypeName(t));
        expectMatches(convOp("Conv", t, {3, 5, 31}, {7, 5, 3}, 7).attr("strides", Ints{2}).attr("pads", Ints{1, 0}), t);
        expectMatches(convOp("Conv", t, {1, 3, 7, 8, 9}, {4, 3, 3, 3, 3}, 4).attr("pads", Ints{1, 1, 1, 1, 1, 1}), t);
        expectMatches(convOp("Conv", t, {3, 2, 6, 7, 5}, {5, 2, 2, 3, 1}).attr("strides", Ints{2, 1, 2}), t);
    }
}

TEST(CudaConv, AutoPadAndAsymmetricPads) {
    KILN_REQUIRE_GPU();
    for (DataType t : {DataType::kFloat32, DataType::kFloat16}) {
        SCOPED_TRACE(dataTypeName(t));
        // Stride 2 over an even size: SAME pads one more at the end (upper) or the start (lower).
        for (const char* autoPad : {"SAME_UPPER", "SAME_LOWER", "VALID"}) {
            SCOPED_TRACE(autoPad);
            expectMatches(convOp("Conv", t, {1, 3, 16, 16}, {8, 3, 3, 3}, 8)
                              .attr("strides", Ints{2, 2})
                              .attr("auto_pad", std::string(autoPad)),
                          t);
        }
        expectMatches(convOp("Conv", t, {3, 5, 10, 9}, {6, 5, 3, 3}).attr("pads", Ints{0, 1, 2, 0}), t);
        expectMatches(convOp("Conv", t, {1, 3, 12}, {4, 3, 4}).attr("auto_pad", std::string("SAME_UPPER")), t);
    }
}

TEST(CudaConv, Float64RunsTheDirectKernel) {
    KILN_REQUIRE_GPU();
    const DataType t = DataType::kFloat64;
    expectMatches(convOp("Conv", t, {3, 4, 9, 8}, {6, 2, 3, 3}, 6)
                      .attr("group", int64_t{2})
                      .attr("pads", Ints{1, 0, 2, 1})
                      .attr("strides", Ints{2, 1}),
                  t);
    expectMatches(convOp("Conv", t, {1, 3, 5, 6, 7}, {2, 3, 3, 2, 3}).attr("dilations", Ints{1, 2, 2}), t);
}

TEST(CudaConv, RuntimeWeightsAndEmptyBatch) {
    KILN_REQUIRE_GPU();
    OpTester runtime("Conv");
    runtime.input(random(DataType::kFloat32, {3, 5, 11, 13}))
        .input(random(DataType::kFloat32, {17, 5, 3, 3}))
        .input(random(DataType::kFloat32, {17}));
    expectMatches(runtime, DataType::kFloat32);
    expectMatches(convOp("Conv", DataType::kFloat32, {0, 3, 5, 5}, {4, 3, 3, 3}, 4), DataType::kFloat32);
}

TEST(CudaConvTranspose, StridesPadsAndOutputShapes) {
    KILN_REQUIRE_GPU();
    for (DataType t : kFloatTypes) {
        SCOPED_TRACE(dataTypeName(t));
        // Exactly cuDNN's backward data.
        expectMatches(convOp("ConvTranspose", t, {1, 4, 5, 5}, {4, 3, 3, 3}, 3)
                          .attr("strides", Ints{2, 2})
                          .attr("pads", Ints{1, 1, 1, 1})
                          .attr("output_padding", Ints{1, 1}),
                      t);
        // Asymmetric pads, output_shape larger than the natural output, SAME: computed whole, then cropped.
        expectMatches(convOp("ConvTranspose", t, {3, 4, 5, 6}, {4, 3, 3, 3}, 3)
                          .attr("strides", Ints{2, 2})
                          .attr("pads", Ints{0, 1, 2, 0}),
                      t);
        expectMatches(convOp("ConvTranspose", t, {1, 4, 5, 5}, {4, 3, 3, 3})
                          .attr("strides", Ints{2, 2})
                          .attr("output_shape", Ints{12, 11}),
                      t);
        for (const char* autoPad : {"SAME_UPPER", "SAME_LOWER"}) {
            SCOPED_TRACE(autoPad);
            expectMatches(convOp("ConvTranspose", t, {1, 4, 5, 5}, {4, 3, 3, 3}, 3)
                              .attr("strides", Ints{2, 2})
                              .attr("auto_pad", std::string(autoPad)),
                          t);
        }
    }
}

TEST(CudaConvTranspose, GroupsDilationsAndRanks) {
    KILN_REQUIRE_GPU();
    for (DataType t : {DataType::kFloat32, DataType::kFloat16, DataType::kFloat64}) {
        SCOPED_TRACE(dataTypeName(t));
        expectMatches(convOp("ConvTranspose", t, {2, 6, 4, 4}, {6, 2, 3, 3}, 4)
                          .attr("group", int64_t{2})
                          .attr("dilations", Ints{2, 2}),
                      t);
        expectMatches(convOp("ConvTranspose", t, {3, 5, 7}, {5, 4, 4}, 4).attr("strides", Ints{3}), t);
        expectMatches(convOp("ConvTranspose", t, {1, 2, 3, 4, 5}, {2, 3, 2, 3, 3}).attr("strides", Ints{1, 2, 2}), t);
        // Kernel smaller than the stride: gaps of zeros (plus bias).
        expectMatches(convOp("ConvTranspose", t, {1, 2, 4, 4}, {2, 2, 1, 1}, 2).attr("strides", Ints{2, 2}), t);
    }
}

TEST(CudaFusedConv, EveryActivationWithBiasAndResidual) {
    KILN_REQUIRE_GPU();
    struct Act {
        const char* name;
        std::vector<float> params;
    };
    const Act acts[] = {{"", {}},        {"Relu", {}}, {"LeakyRelu", {0.2f}},         {"Clip", {-0.5f, 0.75f}},
                        {"Sigmoid", {}}, {"Tanh", {}}, {"HardSigmoid", {0.3f, 0.4f}}, {"HardSwish", {}}};
    for (DataType t : {DataType::kFloat32, DataType::kFloat16}) {
        for (const Act& act : acts) {
            SCOPED_TRACE(std::string(dataTypeName(t)) + " " + act.name);
            OpTester withResidual =
                convOp("FusedConv", t, {3, 5, 9, 9}, {6, 5, 3, 3}, 6).attr("pads", Ints{1, 1, 1, 1});
            withResidual.input(random(t, {3, 6, 9, 9})).attr("activation", std::string(act.name));
            if (!act.params.empty()) withResidual.attr("activation_params", act.params);
            expectMatches(withResidual, t);
            OpTester plain =
                convOp("FusedConv", t, {1, 3, 8, 8}, {4, 3, 3, 3}).attr("activation", std::string(act.name));
            if (!act.params.empty()) plain.attr("activation_params", act.params);
            expectMatches(plain, t);
        }
    }
    // Residual without bias (input 2 omitted).
    OpTester noBias("FusedConv", 1, "kiln");
    noBias.input(random(DataType::kFloat32, {1, 3, 6, 6}))
        .constInput(random(DataType::kFloat32, {4, 3, 1, 1}))
        .absentInput()
        .input(random(DataType::kFloat32, {1, 4, 6, 6}))
        .attr("activation", std::string("Relu"));
    expectMatches(noBias, DataType::kFloat32);
}

TEST(CudaConv, Tf32StaysWithinTwoThousandths) {
    KILN_REQUIRE_GPU();
    OpTester op =
        convOp("Conv", DataType::kFloat32, {2, 64, 14, 14}, {64, 64, 3, 3}, 64).attr("pads", Ints{1, 1, 1, 1});
    expectCudaMatchesCpuScaled(op, 2e-3, /*allowTf32=*/true);
    OpTester t = convOp("ConvTranspose", DataType::kFloat32, {1, 32, 7, 7}, {32, 16, 4, 4}).attr("strides", Ints{2, 2});
    expectCudaMatchesCpuScaled(t, 2e-3, /*allowTf32=*/true);
}

TEST(CudaConv, ErrorsMatchTheReference) {
    KILN_REQUIRE_GPU();
    const DataType f = DataType::kFloat32;
    // Both backends fail on each of these (expectCudaMatchesCpu checks the CUDA side fails when the CPU does).
    expectCudaMatchesCpu(convOp("Conv", f, {1, 3, 8, 8}, {4, 2, 3, 3}));     // channel mismatch
    expectCudaMatchesCpu(convOp("Conv", f, {1, 3, 8, 8}, {4, 3, 3, 3}, 5));  // bias size
    expectCudaMatchesCpu(convOp("Conv", f, {1, 3, 2, 2}, {4, 3, 3, 3}));     // input smaller than the kernel
    expectCudaMatchesCpu(convOp("Conv", f, {1, 6, 8, 8}, {4, 3, 3, 3}).attr("group", int64_t{4}));
    expectCudaMatchesCpu(convOp("Conv", f, {1, 3, 8, 8}, {4, 3, 3, 3}).attr("kernel_shape", Ints{2, 2}));
    expectCudaMatchesCpu(convOp("Conv", f, {1, 3, 8, 8}, {4, 3, 3, 3}).attr("pads", Ints{1, 1}));
    expectCudaMatchesCpu(convOp("Conv", DataType::kInt32, {1, 3, 8, 8}, {4, 3, 3, 3}));
    OpTester mixed("Conv");
    mixed.input(random(f, {1, 3, 8, 8})).constInput(random(DataType::kFloat16, {4, 3, 3, 3}));
    expectCudaMatchesCpu(mixed);
    expectCudaMatchesCpu(convOp("ConvTranspose", f, {1, 4, 5, 5}, {3, 2, 3, 3}));  // W.dim(0) != C
    expectCudaMatchesCpu(convOp("ConvTranspose", f, {1, 4, 5, 5}, {4, 2, 3, 3}).attr("output_shape", Ints{9}));
    OpTester badResidual = convOp("FusedConv", f, {1, 3, 8, 8}, {4, 3, 3, 3}, 4);
    badResidual.input(random(f, {1, 4, 8, 7}));
    expectCudaMatchesCpu(badResidual);
    expectCudaMatchesCpu(convOp("FusedConv", f, {1, 3, 8, 8}, {4, 3, 3, 3}).attr("activation", std::string("Gelu")));
}

}  // namespace
}  // namespace kiln::testing
