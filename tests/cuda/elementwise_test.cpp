// CUDA unary math and activations (Clip, Dropout, PRelu included) against the CPU reference: every registered op
// over every dtype the CPU accepts, tails (1031 elements), scalars, empty tensors, the values that break rounding
// and conversions, attribute variations and error paths.
#include <optional>
#include <string>

#include "cuda/elementwise_test_util.h"

namespace kiln::testing {
namespace {

struct UnaryCase {
    const char* op;
    std::vector<DataType> types;
    double lo;
    double hi;
    bool exact;  //!< one correctly rounded IEEE operation (or none): the GPU must match bit for bit
};

std::optional<Tolerance> toleranceOf(bool exact) { return exact ? std::optional<Tolerance>(kExact) : std::nullopt; }

std::vector<UnaryCase> unaryCases() {
    const std::vector<DataType> numeric = numericTypes();
    std::vector<DataType> signedTypes = kFloatTypes;
    signedTypes.insert(signedTypes.end(), kSignedIntTypes.begin(), kSignedIntTypes.end());
    return {
        {"Abs", numeric, -100, 100, true},
        {"Neg", signedTypes, -100, 100, true},
        {"Sign", numeric, -3, 3, true},
        {"Ceil", kFloatTypes, -5, 5, true},
        {"Floor", kFloatTypes, -5, 5, true},
        {"Round", kFloatTypes, -5, 5, true},
        {"Reciprocal", kFloatTypes, -4, 4, true},
        {"Sqrt", kFloatTypes, 0.01, 9, true},
        {"Exp", kFloatTypes, -4, 4, false},
        {"Log", kFloatTypes, 0.01, 9, false},
        {"Erf", numeric, -3, 3, false},
        {"Sin", kFloatTypes, -6, 6, false},
        {"Cos", kFloatTypes, -6, 6, false},
        {"Tan", kFloatTypes, -1.4, 1.4, false},
        {"Asin", kFloatTypes, -0.99, 0.99, false},
        {"Acos", kFloatTypes, -0.99, 0.99, false},
        {"Atan", kFloatTypes, -9, 9, false},
        {"Sinh", kFloatTypes, -4, 4, false},
        {"Cosh", kFloatTypes, -4, 4, false},
        {"Asinh", kFloatTypes, -9, 9, false},
        {"Acosh", kFloatTypes, 1.01, 9, false},
        {"Atanh", kFloatTypes, -0.99, 0.99, false},
        {"Not", {DataType::kBool}, 0, 1, true},
        {"IsNaN", kFloatTypes, -3, 3, true},
        {"IsInf", kFloatTypes, -3, 3, true},
    };
}

TEST(CudaElementwiseUnary, EveryOpEveryDtypeWithATail) {
    KILN_REQUIRE_GPU();
    for (const UnaryCase& c : unaryCases()) {
        for (DataType t : c.types) {
            SCOPED_TRACE(std::string(c.op) + " " + dataTypeName(t));
            expectCudaMatchesCpu(OpTester(c.op).input(randomOf(t, kTail, c.lo, c.hi)), toleranceOf(c.exact));
        }
    }
}

TEST(CudaElementwiseUnary, SpecialValuesMatchExactly) {
    KILN_REQUIRE_GPU();
    // NaN, infinities, signed zeros, halves (Round's ties to even), integer extremes (Abs/Neg of MIN wrap).
    for (const char* op : {"Abs", "Neg", "Sign", "Ceil", "Floor", "Round", "Reciprocal", "Sqrt", "IsNaN", "IsInf"}) {
        for (DataType t : kFloatTypes) {
            SCOPED_TRACE(std::string(op) + " " + dataTypeName(t));
            expectCudaMatchesCpu(OpTester(op).input(specialValues(t)), kExact);
        }
    }
    for (const char* op : {"Abs", "Neg", "Sign", "Relu"}) {
        for (DataType t : kSignedIntTypes) {
            SCOPED_TRACE(std::string(op) + " " + dataTypeName(t));
            expectCudaMatchesCpu(OpTester(op).input(specialValues(t)), kExact);
        }
    }
    for (DataType t : kUnsignedIntTypes) expectCudaMatchesCpu(OpTester("Sign").input(specialValues(t)), kExact);
    // erf of an integer saturates to ±1 from |x| = 6 on; below, it truncates to 0.
    expectCudaMatchesCpu(OpTester("Erf").input(tensorOf(DataType::kInt32, {8}, {-100, -6, -5, -1, 0, 1, 6, 100})),
                         kExact);
}

TEST(CudaElementwiseUnary, IsInfAttributes) {
    KILN_REQUIRE_GPU();
    for (int64_t pos : {0, 1}) {
        for (int64_t neg : {0, 1}) {
            expectCudaMatchesCpu(OpTester("IsInf")
                                     .input(specialValues(DataType::kFloat32))
                                     .attr("detect_positive", pos)
                                     .attr("detect_negative", neg),
                                 kExact);
        }
    }
}

TEST(CudaElementwiseUnary, ScalarsEmptyAndLargeTensors) {
    KILN_REQUIRE_GPU();
    for (const Shape& shape : {Shape{}, Shape{0}, Shape{3, 0, 5}, Shape{1}, Shape{1, 1, 1}, Shape{127}, kOdd}) {
        SCOPED_TRACE(shapeToString(shape));
        expectCudaMatchesCpu(OpTester("Exp").input(randomOf(DataType::kFloat32, shape)));
        expectCudaMatchesCpu(OpTester("Neg").input(randomOf(DataType::kInt64, shape, -50, 50)), kExact);
        expectCudaMatchesCpu(OpTester("IsNaN").input(randomOf(DataType::kFloat16, shape)), kExact);
        expectCudaMatchesCpu(OpTester("Not").input(randomOf(DataType::kBool, shape)), kExact);
    }
    // More vectors than the capped grid has threads: the grid-stride loop goes round more than once.
    expectCudaMatchesCpu(OpTester("Relu").input(randomOf(DataType::kFloat32, {1 << 24})), kExact);
    expectCudaMatchesCpu(OpTester("Abs").input(randomOf(DataType::kInt8, {(1 << 24) + 3}, -100, 100)), kExact);
}

TEST(CudaElementwiseUnary, UnsupportedDtypesFailLikeTheReference) {
    KILN_REQUIRE_GPU();
    expectCudaMatchesCpu(OpTester("Exp").input(randomOf(DataType::kInt32, kOdd)));
    expectCudaMatchesCpu(OpTester("Neg").input(randomOf(DataType::kUInt8, kOdd)));
    expectCudaMatchesCpu(OpTester("Not").input(randomOf(DataType::kFloat32, kOdd)));
    expectCudaMatchesCpu(OpTester("IsNaN").input(randomOf(DataType::kInt64, {0})));  // fails even when empty
    expectCudaMatchesCpu(OpTester("Sigmoid").input(randomOf(DataType::kInt16, kOdd)));
    expectCudaMatchesCpu(OpTester("Abs").input(randomOf(DataType::kBool, kOdd)));
}

// ---- activations

struct ActivationCase {
    const char* op;
    std::vector<std::pair<std::string, float>> attrs;
    double lo;
    double hi;
    bool exact;
};

TEST(CudaActivations, EveryFloatActivationWithAttributeVariations) {
    KILN_REQUIRE_GPU();
    const std::vector<ActivationCase> cases = {
        {"Sigmoid", {}, -20, 20, false},
        {"Tanh", {}, -5, 5, false},
        {"HardSigmoid", {}, -6, 6, false},
        {"HardSigmoid", {{"alpha", 0.3f}, {"beta", 0.6f}}, -6, 6, false},
        {"HardSwish", {}, -5, 5, false},
        {"LeakyRelu", {}, -3, 3, true},
        {"LeakyRelu", {{"alpha", 0.3f}}, -3, 3, true},
        {"Elu", {}, -3, 3, false},
        {"Elu", {{"alpha", 0.5f}}, -3, 3, false},
        {"Selu", {}, -3, 3, false},
        {"Selu", {{"alpha", 2.0f}, {"gamma", 0.5f}}, -3, 3, false},
        {"Celu", {}, -3, 3, false},
        {"Celu", {{"alpha", 2.0f}}, -3, 3, false},
        {"Softplus", {}, -30, 30, false},
        {"Softsign", {}, -5, 5, false},
        {"ThresholdedRelu", {}, -3, 3, true},
        {"ThresholdedRelu", {{"alpha", 0.25f}}, -3, 3, true},
    };
    for (const ActivationCase& c : cases) {
        for (DataType t : kFloatTypes) {
            SCOPED_TRACE(std::string(c.op) + " " + dataTypeName(t) + " with " + std::to_string(c.attrs.size()) +
                         " attributes");
            OpTester op(c.op);
            op.input(randomOf(t, kTail, c.lo, c.hi));
            for (const auto& [name, value] : c.attrs) op.attr(name, value);
            expectCudaMatchesCpu(op, toleranceOf(c.exact));
        }
    }
}

TEST(CudaActivations, ReluShrinkOnEveryNumericDtype) {
    KILN_REQUIRE_GPU();
    for (DataType t : numericTypes()) {
        SCOPED_TRACE(dataTypeName(t));
        expectCudaMatchesCpu(OpTester("Relu").input(randomOf(t, kTail, -50, 50)), kExact);
        expectCudaMatchesCpu(OpTester("Shrink").input(randomOf(t, kOdd, -5, 5)), kExact);
        expectCudaMatchesCpu(OpTester("Shrink").input(randomOf(t, kOdd, -5, 5)).attr("lambd", 1.5f).attr("bias", 0.75f),
                             kExact);
    }
}

TEST(CudaActivations, ActivationErrors) {
    KILN_REQUIRE_GPU();
    expectCudaMatchesCpu(OpTester("Celu").input(randomOf(DataType::kFloat32, kOdd)).attr("alpha", 0.0f));
    expectCudaMatchesCpu(OpTester("Elu").input(randomOf(DataType::kInt32, kOdd)));
    expectCudaMatchesCpu(OpTester("Relu").input(randomOf(DataType::kBool, kOdd)));
}

TEST(CudaClip, BoundsFromConstantsAndRuntimeInputs) {
    KILN_REQUIRE_GPU();
    for (DataType t : numericTypes()) {
        SCOPED_TRACE(dataTypeName(t));
        const Tensor x = randomOf(t, kTail, -20, 20);
        const Tensor lo = tensorOf(t, {}, {2});
        const Tensor hi = tensorOf(t, {}, {9});
        expectCudaMatchesCpu(OpTester("Clip").input(x).constInput(lo).constInput(hi), kExact);
        expectCudaMatchesCpu(OpTester("Clip").input(x).absentInput().constInput(hi), kExact);
        expectCudaMatchesCpu(OpTester("Clip").input(x).constInput(lo), kExact);
        expectCudaMatchesCpu(OpTester("Clip").input(x), kExact);
        expectCudaMatchesCpu(OpTester("Clip").input(x).constInput(hi).constInput(lo), kExact);  // min > max
        expectCudaMatchesCpu(OpTester("Clip").input(x).input(lo).input(hi), kExact);  // read back from the device
    }
    // NaN passes through; infinities clamp.
    expectCudaMatchesCpu(OpTester("Clip")
                             .input(specialValues(DataType::kFloat32))
                             .constInput(Tensor::scalar<float>(-1.0f))
                             .constInput(Tensor::scalar<float>(1.0f)),
                         kExact);
}

TEST(CudaClip, BadBoundsFailLikeTheReference) {
    KILN_REQUIRE_GPU();
    const Tensor x = randomOf(DataType::kFloat32, kOdd);
    expectCudaMatchesCpu(OpTester("Clip").input(x).constInput(Tensor::fromVector<float>({0.0f, 1.0f})));
    expectCudaMatchesCpu(OpTester("Clip").input(x).constInput(Tensor::scalar<double>(0.0)));
    expectCudaMatchesCpu(OpTester("Clip").input(randomOf(DataType::kBool, kOdd)));
}

TEST(CudaPRelu, SlopeBroadcastPatterns) {
    KILN_REQUIRE_GPU();
    for (DataType t : {DataType::kFloat32, DataType::kFloat16, DataType::kBFloat16, DataType::kFloat64,
                       DataType::kInt32, DataType::kInt64, DataType::kInt8, DataType::kUInt32}) {
        for (const Shape& slope : {Shape{7}, Shape{6, 1}, Shape{}, Shape{5, 6, 7}, Shape{5, 1, 7}}) {
            SCOPED_TRACE(std::string(dataTypeName(t)) + " slope " + shapeToString(slope));
            expectCudaMatchesCpu(OpTester("PRelu").input(randomOf(t, kOdd, -20, 20)).input(randomOf(t, slope, -3, 3)),
                                 kExact);
        }
    }
    // Opset 6: a [C] slope applies per channel of NCHW X.
    expectCudaMatchesCpu(
        OpTester("PRelu", 6).input(randomOf(DataType::kFloat32, {2, 6, 5, 7})).input(randomOf(DataType::kFloat32, {6})),
        kExact);
}

TEST(CudaPRelu, SlopesThatDoNotBroadcastToXFail) {
    KILN_REQUIRE_GPU();
    const Tensor x = randomOf(DataType::kFloat32, kOdd);
    expectCudaMatchesCpu(OpTester("PRelu").input(x).input(randomOf(DataType::kFloat32, {2, 5, 6, 7})));
    expectCudaMatchesCpu(OpTester("PRelu").input(x).input(randomOf(DataType::kFloat32, {4})));
    expectCudaMatchesCpu(OpTester("PRelu").input(x).input(randomOf(DataType::kFloat64, {7})));
}

TEST(CudaDropout, InferenceIsIdentityWithAnAllOnesMask) {
    KILN_REQUIRE_GPU();
    for (DataType t : {DataType::kFloat32, DataType::kFloat16, DataType::kBFloat16, DataType::kFloat64}) {
        SCOPED_TRACE(dataTypeName(t));
        const Tensor x = randomOf(t, kTail);
        expectCudaMatchesCpu(OpTester("Dropout", 13).input(x).outputs(2), kExact);
        expectCudaMatchesCpu(OpTester("Dropout", 13)
                                 .input(x)
                                 .constInput(Tensor::scalar<float>(0.3f))
                                 .constInput(Tensor::scalar<bool>(false))
                                 .outputs(2),
                             kExact);
        // Training with ratio 0 keeps everything.
        expectCudaMatchesCpu(OpTester("Dropout", 13)
                                 .input(x)
                                 .constInput(Tensor::scalar<float>(0.0f))
                                 .constInput(Tensor::scalar<bool>(true))
                                 .outputs(2),
                             kExact);
        // Opset 7: the mask has X's dtype.
        expectCudaMatchesCpu(OpTester("Dropout", 7).input(x).outputs(2), kExact);
        expectCudaMatchesCpu(OpTester("Dropout", 13).input(randomOf(t, {0, 3})).outputs(2), kExact);
    }
}

TEST(CudaDropout, TrainingAndBadRatiosFailLikeTheReference) {
    KILN_REQUIRE_GPU();
    const Tensor x = randomOf(DataType::kFloat32, kOdd);
    expectCudaMatchesCpu(OpTester("Dropout", 13)
                             .input(x)
                             .constInput(Tensor::scalar<float>(0.5f))
                             .constInput(Tensor::scalar<bool>(true)));
    expectCudaMatchesCpu(OpTester("Dropout", 13).input(x).constInput(Tensor::scalar<float>(1.5f)));
    expectCudaMatchesCpu(OpTester("Dropout", 13).input(x).constInput(Tensor::scalar<int64_t>(0)));
}

}  // namespace
}  // namespace kiln::testing
