#include <cmath>
#include <limits>

#include "ops/elementwise_test_util.h"

namespace kiln::testing {
namespace {

struct FloatCase {
    const char* op;
    double lo, hi;
    double (*ref)(double);
};

// Math ops over every float dtype on an odd 5x6x7 shape, against libm in double.
TEST(ElementwiseUnary, FloatMathEveryDtype) {
    const FloatCase cases[] = {
        {"Exp", -3, 3, [](double v) { return std::exp(v); }},
        {"Log", 0.1, 5, [](double v) { return std::log(v); }},
        {"Sqrt", 0, 9, [](double v) { return std::sqrt(v); }},
        {"Reciprocal", 0.5, 4, [](double v) { return 1 / v; }},
        {"Floor", -5, 5, [](double v) { return std::floor(v); }},
        {"Ceil", -5, 5, [](double v) { return std::ceil(v); }},
        {"Sin", -3, 3, [](double v) { return std::sin(v); }},
        {"Cos", -3, 3, [](double v) { return std::cos(v); }},
        {"Tan", -1.2, 1.2, [](double v) { return std::tan(v); }},
        {"Asin", -0.99, 0.99, [](double v) { return std::asin(v); }},
        {"Acos", -0.99, 0.99, [](double v) { return std::acos(v); }},
        {"Atan", -5, 5, [](double v) { return std::atan(v); }},
        {"Sinh", -3, 3, [](double v) { return std::sinh(v); }},
        {"Cosh", -3, 3, [](double v) { return std::cosh(v); }},
        {"Asinh", -5, 5, [](double v) { return std::asinh(v); }},
        {"Acosh", 1, 5, [](double v) { return std::acosh(v); }},
        {"Atanh", -0.9, 0.9, [](double v) { return std::atanh(v); }},
        {"Erf", -2, 2, [](double v) { return std::erf(v); }},
        {"Neg", -3, 3, [](double v) { return -v; }},
        {"Abs", -3, 3, [](double v) { return std::fabs(v); }},
        {"Sign", -3, 3, [](double v) { return v > 0 ? 1.0 : (v < 0 ? -1.0 : 0.0); }},
    };
    for (const FloatCase& c : cases) {
        for (DataType t : kFloatTypes) {
            Tensor x = randomTensor(t, {5, 6, 7}, 11, c.lo, c.hi);
            Tensor y = runOk(OpTester(c.op).input(x));
            SCOPED_TRACE(std::string(c.op) + " " + dataTypeName(t));
            expectTensorNear(y, mapRef(x, t, c.ref), relTol(t), relTol(t));
        }
    }
}

TEST(ElementwiseUnary, RoundHalfToEven) {
    Tensor x = Tensor::fromVector<float>({0.5f, 1.5f, 2.5f, -0.5f, -1.5f, 2.4f, -2.6f, 0.0f});
    expectTensorEq(runOk(OpTester("Round").input(x)),
                   Tensor::fromVector<float>({0.0f, 2.0f, 2.0f, -0.0f, -2.0f, 2.0f, -3.0f, 0.0f}));
}

TEST(ElementwiseUnary, IntegerAbsNegSign) {
    for (DataType t : kIntTypes) {
        const bool isUnsigned = isUnsignedInteger(t);
        Tensor x = randomTensor(t, {127}, 5, isUnsigned ? 0 : -100, 100);
        SCOPED_TRACE(dataTypeName(t));
        expectTensorEq(runOk(OpTester("Abs").input(x)), mapRef(x, t, [](double v) { return std::fabs(v); }));
        expectTensorEq(runOk(OpTester("Sign").input(x)),
                       mapRef(x, t, [](double v) { return v > 0 ? 1.0 : (v < 0 ? -1.0 : 0.0); }));
        if (!isUnsigned) {
            expectTensorEq(runOk(OpTester("Neg").input(x)), mapRef(x, t, [](double v) { return -v; }));
        } else {
            EXPECT_FALSE(OpTester("Neg").input(x).run().isOk()) << "Neg is not defined on unsigned types";
        }
    }
    // The most negative value wraps to itself, as numpy's fixed-width integers.
    Tensor minX = Tensor::fromVector<int8_t>({-128, 127});
    expectTensorEq(runOk(OpTester("Abs").input(minX)), Tensor::fromVector<int8_t>({-128, 127}));
    expectTensorEq(runOk(OpTester("Neg").input(minX)), Tensor::fromVector<int8_t>({-128, -127}));
    const int64_t minI64 = std::numeric_limits<int64_t>::min();
    Tensor min64 = Tensor::fromVector<int64_t>({minI64, -5});
    auto abs64 = runOk(OpTester("Abs").input(min64));
    EXPECT_EQ(abs64.data<int64_t>()[0], minI64);
    EXPECT_EQ(abs64.data<int64_t>()[1], 5);
    auto neg64 = runOk(OpTester("Neg").input(min64));
    EXPECT_EQ(neg64.data<int64_t>()[0], minI64);
    EXPECT_EQ(neg64.data<int64_t>()[1], 5);
}

TEST(ElementwiseUnary, SpecialValues) {
    const float inf = std::numeric_limits<float>::infinity();
    const float nan = std::numeric_limits<float>::quiet_NaN();
    Tensor x = Tensor::fromVector<float>({inf, -inf, nan, 0.0f, -1.0f, 3.0f});
    expectTensorEq(runOk(OpTester("IsNaN").input(x)),
                   Tensor::fromVector<bool>({false, false, true, false, false, false}));
    expectTensorEq(runOk(OpTester("IsInf").input(x)),
                   Tensor::fromVector<bool>({true, true, false, false, false, false}));
    expectTensorEq(runOk(OpTester("IsInf").input(x).attr("detect_negative", int64_t{0})),
                   Tensor::fromVector<bool>({true, false, false, false, false, false}));
    expectTensorEq(runOk(OpTester("IsInf").input(x).attr("detect_positive", int64_t{0})),
                   Tensor::fromVector<bool>({false, true, false, false, false, false}));
    expectTensorEq(runOk(OpTester("Sign").input(x)), Tensor::fromVector<float>({1, -1, nan, 0, -1, 1}));
    expectTensorEq(runOk(OpTester("Log").input(x)),
                   Tensor::fromVector<float>({inf, nan, nan, -inf, nan, std::log(3.0f)}));
    // IsNaN on half and double
    for (DataType t : {DataType::kFloat16, DataType::kFloat64, DataType::kBFloat16}) {
        Tensor h = tensorOf(t, {3}, {1.0, std::nan(""), -2.0});
        expectTensorEq(runOk(OpTester("IsNaN").input(h)), Tensor::fromVector<bool>({false, true, false}));
    }
}

TEST(ElementwiseUnary, NotAndShapes) {
    Tensor x = randomTensor(DataType::kBool, {3, 1, 5}, 9);
    expectTensorEq(runOk(OpTester("Not").input(x)), mapRef(x, DataType::kBool, [](double v) { return v == 0; }));
    // Empty tensors and scalars keep their shapes.
    EXPECT_EQ(runOk(OpTester("Exp").input(Tensor(DataType::kFloat32, {4, 0, 3}))).shape(), (Shape{4, 0, 3}));
    expectTensorEq(runOk(OpTester("Not").input(Tensor(DataType::kBool, {0}))), Tensor(DataType::kBool, {0}));
    expectTensorEq(runOk(OpTester("Sqrt").input(Tensor::scalar<double>(16.0))), Tensor::scalar<double>(4.0));
}

TEST(ElementwiseUnary, RejectsWrongDtypes) {
    auto exp = OpTester("Exp").input(Tensor(DataType::kInt32, {3})).run();
    ASSERT_FALSE(exp.isOk());
    EXPECT_NE(exp.status().message().find("int32"), std::string::npos) << exp.status().message();
    EXPECT_FALSE(OpTester("Not").input(Tensor(DataType::kFloat32, {3})).run().isOk());
    EXPECT_FALSE(OpTester("IsNaN").input(Tensor(DataType::kInt64, {3})).run().isOk());
    EXPECT_FALSE(OpTester("Abs").input(Tensor(DataType::kBool, {3})).run().isOk());
    EXPECT_FALSE(OpTester("Abs").run().isOk()) << "missing input";
}

}  // namespace
}  // namespace kiln::testing
