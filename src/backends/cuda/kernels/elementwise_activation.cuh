// Device side of Kiln's fused activations (see elementwise_activation.h): the CPU reference's `activate` in
// backends/cpu/kernels/fused.cpp, same formulas and NaN behaviour, for epilogues of Kiln's own kernels.
#pragma once

#include <type_traits>

#include "backends/cuda/kernels/common.cuh"
#include "backends/cuda/kernels/elementwise_activation.h"

namespace kiln::cuda {

//! act(x) for C = float (also for float16/bfloat16 data) or double.
template <typename C>
__device__ __forceinline__ C applyActivation(ActivationKind kind, float alpha, float beta, C x) {
    static_assert(std::is_floating_point_v<C>, "applyActivation computes in float or double");
    const auto a = static_cast<C>(alpha);
    const auto b = static_cast<C>(beta);
    switch (kind) {
        case ActivationKind::kNone: return x;
        case ActivationKind::kRelu: return x < C(0) ? C(0) : x;
        case ActivationKind::kLeakyRelu: return x < C(0) ? a * x : x;
        case ActivationKind::kClip: return stdMin(stdMax(x, a), b);
        case ActivationKind::kSigmoid:
            if constexpr (std::is_same_v<C, float>) {
                return 1.0f / (1.0f + expf(-x));
            } else {
                return 1.0 / (1.0 + exp(-x));
            }
        case ActivationKind::kHardSigmoid: return stdMax(C(0), stdMin(C(1), a * x + b));
        case ActivationKind::kTanh:
            if constexpr (std::is_same_v<C, float>) {
                return tanhf(x);
            } else {
                return tanh(x);
            }
        case ActivationKind::kHardSwish: return x * stdMax(C(0), stdMin(C(1), a * x + b));
    }
    return x;
}

}  // namespace kiln::cuda
