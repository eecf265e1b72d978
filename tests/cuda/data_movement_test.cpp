// CUDA data-movement kernels (Transpose, Concat, Split, Slice, Expand, Tile, Pad, Compress, ReverseSequence) against
// the CPU reference: every dtype, odd and empty shapes, negative axes, the widened and tiled paths, errors.
#include "backends/cuda/kernel.h"
#include "cuda/data_movement_test_util.h"

namespace kiln::testing {
namespace {

using Ints = std::vector<int64_t>;

TEST(CudaDataMovement, EveryOpOfTheFamiliesHasACudaKernel) {
    // Needs no GPU: the op table is host data. Guards against an op silently falling back to the host.
    for (const char* op :
         {"Transpose", "Concat",          "Split",        "Slice",          "Expand",   "Tile",    "Pad",
          "Compress",  "ReverseSequence", "Gather",       "GatherElements", "GatherND", "Scatter", "ScatterElements",
          "ScatterND", "ConstantOfShape", "Range",        "EyeLike",        "Trilu",    "OneHot",  "Resize",
          "Upsample",  "GridSample",      "DepthToSpace", "SpaceToDepth"}) {
        auto kind = ir::findOp("", op);
        ASSERT_TRUE(kind.has_value()) << op;
        EXPECT_NE(cuda::cudaKernel(*kind).fn, nullptr) << op << " has no CUDA kernel";
    }
}

TEST(CudaDataMovement, TransposeEveryDtype) {
    KILN_REQUIRE_GPU();
    for (DataType t : moveTypes()) {
        SCOPED_TRACE(dataTypeName(t));
        expectCudaMatchesCpu(OpTester("Transpose").input(anyTensor(t, {5, 6, 7})).attr("perm", Ints{2, 0, 1}));
        expectCudaMatchesCpu(OpTester("Transpose").input(anyTensor(t, {37, 45})));  // tiled, tails in both dims
    }
}

TEST(CudaDataMovement, TransposeShapes) {
    KILN_REQUIRE_GPU();
    struct Case {
        Shape shape;
        Ints perm;
    };
    const std::vector<Case> cases = {
        {{3, 67, 45}, {0, 2, 1}},                                          // batched last-two swap (tiled)
        {{2, 3, 17, 19}, {0, 2, 3, 1}},                                    // NCHW -> NHWC (C small: generic path)
        {{2, 17, 19, 35}, {0, 3, 1, 2}},                                   // NHWC -> NCHW (tiled)
        {{4, 5, 6}, {0, 1, 2}},                                            // identity: one contiguous copy
        {{6, 1, 5, 1}, {3, 2, 1, 0}},                                      // size-1 dims drop out
        {{3, 0, 5}, {2, 0, 1}},                                            // empty
        {{127}, {0}},                                                      // rank 1
        {{}, {}},                                                          // scalar
        {{2, 3, 2, 3, 2, 3, 2}, {6, 4, 2, 0, 1, 3, 5}},                    // rank 7
        {{2, 2, 2, 2, 2, 2, 2, 2, 2, 2}, {9, 8, 7, 6, 5, 4, 3, 2, 1, 0}},  // 10 dims that do not merge
        {{64, 33, 2}, {1, 0, 2}},                                          // inner dim kept: widened rows
    };
    for (const Case& c : cases) {
        SCOPED_TRACE(shapeToString(c.shape));
        for (DataType t : {DataType::kFloat32, DataType::kFloat16, DataType::kUInt8, DataType::kInt64}) {
            expectCudaMatchesCpu(OpTester("Transpose").input(anyTensor(t, c.shape)).attr("perm", c.perm));
        }
    }
}

TEST(CudaDataMovement, ConcatEveryDtypeAndAxis) {
    KILN_REQUIRE_GPU();
    for (DataType t : moveTypes()) {
        SCOPED_TRACE(dataTypeName(t));
        for (int64_t axis : {0, 1, -1}) {
            expectCudaMatchesCpu(OpTester("Concat")
                                     .attr("axis", axis)
                                     .input(anyTensor(t, {3, 5, 7}))
                                     .input(anyTensor(t, {3, 5, 7}))
                                     .input(anyTensor(t, {3, 5, 7})));
        }
    }
}

TEST(CudaDataMovement, ConcatShapes) {
    KILN_REQUIRE_GPU();
    // Unequal parts, an empty part, and a constant input.
    expectCudaMatchesCpu(OpTester("Concat")
                             .attr("axis", int64_t{1})
                             .input(anyTensor(DataType::kFloat32, {2, 3, 8}))
                             .input(anyTensor(DataType::kFloat32, {2, 0, 8}))
                             .constInput(anyTensor(DataType::kFloat32, {2, 5, 8}))
                             .input(anyTensor(DataType::kFloat32, {2, 1, 8})));
    // 40 inputs: more parts than one launch takes.
    OpTester many("Concat");
    many.attr("axis", int64_t{0});
    for (int i = 0; i < 40; ++i) many.input(anyTensor(DataType::kFloat16, {1 + i % 3, 9}));
    expectCudaMatchesCpu(many);
    // 16-byte words (float32 rows of 128) and 1-element rows.
    expectCudaMatchesCpu(OpTester("Concat")
                             .attr("axis", int64_t{1})
                             .input(anyTensor(DataType::kFloat32, {64, 128}))
                             .input(anyTensor(DataType::kFloat32, {64, 256})));
    expectCudaMatchesCpu(OpTester("Concat")
                             .attr("axis", int64_t{1})
                             .input(anyTensor(DataType::kInt8, {1031, 1}))
                             .input(anyTensor(DataType::kInt8, {1031, 2})));
    // 1-D and an all-empty result.
    expectCudaMatchesCpu(OpTester("Concat")
                             .attr("axis", int64_t{0})
                             .input(anyTensor(DataType::kBool, {127}))
                             .input(anyTensor(DataType::kBool, {5})));
    expectCudaMatchesCpu(OpTester("Concat")
                             .attr("axis", int64_t{0})
                             .input(anyTensor(DataType::kInt64, {0, 3}))
                             .input(anyTensor(DataType::kInt64, {0, 3})));
}

TEST(CudaDataMovement, ConcatChannelsLast) {
    KILN_REQUIRE_GPU();
    // Along C of [N, H, W, C] (the UNet's skip connections): runs of whole 16-byte words take the output-ordered
    // kernel (data_movement_concat.cu), other widths launchBatchedCopy.
    struct Case {
        DataType type;
        Shape a, b;
        int64_t axis;
    };
    const Case cases[] = {
        {DataType::kFloat16, {2, 5, 7, 64}, {2, 5, 7, 64}, -1},     // 128-byte runs, equal
        {DataType::kBFloat16, {3, 7, 5, 128}, {3, 7, 5, 8}, 3},     // unequal runs, one word wide
        {DataType::kFloat32, {1, 13, 11, 4}, {1, 13, 11, 12}, -1},  // float32 words
        {DataType::kInt8, {2, 3, 5, 16}, {2, 3, 5, 32}, -1},        // 1-byte elements, 16 per word
        {DataType::kFloat32, {2, 3, 5, 8}, {2, 4, 5, 8}, 1},        // along H: rows of W * C
        {DataType::kFloat16, {2, 5, 7, 3}, {2, 5, 7, 64}, -1},      // a 6-byte run: the per-input copy
        {DataType::kFloat16, {2, 5, 7, 7}, {2, 5, 7, 9}, -1},       // odd runs
        {DataType::kFloat16, {0, 5, 7, 64}, {0, 5, 7, 64}, -1},     // empty batch
    };
    for (const Case& c : cases) {
        SCOPED_TRACE(std::string(dataTypeName(c.type)) + " " + shapeToString(c.a) + " + " + shapeToString(c.b));
        expectCudaMatchesCpu(
            OpTester("Concat").attr("axis", c.axis).input(anyTensor(c.type, c.a)).input(anyTensor(c.type, c.b)));
    }
    // Three inputs with an empty one between, and a constant (weights-side) input.
    expectCudaMatchesCpu(OpTester("Concat")
                             .attr("axis", int64_t{-1})
                             .input(anyTensor(DataType::kFloat16, {2, 3, 3, 16}))
                             .input(anyTensor(DataType::kFloat16, {2, 3, 3, 0}))
                             .constInput(anyTensor(DataType::kFloat16, {2, 3, 3, 24})));
}

TEST(CudaDataMovement, SplitEveryDtype) {
    KILN_REQUIRE_GPU();
    for (DataType t : moveTypes()) {
        SCOPED_TRACE(dataTypeName(t));
        expectCudaMatchesCpu(OpTester("Split").input(anyTensor(t, {5, 6, 7})).attr("axis", int64_t{1}).outputs(3));
        expectCudaMatchesCpu(OpTester("Split")
                                 .input(anyTensor(t, {5, 6, 7}))
                                 .constInput(int64s({2, 0, 3}))
                                 .attr("axis", int64_t{-3})
                                 .outputs(3));
    }
}

TEST(CudaDataMovement, SplitSizesFromARuntimeInputAndWideRows) {
    KILN_REQUIRE_GPU();
    expectCudaMatchesCpu(OpTester("Split")
                             .input(anyTensor(DataType::kFloat32, {4, 96}))
                             .input(int64s({32, 64}))
                             .attr("axis", int64_t{-1})
                             .outputs(2));
    expectCudaMatchesCpu(
        OpTester("Split").input(anyTensor(DataType::kUInt16, {1031})).input(int64s({1000, 31})).outputs(2));
}

TEST(CudaDataMovement, SliceEveryDtype) {
    KILN_REQUIRE_GPU();
    for (DataType t : moveTypes()) {
        SCOPED_TRACE(dataTypeName(t));
        expectCudaMatchesCpu(OpTester("Slice")
                                 .input(anyTensor(t, {5, 6, 7}))
                                 .constInput(int64s({1, -1}))
                                 .constInput(int64s({4, -8}))
                                 .constInput(int64s({0, 2}))
                                 .constInput(int64s({2, -3})));
    }
}

TEST(CudaDataMovement, SliceVariants) {
    KILN_REQUIRE_GPU();
    const Tensor x = anyTensor(DataType::kFloat32, {5, 6, 7});
    struct Case {
        Ints starts, ends, axes, steps;
    };
    const std::vector<Case> cases = {
        {{0}, {INT64_MAX}, {-1}, {1}},                 // whole axis
        {{-100}, {100}, {1}, {2}},                     // clamped
        {{6}, {-100}, {2}, {-1}},                      // reversed
        {{3, 2}, {3, 5}, {0, 2}, {1, 1}},              // empty
        {{1, 0, 2}, {4, 6, 7}, {0, 1, 2}, {1, 1, 1}},  // inner rows contiguous
    };
    for (const Case& c : cases) {
        expectCudaMatchesCpu(OpTester("Slice")
                                 .input(x)
                                 .constInput(int64s(c.starts))
                                 .constInput(int64s(c.ends))
                                 .constInput(int64s(c.axes))
                                 .constInput(int64s(c.steps)));
    }
    // starts/ends as runtime inputs (read on the host) and without axes/steps.
    expectCudaMatchesCpu(OpTester("Slice").input(x).input(int64s({1, 2})).input(int64s({4, 5})));
    // Wide rows: 16-byte words.
    expectCudaMatchesCpu(OpTester("Slice")
                             .input(anyTensor(DataType::kFloat16, {9, 64}))
                             .constInput(int64s({2, 8}))
                             .constInput(int64s({7, 40})));
}

TEST(CudaDataMovement, ExpandAndTile) {
    KILN_REQUIRE_GPU();
    for (DataType t : moveTypes()) {
        SCOPED_TRACE(dataTypeName(t));
        expectCudaMatchesCpu(OpTester("Expand").input(anyTensor(t, {3, 1, 7})).constInput(int64s({2, 1, 5, 1})));
        expectCudaMatchesCpu(OpTester("Tile").input(anyTensor(t, {3, 1, 7})).constInput(int64s({2, 5, 1})));
    }
    expectCudaMatchesCpu(OpTester("Expand").input(anyTensor(DataType::kFloat32, {})).constInput(int64s({4, 3})));
    expectCudaMatchesCpu(OpTester("Expand").input(anyTensor(DataType::kInt32, {1, 6})).input(int64s({0, 6})));
    expectCudaMatchesCpu(OpTester("Tile").input(anyTensor(DataType::kFloat32, {5, 6})).input(int64s({0, 3})));
    expectCudaMatchesCpu(OpTester("Tile").input(anyTensor(DataType::kUInt8, {31, 17})).constInput(int64s({3, 7})));
}

TEST(CudaDataMovement, PadModes) {
    KILN_REQUIRE_GPU();
    for (const char* mode : {"constant", "reflect", "edge"}) {
        SCOPED_TRACE(mode);
        for (DataType t : moveTypes()) {
            expectCudaMatchesCpu(OpTester("Pad")
                                     .input(anyTensor(t, {2, 5, 6}))
                                     .constInput(int64s({0, 2, 1, 1, 3, 4}))
                                     .attr("mode", std::string(mode)));
        }
        // Cropping pads, pads wider than the dim (reflect bounces), a size-1 dim, and a padded outer dim only.
        expectCudaMatchesCpu(OpTester("Pad")
                                 .input(anyTensor(DataType::kFloat32, {3, 4, 5}))
                                 .constInput(int64s({-1, 9, 0, 1, 7, -2}))
                                 .attr("mode", std::string(mode)));
        expectCudaMatchesCpu(OpTester("Pad")
                                 .input(anyTensor(DataType::kFloat16, {1, 7}))
                                 .constInput(int64s({3, 2, 2, 5}))
                                 .attr("mode", std::string(mode)));
        expectCudaMatchesCpu(OpTester("Pad")
                                 .input(anyTensor(DataType::kFloat32, {4, 64}))
                                 .input(int64s({2, 0, 3, 0}))
                                 .attr("mode", std::string(mode)));
    }
}

TEST(CudaDataMovement, PadConstantValueAxesAndEmptyInput) {
    KILN_REQUIRE_GPU();
    for (DataType t : {DataType::kFloat32, DataType::kFloat16, DataType::kInt64, DataType::kUInt8, DataType::kBool}) {
        expectCudaMatchesCpu(
            OpTester("Pad").input(anyTensor(t, {3, 5})).constInput(int64s({1, 2, 2, 1})).constInput(anyTensor(t, {})));
    }
    expectCudaMatchesCpu(OpTester("Pad", 18)
                             .input(anyTensor(DataType::kFloat32, {3, 4, 5}))
                             .constInput(int64s({1, 2, 3, 1}))
                             .absentInput()
                             .constInput(int64s({-1, 0}))
                             .attr("mode", std::string("reflect")));
    expectCudaMatchesCpu(OpTester("Pad")
                             .input(anyTensor(DataType::kInt32, {0, 3}))
                             .constInput(int64s({2, 1, 1, 0}))
                             .constInput(Tensor::scalar<int32_t>(-7)));
}

TEST(CudaDataMovement, Compress) {
    KILN_REQUIRE_GPU();
    const Tensor cond = randomTensor(DataType::kBool, {6}, seed());
    for (DataType t : moveTypes()) {
        SCOPED_TRACE(dataTypeName(t));
        expectCudaMatchesCpu(OpTester("Compress").input(anyTensor(t, {5, 6, 7})).input(cond).attr("axis", int64_t{1}));
    }
    // No axis (flattened), a shorter condition, alternating selections (many runs), nothing selected.
    expectCudaMatchesCpu(OpTester("Compress")
                             .input(anyTensor(DataType::kFloat32, {4, 5}))
                             .input(randomTensor(DataType::kBool, {13}, seed())));
    Tensor alternating(DataType::kBool, {101});
    for (int64_t i = 0; i < 101; ++i) alternating.data<bool>()[i] = i % 2 == 0;
    expectCudaMatchesCpu(
        OpTester("Compress").input(anyTensor(DataType::kInt16, {3, 101})).input(alternating).attr("axis", int64_t{-1}));
    expectCudaMatchesCpu(OpTester("Compress")
                             .input(anyTensor(DataType::kFloat32, {3, 4}))
                             .input(Tensor(DataType::kBool, {4}))
                             .attr("axis", int64_t{0}));
}

TEST(CudaDataMovement, ReverseSequence) {
    KILN_REQUIRE_GPU();
    for (DataType t : moveTypes()) {
        SCOPED_TRACE(dataTypeName(t));
        // [time 6, batch 4, 5]: lengths from a runtime input (checked on the device).
        expectCudaMatchesCpu(OpTester("ReverseSequence").input(anyTensor(t, {6, 4, 5})).input(int64s({6, 0, 3, 1})));
    }
    Tensor lens32(DataType::kInt32, {3});
    lens32.data<int32_t>()[0] = 2;
    lens32.data<int32_t>()[1] = 7;
    lens32.data<int32_t>()[2] = 5;
    expectCudaMatchesCpu(OpTester("ReverseSequence")
                             .input(anyTensor(DataType::kFloat32, {3, 7}))
                             .constInput(lens32)
                             .attr("batch_axis", int64_t{0})
                             .attr("time_axis", int64_t{1}));
}

TEST(CudaDataMovement, ErrorsMatchTheReference) {
    KILN_REQUIRE_GPU();
    const Tensor x = anyTensor(DataType::kFloat32, {3, 4});
    expectCudaMatchesCpu(OpTester("Transpose").input(x).attr("perm", Ints{0, 0}));
    expectCudaMatchesCpu(
        OpTester("Concat").attr("axis", int64_t{0}).input(x).input(anyTensor(DataType::kFloat32, {3, 5})));
    expectCudaMatchesCpu(OpTester("Split").input(x).constInput(int64s({1, 1})).attr("axis", int64_t{0}).outputs(2));
    expectCudaMatchesCpu(OpTester("Slice")
                             .input(x)
                             .constInput(int64s({0}))
                             .constInput(int64s({2}))
                             .constInput(int64s({0}))
                             .constInput(int64s({0})));
    expectCudaMatchesCpu(OpTester("Expand").input(x).constInput(int64s({2, 4})));
    expectCudaMatchesCpu(OpTester("Tile").input(x).constInput(int64s({2})));
    expectCudaMatchesCpu(OpTester("Pad").input(x).constInput(int64s({0, 0, 0, 0})).attr("mode", std::string("wrap")));
    expectCudaMatchesCpu(OpTester("Pad")
                             .input(anyTensor(DataType::kFloat32, {0, 2}))
                             .constInput(int64s({1, 0, 1, 0}))
                             .attr("mode", std::string("edge")));
    Tensor beyond(DataType::kBool, {5});
    beyond.data<bool>()[4] = true;  // selects index 4 of an axis of 3
    expectCudaMatchesCpu(OpTester("Compress").input(x).input(beyond).attr("axis", int64_t{0}));
    // Constant sequence lengths are checked on the host, with the reference's message.
    expectCudaMatchesCpu(
        OpTester("ReverseSequence").input(anyTensor(DataType::kFloat32, {4, 2})).constInput(int64s({5, 1})));
}

}  // namespace
}  // namespace kiln::testing
