// The elementwise family's kernel templates (C++17, .cu files only). Each op is a functor; these templates give
// it the three access patterns:
//   launchMap<In, Out>(x, y, n, f)            y[i] = f(x[i]), contiguous, vectorized when aligned
//   launchBinaryMap<A, B, Out>(a, b, y, f)    y[i] = f(a[.], b[.]) with broadcasting:
//       - contiguous: both operands have y's shape or one element (scalar), vectorized when aligned;
//       - strided: anything else, through a BroadcastMap (dims merged, 32-bit index math when it fits).
// Functors take and return element types (the wrappers UnaryApply / BinaryApply load into the accumulate type
// and round once on store, as the CPU reference does).
#pragma once

#include "backends/cuda/check.h"
#include "backends/cuda/kernels/common.cuh"

namespace kiln::cuda {

inline int64_t numelOf(const std::vector<int64_t>& shape) {
    int64_t n = 1;
    for (int64_t d : shape) n *= d;
    return n;
}

//! y = storeAs<Out>(op(loadAcc(x))): a compute-type op applied to T elements.
template <typename T, typename Out, typename Op>
struct UnaryApply {
    Op op;
    __host__ __device__ __forceinline__ Out operator()(T x) const { return storeAs<Out>(op(loadAcc(x))); }
};

//! y = storeAs<Out>(op(loadAcc(a), loadAcc(b))).
template <typename A, typename B, typename Out, typename Op>
struct BinaryApply {
    Op op;
    __host__ __device__ __forceinline__ Out operator()(A a, B b) const {
        return storeAs<Out>(op(loadAcc(a), loadAcc(b)));
    }
};

template <typename In, typename Out, typename F>
__global__ void __launch_bounds__(kBlockSize)
    mapKernel(const In* __restrict__ x, Out* __restrict__ y, int64_t n, bool vectorized, F f) {
    constexpr int kVec = kVectorWidth<In, Out>;
    int64_t start = 0;
    if (vectorized) {
        const int64_t nVec = n / kVec;
        const auto* xv = reinterpret_cast<const AlignedVec<In, kVec>*>(x);
        auto* yv = reinterpret_cast<AlignedVec<Out, kVec>*>(y);
        for (int64_t v = globalThreadIndex(); v < nVec; v += gridStride()) {
            const AlignedVec<In, kVec> in = xv[v];
            AlignedVec<Out, kVec> out;
#pragma unroll
            for (int j = 0; j < kVec; ++j) out.v[j] = f(in.v[j]);
            yv[v] = out;
        }
        start = nVec * kVec;
    }
    for (int64_t i = start + globalThreadIndex(); i < n; i += gridStride()) y[i] = f(x[i]);
}

template <typename In, typename Out, typename F>
Status launchMap(const void* x, void* y, int64_t n, F f, cudaStream_t stream) {
    if (n <= 0) return Status::ok();
    constexpr int kVec = kVectorWidth<In, Out>;
    const bool vectorized = isAligned(x, sizeof(In) * kVec) && isAligned(y, sizeof(Out) * kVec);
    const LaunchConfig cfg = gridStrideConfig(vectorized ? (n + kVec - 1) / kVec : n);
    mapKernel<In, Out, F>
        <<<cfg.blocks, cfg.threads, 0, stream>>>(static_cast<const In*>(x), static_cast<Out*>(y), n, vectorized, f);
    KILN_CUDA_CHECK(cudaGetLastError());
    return Status::ok();
}

//! Same-shape or scalar operands: a scalar operand is read once per thread and splatted into the vectors.
template <typename A, typename B, typename Out, typename F>
__global__ void __launch_bounds__(kBlockSize)
    binaryContiguousKernel(const A* __restrict__ a, const B* __restrict__ b, Out* __restrict__ y, int64_t n,
                           bool aScalar, bool bScalar, bool vectorized, F f) {
    constexpr int kVec = kVectorWidth<A, B, Out>;
    const A a0 = aScalar ? a[0] : A();
    const B b0 = bScalar ? b[0] : B();
    int64_t start = 0;
    if (vectorized) {
        const int64_t nVec = n / kVec;
        for (int64_t v = globalThreadIndex(); v < nVec; v += gridStride()) {
            AlignedVec<A, kVec> va;
            AlignedVec<B, kVec> vb;
            if (aScalar) {
#pragma unroll
                for (int j = 0; j < kVec; ++j) va.v[j] = a0;
            } else {
                va = reinterpret_cast<const AlignedVec<A, kVec>*>(a)[v];
            }
            if (bScalar) {
#pragma unroll
                for (int j = 0; j < kVec; ++j) vb.v[j] = b0;
            } else {
                vb = reinterpret_cast<const AlignedVec<B, kVec>*>(b)[v];
            }
            AlignedVec<Out, kVec> out;
#pragma unroll
            for (int j = 0; j < kVec; ++j) out.v[j] = f(va.v[j], vb.v[j]);
            reinterpret_cast<AlignedVec<Out, kVec>*>(y)[v] = out;
        }
        start = nVec * kVec;
    }
    for (int64_t i = start + globalThreadIndex(); i < n; i += gridStride()) {
        y[i] = f(aScalar ? a0 : a[i], bScalar ? b0 : b[i]);
    }
}

template <typename A, typename B, typename Out, typename F>
__global__ void __launch_bounds__(kBlockSize)
    binaryStridedKernel(const A* __restrict__ a, const B* __restrict__ b, Out* __restrict__ y, int64_t n,
                        BroadcastMap<2> map, F f) {
    for (int64_t i = globalThreadIndex(); i < n; i += gridStride()) {
        int64_t off[2];
        map.offsets(i, off);
        y[i] = f(a[off[0]], b[off[1]]);
    }
}

template <typename A, typename B, typename Out, typename F>
Status launchBinaryMap(const void* a, const std::vector<int64_t>& aShape, const void* b,
                       const std::vector<int64_t>& bShape, void* y, const std::vector<int64_t>& yShape, F f,
                       cudaStream_t stream) {
    const int64_t n = numelOf(yShape);
    if (n <= 0) return Status::ok();
    const int64_t na = numelOf(aShape);
    const int64_t nb = numelOf(bShape);
    // An operand with as many elements as the output has the output's dims (broadcasting only repeats).
    if ((na == n || na == 1) && (nb == n || nb == 1)) {
        constexpr int kVec = kVectorWidth<A, B, Out>;
        const bool aScalar = na == 1 && n > 1;
        const bool bScalar = nb == 1 && n > 1;
        const bool vectorized = (aScalar || isAligned(a, sizeof(A) * kVec)) &&
                                (bScalar || isAligned(b, sizeof(B) * kVec)) && isAligned(y, sizeof(Out) * kVec);
        const LaunchConfig cfg = gridStrideConfig(vectorized ? (n + kVec - 1) / kVec : n);
        binaryContiguousKernel<A, B, Out, F>
            <<<cfg.blocks, cfg.threads, 0, stream>>>(static_cast<const A*>(a), static_cast<const B*>(b),
                                                     static_cast<Out*>(y), n, aScalar, bScalar, vectorized, f);
    } else {
        BroadcastMap<2> map;
        const std::vector<int64_t>* shapes[2] = {&aShape, &bShape};
        KILN_RETURN_IF_ERROR(makeBroadcastMap<2>(yShape, shapes, map));
        const LaunchConfig cfg = gridStrideConfig(n);
        binaryStridedKernel<A, B, Out, F><<<cfg.blocks, cfg.threads, 0, stream>>>(
            static_cast<const A*>(a), static_cast<const B*>(b), static_cast<Out*>(y), n, map, f);
    }
    KILN_CUDA_CHECK(cudaGetLastError());
    return Status::ok();
}

//! launchBinaryMap for an op over one dtype T with output T or bool: dispatches T over kSet.
template <uint32_t kSet, bool kBoolOut, typename Op>
Status launchSameTypeBinary(DataType dtype, Op op, const void* a, const std::vector<int64_t>& aShape, const void* b,
                            const std::vector<int64_t>& bShape, void* y, const std::vector<int64_t>& yShape,
                            cudaStream_t stream) {
    return dispatchDtype<kSet>(dtype, [&](auto tag) {
        using T = typename decltype(tag)::type;
        using Out = std::conditional_t<kBoolOut, bool, T>;
        return launchBinaryMap<T, T, Out>(a, aShape, b, bShape, y, yShape, BinaryApply<T, T, Out, Op>{op}, stream);
    });
}

}  // namespace kiln::cuda
