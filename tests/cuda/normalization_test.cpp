// CUDA normalization family against the CPU reference: BatchNormalization (inference, training, legacy
// per-activation), InstanceNormalization, LayerNormalization (+ Mean/InvStdDev), MeanVarianceNormalization,
// LpNormalization, LRN. Mixed parameter dtypes, short (warp) and long (block) segments, size-0 dims, errors.
#include "cuda/reduction_test_util.h"

namespace kiln::testing {
namespace {

//! BatchNormalization inputs for x of `shape`: scale, B, mean, var (positive) of `count` elements.
OpTester batchNorm(int64_t opset, Tensor x, DataType paramType, int64_t count) {
    OpTester t("BatchNormalization", opset);
    t.input(std::move(x));
    t.input(randomTensor(paramType, {count}, seed(), 0.5, 1.5));
    t.input(randomTensor(paramType, {count}, seed()));
    t.input(randomTensor(paramType, {count}, seed()));
    t.input(randomTensor(paramType, {count}, seed(), 0.5, 1.5));
    return t;
}

TEST(CudaBatchNorm, InferenceEveryDtypeAndRank) {
    KILN_REQUIRE_GPU();
    for (DataType type : floatTypes()) {
        SCOPED_TRACE(dataTypeName(type));
        expectCudaMatchesCpu(batchNorm(15, randomTensor(type, {2, 3, 5, 7}, seed()), type, 3));
        expectCudaMatchesCpu(batchNorm(15, randomTensor(type, {4, 5}, seed()), type, 5));
        // Parameters of another float dtype than X (the CPU reads them as doubles).
        expectCudaMatchesCpu(
            batchNorm(15, randomTensor(type, {2, 3, 11}, seed()), DataType::kFloat32, 3).attr("epsilon", 1e-3f));
    }
    expectCudaMatchesCpu(batchNorm(15, randomTensor(DataType::kFloat32, {2, 3, 5, 7}, seed()), DataType::kFloat64, 3));
    expectCudaMatchesCpu(batchNorm(15, Tensor(DataType::kFloat32, {0, 3, 4}), DataType::kFloat32, 3));
    // Opset 7 with spatial=0: one parameter per (channel, position).
    expectCudaMatchesCpu(batchNorm(7, randomTensor(DataType::kFloat32, {2, 3, 4}, seed()), DataType::kFloat32, 12)
                             .attr("spatial", int64_t{0}));
}

TEST(CudaBatchNorm, TrainingModeStatistics) {
    KILN_REQUIRE_GPU();
    for (DataType type : {DataType::kFloat32, DataType::kFloat16, DataType::kFloat64}) {
        SCOPED_TRACE(dataTypeName(type));
        expectCudaMatchesCpu(batchNorm(15, randomTensor(type, {2, 3, 5, 7}, seed()), type, 3)
                                 .attr("training_mode", int64_t{1})
                                 .attr("momentum", 0.8f)
                                 .outputs(3));
    }
    // Before opset 14, asking for the statistics outputs means training; the saved mean/var come out too.
    expectCudaMatchesCpu(
        batchNorm(12, randomTensor(DataType::kFloat32, {4, 3, 300}, seed()), DataType::kFloat32, 3).outputs(5));
    expectCudaMatchesCpu(batchNorm(7, randomTensor(DataType::kFloat32, {5, 2, 3}, seed()), DataType::kFloat32, 6)
                             .attr("spatial", int64_t{0})
                             .outputs(5));
}

TEST(CudaBatchNorm, ErrorsMatchTheReference) {
    KILN_REQUIRE_GPU();
    expectCudaMatchesCpu(batchNorm(15, randomTensor(DataType::kFloat32, {2, 3, 4}, seed()), DataType::kFloat32, 4));
    expectCudaMatchesCpu(batchNorm(15, randomTensor(DataType::kInt32, {2, 3, 4}, seed()), DataType::kFloat32, 3));
    expectCudaMatchesCpu(batchNorm(15, randomTensor(DataType::kFloat32, {3}, seed()), DataType::kFloat32, 3));
    expectCudaMatchesCpu(batchNorm(15, randomTensor(DataType::kFloat32, {2, 3, 4}, seed()), DataType::kInt32, 3));
}

OpTester instanceNorm(Tensor x, DataType paramType) {
    const int64_t c = x.dim(1);
    OpTester t("InstanceNormalization");
    t.input(std::move(x));
    t.input(randomTensor(paramType, {c}, seed(), 0.5, 1.5));
    t.input(randomTensor(paramType, {c}, seed()));
    return t;
}

TEST(CudaInstanceNorm, PlanesShortLongAndMixedDtypes) {
    KILN_REQUIRE_GPU();
    for (DataType type : floatTypes()) {
        SCOPED_TRACE(dataTypeName(type));
        expectCudaMatchesCpu(instanceNorm(randomTensor(type, {2, 3, 5, 7}, seed()), type));
        expectCudaMatchesCpu(instanceNorm(randomTensor(type, {2, 3, 1031}, seed()), type).attr("epsilon", 1e-2f));
        expectCudaMatchesCpu(instanceNorm(randomTensor(type, {2, 3, 4, 5, 6}, seed()), DataType::kFloat32));
    }
    expectCudaMatchesCpu(instanceNorm(randomTensor(DataType::kFloat32, {3, 4}, seed()), DataType::kFloat32));
    expectCudaMatchesCpu(instanceNorm(randomTensor(DataType::kFloat32, {1, 1, 9}, seed()), DataType::kFloat32));
    expectCudaMatchesCpu(instanceNorm(Tensor(DataType::kFloat32, {0, 3, 4}), DataType::kFloat32));
    expectCudaMatchesCpu(OpTester("InstanceNormalization")
                             .input(randomTensor(DataType::kFloat32, {2, 3, 4}, seed()))
                             .input(randomTensor(DataType::kFloat32, {2}, seed()))
                             .input(randomTensor(DataType::kFloat32, {3}, seed())));  // scale size: error
}

OpTester layerNorm(Tensor x, Tensor scale, int64_t axis, bool withBias, size_t outputs = 1) {
    OpTester t("LayerNormalization");
    const Shape shape = scale.shape();
    const DataType type = scale.dtype();
    t.input(std::move(x)).input(std::move(scale));
    if (withBias) t.input(randomTensor(type, shape, seed()));
    t.attr("axis", axis).outputs(outputs);
    return t;
}

TEST(CudaLayerNorm, AxesBroadcastParametersAndStatistics) {
    KILN_REQUIRE_GPU();
    for (DataType type : floatTypes()) {
        SCOPED_TRACE(dataTypeName(type));
        const Tensor x = randomTensor(type, {5, 6, 7}, seed());
        expectCudaMatchesCpu(layerNorm(x, randomTensor(type, {7}, seed()), -1, true, 3));
        expectCudaMatchesCpu(layerNorm(x, randomTensor(type, {7}, seed()), 1, true));  // {7} broadcasts to {6, 7}
        expectCudaMatchesCpu(layerNorm(x, randomTensor(type, {6, 1}, seed()), -2, false, 3));
        expectCudaMatchesCpu(
            layerNorm(randomTensor(type, {3, 1031}, seed()), randomTensor(type, {1031}, seed()), 1, true, 3));
    }
    const Tensor x = randomTensor(DataType::kFloat16, {4, 9}, seed());
    expectCudaMatchesCpu(layerNorm(x, randomTensor(DataType::kFloat32, {9}, seed()), -1, true, 3));  // mixed dtypes
    expectCudaMatchesCpu(layerNorm(randomTensor(DataType::kFloat32, {2, 3, 4}, seed()),
                                   randomTensor(DataType::kFloat32, {2, 3, 4}, seed()), 0, true, 3)
                             .attr("epsilon", 1e-3f));
    // stash_type float64: statistics computed and returned in double.
    expectCudaMatchesCpu(layerNorm(randomTensor(DataType::kFloat32, {4, 9}, seed()),
                                   randomTensor(DataType::kFloat32, {9}, seed()), -1, true, 3)
                             .attr("stash_type", int64_t{11}));
    expectCudaMatchesCpu(
        layerNorm(Tensor(DataType::kFloat32, {3, 0}), randomTensor(DataType::kFloat32, {0}, seed()), 1, true, 3));
}

TEST(CudaLayerNorm, ErrorsMatchTheReference) {
    KILN_REQUIRE_GPU();
    const Tensor x = randomTensor(DataType::kFloat32, {4, 9}, seed());
    expectCudaMatchesCpu(layerNorm(x, randomTensor(DataType::kFloat32, {8}, seed()), -1, true));
    expectCudaMatchesCpu(layerNorm(x, randomTensor(DataType::kInt32, {9}, seed()), -1, false));
    expectCudaMatchesCpu(layerNorm(x, randomTensor(DataType::kFloat32, {9}, seed()), 2, false));
    expectCudaMatchesCpu(
        layerNorm(x, randomTensor(DataType::kFloat32, {9}, seed()), -1, false).attr("stash_type", int64_t{7}));
}

TEST(CudaMeanVarianceNorm, AxesAndDtypes) {
    KILN_REQUIRE_GPU();
    for (DataType type : floatTypes()) {
        SCOPED_TRACE(dataTypeName(type));
        expectCudaMatchesCpu(OpTester("MeanVarianceNormalization").input(randomTensor(type, {2, 3, 4, 5}, seed())));
        expectCudaMatchesCpu(OpTester("MeanVarianceNormalization")
                                 .input(randomTensor(type, {2, 3, 4, 5}, seed()))
                                 .attr("axes", std::vector<int64_t>{1}));
    }
    expectCudaMatchesCpu(OpTester("MeanVarianceNormalization")
                             .input(randomTensor(DataType::kFloat32, {3, 1031}, seed()))
                             .attr("axes", std::vector<int64_t>{-1}));
    expectCudaMatchesCpu(OpTester("MeanVarianceNormalization")
                             .input(randomTensor(DataType::kFloat32, {2, 3, 4, 5}, seed()))
                             .attr("axes", std::vector<int64_t>{0, 1, 2, 3}));
    // The default axes {0, 2, 3} need rank 4: both backends reject rank 2.
    expectCudaMatchesCpu(OpTester("MeanVarianceNormalization").input(randomTensor(DataType::kFloat32, {3, 4}, seed())));
}

TEST(CudaLpNorm, OrdersAxesZeroVectorsAndErrors) {
    KILN_REQUIRE_GPU();
    for (DataType type : floatTypes()) {
        for (int64_t p : {1, 2}) {
            SCOPED_TRACE(std::string(dataTypeName(type)) + " p=" + std::to_string(p));
            Tensor x = randomTensor(type, {5, 6, 7}, seed());
            for (int64_t i = 0; i < 7; ++i) setFloat(x, i, 0.0);  // a zero row stays zero
            expectCudaMatchesCpu(OpTester("LpNormalization").input(x).attr("p", p));
            expectCudaMatchesCpu(OpTester("LpNormalization").input(x).attr("p", p).attr("axis", int64_t{0}));
        }
    }
    expectCudaMatchesCpu(OpTester("LpNormalization").input(randomTensor(DataType::kFloat32, {3, 1031}, seed())));
    expectCudaMatchesCpu(
        OpTester("LpNormalization").input(randomTensor(DataType::kFloat32, {3, 4}, seed())).attr("p", int64_t{3}));
}

TEST(CudaLrn, SizesAttributesAndDtypes) {
    KILN_REQUIRE_GPU();
    for (DataType type : floatTypes()) {
        SCOPED_TRACE(dataTypeName(type));
        for (int64_t size : {1, 3, 4}) {
            expectCudaMatchesCpu(OpTester("LRN").input(randomTensor(type, {2, 7, 5, 5}, seed())).attr("size", size));
        }
    }
    expectCudaMatchesCpu(OpTester("LRN")
                             .input(randomTensor(DataType::kFloat32, {1, 11, 13}, seed()))
                             .attr("size", int64_t{5})
                             .attr("alpha", 0.02f)
                             .attr("beta", 0.5f)
                             .attr("bias", 2.0f));
    expectCudaMatchesCpu(OpTester("LRN").input(randomTensor(DataType::kFloat32, {2, 3, 4}, seed())));  // no size
}

}  // namespace
}  // namespace kiln::testing
