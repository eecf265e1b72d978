// CUDA Gather, GatherElements, GatherND, Scatter, ScatterElements and ScatterND against the CPU reference, and the
// device-side index checks: constant indices fail at once like the reference; out-of-range runtime indices give
// zeros and an error in the device error record (device_errors.h).
#include "backends/cuda/kernels/device_errors.h"
#include "cuda/data_movement_test_util.h"

namespace kiln::testing {
namespace {

TEST(CudaGatherScatter, GatherEveryDtype) {
    KILN_REQUIRE_GPU();
    for (DataType t : moveTypes()) {
        SCOPED_TRACE(dataTypeName(t));
        expectCudaMatchesCpu(OpTester("Gather")
                                 .input(anyTensor(t, {5, 6, 7}))
                                 .input(indexTensor(DataType::kInt64, {4}, 6))
                                 .attr("axis", int64_t{1}));
        expectCudaMatchesCpu(
            OpTester("Gather").input(anyTensor(t, {5, 6, 7})).input(indexTensor(DataType::kInt32, {2, 3}, 5)));
    }
}

TEST(CudaGatherScatter, GatherShapes) {
    KILN_REQUIRE_GPU();
    // Embedding lookup: 16-byte words over rows of 64 floats.
    expectCudaMatchesCpu(OpTester("Gather")
                             .input(anyTensor(DataType::kFloat32, {1000, 64}))
                             .input(indexTensor(DataType::kInt64, {3, 17}, 1000)));
    expectCudaMatchesCpu(OpTester("Gather")
                             .input(anyTensor(DataType::kFloat16, {7, 13}))
                             .input(indexTensor(DataType::kInt32, {29}, 13))
                             .attr("axis", int64_t{-1}));
    // A scalar index drops the axis; empty indices and empty data give empty outputs.
    expectCudaMatchesCpu(
        OpTester("Gather").input(anyTensor(DataType::kInt64, {5, 6})).input(Tensor::scalar<int64_t>(-2)));
    expectCudaMatchesCpu(
        OpTester("Gather").input(anyTensor(DataType::kFloat32, {5, 6})).input(Tensor(DataType::kInt64, {0})));
    expectCudaMatchesCpu(OpTester("Gather")
                             .input(anyTensor(DataType::kFloat32, {0, 6}))
                             .input(indexTensor(DataType::kInt64, {3}, 6))
                             .attr("axis", int64_t{1}));
    // Constant indices (uploaded once with the engine's constants).
    expectCudaMatchesCpu(
        OpTester("Gather").input(anyTensor(DataType::kBool, {9, 4})).constInput(int64s({0, -1, 8, 3})));
}

TEST(CudaGatherScatter, GatherElementsAndGatherND) {
    KILN_REQUIRE_GPU();
    for (DataType t : moveTypes()) {
        SCOPED_TRACE(dataTypeName(t));
        expectCudaMatchesCpu(OpTester("GatherElements")
                                 .input(anyTensor(t, {4, 5, 6}))
                                 .input(indexTensor(DataType::kInt64, {3, 7, 5}, 5))
                                 .attr("axis", int64_t{1}));
        expectCudaMatchesCpu(
            OpTester("GatherND").input(anyTensor(t, {4, 5, 6})).input(indexTensor(DataType::kInt64, {3, 2}, 4)));
    }
    expectCudaMatchesCpu(OpTester("GatherElements")
                             .input(anyTensor(DataType::kFloat32, {6, 9}))
                             .input(indexTensor(DataType::kInt32, {6, 9}, 9))
                             .attr("axis", int64_t{-1}));
    // A partial dim followed by a full one (they merge), then 9-D indices whose full-size dims merge.
    expectCudaMatchesCpu(OpTester("GatherElements")
                             .input(anyTensor(DataType::kFloat32, {4, 5, 6}))
                             .input(indexTensor(DataType::kInt64, {3, 2, 6}, 4)));
    expectCudaMatchesCpu(OpTester("GatherElements")
                             .input(anyTensor(DataType::kFloat16, {2, 2, 2, 2, 2, 2, 2, 2, 3}))
                             .input(indexTensor(DataType::kInt64, {2, 2, 2, 2, 2, 2, 2, 2, 4}, 3))
                             .attr("axis", int64_t{8}));
    // GatherND: whole tuples (one element each), batch_dims, int32 indices, 16-byte slices.
    expectCudaMatchesCpu(OpTester("GatherND")
                             .input(anyTensor(DataType::kInt64, {4, 5, 6}))
                             .input(indexTensor(DataType::kInt64, {7, 3}, 4)));
    expectCudaMatchesCpu(OpTester("GatherND")
                             .input(anyTensor(DataType::kFloat32, {3, 5, 6}))
                             .input(indexTensor(DataType::kInt32, {3, 4, 1}, 5))
                             .attr("batch_dims", int64_t{1}));
    expectCudaMatchesCpu(OpTester("GatherND")
                             .input(anyTensor(DataType::kFloat32, {10, 32}))
                             .input(indexTensor(DataType::kInt64, {2, 3, 1}, 10)));
}

//! Indices for ScatterElements on `data` along `axis` whose positions never collide: for every coordinate outside
//! the axis, distinct values (ONNX leaves colliding writes without reduction undefined).
Tensor distinctElementIndices(const Shape& data, const Shape& shape, int64_t axis, DataType type) {
    std::mt19937 rng(seed());
    std::vector<int64_t> values(static_cast<size_t>(shapeNumel(shape)));
    Shape lines = shape;
    lines[static_cast<size_t>(axis)] = 1;
    for (int64_t l = 0; l < shapeNumel(lines); ++l) {
        std::vector<int64_t> c = coordsOf(l, lines);
        const std::vector<int64_t> picks =
            distinctIndices(shape[static_cast<size_t>(axis)], data[static_cast<size_t>(axis)], rng);
        for (size_t i = 0; i < picks.size(); ++i) {
            c[static_cast<size_t>(axis)] = static_cast<int64_t>(i);
            values[static_cast<size_t>(flatOf(c, shape))] = picks[i];
        }
    }
    return indicesOf(values, type, shape);
}

TEST(CudaGatherScatter, ScatterElementsWithoutReduction) {
    KILN_REQUIRE_GPU();
    for (DataType t : moveTypes()) {
        SCOPED_TRACE(dataTypeName(t));
        expectCudaMatchesCpu(OpTester("ScatterElements")
                                 .input(anyTensor(t, {4, 5, 6}))
                                 .input(distinctElementIndices({4, 5, 6}, {3, 4, 5}, 1, DataType::kInt64))
                                 .input(anyTensor(t, {3, 4, 5}))
                                 .attr("axis", int64_t{1}));
    }
    expectCudaMatchesCpu(OpTester("ScatterElements")
                             .input(anyTensor(DataType::kFloat32, {5, 7}))
                             .input(distinctElementIndices({5, 7}, {5, 2}, 1, DataType::kInt32))
                             .input(anyTensor(DataType::kFloat32, {5, 2}))
                             .attr("axis", int64_t{-1}));
    expectCudaMatchesCpu(OpTester("Scatter", 10)
                             .input(anyTensor(DataType::kInt32, {6, 3}))
                             .input(distinctElementIndices({6, 3}, {4, 3}, 0, DataType::kInt64))
                             .input(anyTensor(DataType::kInt32, {4, 3})));
}

TEST(CudaGatherScatter, ScatterReductionsWithDuplicates) {
    KILN_REQUIRE_GPU();
    // Integer-valued data, so float sums and products are exact whatever order the atomics take.
    const std::vector<DataType> types = {
        DataType::kFloat32, DataType::kFloat16, DataType::kBFloat16, DataType::kFloat64, DataType::kInt8,
        DataType::kInt32,   DataType::kInt64,   DataType::kUInt8,    DataType::kUInt16,  DataType::kBool};
    for (const char* reduction : {"add", "mul", "max", "min"}) {
        for (DataType t : types) {
            SCOPED_TRACE(std::string(reduction) + " " + dataTypeName(t));
            const int64_t hi = std::string(reduction) == "mul" ? 2 : 9;
            expectCudaMatchesCpu(OpTester("ScatterElements", 18)
                                     .input(integerValued(t, {4, 6}, -hi, hi))
                                     .input(indexTensor(DataType::kInt64, {9, 6}, 4))
                                     .input(integerValued(t, {9, 6}, -hi, hi))
                                     .attr("reduction", std::string(reduction)));
            expectCudaMatchesCpu(OpTester("ScatterND", 18)
                                     .input(integerValued(t, {5, 3}, -hi, hi))
                                     .input(indexTensor(DataType::kInt32, {11, 1}, 5))
                                     .input(integerValued(t, {11, 3}, -hi, hi))
                                     .attr("reduction", std::string(reduction)));
        }
    }
}

TEST(CudaGatherScatter, ScatterNDWithoutReduction) {
    KILN_REQUIRE_GPU();
    std::mt19937 rng(seed());
    // Three distinct (row, column) pairs of a 4x5 grid, with negative aliases.
    std::vector<int64_t> pairs;
    for (int64_t flat : distinctIndices(3, 20, rng)) {
        const int64_t v = flat < 0 ? flat + 20 : flat;
        pairs.push_back(rng() % 2 ? v / 5 : v / 5 - 4);
        pairs.push_back(rng() % 2 ? v % 5 : v % 5 - 5);
    }
    for (DataType t : moveTypes()) {
        SCOPED_TRACE(dataTypeName(t));
        expectCudaMatchesCpu(OpTester("ScatterND")
                                 .input(anyTensor(t, {4, 5, 6}))
                                 .input(indicesOf(pairs, DataType::kInt64, {3, 2}))
                                 .input(anyTensor(t, {3, 6})));
    }
    expectCudaMatchesCpu(OpTester("ScatterND")
                             .input(anyTensor(DataType::kFloat32, {8, 64}))
                             .input(indicesOf(distinctIndices(4, 8, rng), DataType::kInt32, {4, 1}))
                             .input(anyTensor(DataType::kFloat32, {4, 64})));
}

TEST(CudaGatherScatter, ConstantIndicesOutOfRangeFailLikeTheReference) {
    KILN_REQUIRE_GPU();
    const Tensor data = anyTensor(DataType::kFloat32, {5, 6});
    expectCudaMatchesCpu(OpTester("Gather").input(data).constInput(int64s({1, 5})));
    expectCudaMatchesCpu(OpTester("Gather").input(data).constInput(int64s({-7})).attr("axis", int64_t{1}));
    expectCudaMatchesCpu(
        OpTester("GatherElements").input(data).constInput(indicesOf({0, 6}, DataType::kInt64, {1, 2})));
    expectCudaMatchesCpu(OpTester("GatherND").input(data).constInput(indicesOf({4, 6}, DataType::kInt64, {1, 2})));
    expectCudaMatchesCpu(OpTester("ScatterND")
                             .input(data)
                             .constInput(indicesOf({-6}, DataType::kInt64, {1, 1}))
                             .input(anyTensor(DataType::kFloat32, {1, 6})));
    expectCudaMatchesCpu(OpTester("ScatterElements")
                             .input(data)
                             .constInput(indicesOf({0, 9}, DataType::kInt32, {1, 2}))
                             .input(anyTensor(DataType::kFloat32, {1, 2}))
                             .attr("axis", int64_t{1}));
    // Shape errors come from the shared plans.
    expectCudaMatchesCpu(OpTester("Gather").input(data).input(Tensor(DataType::kFloat32, {2})));
    expectCudaMatchesCpu(OpTester("GatherND").input(data).input(Tensor(DataType::kInt64, {2, 3})));
    expectCudaMatchesCpu(OpTester("ScatterElements")
                             .input(data)
                             .input(Tensor(DataType::kInt64, {2, 2}))
                             .input(anyTensor(DataType::kFloat32, {2, 3})));
}

//! Runs `op` on the GPU from host tensors: the run synchronizes, so it reads the device index check's record and
//! fails with the recorded error. Returns that error (ok when nothing was flagged).
Status runAndTakeDeviceError(const OpTester& op) {
    auto built = op.build();
    if (!built.isOk()) return built.status();
    return runOnCuda(*built->graph, built->feeds).status();
}

TEST(CudaGatherScatter, RuntimeIndicesOutOfRangeAreFlaggedOnTheDevice) {
    KILN_REQUIRE_GPU();
    ASSERT_TRUE(cuda::takeDeviceErrors(nullptr, ir::Graph("none")).isOk());  // a clean record to start from
    const Status s = runAndTakeDeviceError(
        OpTester("Gather").input(anyTensor(DataType::kFloat32, {5, 3})).input(int64s({1, 9, -2})));
    EXPECT_EQ(s.code(), ErrorCode::kInvalidArgument);
    EXPECT_NE(s.message().find("input 1 'indices' holds index 9, out of range [-5, 4] for axis 0"), std::string::npos)
        << s.message();
    EXPECT_NE(s.message().find("Gather"), std::string::npos) << s.message();
    EXPECT_TRUE(cuda::takeDeviceErrors(nullptr, ir::Graph("none")).isOk()) << "the run took the error and cleared it";
    // A good run after a flagged one is clean.
    EXPECT_TRUE(
        runAndTakeDeviceError(OpTester("Gather").input(anyTensor(DataType::kFloat32, {5, 3})).input(int64s({1, 4, -2})))
            .isOk());

    const Status elements = runAndTakeDeviceError(OpTester("GatherElements")
                                                      .input(anyTensor(DataType::kInt64, {2, 3}))
                                                      .input(indicesOf({0, -4}, DataType::kInt32, {1, 2})));
    EXPECT_NE(elements.message().find("input 'indices' holds index -4"), std::string::npos) << elements.message();
    const Status nd = runAndTakeDeviceError(OpTester("ScatterND")
                                                .input(anyTensor(DataType::kFloat16, {4, 2}))
                                                .input(indicesOf({4}, DataType::kInt64, {1, 1}))
                                                .input(anyTensor(DataType::kFloat16, {1, 2})));
    EXPECT_NE(nd.message().find("holds index 4, out of range [-4, 3] for axis 0"), std::string::npos) << nd.message();
    const Status lens = runAndTakeDeviceError(
        OpTester("ReverseSequence").input(anyTensor(DataType::kFloat32, {3, 2})).input(int64s({1, 4})));
    EXPECT_NE(lens.message().find("'sequence_lens' holds length 4, out of range [0, 3]"), std::string::npos)
        << lens.message();
}

}  // namespace
}  // namespace kiln::testing
