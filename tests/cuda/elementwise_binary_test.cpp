// CUDA broadcasting binary ops against the CPU reference: arithmetic with integer division/modulo semantics, Pow
// over mixed dtypes, BitShift, comparisons and logic, over every dtype, the broadcast patterns that take each
// kernel path (same shape, scalar, strided with merged dims, rank 5, legacy axis broadcast) and error paths.
#include <optional>
#include <string>

#include "cuda/elementwise_test_util.h"

namespace kiln::testing {
namespace {

//! (a, b) shape pairs: same shape (vectorized), scalar either side, {5,1,7} x {6,1}, non-mergeable rank 5,
//! size-1 everywhere, empty, and an output that only grows from both sides.
const std::vector<std::pair<Shape, Shape>>& broadcastPatterns() {
    static const std::vector<std::pair<Shape, Shape>> patterns = {
        {kTail, kTail}, {{}, kOdd},    {kTail, {1}},     {{5, 1, 7}, {6, 1}}, {{2, 1, 3, 1, 5}, {4, 1, 6, 1}},
        {{1, 1}, {1}},  {{0, 3}, {3}}, {{3, 1}, {1, 0}}, {{7, 1}, {1, 131}},
    };
    return patterns;
}

TEST(CudaElementwiseBinary, ArithmeticEveryDtypeEveryPattern) {
    KILN_REQUIRE_GPU();
    for (const char* op : {"Add", "Sub", "Mul", "Div"}) {
        for (DataType t : numericTypes()) {
            // Small integers with zeros and negatives: division by 0 and truncation toward zero are exercised.
            const double lo = isFloatingPoint(t) ? -3.0 : -6.0;
            for (const auto& [as, bs] : broadcastPatterns()) {
                SCOPED_TRACE(std::string(op) + " " + dataTypeName(t) + " " + shapeToString(as) + " with " +
                             shapeToString(bs));
                expectCudaMatchesCpu(OpTester(op).input(randomOf(t, as, lo, 6)).input(randomOf(t, bs, lo, 6)), kExact);
            }
        }
    }
}

TEST(CudaElementwiseBinary, IntegerWrapAndDivisionEdgeCases) {
    KILN_REQUIRE_GPU();
    for (DataType t : kSignedIntTypes) {
        SCOPED_TRACE(dataTypeName(t));
        const Tensor extremes = specialValues(t, 8);
        const Tensor divisors = tensorOf(t, {8}, {-1, -1, -1, 0, 2, -3, 7, -1});  // MIN / -1 wraps, x / 0 is 0
        for (const char* op : {"Add", "Sub", "Mul", "Div"}) {
            expectCudaMatchesCpu(OpTester(op).input(extremes).input(divisors), kExact);
        }
        for (int64_t fmod : {0, 1}) {
            expectCudaMatchesCpu(OpTester("Mod").input(extremes).input(divisors).attr("fmod", fmod), kExact);
        }
    }
    for (DataType t : kUnsignedIntTypes) {
        expectCudaMatchesCpu(
            OpTester("Div").input(specialValues(t, 8)).input(tensorOf(t, {8}, {0, 1, 2, 3, 0, 5, 6, 7})), kExact);
    }
}

TEST(CudaElementwiseBinary, ModBothModesEveryDtype) {
    KILN_REQUIRE_GPU();
    for (DataType t : numericTypes()) {
        for (int64_t fmod : {0, 1}) {
            SCOPED_TRACE(std::string(dataTypeName(t)) + " fmod=" + std::to_string(fmod));
            // fmod=0 on floats is an error in both backends.
            expectCudaMatchesCpu(OpTester("Mod")
                                     .input(randomOf(t, {5, 1, 7}, -20, 20))
                                     .input(randomOf(t, {6, 1}, -6, 6))
                                     .attr("fmod", fmod),
                                 kExact);
        }
    }
}

TEST(CudaElementwiseBinary, BitShiftBothDirectionsPastTheWidth) {
    KILN_REQUIRE_GPU();
    for (DataType t : kUnsignedIntTypes) {
        for (const char* dir : {"LEFT", "RIGHT"}) {
            SCOPED_TRACE(std::string(dataTypeName(t)) + " " + dir);
            expectCudaMatchesCpu(OpTester("BitShift")
                                     .input(specialValues(t, 70))
                                     .input(randomOf(t, {70}, 0, 70))
                                     .attr("direction", std::string(dir)),
                                 kExact);
            expectCudaMatchesCpu(OpTester("BitShift")
                                     .input(randomOf(t, {5, 1, 7}, 0, 200))
                                     .input(tensorOf(t, {}, {3}))
                                     .attr("direction", std::string(dir)),
                                 kExact);
        }
    }
    expectCudaMatchesCpu(OpTester("BitShift")
                             .input(randomOf(DataType::kInt32, kOdd))
                             .input(randomOf(DataType::kInt32, kOdd))
                             .attr("direction", std::string("LEFT")));
    expectCudaMatchesCpu(OpTester("BitShift")
                             .input(randomOf(DataType::kUInt8, kOdd))
                             .input(randomOf(DataType::kUInt8, kOdd))
                             .attr("direction", std::string("UP")));
}

TEST(CudaElementwiseBinary, PowOverMixedBaseAndExponentDtypes) {
    KILN_REQUIRE_GPU();
    const std::vector<DataType> bases = {DataType::kFloat32, DataType::kFloat16, DataType::kBFloat16,
                                         DataType::kFloat64, DataType::kInt32,   DataType::kInt64,
                                         DataType::kInt8,    DataType::kUInt8,   DataType::kUInt64};
    const std::vector<DataType> exponents = {DataType::kFloat32, DataType::kFloat64, DataType::kFloat16,
                                             DataType::kInt64,   DataType::kInt8,    DataType::kUInt32};
    for (DataType b : bases) {
        for (DataType e : exponents) {
            SCOPED_TRACE(std::string(dataTypeName(b)) + " ^ " + dataTypeName(e));
            const bool intBase = !isFloatingPoint(b);
            // Integer results must match exactly; float results come from double pow rounded to the base's dtype.
            const std::optional<Tolerance> tol = intBase ? std::optional<Tolerance>(kExact) : std::nullopt;
            expectCudaMatchesCpu(OpTester("Pow")
                                     .input(randomOf(b, {5, 1, 7}, intBase ? -4.0 : 0.1, 4))
                                     .input(randomOf(e, {6, 1}, isFloatingPoint(e) ? -2.0 : -3.0, 3)),
                                 tol);
        }
    }
    // Scalar exponents (the common x^2, x^0.5) and negative integer exponents of ±1 bases.
    expectCudaMatchesCpu(
        OpTester("Pow").input(randomOf(DataType::kFloat32, kTail, 0, 4)).input(Tensor::scalar<float>(2.0f)));
    expectCudaMatchesCpu(
        OpTester("Pow").input(randomOf(DataType::kFloat16, kTail, 0, 4)).input(Tensor::scalar<float>(0.5f)));
    expectCudaMatchesCpu(OpTester("Pow")
                             .input(tensorOf(DataType::kInt32, {6}, {1, -1, -1, 2, 0, 3}))
                             .input(tensorOf(DataType::kInt64, {6}, {-3, -3, -4, -1, 5, 40})),
                         kExact);
    expectCudaMatchesCpu(
        OpTester("Pow").input(randomOf(DataType::kBool, kOdd)).input(randomOf(DataType::kInt32, kOdd)));
}

TEST(CudaElementwiseBinary, ComparisonsEveryDtype) {
    KILN_REQUIRE_GPU();
    for (const char* op : {"Equal", "Less", "LessOrEqual", "Greater", "GreaterOrEqual"}) {
        for (DataType t : numericTypes()) {
            SCOPED_TRACE(std::string(op) + " " + dataTypeName(t));
            // Few distinct values so that equality is common.
            expectCudaMatchesCpu(OpTester(op).input(randomOf(t, {5, 1, 7}, -2, 2)).input(randomOf(t, {6, 1}, -2, 2)),
                                 kExact);
            expectCudaMatchesCpu(OpTester(op).input(randomOf(t, kTail, -2, 2)).input(randomOf(t, kTail, -2, 2)),
                                 kExact);
        }
    }
    expectCudaMatchesCpu(OpTester("Equal").input(randomOf(DataType::kBool, kTail)).input(randomOf(DataType::kBool, {})),
                         kExact);
    // NaN compares false (and not equal to itself).
    expectCudaMatchesCpu(
        OpTester("Equal").input(specialValues(DataType::kFloat32)).input(specialValues(DataType::kFloat32)), kExact);
    expectCudaMatchesCpu(
        OpTester("Less").input(randomOf(DataType::kBool, kOdd)).input(randomOf(DataType::kBool, kOdd)));
}

TEST(CudaElementwiseBinary, LogicOps) {
    KILN_REQUIRE_GPU();
    for (const char* op : {"And", "Or", "Xor"}) {
        for (const auto& [as, bs] : broadcastPatterns()) {
            SCOPED_TRACE(std::string(op) + " " + shapeToString(as) + " with " + shapeToString(bs));
            expectCudaMatchesCpu(OpTester(op).input(randomOf(DataType::kBool, as)).input(randomOf(DataType::kBool, bs)),
                                 kExact);
        }
        expectCudaMatchesCpu(
            OpTester(op).input(randomOf(DataType::kInt32, kOdd)).input(randomOf(DataType::kInt32, kOdd)));
    }
}

TEST(CudaElementwiseBinary, LegacyAxisBroadcast) {
    KILN_REQUIRE_GPU();
    // Opset 6 with broadcast=1: B {3, 4} aligns with A's dims 1..2, not the trailing ones.
    expectCudaMatchesCpu(OpTester("Add", 6)
                             .input(randomOf(DataType::kFloat32, {2, 3, 4, 5}))
                             .input(randomOf(DataType::kFloat32, {3, 4}))
                             .attr("broadcast", int64_t{1})
                             .attr("axis", int64_t{1}),
                         kExact);
    expectCudaMatchesCpu(OpTester("Pow", 6)
                             .input(randomOf(DataType::kFloat32, {2, 3, 4, 5}, 0.1, 3))
                             .input(randomOf(DataType::kFloat32, {3}))
                             .attr("broadcast", int64_t{1})
                             .attr("axis", int64_t{1}));
    expectCudaMatchesCpu(OpTester("Mul", 6)
                             .input(randomOf(DataType::kFloat32, {2, 3}))
                             .input(randomOf(DataType::kFloat32, {3, 4}))
                             .attr("broadcast", int64_t{1})
                             .attr("axis", int64_t{1}));  // past A's end: both fail
}

TEST(CudaElementwiseBinary, ShapeAndDtypeErrors) {
    KILN_REQUIRE_GPU();
    const Tensor a = randomOf(DataType::kFloat32, {3, 4});
    expectCudaMatchesCpu(OpTester("Add").input(a).input(randomOf(DataType::kFloat32, {5})));
    expectCudaMatchesCpu(OpTester("Sub").input(a).input(randomOf(DataType::kInt32, {4})));
    expectCudaMatchesCpu(OpTester("Mul").input(randomOf(DataType::kBool, {4})).input(randomOf(DataType::kBool, {4})));
    expectCudaMatchesCpu(OpTester("Pow").input(a).input(randomOf(DataType::kFloat32, {2, 1, 5})));
    expectCudaMatchesCpu(OpTester("Greater").input(a).input(randomOf(DataType::kFloat32, {0})));
}

}  // namespace
}  // namespace kiln::testing
