#include <algorithm>
#include <cmath>
#include <limits>

#include "ops/elementwise_test_util.h"

namespace kiln::testing {
namespace {

// Pointwise activations with their default and explicit attributes over every float dtype, shape 5x6x7.
TEST(Activation, PointwiseEveryFloatDtype) {
    struct Case {
        const char* op;
        std::vector<std::pair<std::string, float>> attrs;
        std::function<double(double)> ref;
    };
    const double selA = 1.67326319217681884765625, selG = 1.05070102214813232421875;
    const std::vector<Case> cases = {
        {"Relu", {}, [](double v) { return std::max(v, 0.0); }},
        {"Sigmoid", {}, [](double v) { return 1 / (1 + std::exp(-v)); }},
        {"Tanh", {}, [](double v) { return std::tanh(v); }},
        {"HardSigmoid", {}, [](double v) { return std::clamp(0.2 * v + 0.5, 0.0, 1.0); }},
        {"HardSigmoid",
         {{"alpha", 0.5f}, {"beta", 0.6f}},
         [](double v) { return std::clamp(0.5 * v + 0.6, 0.0, 1.0); }},
        {"HardSwish", {}, [](double v) { return v * std::clamp(v / 6 + 0.5, 0.0, 1.0); }},
        {"LeakyRelu", {}, [](double v) { return v >= 0 ? v : 0.01 * v; }},
        {"LeakyRelu", {{"alpha", 0.3f}}, [](double v) { return v >= 0 ? v : 0.3 * v; }},
        {"Elu", {}, [](double v) { return v >= 0 ? v : std::exp(v) - 1; }},
        {"Elu", {{"alpha", 2.0f}}, [](double v) { return v >= 0 ? v : 2 * (std::exp(v) - 1); }},
        {"Selu", {}, [=](double v) { return v > 0 ? selG * v : selG * selA * (std::exp(v) - 1); }},
        {"Selu",
         {{"alpha", 2.0f}, {"gamma", 3.0f}},
         [](double v) { return v > 0 ? 3 * v : 3 * 2 * (std::exp(v) - 1); }},
        {"Celu", {}, [](double v) { return std::max(0.0, v) + std::min(0.0, std::exp(v) - 1); }},
        {"Celu",
         {{"alpha", 2.0f}},
         [](double v) { return std::max(0.0, v) + std::min(0.0, 2 * (std::exp(v / 2) - 1)); }},
        {"Softplus", {}, [](double v) { return std::log(std::exp(v) + 1); }},
        {"Softsign", {}, [](double v) { return v / (1 + std::fabs(v)); }},
        {"ThresholdedRelu", {}, [](double v) { return v > 1 ? v : 0; }},
        {"ThresholdedRelu", {{"alpha", 2.0f}}, [](double v) { return v > 2 ? v : 0; }},
        {"Shrink", {}, [](double v) { return v < -0.5 ? v : (v > 0.5 ? v : 0); }},
        {"Shrink",
         {{"lambd", 1.5f}, {"bias", 1.5f}},
         [](double v) { return v < -1.5 ? v + 1.5 : (v > 1.5 ? v - 1.5 : 0); }},
    };
    for (const Case& c : cases) {
        for (DataType t : kFloatTypes) {
            Tensor x = randomTensor(t, {5, 6, 7}, 7, -4, 4);
            OpTester tester(c.op);
            tester.input(x);
            for (const auto& [name, value] : c.attrs) tester.attr(name, value);
            SCOPED_TRACE(std::string(c.op) + " " + dataTypeName(t) + " with " + std::to_string(c.attrs.size()) +
                         " attrs");
            // Attributes are float32 in ONNX, so double results differ from the decimal constants by ~1e-8.
            const double tol = std::max(relTol(t), 1e-6);
            expectTensorNear(runOk(tester), mapRef(x, t, c.ref), tol, tol);
        }
    }
}

TEST(Activation, ExtremeInputsStayFinite) {
    Tensor x = Tensor::fromVector<float>({-1000.0f, 1000.0f, -90.0f, 90.0f});
    expectTensorNear(runOk(OpTester("Sigmoid").input(x)), Tensor::fromVector<float>({0, 1, std::exp(-90.0f), 1}));
    expectTensorNear(runOk(OpTester("Softplus").input(x)), Tensor::fromVector<float>({0, 1000, std::exp(-90.0f), 90}));
}

TEST(Activation, IntegerReluShrink) {
    for (DataType t : kIntTypes) {
        const double lo = isUnsignedInteger(t) ? 0 : -50;
        Tensor x = randomTensor(t, {127}, 3, lo, 50);
        SCOPED_TRACE(dataTypeName(t));
        expectTensorEq(runOk(OpTester("Relu").input(x)), mapRef(x, t, [](double v) { return std::max(v, 0.0); }));
        expectTensorEq(runOk(OpTester("Shrink").input(x).attr("lambd", 10.0f).attr("bias", 2.0f)),
                       mapRef(x, t, [](double v) { return v < -10 ? v + 2 : (v > 10 ? v - 2 : 0); }));
    }
}

TEST(Activation, PReluUnidirectionalBroadcast) {
    for (DataType t : {DataType::kFloat32, DataType::kFloat64, DataType::kFloat16, DataType::kBFloat16,
                       DataType::kInt32, DataType::kInt64}) {
        Tensor x = randomTensor(t, {2, 3, 5}, 5, -9, 9);
        Tensor slope = randomTensor(t, {3, 1}, 6, -3, 3);
        SCOPED_TRACE(dataTypeName(t));
        expectTensorNear(runOk(OpTester("PRelu").input(x).input(slope)),
                         zipRef(x, slope, {2, 3, 5}, t, [](double v, double s) { return v < 0 ? s * v : v; }),
                         relTol(t), relTol(t));
    }
    // Opset 6: a [C] slope applies per channel of NCHW X.
    Tensor x = Tensor::fromVector<float>({-1, -1, -1, -1, 2, -2}, {1, 2, 3});
    expectTensorEq(runOk(OpTester("PRelu", 6).input(x).input(Tensor::fromVector<float>({0.5f, 3.0f}))),
                   Tensor::fromVector<float>({-0.5f, -0.5f, -0.5f, -3, 2, -6}, {1, 2, 3}));
    // Slope must not grow X.
    auto bad = OpTester("PRelu").input(Tensor(DataType::kFloat32, {3})).input(Tensor(DataType::kFloat32, {2, 3})).run();
    ASSERT_FALSE(bad.isOk());
    EXPECT_NE(bad.status().message().find("slope"), std::string::npos) << bad.status().message();
    EXPECT_FALSE(
        OpTester("PRelu").input(Tensor(DataType::kFloat32, {3})).input(Tensor(DataType::kFloat64, {3})).run().isOk());
}

TEST(Activation, ClipOptionalBoundsEveryDtype) {
    for (DataType t : numericTypes()) {
        Tensor x = randomTensor(t, {5, 7}, 8, 0, 100);
        Tensor lo = tensorOf(t, {}, {20});
        Tensor hi = tensorOf(t, {}, {60});
        SCOPED_TRACE(dataTypeName(t));
        expectTensorEq(runOk(OpTester("Clip").input(x).input(lo).input(hi)),
                       mapRef(x, t, [](double v) { return std::min(std::max(v, 20.0), 60.0); }));
        expectTensorEq(runOk(OpTester("Clip").input(x).absentInput().input(hi)),
                       mapRef(x, t, [](double v) { return std::min(v, 60.0); }));
        expectTensorEq(runOk(OpTester("Clip").input(x).input(lo)),
                       mapRef(x, t, [](double v) { return std::max(v, 20.0); }));
        expectTensorEq(runOk(OpTester("Clip").input(x)), x);
        // min > max: everything becomes max (numpy.clip).
        expectTensorEq(runOk(OpTester("Clip").input(x).input(hi).input(lo)), mapRef(x, t, [](double) { return 20.0; }));
    }
    const float nan = std::numeric_limits<float>::quiet_NaN();
    expectTensorEq(
        runOk(OpTester("Clip").input(Tensor::fromVector<float>({nan, -5})).input(Tensor::scalar<float>(0.0f))),
        Tensor::fromVector<float>({nan, 0}));
    EXPECT_FALSE(
        OpTester("Clip").input(Tensor(DataType::kFloat32, {3})).input(Tensor(DataType::kFloat32, {2})).run().isOk());
    EXPECT_FALSE(
        OpTester("Clip").input(Tensor(DataType::kFloat32, {3})).input(Tensor(DataType::kInt32, {})).run().isOk());
}

TEST(Activation, RejectsBadInputs) {
    EXPECT_FALSE(OpTester("Sigmoid").input(Tensor(DataType::kInt32, {3})).run().isOk());
    EXPECT_FALSE(OpTester("Celu").input(Tensor(DataType::kFloat32, {3})).attr("alpha", 0.0f).run().isOk());
    EXPECT_EQ(runOk(OpTester("Elu").input(Tensor(DataType::kFloat16, {0, 3}))).shape(), (Shape{0, 3}));
}

}  // namespace
}  // namespace kiln::testing
