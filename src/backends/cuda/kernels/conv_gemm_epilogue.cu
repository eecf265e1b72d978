#include "backends/cuda/kernels/conv_gemm_common.cuh"
#include "backends/cuda/kernels/conv_gemm_epilogue.h"

namespace kiln::cuda {

namespace {

// std::min / std::max exactly (the CPU reference's NaN behaviour follows from their argument order).
template <typename A>
__device__ __forceinline__ A stdMin(A a, A b) {
    return b < a ? b : a;
}
template <typename A>
__device__ __forceinline__ A stdMax(A a, A b) {
    return a < b ? b : a;
}

template <typename A>
__device__ __forceinline__ A activate(const EpilogueActivation& act, A x) {
    const A a = static_cast<A>(act.a);
    const A b = static_cast<A>(act.b);
    switch (act.kind) {
        case EpilogueAct::kNone: return x;
        case EpilogueAct::kRelu: return x < A(0) ? A(0) : x;
        case EpilogueAct::kLeakyRelu: return x < A(0) ? a * x : x;
        case EpilogueAct::kClip: return stdMin(stdMax(x, a), b);
        case EpilogueAct::kSigmoid: return A(1) / (A(1) + exp(-x));
        case EpilogueAct::kHardSigmoid: return stdMax(A(0), stdMin(A(1), a * x + b));
        case EpilogueAct::kTanh: return tanh(x);
        case EpilogueAct::kHardSwish: return x * stdMax(A(0), stdMin(A(1), a * x + b));
        case EpilogueAct::kGelu: return A(0.5) * x * (A(1) + erf(x * A(0.70710678118654752440)));
        case EpilogueAct::kGeluTanh:
            return A(0.5) * x * (A(1) + tanh(A(0.79788456080286535588) * (x + A(0.044715) * x * x * x)));
    }
    return x;
}

template <typename T>
__global__ void epilogueKernel(const T* x, T* y, int64_t count, const T* bias, int64_t inner, int64_t channels,
                               int64_t group, const T* z, EpilogueActivation act) {
    using A = cg::Acc<T>;
    for (int64_t i = cg::globalThread(); i < count; i += cg::gridThreads()) {
        A v = cg::toAcc<A>(x[i]);
        if (bias) v += cg::toAcc<A>(bias[(group > 0 ? (i / group) * channels : 0) + (i / inner) % channels]);
        if (z) v += cg::toAcc<A>(z[i]);
        y[i] = cg::fromAcc<T>(activate(act, v));
    }
}

}  // namespace

cudaError_t launchEpilogue(DataType dtype, const EpilogueArgs& e, cudaStream_t stream) {
    if (e.count == 0) return cudaSuccess;
    return dispatchDevice<dtypes::kFloat>(dtype, [&](auto tag) {
        using T = typename decltype(tag)::type;
        epilogueKernel<T><<<cg::gridFor(e.count), cg::kBlock, 0, stream>>>(
            static_cast<const T*>(e.x ? e.x : e.y), static_cast<T*>(e.y), e.count, static_cast<const T*>(e.bias),
            e.biasInner < 1 ? 1 : e.biasInner, e.biasCount < 1 ? 1 : e.biasCount, e.biasGroup,
            static_cast<const T*>(e.z), e.act);
        return cudaGetLastError();
    });
}

}  // namespace kiln::cuda
