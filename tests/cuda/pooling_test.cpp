// CUDA pooling family against the CPU reference: MaxPool (+ Indices, storage_order), AveragePool
// (count_include_pad), LpPool over 1-3 spatial dims with strides, pads, dilations, ceil_mode and auto_pad (the
// window variations of the ONNX conformance tests), the global pools, MaxUnpool, and error paths.
#include <string>

#include "cuda/reduction_test_util.h"
#include "ops/tensor_test_util.h"

namespace kiln::testing {
namespace {

struct Window {
    std::vector<int64_t> kernel;
    std::vector<int64_t> strides;
    std::vector<int64_t> pads;       // empty: attribute absent
    std::vector<int64_t> dilations;  // empty: attribute absent
    int64_t ceil = 0;
    std::string autoPad;  // empty: attribute absent
};

OpTester pool(const std::string& op, Tensor x, const Window& w) {
    OpTester t(op);
    t.input(std::move(x)).attr("kernel_shape", w.kernel).attr("strides", w.strides);
    if (!w.pads.empty()) t.attr("pads", w.pads);
    if (!w.dilations.empty()) t.attr("dilations", w.dilations);
    if (!w.autoPad.empty()) t.attr("auto_pad", w.autoPad);
    t.attr("ceil_mode", w.ceil);
    return t;
}

//! Windows and inputs covering 1, 2 and 3 spatial dims (the conformance tests' variations and then some).
struct PoolCase {
    Shape shape;
    Window window;
};

const std::vector<PoolCase>& poolCases() {
    static const std::vector<PoolCase> kCases = {
        {{2, 3, 17}, {{3}, {1}, {}, {}, 0, ""}},                          // 1-D default
        {{2, 3, 11, 13}, {{2, 2}, {2, 2}, {}, {}, 0, ""}},                // 2-D, tails that do not fill a window
        {{2, 3, 11, 13}, {{3, 3}, {2, 2}, {1, 1, 1, 1}, {}, 0, ""}},      // pads
        {{2, 3, 11, 13}, {{3, 2}, {2, 3}, {0, 1, 2, 0}, {}, 1, ""}},      // ceil_mode, asymmetric pads
        {{2, 3, 11, 13}, {{2, 2}, {1, 1}, {}, {2, 2}, 0, ""}},            // dilations
        {{2, 3, 11, 13}, {{3, 3}, {3, 3}, {1, 1, 1, 1}, {2, 1}, 1, ""}},  // dilations + ceil_mode + pads
        {{2, 3, 11, 13}, {{3, 3}, {2, 2}, {}, {}, 0, "SAME_UPPER"}},
        {{2, 3, 11, 13}, {{2, 4}, {1, 3}, {}, {}, 0, "SAME_LOWER"}},
        {{2, 3, 11, 13}, {{3, 3}, {2, 2}, {}, {}, 0, "VALID"}},
        {{1, 2, 5, 6, 7}, {{2, 3, 2}, {2, 2, 1}, {1, 0, 1, 0, 1, 1}, {}, 1, ""}},  // 3-D
        {{1, 1, 1, 1}, {{1, 1}, {1, 1}, {}, {}, 0, ""}},
        {{0, 3, 5, 5}, {{2, 2}, {1, 1}, {}, {}, 0, ""}},  // no planes
    };
    return kCases;
}

TEST(CudaMaxPool, WindowsIndicesAndStorageOrder) {
    KILN_REQUIRE_GPU();
    for (const PoolCase& c : poolCases()) {
        SCOPED_TRACE(shapeToString(c.shape));
        const Tensor x = randomTensor(DataType::kFloat32, c.shape, seed());
        expectCudaMatchesCpu(pool("MaxPool", x, c.window).outputs(2));
        expectCudaMatchesCpu(pool("MaxPool", x, c.window).outputs(2).attr("storage_order", int64_t{1}));
    }
}

TEST(CudaMaxPool, DtypesTiesAndNaN) {
    KILN_REQUIRE_GPU();
    const Window w{{3, 3}, {2, 2}, {1, 1, 1, 1}, {}, 1, ""};
    for (DataType type :
         {DataType::kFloat16, DataType::kBFloat16, DataType::kFloat64, DataType::kInt8, DataType::kUInt8}) {
        SCOPED_TRACE(dataTypeName(type));
        // Small whole numbers: ties inside windows, where the first tap in scan order wins.
        expectCudaMatchesCpu(pool("MaxPool", integerValued(type, {2, 3, 9, 10}, seed()), w).outputs(2));
    }
    const Tensor nan = withNaN(randomTensor(DataType::kFloat32, {1, 2, 6, 6}, seed()), {0, 7, 14, 40, 71});
    expectCudaMatchesCpu(pool("MaxPool", nan, w).outputs(2));
    // Padding larger than the window's reach: windows with no input tap give the lowest value, index 0.
    expectCudaMatchesCpu(pool("MaxPool", randomTensor(DataType::kFloat32, {1, 2, 3, 3}, seed()),
                              {{2, 2}, {1, 1}, {3, 3, 3, 3}, {}, 0, ""})
                             .outputs(2));
}

TEST(CudaAveragePool, WindowsCountIncludePadAndDtypes) {
    KILN_REQUIRE_GPU();
    for (const PoolCase& c : poolCases()) {
        SCOPED_TRACE(shapeToString(c.shape));
        const Tensor x = randomTensor(DataType::kFloat32, c.shape, seed());
        expectCudaMatchesCpu(pool("AveragePool", x, c.window));
        expectCudaMatchesCpu(pool("AveragePool", x, c.window).attr("count_include_pad", int64_t{1}));
    }
    const Window w{{3, 3}, {2, 2}, {1, 1, 1, 1}, {}, 1, ""};
    for (DataType type : {DataType::kFloat16, DataType::kBFloat16, DataType::kFloat64}) {
        SCOPED_TRACE(dataTypeName(type));
        expectCudaMatchesCpu(pool("AveragePool", randomTensor(type, {2, 3, 9, 10}, seed()), w));
        expectCudaMatchesCpu(
            pool("AveragePool", randomTensor(type, {2, 3, 9, 10}, seed()), w).attr("count_include_pad", int64_t{1}));
    }
}

TEST(CudaLpPool, OrdersWindowsAndDtypes) {
    KILN_REQUIRE_GPU();
    for (const PoolCase& c : poolCases()) {
        SCOPED_TRACE(shapeToString(c.shape));
        expectCudaMatchesCpu(pool("LpPool", randomTensor(DataType::kFloat32, c.shape, seed()), c.window));
    }
    const Window w{{2, 2}, {1, 1}, {1, 0, 0, 1}, {}, 0, ""};
    for (DataType type : floatTypes()) {
        for (int64_t p : {1, 3}) {
            SCOPED_TRACE(std::string(dataTypeName(type)) + " p=" + std::to_string(p));
            expectCudaMatchesCpu(pool("LpPool", randomTensor(type, {2, 3, 7, 6}, seed()), w).attr("p", p));
        }
    }
}

TEST(CudaGlobalPool, EveryOpShapesAndDtypes) {
    KILN_REQUIRE_GPU();
    for (const char* op : {"GlobalAveragePool", "GlobalMaxPool", "GlobalLpPool"}) {
        SCOPED_TRACE(op);
        for (DataType type : floatTypes()) {
            SCOPED_TRACE(dataTypeName(type));
            expectCudaMatchesCpu(OpTester(op).input(randomTensor(type, {2, 3, 5, 7}, seed())));
            expectCudaMatchesCpu(OpTester(op).input(randomTensor(type, {2, 3, 1031}, seed())));
        }
        expectCudaMatchesCpu(OpTester(op).input(randomTensor(DataType::kFloat32, {3, 4}, seed())));
        expectCudaMatchesCpu(OpTester(op).input(randomTensor(DataType::kFloat32, {1, 2, 3, 4, 5}, seed())));
        expectCudaMatchesCpu(OpTester(op).input(Tensor(DataType::kFloat32, {0, 3, 4})));
        expectCudaMatchesCpu(OpTester(op).input(Tensor(DataType::kFloat32, {2, 3, 0})));  // empty planes
        expectCudaMatchesCpu(OpTester(op).input(withNaN(randomTensor(DataType::kFloat32, {2, 2, 9}, seed()), {4, 30})));
        expectCudaMatchesCpu(OpTester(op).input(randomTensor(DataType::kFloat32, {3}, seed())));      // rank 1: error
        expectCudaMatchesCpu(OpTester(op).input(randomTensor(DataType::kInt32, {2, 3, 4}, seed())));  // dtype: error
    }
    expectCudaMatchesCpu(
        OpTester("GlobalLpPool").input(randomTensor(DataType::kFloat32, {2, 3, 5, 7}, seed())).attr("p", int64_t{3}));
}

TEST(CudaMaxUnpool, FromMaxPoolIndicesOutputShapeAndRepeats) {
    KILN_REQUIRE_GPU();
    const Window w{{2, 2}, {2, 2}, {}, {}, 0, ""};
    for (DataType type : {DataType::kFloat32, DataType::kFloat16, DataType::kInt32}) {
        SCOPED_TRACE(dataTypeName(type));
        auto pooled =
            pool("MaxPool",
                 randomTensor(type == DataType::kInt32 ? DataType::kFloat32 : type, {2, 3, 8, 8}, seed(), -50.0, 50.0),
                 w)
                .outputs(2)
                .run();
        ASSERT_TRUE(pooled.isOk()) << pooled.status().message();
        const Tensor values =
            type == DataType::kInt32 ? randomTensor(type, (*pooled)[0].shape(), seed(), -9, 9) : (*pooled)[0];
        OpTester unpool("MaxUnpool", 11);
        unpool.input(values).input((*pooled)[1]).attr("kernel_shape", w.kernel).attr("strides", w.strides);
        expectCudaMatchesCpu(unpool);
        OpTester padded("MaxUnpool", 11);
        padded.input(values)
            .input((*pooled)[1])
            .constInput(int64s({2, 3, 9, 11}))
            .attr("kernel_shape", w.kernel)
            .attr("strides", w.strides);
        expectCudaMatchesCpu(padded);
    }
    // Repeated targets: the last writer wins, as in the CPU's sequential loop.
    OpTester repeats("MaxUnpool", 11);
    repeats.input(randomTensor(DataType::kFloat32, {1, 1, 2, 2}, seed()))
        .input(Tensor::fromVector<int64_t>({0, 0, 15, 15}, {1, 1, 2, 2}))
        .attr("kernel_shape", w.kernel)
        .attr("strides", w.strides);
    expectCudaMatchesCpu(repeats);
    OpTester outside("MaxUnpool", 11);
    outside.input(randomTensor(DataType::kFloat32, {1, 1, 2, 2}, seed()))
        .input(Tensor::fromVector<int64_t>({0, 1, 2, 16}, {1, 1, 2, 2}))
        .attr("kernel_shape", w.kernel)
        .attr("strides", w.strides);
    expectCudaMatchesCpu(outside);  // index outside the unpooled shape: both fail
}

TEST(CudaPooling, ErrorsMatchTheReference) {
    KILN_REQUIRE_GPU();
    const Tensor x = randomTensor(DataType::kFloat32, {1, 2, 5, 5}, seed());
    expectCudaMatchesCpu(OpTester("MaxPool").input(x));  // no kernel_shape
    expectCudaMatchesCpu(pool("MaxPool", x, {{2, 2}, {1, 1}, {}, {}, 0, "BOGUS"}));
    expectCudaMatchesCpu(pool("MaxPool", x, {{2, 2}, {1, 1}, {}, {}, 0, ""}).attr("storage_order", int64_t{2}));
    expectCudaMatchesCpu(
        pool("MaxPool", randomTensor(DataType::kInt32, {1, 2, 5, 5}, seed()), {{2, 2}, {1, 1}, {}, {}, 0, ""}));
    expectCudaMatchesCpu(
        pool("AveragePool", randomTensor(DataType::kInt8, {1, 2, 5, 5}, seed()), {{2, 2}, {1, 1}, {}, {}, 0, ""}));
    expectCudaMatchesCpu(pool("AveragePool", x, {{6, 6}, {1, 1}, {}, {}, 0, ""}));  // window larger than the input
    expectCudaMatchesCpu(pool("AveragePool", x, {{2, 2, 2}, {1, 1, 1}, {}, {}, 0, ""}));  // kernel rank
    expectCudaMatchesCpu(pool("LpPool", x, {{2, 2}, {1, 1}, {}, {}, 0, ""}).attr("p", int64_t{0}));
    expectCudaMatchesCpu(
        pool("MaxPool", randomTensor(DataType::kFloat32, {2, 5}, seed()), {{2}, {1}, {}, {}, 0, ""}));  // rank 2
}

}  // namespace
}  // namespace kiln::testing
