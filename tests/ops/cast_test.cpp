#include <cmath>
#include <cstring>
#include <limits>

#include "ops/elementwise_test_util.h"

namespace kiln::testing {
namespace {

std::vector<DataType> castTypes() {
    std::vector<DataType> all = numericTypes();
    all.push_back(DataType::kBool);
    return all;
}

// Every pair of numeric/bool types on values every type can hold exactly (0..100 integers), shape 3x0 and 11x1.
TEST(Cast, EveryPairOfTypes) {
    for (DataType from : castTypes()) {
        Tensor x = randomTensor(from, {11, 1}, 4, 0, 100);
        for (DataType to : castTypes()) {
            SCOPED_TRACE(std::string(dataTypeName(from)) + " -> " + dataTypeName(to));
            expectTensorEq(runOk(OpTester("Cast").input(x).attr("to", static_cast<int64_t>(to))),
                           mapRef(x, to, [](double v) { return v; }));
            expectTensorEq(runOk(OpTester("CastLike").input(x).input(Tensor(to, {1}))),
                           mapRef(x, to, [](double v) { return v; }));
            EXPECT_EQ(runOk(OpTester("Cast").input(Tensor(from, {3, 0})).attr("to", static_cast<int64_t>(to))).shape(),
                      (Shape{3, 0}));
        }
    }
}

TEST(Cast, FloatToIntTruncatesAndWraps) {
    Tensor x = Tensor::fromVector<float>({2.9f, -2.9f, 0.5f, -0.5f, 300.0f, -1.0f});
    expectTensorEq(runOk(OpTester("Cast").input(x).attr("to", int64_t{7})),
                   Tensor::fromVector<int64_t>({2, -2, 0, 0, 300, -1}));
    // numpy (x86-64): out-of-range values wrap through int64.
    expectTensorEq(runOk(OpTester("Cast").input(x).attr("to", int64_t{3})),
                   Tensor::fromVector<int8_t>({2, -2, 0, 0, 44, -1}));
    expectTensorEq(runOk(OpTester("Cast").input(x).attr("to", int64_t{2})),
                   Tensor::fromVector<uint8_t>({2, 254, 0, 0, 44, 255}));
    // NaN and infinities become INT64_MIN (then wrap), without undefined behaviour.
    const double inf = std::numeric_limits<double>::infinity();
    Tensor special = Tensor::fromVector<double>({std::nan(""), inf, -inf, 1.8446744073709552e19 / 2 * 1.5});
    expectTensorEq(
        runOk(OpTester("Cast").input(special).attr("to", int64_t{7})),
        Tensor::fromVector<int64_t>({std::numeric_limits<int64_t>::min(), std::numeric_limits<int64_t>::min(),
                                     std::numeric_limits<int64_t>::min(), std::numeric_limits<int64_t>::min()}));
    expectTensorEq(runOk(OpTester("Cast").input(special).attr("to", int64_t{6})),
                   Tensor::fromVector<int32_t>({0, 0, 0, 0}));
    auto u64 = runOk(OpTester("Cast").input(special).attr("to", int64_t{13}));
    EXPECT_EQ(u64.data<uint64_t>()[3], 13835058055282163712ULL);  // 1.5 * 2^63 fits uint64
}

TEST(Cast, ToBoolAndBack) {
    Tensor x = Tensor::fromVector<float>({0.0f, -0.0f, 0.1f, -3.0f, std::numeric_limits<float>::quiet_NaN()});
    expectTensorEq(runOk(OpTester("Cast").input(x).attr("to", int64_t{9})),
                   Tensor::fromVector<bool>({false, false, true, true, true}));
    expectTensorEq(runOk(OpTester("Cast").input(Tensor::fromVector<bool>({true, false})).attr("to", int64_t{10})),
                   tensorOf(DataType::kFloat16, {2}, {1, 0}));
}

TEST(Cast, HalfAndBFloat16RoundToNearestEven) {
    // 1 + 2^-11 is halfway between two halves (1 and 1 + 2^-10): ties go to the even mantissa (1).
    // 1 + 3 * 2^-11 ties up to 1 + 2^-9. A double just above the halfway point must round up, not down via float.
    Tensor x = Tensor::fromVector<double>({1 + std::ldexp(1.0, -11), 1 + 3 * std::ldexp(1.0, -11),
                                           1 + std::ldexp(1.0, -11) + std::ldexp(1.0, -40), 65520.0, 1e-8, -70000.0});
    Tensor h = runOk(OpTester("Cast").input(x).attr("to", int64_t{10}));
    ASSERT_EQ(h.dtype(), DataType::kFloat16);
    const uint16_t wantHalf[] = {0x3c00, 0x3c02, 0x3c01, 0x7c00, 0x0000, 0xfc00};
    for (int i = 0; i < 6; ++i) EXPECT_EQ(h.data<Half>()[i].bits, wantHalf[i]) << "element " << i;
    // bfloat16: 1 + 2^-8 ties to 1; 1 + 2^-8 + 2^-30 rounds up to 1 + 2^-7.
    Tensor y = Tensor::fromVector<double>({1 + std::ldexp(1.0, -8), 1 + std::ldexp(1.0, -8) + std::ldexp(1.0, -30)});
    Tensor b = runOk(OpTester("Cast").input(y).attr("to", int64_t{16}));
    EXPECT_EQ(b.data<BFloat16>()[0].bits, 0x3f80);
    EXPECT_EQ(b.data<BFloat16>()[1].bits, 0x3f81);
    // NaN and infinity survive float → half → float.
    Tensor special =
        Tensor::fromVector<float>({std::numeric_limits<float>::quiet_NaN(), -std::numeric_limits<float>::infinity()});
    Tensor back = runOk(
        OpTester("Cast").input(runOk(OpTester("Cast").input(special).attr("to", int64_t{10}))).attr("to", int64_t{1}));
    EXPECT_TRUE(std::isnan(back.data<float>()[0]));
    EXPECT_EQ(back.data<float>()[1], -std::numeric_limits<float>::infinity());
}

TEST(Cast, RejectsUnsupportedTargets) {
    Tensor x = Tensor::fromVector<float>({1.0f});
    auto f8 = OpTester("Cast").input(x).attr("to", int64_t{17}).run();
    ASSERT_FALSE(f8.isOk());
    EXPECT_EQ(f8.status().code(), ErrorCode::kUnsupported);
    auto bad = OpTester("Cast").input(x).attr("to", int64_t{99}).run();
    ASSERT_FALSE(bad.isOk());
    EXPECT_EQ(bad.status().code(), ErrorCode::kInvalidArgument);
    EXPECT_NE(bad.status().message().find("'to'"), std::string::npos);
    EXPECT_FALSE(OpTester("Cast").input(x).run().isOk()) << "missing 'to'";
}

}  // namespace
}  // namespace kiln::testing
