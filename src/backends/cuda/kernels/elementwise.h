// Launchers of the elementwise CUDA family (C++17 declarations; kernels in elementwise_*.cu). Every launcher
// checks the dtype against the op's set (the CPU reference's), enqueues on `stream` and checks the launch; empty
// tensors launch nothing. Shapes are row-major dims; broadcast operands must already be checked against the output
// shape (cpu::broadcastShapes). Pointers are device memory unless a parameter says "host".
#pragma once

#include <cuda_runtime.h>

#include <cstdint>
#include <vector>

#include "backends/cuda/kernels/common.h"
#include "kiln/dtype.h"
#include "kiln/status.h"

namespace kiln::cuda {

using Dims = std::vector<int64_t>;

// ---- unary math (elementwise_unary.cu): y = f(x), y has x's dtype (bool for IsNaN/IsInf) and shape

enum class UnaryOp : int32_t {
    kAbs,
    kNeg,
    kSign,
    kCeil,
    kFloor,
    kRound,
    kReciprocal,
    kSqrt,
    kExp,
    kLog,
    kErf,
    kSin,
    kCos,
    kTan,
    kAsin,
    kAcos,
    kAtan,
    kSinh,
    kCosh,
    kAsinh,
    kAcosh,
    kAtanh,
    kNot,
    kIsNaN,
    kIsInf,
};

//! The dtypes the CPU reference accepts for each unary op.
constexpr uint32_t unaryDtypes(UnaryOp op) {
    switch (op) {
        case UnaryOp::kAbs:
        case UnaryOp::kSign:
        case UnaryOp::kErf: return dtypes::kNumeric;
        case UnaryOp::kNeg: return dtypes::kSigned;
        case UnaryOp::kNot: return dtypes::kBool;
        default: return dtypes::kFloat;
    }
}

//! IsInf's attributes (the other unary ops have none).
struct UnaryParams {
    bool detectPositive = true;
    bool detectNegative = true;
};

Status launchUnary(UnaryOp op, DataType dtype, const void* x, void* y, int64_t count, const UnaryParams& params,
                   cudaStream_t stream);

// ---- activations (elementwise_activation.cu): y = f(x), y has x's dtype and shape

enum class ActivationOp : int32_t {
    kRelu,
    kLeakyRelu,
    kElu,
    kSelu,
    kCelu,
    kSigmoid,
    kHardSigmoid,
    kHardSwish,
    kTanh,
    kSoftplus,
    kSoftsign,
    kThresholdedRelu,
    kShrink,
    kClip,
};

constexpr uint32_t activationDtypes(ActivationOp op) {
    switch (op) {
        case ActivationOp::kRelu:
        case ActivationOp::kShrink:
        case ActivationOp::kClip: return dtypes::kNumeric;
        default: return dtypes::kFloat;
    }
}

//! Attributes: alpha (LeakyRelu, Elu, Selu, Celu, HardSigmoid, ThresholdedRelu), beta (HardSigmoid), gamma (Selu),
//! lambd/bias (Shrink, as the CPU reads them: float attributes widened to double). Clip's bounds are host pointers
//! to one element of x's dtype, null when absent.
struct ActivationParams {
    float alpha = 0.0f;
    float beta = 0.0f;
    float gamma = 0.0f;
    double lambd = 0.0;
    double bias = 0.0;
    const void* clipMin = nullptr;
    const void* clipMax = nullptr;
};

Status launchActivation(ActivationOp op, DataType dtype, const void* x, void* y, int64_t count,
                        const ActivationParams& params, cudaStream_t stream);

// ---- broadcasting binary ops (elementwise_binary.cu, elementwise_compare.cu): both inputs have `dtype`

enum class BinaryOp : int32_t {
    // elementwise_binary.cu: output has the inputs' dtype
    kAdd,
    kSub,
    kMul,
    kDiv,
    kMod,
    kFmod,
    kBitShiftLeft,
    kBitShiftRight,
    kPRelu,
    // elementwise_compare.cu: bool output
    kAnd,
    kOr,
    kXor,
    kEqual,
    kLess,
    kLessOrEqual,
    kGreater,
    kGreaterOrEqual,
};

constexpr uint32_t binaryDtypes(BinaryOp op) {
    switch (op) {
        case BinaryOp::kBitShiftLeft:
        case BinaryOp::kBitShiftRight: return dtypes::kUnsignedInt;
        case BinaryOp::kAnd:
        case BinaryOp::kOr:
        case BinaryOp::kXor: return dtypes::kBool;
        case BinaryOp::kEqual: return dtypes::kAll;
        default: return dtypes::kNumeric;
    }
}

constexpr bool binaryHasBoolOutput(BinaryOp op) { return op >= BinaryOp::kAnd; }

//! y = a op b; y has `dtype`, or bool for the comparison and logic ops.
Status launchBinary(BinaryOp op, DataType dtype, const void* a, const Dims& aShape, const void* b, const Dims& bShape,
                    void* y, const Dims& yShape, cudaStream_t stream);
//! The comparison and logic part of launchBinary (elementwise_compare.cu); launchBinary forwards those ops here.
Status launchCompare(BinaryOp op, DataType dtype, const void* a, const Dims& aShape, const void* b, const Dims& bShape,
                     void* y, const Dims& yShape, cudaStream_t stream);

//! Pow with numpy's rules for any numeric base and exponent dtypes; y has the base's dtype.
Status launchPow(DataType baseType, const void* x, const Dims& xShape, DataType expType, const void* e,
                 const Dims& eShape, void* y, const Dims& yShape, cudaStream_t stream);

// ---- variadic and Where (elementwise_variadic.cu)

enum class VariadicOp : int32_t { kSum, kMean, kMax, kMin };

constexpr uint32_t variadicDtypes(VariadicOp op) {
    return op == VariadicOp::kSum || op == VariadicOp::kMean ? dtypes::kFloat : dtypes::kNumeric;
}

//! Device workspace launchVariadic needs (an accumulator in the compute type when there are many inputs).
size_t variadicWorkspaceBytes(DataType dtype, size_t numInputs, int64_t count);

//! y = fold(inputs) with multi-way broadcasting, accumulated in the compute type and rounded once.
Status launchVariadic(VariadicOp op, DataType dtype, const std::vector<const void*>& inputs,
                      const std::vector<Dims>& shapes, void* y, const Dims& yShape, void* workspace,
                      cudaStream_t stream);

//! out = cond ? x : y with 3-way broadcasting; x, y and out have elements of `elementSize` bytes (1, 2, 4 or 8).
Status launchWhere(size_t elementSize, const bool* cond, const Dims& condShape, const void* x, const Dims& xShape,
                   const void* y, const Dims& yShape, void* out, const Dims& outShape, cudaStream_t stream);

// ---- conversions (elementwise_cast.cu)

//! y = Cast(x) between any two of the numeric dtypes and bool, with the CPU reference's rules.
Status launchCast(DataType from, DataType to, const void* x, void* y, int64_t count, cudaStream_t stream);

//! Fills y with the value 1 of `dtype` (true for bool).
Status launchFillOne(DataType dtype, void* y, int64_t count, cudaStream_t stream);

}  // namespace kiln::cuda
