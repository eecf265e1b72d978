// CUDA MaxPoolNhwc, AveragePoolNhwc and GlobalAveragePoolNhwc (channels-last, made by the nhwc-layout pass)
// against the CPU reference: windows with strides, pads, dilations, ceil_mode and auto_pad over odd channel counts;
// the global average with one block per image and with the positions split over many (few channels, large maps);
// empty tensors and errors.
#include "cuda/cuda_op_tester.h"

namespace kiln::testing {
namespace {

using Ints = std::vector<int64_t>;

struct Window {
    Ints kernel, strides, pads, dilations;  // pads/dilations empty: attribute absent
    int64_t ceil = 0;
    std::string autoPad;
};

OpTester nhwcPool(const char* op, Tensor x, const Window& w) {
    OpTester t(op, 1, "kiln");
    t.input(std::move(x)).attr("kernel_shape", w.kernel).attr("strides", w.strides).attr("ceil_mode", w.ceil);
    if (!w.pads.empty()) t.attr("pads", w.pads);
    if (!w.dilations.empty()) t.attr("dilations", w.dilations);
    if (!w.autoPad.empty()) t.attr("auto_pad", w.autoPad);
    return t;
}

struct PoolCase {
    Shape shape;  // [N, H, W, C]
    Window window;
};

const PoolCase kCases[] = {
    {{2, 11, 13, 3}, {{2, 2}, {2, 2}, {}, {}, 0, ""}},                // tails that do not fill a window
    {{5, 9, 9, 7}, {{3, 3}, {2, 2}, {1, 1, 1, 1}, {}, 0, ""}},        // ResNet's stem pool, batch 5
    {{1, 10, 9, 33}, {{3, 2}, {2, 3}, {0, 1, 2, 0}, {2, 1}, 1, ""}},  // asymmetric pads, dilations, ceil_mode
    {{1, 8, 8, 64}, {{3, 3}, {2, 2}, {}, {}, 0, "SAME_UPPER"}},       // auto_pad
    {{0, 4, 4, 3}, {{2, 2}, {2, 2}, {}, {}, 0, ""}},                  // empty batch
};

TEST(CudaPoolNhwc, MaxPool) {
    KILN_REQUIRE_GPU();
    for (DataType t : {DataType::kFloat32, DataType::kFloat16, DataType::kBFloat16, DataType::kFloat64, DataType::kInt8,
                       DataType::kUInt8}) {
        for (const PoolCase& c : kCases) {
            SCOPED_TRACE(std::string(dataTypeName(t)) + " " + shapeToString(c.shape));
            expectCudaMatchesCpu(nhwcPool("MaxPoolNhwc", randomTensor(t, c.shape, seed(), -9, 9), c.window));
        }
    }
}

TEST(CudaPoolNhwc, AveragePool) {
    KILN_REQUIRE_GPU();
    for (DataType t : {DataType::kFloat32, DataType::kFloat16, DataType::kBFloat16}) {
        for (const PoolCase& c : kCases) {
            for (int64_t includePad : {0, 1}) {
                SCOPED_TRACE(std::string(dataTypeName(t)) + " " + shapeToString(c.shape) + " count_include_pad " +
                             std::to_string(includePad));
                OpTester op = nhwcPool("AveragePoolNhwc", randomTensor(t, c.shape, seed()), c.window);
                expectCudaMatchesCpu(op.attr("count_include_pad", includePad));
            }
        }
    }
}

TEST(CudaPoolNhwc, GlobalAveragePool) {
    KILN_REQUIRE_GPU();
    const Shape shapes[] = {
        {5, 7, 7, 2048},    // ResNet-50's head: one block per 32 channels
        {1, 160, 160, 96},  // PP-OCR's squeeze-excite: positions split over blocks, partial sums in workspace
        {3, 5, 6, 7},      {2, 1, 1, 33}, {1, 31, 29, 3}, {0, 4, 4, 3}, {2, 0, 3, 5},
    };
    for (DataType t : {DataType::kFloat32, DataType::kFloat16, DataType::kBFloat16, DataType::kFloat64}) {
        for (const Shape& s : shapes) {
            SCOPED_TRACE(std::string(dataTypeName(t)) + " " + shapeToString(s));
            OpTester op("GlobalAveragePoolNhwc", 1, "kiln");
            expectCudaMatchesCpu(op.input(randomTensor(t, s, seed())));
        }
    }
}

TEST(CudaPoolNhwc, ErrorsMatchTheReference) {
    KILN_REQUIRE_GPU();
    const Window w{{2, 2}, {2, 2}, {}, {}, 0, ""};
    expectCudaMatchesCpu(nhwcPool("MaxPoolNhwc", randomTensor(DataType::kFloat32, {1, 4, 4}, seed()), w));
    expectCudaMatchesCpu(nhwcPool("AveragePoolNhwc", randomTensor(DataType::kFloat32, {1, 4, 4, 2, 2}, seed()), w));
    expectCudaMatchesCpu(nhwcPool("AveragePoolNhwc", randomTensor(DataType::kInt32, {1, 4, 4, 2}, seed()), w));
    expectCudaMatchesCpu(nhwcPool("MaxPoolNhwc", randomTensor(DataType::kFloat32, {1, 4, 4, 2}, seed()), w)
                             .attr("kernel_shape", Ints{2, 2, 2}));
    OpTester gap("GlobalAveragePoolNhwc", 1, "kiln");
    expectCudaMatchesCpu(gap.input(randomTensor(DataType::kFloat32, {2, 3}, seed())));
}

}  // namespace
}  // namespace kiln::testing
