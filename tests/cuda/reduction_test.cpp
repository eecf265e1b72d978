// CUDA reduction family against the CPU reference: Reduce*, ArgMax/ArgMin, Softmax/LogSoftmax/Hardmax, CumSum,
// TopK. Shapes cover both kernel layouts (reduced dims innermost: a warp or a block per output; kept dims
// innermost: a thread column per output), several runs of reduced dims, size-1 and size-0 dims, scalars and
// rows longer than a block.
#include <string>

#include "cuda/reduction_test_util.h"
#include "ops/tensor_test_util.h"

namespace kiln::testing {
namespace {

const std::vector<std::string>& reduceOps() {
    static const std::vector<std::string> kOps = {"ReduceSum",       "ReduceMean",     "ReduceMax", "ReduceMin",
                                                  "ReduceProd",      "ReduceL1",       "ReduceL2",  "ReduceLogSum",
                                                  "ReduceLogSumExp", "ReduceSumSquare"};
    return kOps;
}

//! Inputs in a range where the op's result is informative: LogSum needs positive sums, Prod values near 1.
Tensor reduceInput(const std::string& op, DataType type, const Shape& shape) {
    if (op == "ReduceLogSum") return randomTensor(type, shape, seed(), 0.1, 1.0);
    if (op == "ReduceProd") return randomTensor(type, shape, seed(), 0.5, 1.5);
    return randomTensor(type, shape, seed(), isFloatingPoint(type) ? -1.0 : -3.0, isFloatingPoint(type) ? 1.0 : 3.0);
}

//! A reduction node: axes as input 1 for ReduceSum (opset 13+) and every reduction at opset 18, else the
//! attribute; no axes means "reduce everything".
OpTester reduceNode(const std::string& op, Tensor x, const std::vector<int64_t>& axes, int64_t keepdims,
                    int64_t opset = 17) {
    OpTester t(op, opset);
    t.input(std::move(x));
    if (!axes.empty()) {
        if (opset >= 18 || op == "ReduceSum") t.constInput(int64s(axes));
        else t.attr("axes", axes);
    }
    t.attr("keepdims", keepdims);
    return t;
}

struct ReduceCase {
    Shape shape;
    std::vector<int64_t> axes;
    int64_t keepdims;
};

TEST(CudaReduce, EveryOpOverEveryLayoutFloat32) {
    KILN_REQUIRE_GPU();
    const std::vector<ReduceCase> cases = {
        {{5, 6, 7}, {1}, 1},              // kept dims innermost: thread columns
        {{5, 6, 7}, {-1}, 0},             // short contiguous rows: a warp per output
        {{5, 6, 7}, {0, 2}, 1},           // two separate runs of reduced dims
        {{5, 6, 7}, {}, 0},               // everything, to a scalar
        {{3, 1031}, {1}, 1},              // long rows: a block per output, a tail that does not fill it
        {{1031, 3}, {0}, 0},              // a long reduction down thread columns
        {{2, 1, 3, 1, 5}, {1, 3, 4}, 1},  // size-1 dims, kept and reduced
    };
    for (const std::string& op : reduceOps()) {
        for (const ReduceCase& c : cases) {
            SCOPED_TRACE(op + " over " + shapeToString(c.shape));
            const bool longSum = shapeNumel(c.shape) > 1000;
            expectCudaMatchesCpu(reduceNode(op, reduceInput(op, DataType::kFloat32, c.shape), c.axes, c.keepdims),
                                 longSum ? std::optional<Tolerance>(kLongSumTolerance) : std::nullopt);
        }
    }
}

TEST(CudaReduce, EveryOpInHalfBFloatAndDouble) {
    KILN_REQUIRE_GPU();
    const std::vector<DataType> types = {DataType::kFloat16, DataType::kBFloat16, DataType::kFloat64};
    for (size_t t = 0; t < types.size(); ++t) {
        for (size_t k = 0; k < reduceOps().size(); ++k) {
            const std::string& op = reduceOps()[k];
            SCOPED_TRACE(op + " " + dataTypeName(types[t]));
            // Alternate the two layouts across ops and dtypes: each pair is covered without every combination.
            if ((t + k) % 2 == 0) expectCudaMatchesCpu(reduceNode(op, reduceInput(op, types[t], {2, 129}), {-1}, 1));
            else expectCudaMatchesCpu(reduceNode(op, reduceInput(op, types[t], {5, 6, 7}), {1}, 0));
        }
    }
}

TEST(CudaReduce, IntegersAreExactAndWrapLikeTheReference) {
    KILN_REQUIRE_GPU();
    for (DataType type : integerTypes()) {
        const bool everyOp = type == DataType::kInt8 || type == DataType::kInt32 || type == DataType::kUInt64;
        for (const std::string& op : reduceOps()) {
            if (!everyOp && op != "ReduceSum" && op != "ReduceMax" && op != "ReduceProd") continue;
            SCOPED_TRACE(op + " " + dataTypeName(type));
            // 37 factors in [-3, 3] overflow int8/uint8 products and sums: both backends wrap the same way.
            expectCudaMatchesCpu(reduceNode(op, reduceInput(op, type, {4, 37}), {1}, 1));
            if (type == DataType::kInt32) {
                expectCudaMatchesCpu(reduceNode(op, reduceInput(op, type, {5, 6, 7}), {0, 2}, 0));
            }
        }
    }
}

TEST(CudaReduce, EmptyReductionsScalarsAndNoop) {
    KILN_REQUIRE_GPU();
    for (const std::string& op : reduceOps()) {
        SCOPED_TRACE(op);
        // Reducing a size-0 axis gives each op's identity (0, 1, -inf, +inf, NaN for the mean, -inf for logs).
        expectCudaMatchesCpu(reduceNode(op, randomTensor(DataType::kFloat32, {3, 0, 4}, seed()), {1}, 1));
        if (op == "ReduceMax" || op == "ReduceMean" || op == "ReduceProd") {
            expectCudaMatchesCpu(reduceNode(op, randomTensor(DataType::kInt32, {3, 0}, seed()), {1}, 0));
        }
        // A size-0 kept axis: an empty output, nothing launched.
        expectCudaMatchesCpu(reduceNode(op, randomTensor(DataType::kFloat32, {0, 5}, seed()), {1}, 1));
        expectCudaMatchesCpu(reduceNode(op, reduceInput(op, DataType::kFloat32, {}), {}, 1));
    }
    // noop_with_empty_axes: the input passes through (no axes input, and an empty one).
    expectCudaMatchesCpu(OpTester("ReduceMean", 18)
                             .input(randomTensor(DataType::kFloat32, {3, 4}, seed()))
                             .attr("noop_with_empty_axes", int64_t{1}));
    expectCudaMatchesCpu(OpTester("ReduceSum")
                             .input(randomTensor(DataType::kFloat16, {3, 4}, seed()))
                             .constInput(Tensor(DataType::kInt64, {0}))
                             .attr("noop_with_empty_axes", int64_t{1}));
    expectCudaMatchesCpu(OpTester("ReduceSum")
                             .input(randomTensor(DataType::kFloat32, {3, 4}, seed()))
                             .constInput(Tensor(DataType::kInt64, {0})));
}

TEST(CudaReduce, NaNAndInfinityFollowTheReference) {
    KILN_REQUIRE_GPU();
    for (DataType type : {DataType::kFloat32, DataType::kFloat16}) {
        const Tensor x = withNaN(randomTensor(type, {4, 9}, seed()), {3, 20, 35});
        for (const char* op : {"ReduceMax", "ReduceMin", "ReduceSum", "ReduceLogSumExp"}) {
            SCOPED_TRACE(op);
            expectCudaMatchesCpu(reduceNode(op, x, {1}, 1));
            expectCudaMatchesCpu(reduceNode(op, x, {0}, 0));
        }
    }
    // LogSumExp: rows with +inf, with -inf only, and with a NaN (which the CPU's fmax skips but exp propagates).
    Tensor x = randomTensor(DataType::kFloat32, {3, 5}, seed());
    setFloat(x, 1, std::numeric_limits<double>::infinity());
    for (int64_t i = 5; i < 10; ++i) setFloat(x, i, -std::numeric_limits<double>::infinity());
    setFloat(x, 12, std::numeric_limits<double>::quiet_NaN());
    expectCudaMatchesCpu(reduceNode("ReduceLogSumExp", x, {1}, 0));
    expectCudaMatchesCpu(reduceNode("ReduceMax", x, {1}, 0));
}

TEST(CudaReduce, AxesFromARuntimeInputAndOpset18) {
    KILN_REQUIRE_GPU();
    // A runtime (non-constant) axes input is read on the host.
    expectCudaMatchesCpu(OpTester("ReduceSum")
                             .input(randomTensor(DataType::kFloat32, {5, 6, 7}, seed()))
                             .input(int64s({-1, 0}))
                             .attr("keepdims", int64_t{0}));
    for (const char* op : {"ReduceMean", "ReduceMax", "ReduceL2", "ReduceLogSumExp"}) {
        SCOPED_TRACE(op);
        expectCudaMatchesCpu(reduceNode(op, reduceInput(op, DataType::kFloat32, {5, 6, 7}), {-2}, 1, 18));
    }
}

TEST(CudaReduce, ErrorsMatchTheReference) {
    KILN_REQUIRE_GPU();
    const Tensor x = randomTensor(DataType::kFloat32, {3, 4}, seed());
    expectCudaMatchesCpu(reduceNode("ReduceMean", x, {2}, 1));     // axis out of range
    expectCudaMatchesCpu(reduceNode("ReduceMax", x, {1, -1}, 1));  // repeated axis
    expectCudaMatchesCpu(reduceNode("ReduceSum", randomTensor(DataType::kBool, {3, 4}, seed()), {1}, 1));  // dtype
    expectCudaMatchesCpu(OpTester("ReduceSum").input(x).constInput(Tensor::fromVector<float>({1.0f})));    // axes dtype
}

TEST(CudaArgReduce, EveryDtypeWithTiesAndLayouts) {
    KILN_REQUIRE_GPU();
    const std::vector<DataType> types = {DataType::kFloat32, DataType::kFloat16, DataType::kBFloat16,
                                         DataType::kFloat64, DataType::kInt8,    DataType::kInt32,
                                         DataType::kInt64,   DataType::kUInt8};
    for (const char* op : {"ArgMax", "ArgMin"}) {
        for (DataType type : types) {
            SCOPED_TRACE(std::string(op) + " " + dataTypeName(type));
            // Values in [-2, 2]: every row has ties, so select_last_index decides.
            const Tensor x = integerValued(type, {5, 6, 7}, seed());
            expectCudaMatchesCpu(OpTester(op).input(x).attr("axis", int64_t{-1}));
            expectCudaMatchesCpu(OpTester(op)
                                     .input(x)
                                     .attr("axis", int64_t{1})
                                     .attr("keepdims", int64_t{0})
                                     .attr("select_last_index", int64_t{1}));
        }
        SCOPED_TRACE(op);
        expectCudaMatchesCpu(
            OpTester(op).input(randomTensor(DataType::kFloat32, {3, 1031}, seed())).attr("axis", int64_t{1}));
        expectCudaMatchesCpu(OpTester(op)
                                 .input(integerValued(DataType::kFloat32, {3, 1031}, seed()))
                                 .attr("axis", int64_t{1})
                                 .attr("select_last_index", int64_t{1}));
        expectCudaMatchesCpu(OpTester(op).input(integerValued(DataType::kInt32, {1031, 3}, seed())));
        expectCudaMatchesCpu(OpTester(op).input(Tensor::scalar<float>(2.5f)).attr("keepdims", int64_t{0}));
        // The first NaN wins, whatever select_last_index says.
        const Tensor nan = withNaN(randomTensor(DataType::kFloat32, {4, 9}, seed()), {2, 7, 20, 33, 34});
        expectCudaMatchesCpu(OpTester(op).input(nan).attr("axis", int64_t{1}).attr("select_last_index", int64_t{1}));
        expectCudaMatchesCpu(OpTester(op).input(nan).attr("axis", int64_t{0}));
        expectCudaMatchesCpu(OpTester(op).input(Tensor(DataType::kFloat32, {0, 4})).attr("axis", int64_t{1}));
        expectCudaMatchesCpu(OpTester(op).input(Tensor(DataType::kFloat32, {3, 0})).attr("axis", int64_t{1}));  // error
        expectCudaMatchesCpu(OpTester(op).input(randomTensor(DataType::kBool, {3}, seed())));                   // error
    }
}

TEST(CudaSoftmax, AxisAndLegacyFlattenSemantics) {
    KILN_REQUIRE_GPU();
    for (const char* op : {"Softmax", "LogSoftmax", "Hardmax"}) {
        SCOPED_TRACE(op);
        const Tensor x = randomTensor(DataType::kFloat32, {5, 6, 7}, seed(), -4.0, 4.0);
        for (int64_t axis : {-1, 1, 0}) expectCudaMatchesCpu(OpTester(op, 13).input(x).attr("axis", axis));
        // Before opset 13: rows are the flattened dims from `axis` on (default 1).
        expectCudaMatchesCpu(OpTester(op, 11).input(x));
        expectCudaMatchesCpu(OpTester(op, 11).input(x).attr("axis", int64_t{2}));
        expectCudaMatchesCpu(OpTester(op, 11).input(x).attr("axis", int64_t{0}));
        expectCudaMatchesCpu(OpTester(op, 13).input(randomTensor(DataType::kFloat32, {3, 1031}, seed(), -8.0, 8.0)));
        expectCudaMatchesCpu(OpTester(op, 13).input(randomTensor(DataType::kFloat32, {1, 300}, seed())));
        expectCudaMatchesCpu(OpTester(op, 13).input(Tensor(DataType::kFloat32, {2, 0, 3})).attr("axis", int64_t{1}));
        for (DataType type : {DataType::kFloat16, DataType::kBFloat16, DataType::kFloat64}) {
            SCOPED_TRACE(dataTypeName(type));
            expectCudaMatchesCpu(OpTester(op, 13).input(randomTensor(type, {4, 300}, seed(), -4.0, 4.0)));
            expectCudaMatchesCpu(
                OpTester(op, 13).input(randomTensor(type, {37, 5}, seed(), -4.0, 4.0)).attr("axis", int64_t{0}));
        }
    }
}

TEST(CudaSoftmax, TiesNaNInfinityAndErrors) {
    KILN_REQUIRE_GPU();
    for (const char* op : {"Softmax", "LogSoftmax", "Hardmax"}) {
        SCOPED_TRACE(op);
        // Hardmax picks the first of tied maxima, in rows and in columns.
        const Tensor ties = integerValued(DataType::kFloat32, {6, 40}, seed());
        expectCudaMatchesCpu(OpTester(op, 13).input(ties));
        expectCudaMatchesCpu(OpTester(op, 13).input(ties).attr("axis", int64_t{0}));
        // A row with a NaN, a row of -inf (NaN results for Softmax; Hardmax picks position 0), a row with +inf.
        Tensor x = withNaN(randomTensor(DataType::kFloat32, {4, 6}, seed()), {2});
        for (int64_t i = 6; i < 12; ++i) setFloat(x, i, -std::numeric_limits<double>::infinity());
        setFloat(x, 15, std::numeric_limits<double>::infinity());
        expectCudaMatchesCpu(OpTester(op, 13).input(x));
        expectCudaMatchesCpu(OpTester(op, 13).input(x).attr("axis", int64_t{0}));
        expectCudaMatchesCpu(OpTester(op, 13).input(Tensor::scalar<float>(1.0f)));                     // rank 0
        expectCudaMatchesCpu(OpTester(op, 13).input(randomTensor(DataType::kInt32, {3, 4}, seed())));  // dtype
        expectCudaMatchesCpu(OpTester(op, 13).input(x).attr("axis", int64_t{2}));                      // axis
    }
}

TEST(CudaCumSum, ExclusiveReverseAxesAndDtypes) {
    KILN_REQUIRE_GPU();
    const std::vector<DataType> types = {DataType::kFloat32, DataType::kFloat16, DataType::kBFloat16,
                                         DataType::kFloat64, DataType::kInt8,    DataType::kInt32,
                                         DataType::kInt64,   DataType::kUInt8,   DataType::kUInt64};
    for (size_t t = 0; t < types.size(); ++t) {
        SCOPED_TRACE(dataTypeName(types[t]));
        // int8/uint8 sums of values up to 100 wrap: both backends wrap in the element type.
        const Tensor x = randomTensor(types[t], {5, 6, 7}, seed(), -100.0, 100.0);
        for (int64_t mode = 0; mode < 4; ++mode) {
            // Every exclusive/reverse combination for float32 and int32, one (rotating) for the other dtypes.
            const bool all = types[t] == DataType::kFloat32 || types[t] == DataType::kInt32;
            if (!all && mode != static_cast<int64_t>(t % 4)) continue;
            const int64_t exclusive = mode & 1;
            const int64_t reverse = mode >> 1;
            expectCudaMatchesCpu(OpTester("CumSum", 14)
                                     .input(x)
                                     .constInput(Tensor::scalar<int64_t>(exclusive + reverse == 1 ? 1 : -1))
                                     .attr("exclusive", exclusive)
                                     .attr("reverse", reverse));
        }
    }
    // Long rows (the scan is sequential per row, in the CPU's order: float results agree bit for bit).
    expectCudaMatchesCpu(OpTester("CumSum", 14)
                             .input(randomTensor(DataType::kFloat32, {2, 1031}, seed()))
                             .constInput(Tensor::fromVector<int32_t>({-1})),
                         Tolerance{0, 0});
    expectCudaMatchesCpu(OpTester("CumSum", 14)
                             .input(randomTensor(DataType::kFloat32, {1031, 2}, seed()))
                             .input(Tensor::scalar<int32_t>(0))
                             .attr("reverse", int64_t{1}));
    expectCudaMatchesCpu(
        OpTester("CumSum", 14).input(Tensor(DataType::kFloat32, {0, 3})).constInput(Tensor::scalar<int64_t>(1)));
    const Tensor x = randomTensor(DataType::kFloat32, {3, 4}, seed());
    expectCudaMatchesCpu(OpTester("CumSum", 14).input(x).constInput(Tensor::scalar<int64_t>(2)));   // axis
    expectCudaMatchesCpu(OpTester("CumSum", 14).input(x).constInput(Tensor::scalar<float>(0.0f)));  // dtype
    expectCudaMatchesCpu(
        OpTester("CumSum", 14).input(Tensor::scalar<float>(1.0f)).constInput(Tensor::scalar<int64_t>(0)));
}

//! TopK with both outputs (values and int64 indices, compared exactly).
OpTester topK(Tensor x, int64_t k, int64_t axis, int64_t largest) {
    OpTester t("TopK", 11);
    t.input(std::move(x)).constInput(int64s({k})).attr("axis", axis).attr("largest", largest).outputs(2);
    return t;
}

TEST(CudaTopK, SharedMemoryRowsEveryDtypeAndTies) {
    KILN_REQUIRE_GPU();
    const std::vector<DataType> types = {DataType::kFloat32, DataType::kFloat16, DataType::kBFloat16,
                                         DataType::kFloat64, DataType::kInt8,    DataType::kInt32,
                                         DataType::kInt64,   DataType::kUInt8};
    for (DataType type : types) {
        SCOPED_TRACE(dataTypeName(type));
        for (int64_t largest : {1, 0}) {
            expectCudaMatchesCpu(topK(integerValued(type, {4, 37}, seed(), -5, 5), 11, -1, largest));
            expectCudaMatchesCpu(topK(integerValued(type, {5, 6, 7}, seed()), 6, 1, largest));
        }
    }
    expectCudaMatchesCpu(topK(randomTensor(DataType::kFloat32, {37, 3}, seed()), 37, 0, 1));  // all, strided rows
    expectCudaMatchesCpu(topK(randomTensor(DataType::kFloat32, {2, 4096}, seed()), 100, 1, 0));
    expectCudaMatchesCpu(topK(randomTensor(DataType::kFloat32, {3, 1}, seed()), 1, 1, 1));
    expectCudaMatchesCpu(topK(randomTensor(DataType::kFloat32, {3, 5}, seed()), 0, 1, 1));  // k = 0: empty outputs
    expectCudaMatchesCpu(topK(Tensor(DataType::kFloat32, {0, 5}), 2, 1, 1));
    // NaN ranks above every number: first for largest, last for smallest.
    const Tensor nan = withNaN(randomTensor(DataType::kFloat32, {3, 10}, seed()), {1, 4, 12, 29});
    expectCudaMatchesCpu(topK(nan, 4, 1, 1));
    expectCudaMatchesCpu(topK(nan, 10, 1, 0));
    // Only the values output.
    expectCudaMatchesCpu(
        OpTester("TopK", 11).input(randomTensor(DataType::kFloat32, {3, 50}, seed())).constInput(int64s({5})));
}

TEST(CudaTopK, RowsLongerThanSharedMemorySortInWorkspace) {
    KILN_REQUIRE_GPU();
    expectCudaMatchesCpu(topK(randomTensor(DataType::kFloat32, {2, 5000}, seed()), 17, 1, 1));
    expectCudaMatchesCpu(topK(integerValued(DataType::kInt32, {2, 9001}, seed(), -50, 50), 300, -1, 0));
    expectCudaMatchesCpu(topK(integerValued(DataType::kFloat16, {3, 4500, 2}, seed(), -20, 20), 4500, 1, 1));
    expectCudaMatchesCpu(topK(withNaN(randomTensor(DataType::kFloat64, {1, 8193}, seed()), {0, 8192}), 9, 1, 1));
}

TEST(CudaTopK, ErrorsMatchTheReference) {
    KILN_REQUIRE_GPU();
    const Tensor x = randomTensor(DataType::kFloat32, {3, 5}, seed());
    expectCudaMatchesCpu(topK(x, 6, 1, 1));   // k > n
    expectCudaMatchesCpu(topK(x, -1, 1, 1));  // negative k
    expectCudaMatchesCpu(topK(x, 2, 2, 1));   // axis
    expectCudaMatchesCpu(OpTester("TopK", 11).input(x).constInput(Tensor::fromVector<int32_t>({2})).outputs(2));
    expectCudaMatchesCpu(topK(randomTensor(DataType::kBool, {3, 5}, seed()), 2, 1, 1));
}

}  // namespace
}  // namespace kiln::testing
