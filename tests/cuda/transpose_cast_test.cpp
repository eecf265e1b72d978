// CUDA kiln TransposeCast (made by transpose-cast-fusion at the channels-last edges) against the CPU reference,
// bit for bit: both perms of the edges, float32 ↔ float16/bfloat16, shapes that take the few-channels vectorized
// kernel (C ≤ 4, H·W a multiple of 4), the tiled kernel (odd sizes, many channels) and size-0 batches; other perms
// and dtypes take the gather + Cast fallback.
#include "cuda/cuda_op_tester.h"

namespace kiln::testing {
namespace {

using Ints = std::vector<int64_t>;

const Ints kToNhwc{0, 2, 3, 1};
const Ints kToNchw{0, 3, 1, 2};
constexpr Tolerance kExact{0, 0};

OpTester transposeCast(Tensor x, const Ints& perm, DataType to) {
    OpTester t("TransposeCast", 1, "kiln");
    t.input(std::move(x)).attr("perm", perm).attr("to", static_cast<int64_t>(to));
    return t;
}

TEST(CudaTransposeCast, ChannelsLastEdges) {
    KILN_REQUIRE_GPU();
    const std::pair<DataType, DataType> pairs[] = {
        {DataType::kFloat32, DataType::kFloat16},  {DataType::kFloat32, DataType::kBFloat16},
        {DataType::kFloat16, DataType::kFloat32},  {DataType::kBFloat16, DataType::kFloat32},
        {DataType::kFloat16, DataType::kBFloat16},
    };
    // [N, C, H, W] before the perm: 1x3x7x5 (35 pixels: tiled), 2x3x224x224 (the images, vectorized), 3x64x17x19
    // (tiled), 2x4x8x4 and 1x1x4x4 (vectorized), an empty batch.
    const Shape shapes[] = {{1, 3, 7, 5}, {2, 3, 224, 224}, {3, 64, 17, 19}, {2, 4, 8, 4}, {1, 1, 4, 4}, {0, 3, 4, 4}};
    for (const auto& [from, to] : pairs) {
        for (const Shape& nchw : shapes) {
            SCOPED_TRACE(std::string(dataTypeName(from)) + " -> " + dataTypeName(to) + " " + shapeToString(nchw));
            expectCudaMatchesCpu(transposeCast(randomTensor(from, nchw, seed(), -70000, 70000), kToNhwc, to), kExact);
            // The output edge reads channels-last: the same dims as [N, H, W, C].
            const Shape nhwc{nchw[0], nchw[2], nchw[3], nchw[1]};
            expectCudaMatchesCpu(transposeCast(randomTensor(from, nhwc, seed(), -3, 3), kToNchw, to), kExact);
        }
    }
}

TEST(CudaTransposeCast, OtherPermsAndTypesFallBack) {
    KILN_REQUIRE_GPU();
    // A batched 2-D transpose of rank 3 and 2 (the fast kernel), a perm that is not one, float64 and int32 (gather
    // then Cast).
    expectCudaMatchesCpu(
        transposeCast(randomTensor(DataType::kFloat32, {5, 33, 40}, seed()), {0, 2, 1}, DataType::kFloat16), kExact);
    expectCudaMatchesCpu(transposeCast(randomTensor(DataType::kFloat16, {127, 65}, seed()), {1, 0}, DataType::kFloat32),
                         kExact);
    expectCudaMatchesCpu(
        transposeCast(randomTensor(DataType::kFloat32, {2, 3, 4, 5}, seed()), {3, 1, 0, 2}, DataType::kBFloat16),
        kExact);
    expectCudaMatchesCpu(
        transposeCast(randomTensor(DataType::kFloat64, {2, 3, 4, 5}, seed()), kToNhwc, DataType::kFloat32), kExact);
    expectCudaMatchesCpu(
        transposeCast(randomTensor(DataType::kInt32, {2, 3, 4, 5}, seed(), -100, 100), kToNchw, DataType::kFloat32),
        kExact);
    // The identity perm: a plain Cast.
    expectCudaMatchesCpu(
        transposeCast(randomTensor(DataType::kFloat32, {2, 3, 4, 5}, seed()), {0, 1, 2, 3}, DataType::kFloat16),
        kExact);
}

TEST(CudaTransposeCast, Errors) {
    KILN_REQUIRE_GPU();
    // The CPU fails on each, so the CUDA kernel must fail too.
    expectCudaMatchesCpu(
        transposeCast(randomTensor(DataType::kFloat32, {2, 3, 4, 5}, seed()), {0, 2, 2, 1}, DataType::kFloat16));
    expectCudaMatchesCpu(
        transposeCast(randomTensor(DataType::kFloat32, {2, 3, 4}, seed()), kToNhwc, DataType::kFloat16));
    OpTester noTo("TransposeCast", 1, "kiln");
    noTo.input(randomTensor(DataType::kFloat32, {2, 3, 4, 5}, seed())).attr("perm", kToNhwc);
    expectCudaMatchesCpu(noTo);
}

}  // namespace
}  // namespace kiln::testing
