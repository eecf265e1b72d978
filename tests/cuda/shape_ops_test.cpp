// CUDA view ops (Identity, Reshape, Flatten, Squeeze, Unsqueeze) and the executor's host/device hand-offs.
#include "cuda/cuda_op_tester.h"

namespace kiln::testing {
namespace {

TEST(CudaShapeOps, ReshapeWithMinusOneAndZero) {
    KILN_REQUIRE_GPU();
    for (DataType t : {DataType::kFloat32, DataType::kFloat16, DataType::kInt64, DataType::kBool}) {
        OpTester op("Reshape");
        op.input(randomTensor(t, {5, 6, 7}, seed())).constInput(Tensor::fromVector<int64_t>({0, -1}));
        expectCudaMatchesCpu(op);
    }
}

TEST(CudaShapeOps, ReshapeShapeFromRuntimeInputIsReadOnTheHost) {
    KILN_REQUIRE_GPU();
    OpTester op("Reshape");
    op.input(randomTensor(DataType::kFloat32, {2, 3, 5}, seed())).input(Tensor::fromVector<int64_t>({3, 10}));
    expectCudaMatchesCpu(op);
}

TEST(CudaShapeOps, SqueezeUnsqueezeFlattenIdentity) {
    KILN_REQUIRE_GPU();
    expectCudaMatchesCpu(OpTester("Squeeze").input(randomTensor(DataType::kFloat32, {1, 7, 1}, seed())));
    expectCudaMatchesCpu(OpTester("Unsqueeze")
                             .input(randomTensor(DataType::kInt32, {7, 3}, seed(), -50, 50))
                             .constInput(Tensor::fromVector<int64_t>({-1, 0})));
    expectCudaMatchesCpu(
        OpTester("Flatten").input(randomTensor(DataType::kFloat32, {2, 3, 0, 5}, seed())).attr("axis", int64_t{2}));
    expectCudaMatchesCpu(OpTester("Identity").input(randomTensor(DataType::kUInt8, {127}, seed(), 0, 255)));
}

TEST(CudaShapeOps, ErrorsMatchTheReference) {
    KILN_REQUIRE_GPU();
    OpTester op("Reshape");
    op.input(randomTensor(DataType::kFloat32, {5, 7}, seed())).constInput(Tensor::fromVector<int64_t>({4, -1}));
    expectCudaMatchesCpu(op);  // 35 elements do not reshape to 4x?: both fail
}

TEST(CudaShapeOps, HostFallbackForOpsWithoutCudaKernels) {
    KILN_REQUIRE_GPU();
    // Runs on the host until its CUDA kernel exists; the copies in and out must be right either way.
    expectCudaMatchesCpu(OpTester("NonZero").input(randomTensor(DataType::kFloat32, {3, 4}, seed())));
}

}  // namespace
}  // namespace kiln::testing
