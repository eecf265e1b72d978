#include <cmath>
#include <limits>

#include "ops/elementwise_test_util.h"
#include "ops/op_tester.h"

namespace kiln::testing {
namespace {

TEST(Add, BroadcastsOddShapes) {
    // 5x1x7 + 6x1 -> 5x6x7
    Tensor a = randomTensor(DataType::kFloat32, {5, 1, 7}, 1);
    Tensor b = randomTensor(DataType::kFloat32, {6, 1}, 2);
    auto out = OpTester("Add").input(a).input(b).run();
    ASSERT_TRUE(out.isOk()) << out.status().message();
    const Tensor& y = (*out)[0];
    ASSERT_EQ(y.shape(), (Shape{5, 6, 7}));
    for (int64_t i = 0; i < 5; ++i)
        for (int64_t j = 0; j < 6; ++j)
            for (int64_t k = 0; k < 7; ++k)
                EXPECT_EQ(y.data<float>()[(i * 6 + j) * 7 + k], a.data<float>()[i * 7 + k] + b.data<float>()[j]);
}

TEST(Add, EmptyAndScalar) {
    auto out = OpTester("Add").input(Tensor(DataType::kInt64, {3, 0})).input(Tensor::scalar<int64_t>(4)).run();
    ASSERT_TRUE(out.isOk()) << out.status().message();
    EXPECT_EQ((*out)[0].shape(), (Shape{3, 0}));
}

TEST(Add, EveryNumericDtype) {
    for (DataType t : {DataType::kFloat32, DataType::kFloat64, DataType::kFloat16, DataType::kBFloat16, DataType::kInt8,
                       DataType::kInt32, DataType::kInt64, DataType::kUInt8}) {
        Tensor a = randomTensor(t, {13}, 3, 0, 4);
        Tensor b = randomTensor(t, {1}, 4, 0, 4);
        auto out = OpTester("Add").input(a).input(b).run();
        ASSERT_TRUE(out.isOk()) << dataTypeName(t) << ": " << out.status().message();
        for (int64_t i = 0; i < 13; ++i) {
            EXPECT_NEAR((*out)[0].getDouble(i), a.getDouble(i) + b.getDouble(0), 0.05) << dataTypeName(t);
        }
    }
}

TEST(Add, RejectsIncompatibleShapes) {
    auto out = OpTester("Add").input(Tensor(DataType::kFloat32, {2, 3})).input(Tensor(DataType::kFloat32, {4})).run();
    ASSERT_FALSE(out.isOk());
    EXPECT_NE(out.status().message().find("2x3"), std::string::npos) << out.status().message();
}

TEST(Add, RejectsMixedDtypes) {
    auto out = OpTester("Add").input(Tensor(DataType::kFloat32, {2})).input(Tensor(DataType::kInt32, {2})).run();
    ASSERT_FALSE(out.isOk());
}

// Arithmetic over every numeric dtype with a 3-D broadcast of odd shapes; values keep integer results in range.
TEST(ElementwiseBinary, ArithmeticEveryDtypeBroadcast) {
    struct Case {
        const char* op;
        double aLo, aHi, bLo, bHi;
        double (*ref)(double, double, bool isInt);
    };
    const Case cases[] = {
        {"Add", 0, 50, 0, 50, [](double a, double b, bool) { return a + b; }},
        {"Sub", 60, 120, 0, 50, [](double a, double b, bool) { return a - b; }},
        {"Mul", 0, 10, 0, 10, [](double a, double b, bool) { return a * b; }},
        {"Div", 0, 100, 1, 9, [](double a, double b, bool isInt) { return isInt ? std::trunc(a / b) : a / b; }},
    };
    for (const Case& c : cases) {
        for (DataType t : numericTypes()) {
            Tensor a = randomTensor(t, {5, 1, 7}, 21, c.aLo, c.aHi);
            Tensor b = randomTensor(t, {6, 1}, 22, c.bLo, c.bHi);
            const bool isInt = isInteger(t);
            SCOPED_TRACE(std::string(c.op) + " " + dataTypeName(t));
            Tensor y = runOk(OpTester(c.op).input(a).input(b));
            expectTensorNear(y, zipRef(a, b, {5, 6, 7}, t, [&](double x, double z) { return c.ref(x, z, isInt); }),
                             relTol(t), relTol(t));
        }
    }
}

TEST(ElementwiseBinary, IntegerSemantics) {
    // Truncating division, x/0 = 0, fixed-width wrap-around.
    expectTensorEq(runOk(OpTester("Div")
                             .input(Tensor::fromVector<int32_t>({-7, 7, -7, 5, std::numeric_limits<int32_t>::min()}))
                             .input(Tensor::fromVector<int32_t>({2, -2, -2, 0, -1}))),
                   Tensor::fromVector<int32_t>({-3, -3, 3, 0, std::numeric_limits<int32_t>::min()}));
    expectTensorEq(
        runOk(OpTester("Add").input(Tensor::fromVector<int8_t>({100, -100})).input(Tensor::scalar<int8_t>(100))),
        Tensor::fromVector<int8_t>({-56, 0}));
    expectTensorEq(
        runOk(OpTester("Sub").input(Tensor::fromVector<uint8_t>({3})).input(Tensor::fromVector<uint8_t>({5}))),
        Tensor::fromVector<uint8_t>({254}));
    expectTensorEq(
        runOk(
            OpTester("Mul").input(Tensor::fromVector<uint16_t>({65535})).input(Tensor::fromVector<uint16_t>({65535}))),
        Tensor::fromVector<uint16_t>({1}));
}

TEST(ElementwiseBinary, PowMixedTypes) {
    Tensor fx = Tensor::fromVector<float>({1.5f, 2.0f, 3.0f});
    expectTensorNear(runOk(OpTester("Pow").input(fx).input(Tensor::fromVector<float>({2.0f, 0.5f, -1.0f}))),
                     Tensor::fromVector<float>({2.25f, std::sqrt(2.0f), 1.0f / 3.0f}));
    // Exponent of another type: output keeps the base's type.
    expectTensorEq(runOk(OpTester("Pow").input(fx).input(Tensor::fromVector<int64_t>({2, 3, 4}))),
                   Tensor::fromVector<float>({2.25f, 8.0f, 81.0f}));
    expectTensorEq(runOk(OpTester("Pow")
                             .input(Tensor::fromVector<int32_t>({2, 3, 4}))
                             .input(Tensor::fromVector<float>({0.5f, 2.0f, 1.5f}))),
                   Tensor::fromVector<int32_t>({1, 9, 8}));  // 1.414 → 1: truncated like numpy's astype
    expectTensorEq(runOk(OpTester("Pow")
                             .input(Tensor::fromVector<int64_t>({2, -3, 7}))
                             .input(Tensor::fromVector<uint8_t>({40, 3, 0}))),
                   Tensor::fromVector<int64_t>({int64_t{1} << 40, -27, 1}));
    // Broadcast of a scalar exponent over 2x3.
    Tensor base = Tensor::fromVector<double>({1, 2, 3, 4, 5, 6}, {2, 3});
    expectTensorEq(runOk(OpTester("Pow").input(base).input(Tensor::scalar<double>(2.0))),
                   Tensor::fromVector<double>({1, 4, 9, 16, 25, 36}, {2, 3}));
    EXPECT_FALSE(OpTester("Pow").input(fx).input(Tensor::fromVector<bool>({true, false, true})).run().isOk());
}

TEST(ElementwiseBinary, ModSigns) {
    for (DataType t : {DataType::kInt8, DataType::kInt16, DataType::kInt32, DataType::kInt64}) {
        Tensor a = tensorOf(t, {7}, {-4, 7, 5, 4, -7, 8, 3});
        Tensor b = tensorOf(t, {7}, {2, -3, 8, -2, 3, 5, 0});
        SCOPED_TRACE(dataTypeName(t));
        expectTensorEq(runOk(OpTester("Mod").input(a).input(b)), tensorOf(t, {7}, {0, -2, 5, 0, 2, 3, 0}));
        expectTensorEq(runOk(OpTester("Mod").input(a).input(b).attr("fmod", int64_t{1})),
                       tensorOf(t, {7}, {0, 1, 5, 0, -1, 3, 0}));
    }
    for (DataType t : kIntTypes) {
        if (!isUnsignedInteger(t)) continue;
        expectTensorEq(runOk(OpTester("Mod").input(tensorOf(t, {3}, {4, 7, 5})).input(tensorOf(t, {1}, {3}))),
                       tensorOf(t, {3}, {1, 1, 2}));
    }
    for (DataType t : kFloatTypes) {
        Tensor a = tensorOf(t, {4}, {-4.5, 7.0, 5.0, 4.5});
        Tensor b = tensorOf(t, {4}, {2.0, -3.0, 8.0, -2.0});
        expectTensorNear(runOk(OpTester("Mod").input(a).input(b).attr("fmod", int64_t{1})),
                         tensorOf(t, {4}, {-0.5, 1.0, 5.0, 0.5}));
        auto bad = OpTester("Mod").input(a).input(b).run();
        ASSERT_FALSE(bad.isOk());
        EXPECT_NE(bad.status().message().find("fmod"), std::string::npos) << bad.status().message();
    }
}

TEST(ElementwiseBinary, BitShift) {
    for (DataType t : {DataType::kUInt8, DataType::kUInt16, DataType::kUInt32, DataType::kUInt64}) {
        const double bits = static_cast<double>(dataTypeSize(t) * 8);
        Tensor x = tensorOf(t, {4}, {16, 4, 1, 255});
        Tensor s = tensorOf(t, {4}, {1, 2, bits - 1, bits});
        SCOPED_TRACE(dataTypeName(t));
        expectTensorEq(runOk(OpTester("BitShift").input(x).input(s).attr("direction", std::string("RIGHT"))),
                       tensorOf(t, {4}, {8, 1, 0, 0}));
        expectTensorEq(
            runOk(OpTester("BitShift").input(x).input(tensorOf(t, {1}, {2})).attr("direction", std::string("LEFT"))),
            tensorOf(t, {4}, {64, 16, 4, t == DataType::kUInt8 ? 252.0 : 1020.0}));
    }
    EXPECT_FALSE(OpTester("BitShift")
                     .input(Tensor::fromVector<int32_t>({1}))
                     .input(Tensor::fromVector<int32_t>({1}))
                     .attr("direction", std::string("LEFT"))
                     .run()
                     .isOk());
    EXPECT_FALSE(OpTester("BitShift")
                     .input(Tensor::fromVector<uint8_t>({1}))
                     .input(Tensor::fromVector<uint8_t>({1}))
                     .attr("direction", std::string("UP"))
                     .run()
                     .isOk());
}

TEST(ElementwiseBinary, LogicalBroadcast) {
    Tensor a = randomTensor(DataType::kBool, {3, 4, 5}, 31);
    Tensor b = randomTensor(DataType::kBool, {4, 1}, 32);
    expectTensorEq(runOk(OpTester("And").input(a).input(b)),
                   zipRef(a, b, {3, 4, 5}, DataType::kBool, [](double x, double y) { return x != 0 && y != 0; }));
    expectTensorEq(runOk(OpTester("Or").input(a).input(b)),
                   zipRef(a, b, {3, 4, 5}, DataType::kBool, [](double x, double y) { return x != 0 || y != 0; }));
    expectTensorEq(runOk(OpTester("Xor").input(a).input(b)),
                   zipRef(a, b, {3, 4, 5}, DataType::kBool, [](double x, double y) { return (x != 0) != (y != 0); }));
    EXPECT_FALSE(
        OpTester("And").input(Tensor(DataType::kFloat32, {2})).input(Tensor(DataType::kFloat32, {2})).run().isOk());
}

TEST(ElementwiseBinary, ComparisonsEveryDtype) {
    struct Case {
        const char* op;
        bool (*ref)(double, double);
    };
    const Case cases[] = {{"Equal", [](double a, double b) { return a == b; }},
                          {"Greater", [](double a, double b) { return a > b; }},
                          {"GreaterOrEqual", [](double a, double b) { return a >= b; }},
                          {"Less", [](double a, double b) { return a < b; }},
                          {"LessOrEqual", [](double a, double b) { return a <= b; }}};
    for (const Case& c : cases) {
        for (DataType t : numericTypes()) {
            Tensor a = randomTensor(t, {2, 1, 11}, 41, 0, 3);
            Tensor b = randomTensor(t, {3, 1}, 42, 0, 3);
            SCOPED_TRACE(std::string(c.op) + " " + dataTypeName(t));
            expectTensorEq(runOk(OpTester(c.op).input(a).input(b)),
                           zipRef(a, b, {2, 3, 11}, DataType::kBool, [&](double x, double y) { return c.ref(x, y); }));
        }
    }
    Tensor p = Tensor::fromVector<bool>({true, false, true});
    Tensor q = Tensor::fromVector<bool>({true, true, false});
    expectTensorEq(runOk(OpTester("Equal").input(p).input(q)), Tensor::fromVector<bool>({true, false, false}));
    EXPECT_FALSE(OpTester("Greater").input(p).input(q).run().isOk()) << "Greater is not defined on bool";
    const float nan = std::numeric_limits<float>::quiet_NaN();
    expectTensorEq(
        runOk(OpTester("Equal").input(Tensor::fromVector<float>({nan, 1})).input(Tensor::fromVector<float>({nan, 1}))),
        Tensor::fromVector<bool>({false, true}));
}

TEST(ElementwiseBinary, LegacyAxisBroadcast) {
    // Opset 6 Add with broadcast=1, axis=1: B of shape [3] lines up with A's dim 1.
    Tensor a = randomTensor(DataType::kFloat32, {2, 3, 4}, 51);
    Tensor b = Tensor::fromVector<float>({10, 20, 30});
    Tensor y = runOk(OpTester("Add", 6).input(a).input(b).attr("broadcast", int64_t{1}).attr("axis", int64_t{1}));
    expectTensorNear(y, zipRef(a, Tensor::fromVector<float>({10, 20, 30}, {3, 1}), {2, 3, 4}, DataType::kFloat32,
                               [](double x, double z) { return x + z; }));
    EXPECT_FALSE(OpTester("Add", 6)
                     .input(a)
                     .input(Tensor(DataType::kFloat32, {3, 4, 1}))
                     .attr("broadcast", int64_t{1})
                     .attr("axis", int64_t{1})
                     .run()
                     .isOk());
}

TEST(ElementwiseVariadic, MaxMinEveryDtypeThreeWayBroadcast) {
    for (DataType t : numericTypes()) {
        Tensor a = randomTensor(t, {5, 1, 7}, 61, 0, 20);
        Tensor b = randomTensor(t, {6, 1}, 62, 0, 20);
        Tensor c = randomTensor(t, {1}, 63, 0, 20);
        SCOPED_TRACE(dataTypeName(t));
        Tensor ab = zipRef(a, b, {5, 6, 7}, DataType::kFloat64, [](double x, double y) { return std::max(x, y); });
        Tensor want = zipRef(ab, c, {5, 6, 7}, t, [](double x, double y) { return std::max(x, y); });
        expectTensorEq(runOk(OpTester("Max").input(a).input(b).input(c)), want);
        ab = zipRef(a, b, {5, 6, 7}, DataType::kFloat64, [](double x, double y) { return std::min(x, y); });
        want = zipRef(ab, c, {5, 6, 7}, t, [](double x, double y) { return std::min(x, y); });
        expectTensorEq(runOk(OpTester("Min").input(a).input(b).input(c)), want);
    }
    const float nan = std::numeric_limits<float>::quiet_NaN();
    expectTensorEq(runOk(OpTester("Max")
                             .input(Tensor::fromVector<float>({nan, 1, 2}))
                             .input(Tensor::fromVector<float>({0, nan, 3}))),
                   Tensor::fromVector<float>({nan, nan, 3}));
}

TEST(ElementwiseVariadic, SumMean) {
    for (DataType t : kFloatTypes) {
        Tensor a = randomTensor(t, {3, 1, 5}, 71);
        Tensor b = randomTensor(t, {4, 1}, 72);
        Tensor c = randomTensor(t, {5}, 73);
        Tensor ab = zipRef(a, b, {3, 4, 5}, DataType::kFloat64, [](double x, double y) { return x + y; });
        SCOPED_TRACE(dataTypeName(t));
        expectTensorNear(runOk(OpTester("Sum").input(a).input(b).input(c)),
                         zipRef(ab, c, {3, 4, 5}, t, [](double x, double y) { return x + y; }), relTol(t), relTol(t));
        expectTensorNear(runOk(OpTester("Mean").input(a).input(b).input(c)),
                         zipRef(ab, c, {3, 4, 5}, t, [](double x, double y) { return (x + y) / 3; }), relTol(t),
                         relTol(t));
        expectTensorEq(runOk(OpTester("Sum").input(a)), a);
    }
    EXPECT_EQ(
        runOk(OpTester("Sum").input(Tensor(DataType::kFloat32, {2, 0})).input(Tensor(DataType::kFloat32, {1}))).shape(),
        (Shape{2, 0}));
    EXPECT_FALSE(OpTester("Sum").input(Tensor(DataType::kInt32, {2})).run().isOk()) << "Sum is float-only";
    EXPECT_FALSE(
        OpTester("Max").input(Tensor(DataType::kFloat32, {2})).input(Tensor(DataType::kFloat64, {2})).run().isOk());
    EXPECT_FALSE(
        OpTester("Max").input(Tensor(DataType::kFloat32, {2})).input(Tensor(DataType::kFloat32, {3})).run().isOk());
}

TEST(ElementwiseVariadic, WhereBroadcastsAnyDtype) {
    Tensor cond = randomTensor(DataType::kBool, {3, 1}, 81);
    for (DataType t : {DataType::kFloat32, DataType::kFloat16, DataType::kInt64, DataType::kUInt8, DataType::kBool,
                       DataType::kFloat64}) {
        Tensor x = randomTensor(t, {1, 4}, 82, 0, 9);
        Tensor y = randomTensor(t, {4}, 83, 0, 9);
        Tensor want(t, {3, 4});
        for (int64_t i = 0; i < 3; ++i)
            for (int64_t j = 0; j < 4; ++j)
                setElement(want, i * 4 + j, cond.data<bool>()[i] ? x.getDouble(j) : y.getDouble(j));
        SCOPED_TRACE(dataTypeName(t));
        expectTensorEq(runOk(OpTester("Where").input(cond).input(x).input(y)), want);
    }
    EXPECT_FALSE(OpTester("Where")
                     .input(Tensor(DataType::kInt32, {2}))
                     .input(Tensor(DataType::kFloat32, {2}))
                     .input(Tensor(DataType::kFloat32, {2}))
                     .run()
                     .isOk());
    EXPECT_FALSE(OpTester("Where")
                     .input(Tensor(DataType::kBool, {2}))
                     .input(Tensor(DataType::kFloat32, {2}))
                     .input(Tensor(DataType::kInt32, {2}))
                     .run()
                     .isOk());
}

}  // namespace
}  // namespace kiln::testing
