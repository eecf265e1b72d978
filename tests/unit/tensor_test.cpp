// Tensor allocation limits, reshaping and element access; broadcasting of shapes.
#include <gtest/gtest.h>

#include <limits>

#include "backends/cpu/broadcast.h"
#include "kiln/tensor.h"

namespace kiln {
namespace {

constexpr int64_t kMax = std::numeric_limits<int64_t>::max();

TEST(TensorAllocate, RefusesAbsurdSizesWithoutOverflowing) {
    struct Case {
        DataType type;
        Shape shape;
        ErrorCode code;
    };
    const std::vector<Case> cases = {
        {DataType::kFloat32, {kMax, 2}, ErrorCode::kOutOfRange},
        {DataType::kFloat32, {2, kMax}, ErrorCode::kOutOfRange},
        {DataType::kFloat32, {1 << 20, 1 << 20, 1 << 20}, ErrorCode::kOutOfRange},  // 2^60 elements
        {DataType::kInt64, {int64_t{1} << 38}, ErrorCode::kOutOfRange},             // 2 TiB of int64
        {DataType::kString, {int64_t{1} << 36}, ErrorCode::kOutOfRange},            // 2^36 std::strings
        {DataType::kFloat32, {3, -1}, ErrorCode::kInvalidArgument},
        {DataType::kUndefined, {2}, ErrorCode::kInvalidArgument},
    };
    for (const auto& c : cases) {
        auto t = Tensor::allocate(c.type, c.shape);
        ASSERT_FALSE(t.isOk()) << shapeToString(c.shape);
        EXPECT_EQ(t.status().code(), c.code) << t.status().message();
        if (c.type != DataType::kUndefined) {
            EXPECT_NE(t.status().message().find(shapeToString(c.shape)), std::string::npos) << t.status().message();
        }
    }
}

TEST(TensorAllocate, AllowsEmptyTensorsWithHugeDims) {
    auto t = Tensor::allocate(DataType::kFloat32, {0, kMax});
    ASSERT_TRUE(t.isOk()) << t.status().message();
    EXPECT_EQ(t->numel(), 0);
    EXPECT_EQ(t->byteSize(), 0u);
}

TEST(TensorAllocate, ZeroFills) {
    auto t = Tensor::allocate(DataType::kInt32, {5, 6, 7});
    ASSERT_TRUE(t.isOk()) << t.status().message();
    for (int64_t i = 0; i < t->numel(); ++i) ASSERT_EQ(t->data<int32_t>()[i], 0);
    auto s = Tensor::allocate(DataType::kString, {3});
    ASSERT_TRUE(s.isOk());
    EXPECT_EQ(s->strings()[2], "");
}

TEST(Tensor, ShapesAndAccess) {
    EXPECT_EQ(shapeNumel({}), 1);
    EXPECT_EQ(shapeNumel({2, 0, 5}), 0);
    EXPECT_EQ(shapeToString({}), "scalar");
    EXPECT_EQ(shapeToString({1, 3, 224}), "1x3x224");
    Tensor t = Tensor::fromVector<int16_t>({1, -2, 3, -4, 5, -6}, {2, 3});
    EXPECT_EQ(t.describe(), "int16[2x3]");
    EXPECT_EQ(t.dim(-1), 3);
    EXPECT_EQ(t.getInt(3), -4);
    EXPECT_EQ(t.getDouble(5), -6.0);
    EXPECT_EQ(t.toInt64Vector(), (std::vector<int64_t>{1, -2, 3, -4, 5, -6}));
    auto r = t.reshaped({3, 2});
    ASSERT_TRUE(r.isOk());
    EXPECT_EQ(r->raw(), t.raw()) << "reshaping shares the buffer";
    auto bad = t.reshaped({4});
    ASSERT_FALSE(bad.isOk());
    EXPECT_EQ(bad.status().message(), "cannot reshape int16[2x3] to 4");
    Tensor c = t.clone();
    EXPECT_NE(c.raw(), t.raw());
    c.data<int16_t>()[0] = 100;
    EXPECT_EQ(t.data<int16_t>()[0], 1) << "clone is deep";
}

TEST(BroadcastShapes, Numpy) {
    auto check = [](std::vector<Shape> in, Shape want) {
        auto got = cpu::broadcastShapes(in);
        ASSERT_TRUE(got.isOk()) << got.status().message();
        EXPECT_EQ(*got, want);
    };
    check({{2, 3}, {2, 3}}, {2, 3});
    check({{5, 1, 7}, {6, 1}}, {5, 6, 7});
    check({{}, {4, 2}}, {4, 2});
    check({{1}, {0}}, {0});
    check({{3, 0}, {1, 1}}, {3, 0});
    check({{2, 1, 1}, {1, 3, 1}, {1, 1, 4}}, {2, 3, 4});
    check({}, {});
}

TEST(BroadcastShapes, ErrorsNameEveryShape) {
    auto mismatch = cpu::broadcastShapes({{2, 3}, {4, 3}});
    ASSERT_FALSE(mismatch.isOk());
    EXPECT_EQ(mismatch.status().code(), ErrorCode::kInvalidArgument);
    EXPECT_EQ(mismatch.status().message(), "shapes cannot be broadcast together: 2x3 4x3");
    auto zero = cpu::broadcastShapes({{0}, {2}});
    ASSERT_FALSE(zero.isOk()) << "0 only broadcasts with 1";
    auto three = cpu::broadcastShapes({{5, 1}, {1, 6}, {7, 1}});
    ASSERT_FALSE(three.isOk());
    EXPECT_NE(three.status().message().find("5x1 1x6 7x1"), std::string::npos) << three.status().message();
}

}  // namespace
}  // namespace kiln
