// kiln TransposeCast (made by src/passes/transpose_cast_fusion.cpp): Transpose(Cast(X, to), perm) in one node. The
// expected values come from a naive loop over the output (each element read through the permutation and rounded
// to the target type as a float, as Cast does), not from the Transpose or Cast kernels.
#include <gtest/gtest.h>

#include "ops/op_tester.h"

namespace kiln::testing {
namespace {

//! Transpose(Cast(x, to), perm) element by element.
Tensor naiveTransposeCast(const Tensor& x, const std::vector<int64_t>& perm, DataType to) {
    Shape outShape;
    for (int64_t p : perm) outShape.push_back(x.dim(p));
    Tensor y(to, outShape);
    std::vector<int64_t> inStrides(x.shape().size(), 1);
    for (size_t d = inStrides.size(); d-- > 1;) inStrides[d - 1] = inStrides[d] * x.dim(static_cast<int64_t>(d));
    for (int64_t o = 0; o < y.numel(); ++o) {
        int64_t rem = o, src = 0;
        for (size_t d = outShape.size(); d-- > 0;) {
            src += rem % outShape[d] * inStrides[static_cast<size_t>(perm[d])];
            rem /= outShape[d];
        }
        const double v = x.getDouble(src);
        switch (to) {
            case DataType::kFloat32: y.data<float>()[o] = static_cast<float>(v); break;
            case DataType::kFloat64: y.data<double>()[o] = v; break;
            case DataType::kFloat16: y.data<Half>()[o] = Half(static_cast<float>(v)); break;
            case DataType::kBFloat16: y.data<BFloat16>()[o] = BFloat16(static_cast<float>(v)); break;
            default: ADD_FAILURE() << "naiveTransposeCast: no expected values for " << dataTypeName(to);
        }
    }
    return y;
}

Result<std::vector<Tensor>> runTransposeCast(const Tensor& x, const std::vector<int64_t>& perm, DataType to) {
    return OpTester("TransposeCast", 1, "kiln").input(x).attr("perm", perm).attr("to", static_cast<int64_t>(to)).run();
}

TEST(TransposeCastOp, ChannelsLastEdgesEveryFloatPair) {
    const std::vector<int64_t> toNhwc{0, 2, 3, 1}, toNchw{0, 3, 1, 2};
    const DataType floats[] = {DataType::kFloat32, DataType::kFloat16, DataType::kBFloat16};
    uint32_t seed = 900;
    for (const Shape& shape : {Shape{1, 3, 7, 5}, Shape{3, 64, 17, 19}, Shape{2, 5, 1, 6}, Shape{0, 3, 4, 4}}) {
        for (DataType from : floats) {
            for (DataType to : floats) {
                for (const auto& perm : {toNhwc, toNchw}) {
                    SCOPED_TRACE(shapeToString(shape) + " " + dataTypeName(from) + " -> " + dataTypeName(to) +
                                 (perm == toNhwc ? " to NHWC" : " to NCHW"));
                    const Tensor x = randomTensor(from, shape, ++seed, -100, 100);
                    auto y = runTransposeCast(x, perm, to);
                    ASSERT_TRUE(y.isOk()) << y.status().message();
                    expectTensorEq((*y)[0], naiveTransposeCast(x, perm, to));
                }
            }
        }
    }
}

TEST(TransposeCastOp, OtherRanksPermsAndTypes) {
    // Rank 2, rank 5, the default perm (reversed dims) and an integer input: the reference takes whatever Transpose
    // and Cast take.
    const Tensor m = randomTensor(DataType::kFloat32, {5, 7}, 31);
    auto y = runTransposeCast(m, {1, 0}, DataType::kFloat16);
    ASSERT_TRUE(y.isOk()) << y.status().message();
    expectTensorEq((*y)[0], naiveTransposeCast(m, {1, 0}, DataType::kFloat16));

    const Tensor five = randomTensor(DataType::kFloat16, {2, 3, 1, 4, 5}, 32);
    y = runTransposeCast(five, {4, 0, 2, 1, 3}, DataType::kFloat64);
    ASSERT_TRUE(y.isOk()) << y.status().message();
    expectTensorEq((*y)[0], naiveTransposeCast(five, {4, 0, 2, 1, 3}, DataType::kFloat64));

    const Tensor ints = randomTensor(DataType::kInt32, {2, 3, 4}, 33, -50, 50);
    auto r = OpTester("TransposeCast", 1, "kiln").input(ints).attr("to", int64_t{1}).run();  // to = float32
    ASSERT_TRUE(r.isOk()) << r.status().message();
    expectTensorEq((*r)[0], naiveTransposeCast(ints, {2, 1, 0}, DataType::kFloat32));
}

TEST(TransposeCastOp, Errors) {
    const Tensor x = randomTensor(DataType::kFloat32, {2, 3, 4, 5}, 40);
    auto noTo = OpTester("TransposeCast", 1, "kiln").input(x).attr("perm", std::vector<int64_t>{0, 2, 3, 1}).run();
    ASSERT_FALSE(noTo.isOk());
    EXPECT_NE(noTo.status().message().find("attribute 'to' is required"), std::string::npos) << noTo.status().message();
    auto badPerm = runTransposeCast(x, {0, 2, 2, 1}, DataType::kFloat16);
    ASSERT_FALSE(badPerm.isOk());
    EXPECT_NE(badPerm.status().message().find("perm"), std::string::npos) << badPerm.status().message();
    auto badTo = OpTester("TransposeCast", 1, "kiln")
                     .input(x)
                     .attr("perm", std::vector<int64_t>{0, 2, 3, 1})
                     .attr("to", int64_t{99})
                     .run();
    ASSERT_FALSE(badTo.isOk());
    EXPECT_NE(badTo.status().message().find("'to'"), std::string::npos) << badTo.status().message();
}

}  // namespace
}  // namespace kiln::testing
