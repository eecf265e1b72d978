// Shape ops and tensor creation: Reshape, Flatten, Squeeze, Unsqueeze, Shape, Size, Dropout, Constant,
// ConstantOfShape, Range, EyeLike, Trilu.
#include <limits>

#include "ops/tensor_test_util.h"

namespace kiln::testing {
namespace {

//! y is x's elements in the same order under `shape`.
void expectSameElements(const Tensor& y, const Tensor& x, const Shape& shape) {
    ASSERT_EQ(y.dtype(), x.dtype());
    ASSERT_EQ(y.shape(), shape) << shapeToString(y.shape());
    ASSERT_EQ(y.numel(), x.numel());
    for (int64_t i = 0; i < x.numel(); ++i) ASSERT_EQ(y.getDouble(i), x.getDouble(i)) << "element " << i;
}

TEST(Reshape, ZeroCopiesDimAndMinusOneInfers) {
    for (DataType t : allCopyableDtypes()) {
        Tensor x = patternTensor(t, {5, 6, 7});
        auto out = OpTester("Reshape").input(x).input(int64s({0, -1})).run();
        KILN_ASSERT_OK(out);
        expectSameElements((*out)[0], x, {5, 42});
    }
}

TEST(Reshape, AllowZeroKeepsZeroAndEmptyTensors) {
    Tensor x(DataType::kFloat32, {0, 3});
    auto out = OpTester("Reshape").attr("allowzero", int64_t{1}).input(x).input(int64s({3, 0})).run();
    KILN_ASSERT_OK(out);
    EXPECT_EQ((*out)[0].shape(), (Shape{3, 0}));
    // Without allowzero the 0 copies the input dim instead.
    auto copied = OpTester("Reshape").input(Tensor(DataType::kInt64, {2, 3})).input(int64s({0, 3})).run();
    KILN_ASSERT_OK(copied);
    EXPECT_EQ((*copied)[0].shape(), (Shape{2, 3}));
}

TEST(Reshape, ScalarAndStrings) {
    auto toScalar = OpTester("Reshape").input(Tensor::fromVector<int64_t>({9}, {1, 1})).input(int64s({})).run();
    KILN_ASSERT_OK(toScalar);
    EXPECT_EQ((*toScalar)[0].shape(), Shape{});
    EXPECT_EQ((*toScalar)[0].data<int64_t>()[0], 9);
    auto strings = OpTester("Reshape").input(stringTensor({"a", "b", "c", "d"}, {4})).input(int64s({2, -1})).run();
    KILN_ASSERT_OK(strings);
    EXPECT_EQ((*strings)[0].shape(), (Shape{2, 2}));
    EXPECT_EQ((*strings)[0].strings()[3], "d");
}

TEST(Reshape, Errors) {
    Tensor x(DataType::kFloat32, {5, 6});
    EXPECT_FALSE(OpTester("Reshape").input(x).input(int64s({-1, -1})).run().isOk());
    EXPECT_FALSE(OpTester("Reshape").input(x).input(int64s({7, -1})).run().isOk());
    EXPECT_FALSE(OpTester("Reshape").input(x).input(int64s({31})).run().isOk());
    EXPECT_FALSE(OpTester("Reshape").input(x).input(int64s({30, 1, 0})).run().isOk());
    EXPECT_FALSE(OpTester("Reshape").input(x).input(int64s({-2, -15})).run().isOk());
    auto out = OpTester("Reshape").input(x).input(Tensor::fromVector<float>({30.0F})).run();
    ASSERT_FALSE(out.isOk());
    EXPECT_NE(out.status().message().find("shape"), std::string::npos) << out.status().message();
}

TEST(Flatten, AxesIncludingNegativeAndEnds) {
    Tensor x = patternTensor(DataType::kInt32, {5, 6, 7});
    const std::vector<std::pair<int64_t, Shape>> cases = {
        {0, {1, 210}}, {1, {5, 42}}, {-1, {30, 7}}, {3, {210, 1}}, {-3, {1, 210}}};
    for (const auto& [axis, shape] : cases) {
        auto out = OpTester("Flatten").attr("axis", axis).input(x).run();
        KILN_ASSERT_OK(out);
        expectSameElements((*out)[0], x, shape);
    }
    auto zero = OpTester("Flatten").input(Tensor(DataType::kBool, {3, 0, 2})).run();
    KILN_ASSERT_OK(zero);
    EXPECT_EQ((*zero)[0].shape(), (Shape{3, 0}));
    EXPECT_FALSE(OpTester("Flatten").attr("axis", int64_t{4}).input(x).run().isOk());
}

TEST(Squeeze, AllOnesOrListedAxes) {
    Tensor x = patternTensor(DataType::kFloat16, {1, 5, 1, 7});
    auto all = OpTester("Squeeze").input(x).run();
    KILN_ASSERT_OK(all);
    expectSameElements((*all)[0], x, {5, 7});
    auto some = OpTester("Squeeze").input(x).input(int64s({-2})).run();
    KILN_ASSERT_OK(some);
    expectSameElements((*some)[0], x, {1, 5, 7});
    auto emptyAxes = OpTester("Squeeze").input(x).input(int64s({})).run();
    KILN_ASSERT_OK(emptyAxes);
    expectSameElements((*emptyAxes)[0], x, {5, 7});
    auto scalar = OpTester("Squeeze").input(Tensor::fromVector<int64_t>({4}, {1})).run();
    KILN_ASSERT_OK(scalar);
    EXPECT_EQ((*scalar)[0].shape(), Shape{});
}

TEST(Squeeze, Errors) {
    Tensor x(DataType::kFloat32, {1, 5});
    auto notOne = OpTester("Squeeze").input(x).input(int64s({1})).run();
    ASSERT_FALSE(notOne.isOk());
    EXPECT_NE(notOne.status().message().find("1x5"), std::string::npos) << notOne.status().message();
    EXPECT_FALSE(OpTester("Squeeze").input(x).input(int64s({2})).run().isOk());
    EXPECT_FALSE(OpTester("Squeeze").input(x).input(int64s({0, -2})).run().isOk());
}

TEST(Unsqueeze, NegativeAxesAreRelativeToOutputRank) {
    Tensor x = patternTensor(DataType::kUInt16, {5, 7});
    auto out = OpTester("Unsqueeze").input(x).input(int64s({-1, 0})).run();
    KILN_ASSERT_OK(out);
    expectSameElements((*out)[0], x, {1, 5, 7, 1});
    auto mid = OpTester("Unsqueeze").input(x).input(int64s({3, 1})).run();
    KILN_ASSERT_OK(mid);
    expectSameElements((*mid)[0], x, {5, 1, 7, 1});
    auto scalar = OpTester("Unsqueeze").input(Tensor::scalar<int64_t>(3)).input(int64s({0})).run();
    KILN_ASSERT_OK(scalar);
    EXPECT_EQ((*scalar)[0].shape(), Shape{1});
    auto empty = OpTester("Unsqueeze").input(Tensor(DataType::kInt8, {0})).input(int64s({1})).run();
    KILN_ASSERT_OK(empty);
    EXPECT_EQ((*empty)[0].shape(), (Shape{0, 1}));
}

TEST(Unsqueeze, Errors) {
    Tensor x(DataType::kFloat32, {5, 7});
    EXPECT_FALSE(OpTester("Unsqueeze").input(x).input(int64s({1, 1})).run().isOk());
    EXPECT_FALSE(OpTester("Unsqueeze").input(x).input(int64s({0, -5})).run().isOk());
    EXPECT_FALSE(OpTester("Unsqueeze").input(x).input(int64s({3})).run().isOk());
    EXPECT_FALSE(OpTester("Unsqueeze").input(x).run().isOk());
}

TEST(Shape, StartEndClamp) {
    Tensor x(DataType::kFloat32, {2, 3, 5, 7});
    struct Case {
        int64_t start, end;
        std::vector<int64_t> want;
    };
    const std::vector<Case> cases = {{0, 4, {2, 3, 5, 7}}, {-10, 2, {2, 3}}, {1, -1, {3, 5}},
                                     {3, 100, {7}},        {3, 1, {}},       {-1, 4, {7}}};
    for (const Case& c : cases) {
        auto out = OpTester("Shape", 15).attr("start", c.start).attr("end", c.end).input(x).run();
        KILN_ASSERT_OK(out);
        expectTensorEq((*out)[0], int64s(c.want));
    }
    auto scalar = OpTester("Shape").input(Tensor::scalar(1.0F)).run();
    KILN_ASSERT_OK(scalar);
    expectTensorEq((*scalar)[0], int64s({}));
}

TEST(Size, CountsElements) {
    auto out = OpTester("Size").input(Tensor(DataType::kUInt8, {5, 6, 7})).run();
    KILN_ASSERT_OK(out);
    expectTensorEq((*out)[0], Tensor::scalar<int64_t>(210));
    auto empty = OpTester("Size").input(Tensor(DataType::kBool, {5, 0})).run();
    KILN_ASSERT_OK(empty);
    expectTensorEq((*empty)[0], Tensor::scalar<int64_t>(0));
    auto scalar = OpTester("Size").input(Tensor::scalar(2.0)).run();
    KILN_ASSERT_OK(scalar);
    expectTensorEq((*scalar)[0], Tensor::scalar<int64_t>(1));
}

TEST(Dropout, InferenceIsIdentityWithTrueMask) {
    Tensor x = patternTensor(DataType::kFloat32, {5, 7});
    auto out = OpTester("Dropout").outputs(2).input(x).input(Tensor::scalar(0.3F)).run();
    KILN_ASSERT_OK(out);
    expectTensorEq((*out)[0], x);
    ASSERT_EQ((*out)[1].dtype(), DataType::kBool);
    ASSERT_EQ((*out)[1].shape(), x.shape());
    for (int64_t i = 0; i < x.numel(); ++i) EXPECT_TRUE((*out)[1].data<bool>()[i]);
    // Training with ratio 0 keeps everything, so it is deterministic.
    auto zero = OpTester("Dropout").outputs(2).input(x).input(Tensor::scalar(0.0F)).input(Tensor::scalar(true)).run();
    KILN_ASSERT_OK(zero);
    expectTensorEq((*zero)[0], x);
}

TEST(Dropout, RandomTrainingIsUnsupported) {
    Tensor x(DataType::kFloat32, {3});
    auto out = OpTester("Dropout").input(x).absentInput().input(Tensor::scalar(true)).run();
    ASSERT_FALSE(out.isOk());
    EXPECT_EQ(out.status().code(), ErrorCode::kUnsupported);
    EXPECT_FALSE(OpTester("Dropout").input(x).input(Tensor::scalar(1.5F)).run().isOk());
}

TEST(Constant, EmitsEachValueAttribute) {
    Tensor value = patternTensor(DataType::kInt16, {2, 3});
    auto t = OpTester("Constant").attr("value", value).run();
    KILN_ASSERT_OK(t);
    expectTensorEq((*t)[0], value);
    auto ints = OpTester("Constant").attr("value_ints", std::vector<int64_t>{4, 5}).run();
    KILN_ASSERT_OK(ints);
    expectTensorEq((*ints)[0], int64s({4, 5}));
    auto f = OpTester("Constant").attr("value_float", 2.5F).run();
    KILN_ASSERT_OK(f);
    expectTensorEq((*f)[0], Tensor::scalar(2.5F));
    EXPECT_FALSE(OpTester("Constant").run().isOk());
}

TEST(ConstantOfShape, FillsEveryDtype) {
    for (DataType t : allCopyableDtypes()) {
        Tensor value = patternTensor(t, {1}, 3);
        auto out = OpTester("ConstantOfShape").attr("value", value).input(int64s({5, 1, 7})).run();
        KILN_ASSERT_OK(out);
        const Tensor& y = (*out)[0];
        ASSERT_EQ(y.dtype(), t);
        ASSERT_EQ(y.shape(), (Shape{5, 1, 7}));
        for (int64_t i = 0; i < y.numel(); ++i) ASSERT_EQ(y.getDouble(i), value.getDouble(0)) << dataTypeName(t);
    }
}

TEST(ConstantOfShape, DefaultsScalarsAndErrors) {
    auto def = OpTester("ConstantOfShape").input(int64s({2, 0})).run();
    KILN_ASSERT_OK(def);
    expectTensorEq((*def)[0], Tensor(DataType::kFloat32, {2, 0}));
    auto scalar =
        OpTester("ConstantOfShape").attr("value", Tensor::fromVector<int64_t>({6}, {1})).input(int64s({})).run();
    KILN_ASSERT_OK(scalar);
    expectTensorEq((*scalar)[0], Tensor::scalar<int64_t>(6));
    EXPECT_FALSE(OpTester("ConstantOfShape").input(int64s({2, -1})).run().isOk());
    EXPECT_FALSE(OpTester("ConstantOfShape")
                     .attr("value", Tensor::fromVector<float>({1.0F, 2.0F}))
                     .input(int64s({2}))
                     .run()
                     .isOk());
}

TEST(Range, FloatAndIntegerTypes) {
    auto f =
        OpTester("Range").input(Tensor::scalar(1.0F)).input(Tensor::scalar(2.0F)).input(Tensor::scalar(0.25F)).run();
    KILN_ASSERT_OK(f);
    expectTensorEq((*f)[0], Tensor::fromVector<float>({1.0F, 1.25F, 1.5F, 1.75F}));
    auto d = OpTester("Range").input(Tensor::scalar(0.0)).input(Tensor::scalar(-1.0)).input(Tensor::scalar(-0.4)).run();
    KILN_ASSERT_OK(d);
    expectTensorNear((*d)[0], Tensor::fromVector<double>({0.0, -0.4, -0.8}));
    auto i = OpTester("Range")
                 .input(Tensor::scalar<int32_t>(10))
                 .input(Tensor::scalar<int32_t>(-3))
                 .input(Tensor::scalar<int32_t>(-4))
                 .run();
    KILN_ASSERT_OK(i);
    expectTensorEq((*i)[0], Tensor::fromVector<int32_t>({10, 6, 2, -2}));
    auto s = OpTester("Range")
                 .input(Tensor::scalar<int16_t>(-5))
                 .input(Tensor::scalar<int16_t>(5))
                 .input(Tensor::scalar<int16_t>(5))
                 .run();
    KILN_ASSERT_OK(s);
    expectTensorEq((*s)[0], Tensor::fromVector<int16_t>({-5, 0}));
    auto empty = OpTester("Range")
                     .input(Tensor::scalar<int64_t>(5))
                     .input(Tensor::scalar<int64_t>(1))
                     .input(Tensor::scalar<int64_t>(2))
                     .run();
    KILN_ASSERT_OK(empty);
    expectTensorEq((*empty)[0], int64s({}));
    constexpr int64_t kMax = std::numeric_limits<int64_t>::max();
    auto extreme = OpTester("Range")
                       .input(Tensor::scalar<int64_t>(kMax - 2))
                       .input(Tensor::scalar<int64_t>(kMax))
                       .input(Tensor::scalar<int64_t>(kMax))
                       .run();
    KILN_ASSERT_OK(extreme);
    expectTensorEq((*extreme)[0], int64s({kMax - 2}));
}

TEST(Range, Errors) {
    auto zero = OpTester("Range")
                    .input(Tensor::scalar<int64_t>(0))
                    .input(Tensor::scalar<int64_t>(4))
                    .input(Tensor::scalar<int64_t>(0))
                    .run();
    EXPECT_FALSE(zero.isOk());
    EXPECT_FALSE(OpTester("Range")
                     .input(Tensor::scalar(0.0F))
                     .input(Tensor::scalar<int64_t>(4))
                     .input(Tensor::scalar(1.0F))
                     .run()
                     .isOk());
    EXPECT_FALSE(OpTester("Range")
                     .input(Tensor::fromVector<float>({0.0F, 1.0F}))
                     .input(Tensor::scalar(4.0F))
                     .input(Tensor::scalar(1.0F))
                     .run()
                     .isOk());
}

TEST(EyeLike, DiagonalOffsetsAndDtypes) {
    for (DataType t : allCopyableDtypes()) {
        for (int64_t k : {int64_t{0}, int64_t{2}, int64_t{-3}, int64_t{9}, std::numeric_limits<int64_t>::min()}) {
            auto out = OpTester("EyeLike")
                           .attr("dtype", static_cast<int64_t>(t))
                           .attr("k", k)
                           .input(Tensor(DataType::kInt32, {5, 7}))
                           .run();
            KILN_ASSERT_OK(out);
            const Tensor& y = (*out)[0];
            ASSERT_EQ(y.dtype(), t);
            ASSERT_EQ(y.shape(), (Shape{5, 7}));
            for (int64_t i = 0; i < 5; ++i) {
                for (int64_t j = 0; j < 7; ++j) ASSERT_EQ(y.getDouble(i * 7 + j), j - i == k ? 1.0 : 0.0) << k;
            }
        }
    }
    auto inherit = OpTester("EyeLike").input(Tensor(DataType::kFloat64, {2, 2})).run();
    KILN_ASSERT_OK(inherit);
    expectTensorEq((*inherit)[0], Tensor::fromVector<double>({1, 0, 0, 1}, {2, 2}));
    EXPECT_FALSE(OpTester("EyeLike").input(Tensor(DataType::kFloat32, {2, 2, 2})).run().isOk());
}

TEST(Trilu, UpperAndLowerAgainstNaive) {
    for (DataType t : allCopyableDtypes()) {
        Tensor x = patternTensor(t, {2, 5, 7});
        for (int64_t upper : {0, 1}) {
            for (int64_t k : {int64_t{0}, int64_t{1}, int64_t{-2}, int64_t{10}, int64_t{-10}}) {
                auto out = OpTester("Trilu").attr("upper", upper).input(x).input(Tensor::scalar<int64_t>(k)).run();
                KILN_ASSERT_OK(out);
                expectGather((*out)[0], x, {2, 5, 7}, [&](const std::vector<int64_t>& c) {
                    const bool keep = upper ? c[2] - c[1] >= k : c[2] - c[1] <= k;
                    return keep ? flatOf(c, {2, 5, 7}) : int64_t{-1};
                });
            }
        }
    }
}

TEST(Trilu, DefaultsEmptyAndErrors) {
    Tensor x = patternTensor(DataType::kFloat32, {3, 3});
    auto out = OpTester("Trilu").input(x).run();
    KILN_ASSERT_OK(out);
    expectGather((*out)[0], x, {3, 3},
                 [](const std::vector<int64_t>& c) { return c[1] >= c[0] ? c[0] * 3 + c[1] : -1; });
    auto empty = OpTester("Trilu").input(Tensor(DataType::kFloat32, {0, 5})).run();
    KILN_ASSERT_OK(empty);
    EXPECT_EQ((*empty)[0].shape(), (Shape{0, 5}));
    EXPECT_FALSE(OpTester("Trilu").input(Tensor(DataType::kFloat32, {5})).run().isOk());
    EXPECT_FALSE(OpTester("Trilu").input(x).input(Tensor::scalar(1.0F)).run().isOk());
}

}  // namespace
}  // namespace kiln::testing
