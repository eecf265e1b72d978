// CUDA tensor creation (ConstantOfShape, Range, EyeLike, Trilu, OneHot) against the CPU reference.
#include "cuda/data_movement_test_util.h"

namespace kiln::testing {
namespace {

TEST(CudaTensorFill, ConstantOfShape) {
    KILN_REQUIRE_GPU();
    // A runtime shape input keeps the node on the device even for integer outputs.
    expectCudaMatchesCpu(OpTester("ConstantOfShape").input(int64s({3, 5, 7})));
    for (DataType t : moveTypes()) {
        SCOPED_TRACE(dataTypeName(t));
        expectCudaMatchesCpu(OpTester("ConstantOfShape").input(int64s({2, 1031})).attr("value", anyTensor(t, {1})));
    }
    expectCudaMatchesCpu(
        OpTester("ConstantOfShape").input(int64s({4, 0})).attr("value", anyTensor(DataType::kFloat16, {1})));
    expectCudaMatchesCpu(OpTester("ConstantOfShape").input(Tensor(DataType::kInt64, {0})));  // scalar output
    expectCudaMatchesCpu(OpTester("ConstantOfShape").input(int64s({2, -1})));                // error
}

TEST(CudaTensorFill, Range) {
    KILN_REQUIRE_GPU();
    expectCudaMatchesCpu(
        OpTester("Range").input(Tensor::scalar(0.5F)).input(Tensor::scalar(1031.25F)).input(Tensor::scalar(0.75F)));
    expectCudaMatchesCpu(
        OpTester("Range").input(Tensor::scalar(10.0)).input(Tensor::scalar(-3.0)).input(Tensor::scalar(-0.1)));
    expectCudaMatchesCpu(OpTester("Range")
                             .input(Tensor::scalar<int64_t>(-7))
                             .input(Tensor::scalar<int64_t>(200))
                             .input(Tensor::scalar<int64_t>(3)));
    expectCudaMatchesCpu(OpTester("Range")
                             .input(Tensor::scalar<int32_t>(5))
                             .input(Tensor::scalar<int32_t>(-5))
                             .input(Tensor::scalar<int32_t>(-2)));
    expectCudaMatchesCpu(
        OpTester("Range").input(Tensor::scalar(1.0F)).input(Tensor::scalar(1.0F)).input(Tensor::scalar(1.0F)));
    expectCudaMatchesCpu(
        OpTester("Range").input(Tensor::scalar(0.0F)).input(Tensor::scalar(1.0F)).input(Tensor::scalar(0.0F)));
}

TEST(CudaTensorFill, EyeLike) {
    KILN_REQUIRE_GPU();
    for (DataType t : moveTypes()) {
        SCOPED_TRACE(dataTypeName(t));
        expectCudaMatchesCpu(OpTester("EyeLike").input(anyTensor(t, {5, 7})).attr("k", int64_t{-2}));
    }
    for (int64_t k : std::vector<int64_t>{0, 3, 6, 7, -5, INT64_MAX, INT64_MIN}) {
        expectCudaMatchesCpu(OpTester("EyeLike")
                                 .input(anyTensor(DataType::kFloat32, {5, 6}))
                                 .attr("k", k)
                                 .attr("dtype", static_cast<int64_t>(DataType::kInt32)));
    }
    expectCudaMatchesCpu(OpTester("EyeLike").input(anyTensor(DataType::kFloat32, {0, 4})));
    expectCudaMatchesCpu(OpTester("EyeLike").input(anyTensor(DataType::kFloat32, {2, 2, 2})));  // error
}

TEST(CudaTensorFill, Trilu) {
    KILN_REQUIRE_GPU();
    for (DataType t : moveTypes()) {
        SCOPED_TRACE(dataTypeName(t));
        expectCudaMatchesCpu(OpTester("Trilu").input(anyTensor(t, {3, 5, 7})));
        expectCudaMatchesCpu(OpTester("Trilu")
                                 .input(anyTensor(t, {6, 4}))
                                 .constInput(Tensor::scalar<int64_t>(-2))
                                 .attr("upper", int64_t{0}));
    }
    for (int64_t k : std::vector<int64_t>{-100, -4, 1, 5, 100, INT64_MIN}) {
        for (int64_t upper : {0, 1}) {
            expectCudaMatchesCpu(OpTester("Trilu")
                                     .input(anyTensor(DataType::kFloat16, {2, 5, 4}))
                                     .input(Tensor::scalar<int64_t>(k))
                                     .attr("upper", upper));
        }
    }
    expectCudaMatchesCpu(OpTester("Trilu").input(anyTensor(DataType::kFloat32, {0, 3, 3})));
    expectCudaMatchesCpu(OpTester("Trilu").input(anyTensor(DataType::kFloat32, {7})));  // error
}

TEST(CudaTensorFill, OneHot) {
    KILN_REQUIRE_GPU();
    for (DataType values :
         {DataType::kFloat32, DataType::kFloat16, DataType::kInt64, DataType::kUInt8, DataType::kBool}) {
        SCOPED_TRACE(dataTypeName(values));
        expectCudaMatchesCpu(OpTester("OneHot")
                                 .input(indexTensor(DataType::kInt64, {3, 5}, 7))
                                 .constInput(Tensor::scalar<int64_t>(7))
                                 .constInput(anyTensor(values, {2})));
    }
    // Float indices (truncated), out-of-range indices (an all-off row), other axes, int32 depth.
    Tensor floats(DataType::kFloat32, {6});
    const float values[] = {-0.5F, 2.7F, -3.2F, 9.0F, -10.0F, 4.0F};
    for (int i = 0; i < 6; ++i) floats.data<float>()[i] = values[i];
    for (int64_t axis : {0, -1, 1}) {
        expectCudaMatchesCpu(OpTester("OneHot")
                                 .input(floats.reshaped({2, 3}).value())
                                 .input(Tensor::scalar<int32_t>(5))
                                 .constInput(Tensor::fromVector<float>({-1.0F, 3.0F}))
                                 .attr("axis", axis));
    }
    expectCudaMatchesCpu(OpTester("OneHot")
                             .input(indexTensor(DataType::kInt8, {17}, 11))
                             .constInput(Tensor::scalar<float>(11.0F))
                             .constInput(Tensor::fromVector<int32_t>({0, 1})));
    expectCudaMatchesCpu(OpTester("OneHot")
                             .input(indexTensor(DataType::kInt64, {4}, 3))
                             .constInput(Tensor::scalar<int64_t>(-1))
                             .constInput(Tensor::fromVector<float>({0.0F, 1.0F})));  // error: negative depth
}

}  // namespace
}  // namespace kiln::testing
