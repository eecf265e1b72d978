// The epilogue of Kiln's fused Conv/Gemm/MatMul nodes and of biased Conv/ConvTranspose, where the library call
// cannot apply it: y = act(y + bias + z) in place, in the accumulation type (float, or double for double).
// Plain C++17 for nvcc and the host code alike.
#pragma once

#include <cuda_runtime.h>

#include <cstdint>

#include "kiln/dtype.h"

namespace kiln::cuda {

//! The activations the bias-activation fusion pass absorbs (src/passes/bias_activation_fusion.cpp).
//! kGelu: 0.5 x (1 + erf(x / sqrt(2))); kGeluTanh: GELU's tanh approximation (ONNX Gelu's two `approximate` forms).
enum class EpilogueAct : int32_t {
    kNone,
    kRelu,
    kLeakyRelu,
    kClip,
    kSigmoid,
    kHardSigmoid,
    kTanh,
    kHardSwish,
    kGelu,
    kGeluTanh
};

//! An activation and its parameters (LeakyRelu: a = alpha; Clip: [a, b]; HardSigmoid/HardSwish: a * x + b).
struct EpilogueActivation {
    EpilogueAct kind = EpilogueAct::kNone;
    float a = 0.0f;
    float b = 0.0f;
};

struct EpilogueArgs {
    void* y = nullptr;        //!< `count` elements of the output dtype, updated in place (or written from `x`).
    const void* x = nullptr;  //!< Optional: read instead of y (y = act(x + ...)), for the standalone Gelu op.
    int64_t count = 0;
    const void* bias = nullptr;  //!< Optional: element i adds bias[(i / biasInner) % biasCount].
    int64_t biasInner = 1;  //!< Conv: the spatial size (bias per channel); MatMul/Gemm: 1 (bias along the last dim).
    int64_t biasCount = 1;
    //! Grouped bias (FusedMatMul's [G, 1, ..., N] form): every biasGroup elements of y use the next biasCount
    //! values, i.e. bias[(i / biasGroup) * biasCount + (i / biasInner) % biasCount]; 0: one group.
    int64_t biasGroup = 0;
    const void* z = nullptr;  //!< Optional residual of y's shape, added before the activation.
    EpilogueActivation act;
};

//! True when the epilogue has anything to do.
inline bool epilogueNeeded(const EpilogueArgs& e) {
    return e.bias != nullptr || e.z != nullptr || e.act.kind != EpilogueAct::kNone;
}

//! Launches the epilogue on `stream` for a float dtype (float32/64, float16, bfloat16); nothing when count == 0.
cudaError_t launchEpilogue(DataType dtype, const EpilogueArgs& args, cudaStream_t stream);

}  // namespace kiln::cuda
