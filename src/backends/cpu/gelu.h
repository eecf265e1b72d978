// GELU's two forms (ONNX Gelu-20, attribute `approximate`), shared by the Gelu reference kernel and the fused
// epilogue of kiln FusedConv/FusedGemm/FusedMatMul (activation "Gelu" / "GeluTanh").
#pragma once

#include <cmath>

namespace kiln::cpu {

//! 0.5 x (1 + erf(x / sqrt(2))): approximate = "none".
template <typename C>
C geluErf(C x) {
    return C(0.5) * x * (C(1) + std::erf(x * static_cast<C>(0.70710678118654752440)));
}

//! 0.5 x (1 + tanh(sqrt(2 / pi) (x + 0.044715 x^3))): approximate = "tanh".
template <typename C>
C geluTanh(C x) {
    const C inner = static_cast<C>(0.79788456080286535588) * (x + static_cast<C>(0.044715) * x * x * x);
    return C(0.5) * x * (C(1) + std::tanh(inner));
}

}  // namespace kiln::cpu
