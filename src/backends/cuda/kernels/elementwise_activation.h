// Kiln's fused activations: the `activation` / `activation_params` attributes that bias-activation-fusion
// (src/passes/bias_activation_fusion.cpp) puts on FusedConv, FusedGemm and FusedMatMul. Plain C++17 (no device
// code), for the host side of any family; the device side is applyActivation in elementwise_activation.cuh.
//
//   KILN_ASSIGN_OR_RETURN(FusedActivation act, parseFusedActivation(ctx.attrs()));     // host, once per call
//   y = applyActivation(act.kind, act.alpha, act.beta, y);                              // device, per element
//   launchFusedEpilogue(dtype, y, n, bias, n_last, z, act, ctx.stream());               // or the whole epilogue
#pragma once

#include <cuda_runtime.h>

#include <cstdint>

#include "kiln/dtype.h"
#include "kiln/status.h"

namespace kiln::ir {
class Attributes;
}  // namespace kiln::ir

namespace kiln::cuda {

enum class ActivationKind : int32_t { kNone, kRelu, kLeakyRelu, kClip, kSigmoid, kHardSigmoid, kTanh, kHardSwish };

//! A parsed fused activation. alpha/beta: LeakyRelu alpha; Clip min/max; HardSigmoid alpha/beta; HardSwish 1/6, 0.5.
struct FusedActivation {
    ActivationKind kind = ActivationKind::kNone;
    float alpha = 0.0f;
    float beta = 0.0f;
};

//! Reads `activation` ("" or Relu, LeakyRelu, Clip, Sigmoid, HardSigmoid, Tanh, HardSwish) and `activation_params`
//! with the CPU reference's defaults; kInvalidArgument naming the attribute for any other name.
Result<FusedActivation> parseFusedActivation(const ir::Attributes& attrs);

//! The CPU reference's fused epilogue, in place on the device: y[i] = act(y[i] + bias[i % biasLength] + z[i]) in
//! the accumulate type, rounded once. `bias` (biasLength elements along the last dim) and `z` (y's shape) are
//! optional (null) and have y's dtype; float dtypes only (kUnsupported otherwise). Enqueued on `stream`.
Status launchFusedEpilogue(DataType dtype, void* y, int64_t count, const void* bias, int64_t biasLength, const void* z,
                           FusedActivation act, cudaStream_t stream);

}  // namespace kiln::cuda
