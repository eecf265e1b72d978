// Device helpers of the reduction, normalization and pooling kernels (C++17, nvcc only), on top of common.cuh's
// dtype traits and CPU-exact conversions (AccT, loadAcc, storeAs, isNan): accumulation types, limits usable in
// device code, and warp/block all-reduces (launchers dispatch dtypes with common.cuh's dispatchDevice).
//
// Accumulation follows the CPU reference where it can be exact and FP32 where it cannot: float16/bfloat16/float32
// accumulate in float, float64 in double, integers in 64-bit two's complement (wrapping, as the CPU does).
#pragma once

#include <math_constants.h>

#include <cstdint>
#include <type_traits>

#include "backends/cuda/kernels/common.cuh"
#include "backends/cuda/kernels/reduction_common.h"

namespace kiln::cuda::red {

//! Accumulation type of a reduction: float for float16/bfloat16/float32, double for float64, int64/uint64 for
//! integers (common.cuh's AccT widened, so integer sums wrap in 64 bits as the CPU's do).
template <typename T>
using Wide = std::conditional_t<std::is_integral<T>::value,
                                std::conditional_t<std::is_signed<T>::value, int64_t, uint64_t>, AccT<T>>;

template <typename T>
constexpr bool kIsIntegral = std::is_integral<T>::value;

//! Float math type of T: float, or double for float64 (integers use double where the CPU does float math).
template <typename T>
using FloatMath = std::conditional_t<std::is_same<T, double>::value || kIsIntegral<T>, double, float>;

template <typename T>
__device__ __forceinline__ Wide<T> widen(T v) {
    return static_cast<Wide<T>>(loadAcc(v));
}

//! Largest and lowest finite values (std::numeric_limits is host-only without --expt-relaxed-constexpr).
template <typename T>
struct Limits {
    using U = std::make_unsigned_t<T>;
    __host__ __device__ static constexpr T max() {
        return std::is_signed<T>::value ? static_cast<T>(static_cast<U>(~U(0)) >> 1) : T(~U(0));
    }
    __host__ __device__ static constexpr T lowest() {
        return std::is_signed<T>::value ? static_cast<T>(-max() - 1) : T(0);
    }
};
template <>
struct Limits<float> {
    __host__ __device__ static constexpr float max() { return 3.402823466e+38F; }
    __host__ __device__ static constexpr float lowest() { return -3.402823466e+38F; }
};
template <>
struct Limits<double> {
    __host__ __device__ static constexpr double max() { return 1.7976931348623157e+308; }
    __host__ __device__ static constexpr double lowest() { return -1.7976931348623157e+308; }
};

template <typename A>
__device__ __forceinline__ A infinity() {
    if constexpr (std::is_same<A, double>::value) return CUDART_INF;
    else return CUDART_INF_F;
}

//! The CPU's castFromDouble: integers saturate and NaN becomes 0; floats convert (float16/bfloat16 via float).
template <typename T>
__device__ __forceinline__ T castFromDouble(double v) {
    if constexpr (kIsIntegral<T>) {
        if (v != v) return T(0);
        if (v <= static_cast<double>(Limits<T>::lowest())) return Limits<T>::lowest();
        if (v >= static_cast<double>(Limits<T>::max())) return Limits<T>::max();
        return static_cast<T>(v);
    } else {
        return storeAs<T>(v);
    }
}

//! Wrapping integer arithmetic (through uint64, so no signed-overflow UB); plain arithmetic for floats.
template <typename A>
__device__ __forceinline__ A wrapAdd(A a, A b) {
    if constexpr (kIsIntegral<A>) return static_cast<A>(static_cast<uint64_t>(a) + static_cast<uint64_t>(b));
    else return a + b;
}
template <typename A>
__device__ __forceinline__ A wrapMul(A a, A b) {
    if constexpr (kIsIntegral<A>) return static_cast<A>(static_cast<uint64_t>(a) * static_cast<uint64_t>(b));
    else return a * b;
}

// ---- float math in the accumulation type (float or double) -------------------------------------------------

template <typename A>
__device__ __forceinline__ A mathExp(A v) {
    if constexpr (std::is_same<A, double>::value) return exp(v);
    else return expf(v);
}
template <typename A>
__device__ __forceinline__ A mathLog(A v) {
    if constexpr (std::is_same<A, double>::value) return log(v);
    else return logf(v);
}
template <typename A>
__device__ __forceinline__ A mathSqrt(A v) {
    if constexpr (std::is_same<A, double>::value) return sqrt(v);
    else return sqrtf(v);
}

template <typename A>
__device__ __forceinline__ A mathPow(A a, A b) {
    if constexpr (std::is_same<A, double>::value) return pow(a, b);
    else return powf(a, b);
}

template <typename A>
__device__ __forceinline__ A absValue(A v) {
    if constexpr (std::is_unsigned<A>::value) return v;
    else if constexpr (kIsIntegral<A>) return v < 0 ? static_cast<A>(0 - static_cast<uint64_t>(v)) : v;
    else if constexpr (std::is_same<A, double>::value) return fabs(v);
    else return fabsf(v);
}

//! std::fmax: NaN loses to any number.
template <typename A>
__device__ __forceinline__ A maxIgnoringNaN(A a, A b) {
    if (isNan(a)) return b;
    if (isNan(b)) return a;
    return a > b ? a : b;
}

// ---- warp and block all-reduces ----------------------------------------------------------------------------

//! A value and the position it came from (ArgMax/ArgMin, Hardmax); shuffled member by member.
template <typename W>
struct ArgAcc {
    W v;
    int64_t i;
};

template <typename A>
__device__ __forceinline__ A shuffleXor(A v, int mask) {
    return __shfl_xor_sync(0xffffffffu, v, mask);
}
template <typename W>
__device__ __forceinline__ ArgAcc<W> shuffleXor(ArgAcc<W> v, int mask) {
    return {shuffleXor(v.v, mask), shuffleXor(v.i, mask)};
}

//! Butterfly all-reduce over the 32 lanes of a warp: every lane gets the result. `combine` must be commutative
//! (each pair combines the same two values, so all lanes agree bit for bit).
template <typename A, typename Combine>
__device__ __forceinline__ A warpAllReduce(A v, Combine combine) {
    for (int mask = 16; mask > 0; mask >>= 1) v = combine(v, shuffleXor(v, mask));
    return v;
}

//! All-reduce over the block (blockDim.x a multiple of 32, at most 1024): every thread gets the result. Every
//! thread of the block must call it; it may be called repeatedly (it synchronizes before reusing its memory).
template <typename A, typename Combine>
__device__ A blockAllReduce(A v, Combine combine, A identity) {
    __shared__ A partial[32];
    __shared__ A total;
    const int lane = static_cast<int>(threadIdx.x) & 31;
    const int warp = static_cast<int>(threadIdx.x) >> 5;
    v = warpAllReduce(v, combine);
    __syncthreads();  // an earlier call may still be reading `partial` / `total`
    if (lane == 0) partial[warp] = v;
    __syncthreads();
    if (warp == 0) {
        v = lane < static_cast<int>(blockDim.x >> 5) ? partial[lane] : identity;
        v = warpAllReduce(v, combine);
        if (lane == 0) total = v;
    }
    __syncthreads();
    return total;
}

//! All-reduce over a group of `group` threads: 32 (a warp) or blockDim.x (the block).
template <typename A, typename Combine>
__device__ __forceinline__ A groupAllReduce(A v, Combine combine, A identity, int group) {
    if (group == 32) return warpAllReduce(v, combine);
    return blockAllReduce(v, combine, identity);
}

//! Grid size for `units` independent work units of `perBlock` each, capped (kernels loop over the rest).
inline unsigned gridFor(int64_t units, int64_t perBlock) {
    const int64_t blocks = (units + perBlock - 1) / perBlock;
    constexpr int64_t kMaxBlocks = int64_t{1} << 20;
    return static_cast<unsigned>(blocks < 1 ? 1 : (blocks > kMaxBlocks ? kMaxBlocks : blocks));
}

}  // namespace kiln::cuda::red
