// Activations on the GPU (Relu LeakyRelu Elu Selu Celu Sigmoid HardSigmoid HardSwish Tanh Softplus Softsign
// ThresholdedRelu Shrink Clip) and the fused-op epilogue. Formulas, clamping order and NaN behaviour follow the CPU
// reference (backends/cpu/kernels/activation.cpp and fused.cpp) term for term.
#include <cstring>
#include <type_traits>

#include "backends/cuda/kernels/elementwise.h"
#include "backends/cuda/kernels/elementwise_activation.cuh"
#include "backends/cuda/kernels/elementwise_kernels.cuh"
#include "backends/cuda/kernels/elementwise_math.cuh"

namespace kiln::cuda {

namespace {

struct ReluOp {
    template <typename C>
    __host__ __device__ C operator()(C v) const {
        return v > C(0) ? v : C(0);
    }
};

struct LeakyReluOp {
    float alpha;
    template <typename C>
    __host__ __device__ C operator()(C v) const {
        return v >= C(0) ? v : static_cast<C>(alpha) * v;
    }
};

struct EluOp {
    float alpha;
    template <typename C>
    __host__ __device__ C operator()(C v) const {
        return v >= C(0) ? v : static_cast<C>(alpha) * dmath::expm1(v);
    }
};

struct SeluOp {
    float alpha;
    float gamma;
    template <typename C>
    __host__ __device__ C operator()(C v) const {
        return static_cast<C>(gamma) * (v > C(0) ? v : static_cast<C>(alpha) * dmath::expm1(v));
    }
};

struct CeluOp {
    float alpha;
    template <typename C>
    __host__ __device__ C operator()(C v) const {
        const auto a = static_cast<C>(alpha);
        return stdMax(C(0), v) + stdMin(C(0), a * dmath::expm1(v / a));
    }
};

struct SigmoidOp {
    template <typename C>
    __host__ __device__ C operator()(C v) const {
        // Written so neither branch overflows exp().
        if (v >= C(0)) return C(1) / (C(1) + dmath::exp(-v));
        const C e = dmath::exp(v);
        return e / (C(1) + e);
    }
};

struct HardSigmoidOp {
    float alpha;
    float beta;
    template <typename C>
    __host__ __device__ C operator()(C v) const {
        return stdMax(C(0), stdMin(C(1), static_cast<C>(alpha) * v + static_cast<C>(beta)));
    }
};

struct HardSwishOp {
    template <typename C>
    __host__ __device__ C operator()(C v) const {
        return v * stdMax(C(0), stdMin(C(1), v * static_cast<C>(1.0f / 6.0f) + C(0.5)));
    }
};

struct TanhOp {
    template <typename C>
    __host__ __device__ C operator()(C v) const {
        return dmath::tanh(v);
    }
};

struct SoftplusOp {
    template <typename C>
    __host__ __device__ C operator()(C v) const {
        return v > C(0) ? v + dmath::log1p(dmath::exp(-v)) : dmath::log1p(dmath::exp(v));
    }
};

struct SoftsignOp {
    template <typename C>
    __host__ __device__ C operator()(C v) const {
        return v / (C(1) + dmath::fabs(v));
    }
};

struct ThresholdedReluOp {
    float alpha;
    template <typename C>
    __host__ __device__ C operator()(C v) const {
        return v > static_cast<C>(alpha) ? v : C(0);
    }
};

//! Every numeric type: compared and shifted in double, then stored back (integers truncate).
struct ShrinkOp {
    double lambd;
    double bias;
    template <typename C>
    __host__ __device__ C operator()(C value) const {
        const auto v = static_cast<double>(value);
        if (v < -lambd) return storeAs<C>(v + bias);
        if (v > lambd) return storeAs<C>(v - bias);
        return C(0);
    }
};

//! min then max, as numpy.clip: when min > max every element becomes max. NaN passes through.
template <typename C>
struct ClipOp {
    C lo;
    C hi;
    bool hasLo;
    bool hasHi;
    __host__ __device__ C operator()(C v) const {
        if (hasLo && v < lo) v = lo;
        if (hasHi && v > hi) v = hi;
        return v;
    }
};

//! One element of T at a host address, in the compute type.
template <typename T>
AccT<T> hostScalar(const void* p) {
    T raw;
    std::memcpy(static_cast<void*>(&raw), p, sizeof(T));
    return loadAcc(raw);
}

template <ActivationOp kOp, typename Op>
Status run(DataType dtype, const void* x, void* y, int64_t n, Op op, cudaStream_t stream) {
    return dispatchDtype<activationDtypes(kOp)>(dtype, [&](auto tag) {
        using T = typename decltype(tag)::type;
        return launchMap<T, T>(x, y, n, UnaryApply<T, T, Op>{op}, stream);
    });
}

Status runClip(DataType dtype, const void* x, void* y, int64_t n, const ActivationParams& p, cudaStream_t stream) {
    return dispatchDtype<activationDtypes(ActivationOp::kClip)>(dtype, [&](auto tag) {
        using T = typename decltype(tag)::type;
        using C = AccT<T>;
        const ClipOp<C> op{p.clipMin ? hostScalar<T>(p.clipMin) : C(0), p.clipMax ? hostScalar<T>(p.clipMax) : C(0),
                           p.clipMin != nullptr, p.clipMax != nullptr};
        return launchMap<T, T>(x, y, n, UnaryApply<T, T, ClipOp<C>>{op}, stream);
    });
}

template <typename T>
__global__ void __launch_bounds__(kBlockSize)
    epilogueKernel(T* __restrict__ y, int64_t n, const T* __restrict__ bias, int64_t biasLength,
                   const T* __restrict__ z, FusedActivation act) {
    for (int64_t i = globalThreadIndex(); i < n; i += gridStride()) {
        AccT<T> v = loadAcc(y[i]);
        if (bias) v = v + loadAcc(bias[i % biasLength]);
        if (z) v = v + loadAcc(z[i]);
        y[i] = storeAs<T>(applyActivation(act.kind, act.alpha, act.beta, v));
    }
}

}  // namespace

Status launchActivation(ActivationOp op, DataType dtype, const void* x, void* y, int64_t n, const ActivationParams& p,
                        cudaStream_t stream) {
#define KILN_ACTIVATION_CASE(OP, FUNCTOR) \
    case ActivationOp::OP: return run<ActivationOp::OP>(dtype, x, y, n, FUNCTOR, stream)
    switch (op) {
        KILN_ACTIVATION_CASE(kRelu, ReluOp());
        KILN_ACTIVATION_CASE(kLeakyRelu, LeakyReluOp{p.alpha});
        KILN_ACTIVATION_CASE(kElu, EluOp{p.alpha});
        KILN_ACTIVATION_CASE(kSelu, (SeluOp{p.alpha, p.gamma}));
        KILN_ACTIVATION_CASE(kCelu, CeluOp{p.alpha});
        KILN_ACTIVATION_CASE(kSigmoid, SigmoidOp());
        KILN_ACTIVATION_CASE(kHardSigmoid, (HardSigmoidOp{p.alpha, p.beta}));
        KILN_ACTIVATION_CASE(kHardSwish, HardSwishOp());
        KILN_ACTIVATION_CASE(kTanh, TanhOp());
        KILN_ACTIVATION_CASE(kSoftplus, SoftplusOp());
        KILN_ACTIVATION_CASE(kSoftsign, SoftsignOp());
        KILN_ACTIVATION_CASE(kThresholdedRelu, ThresholdedReluOp{p.alpha});
        KILN_ACTIVATION_CASE(kShrink, (ShrinkOp{p.lambd, p.bias}));
        case ActivationOp::kClip: return runClip(dtype, x, y, n, p, stream);
    }
#undef KILN_ACTIVATION_CASE
    return internalError("unknown activation " + std::to_string(static_cast<int>(op)));
}

Status launchFusedEpilogue(DataType dtype, void* y, int64_t count, const void* bias, int64_t biasLength, const void* z,
                           FusedActivation act, cudaStream_t stream) {
    if (act.kind == ActivationKind::kNone && bias == nullptr && z == nullptr) return Status::ok();
    return dispatchDtype<dtypes::kFloat>(
        dtype,
        [&](auto tag) -> Status {
            using T = typename decltype(tag)::type;
            if (count <= 0) return Status::ok();
            if (bias != nullptr && biasLength <= 0) return invalidArgument("fused epilogue: empty bias");
            const LaunchConfig cfg = gridStrideConfig(count);
            epilogueKernel<T><<<cfg.blocks, cfg.threads, 0, stream>>>(
                static_cast<T*>(y), count, static_cast<const T*>(bias), biasLength, static_cast<const T*>(z), act);
            KILN_CUDA_CHECK(cudaGetLastError());
            return Status::ok();
        },
        "fused epilogue");
}

}  // namespace kiln::cuda
