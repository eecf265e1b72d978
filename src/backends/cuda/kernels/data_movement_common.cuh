// Device helpers shared by the data-movement, indexing and resize kernels (.cu files only, C++17): launch sizes,
// element words of 1 to 16 bytes for dtype-agnostic copies, and float arithmetic that nvcc may not contract into
// FMAs (so coordinates match the CPU reference bit for bit; its x86-64 build has no FMA). dtype traits, conversions
// and dispatch are common.cuh's.
#pragma once

#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <cuda_runtime.h>

#include <cuda/std/limits>

#include <cstdint>
#include <type_traits>

#include "backends/cuda/kernels/common.cuh"
#include "kiln/dtype.h"

namespace kiln::cuda::dm {

inline constexpr int kThreads = 256;
//! Grid-stride kernels need no more blocks than this to fill any current GPU.
inline constexpr int64_t kMaxBlocks = 65535LL * 8;

inline unsigned blocksFor(int64_t work, int threads = kThreads) {
    const int64_t b = (work + threads - 1) / threads;
    return static_cast<unsigned>(b < 1 ? 1 : (b > kMaxBlocks ? kMaxBlocks : b));
}

//! The indices [0, n) this thread visits in a grid-stride loop: `for (const int64_t i : gridStride(n))`.
template <typename I>
class GridStride {
public:
    struct Iterator {
        I i;
        I step;
        __device__ I operator*() const { return i; }
        __device__ Iterator& operator++() {
            i += step;
            return *this;
        }
        __device__ bool operator!=(const Iterator& end) const { return i < end.i; }
    };
    __device__ explicit GridStride(I n) : mEnd(n) {}
    __device__ Iterator begin() const {
        const I step = static_cast<I>(gridDim.x) * blockDim.x;
        return Iterator{static_cast<I>(blockIdx.x) * blockDim.x + threadIdx.x, step};
    }
    __device__ Iterator end() const { return Iterator{mEnd, 0}; }

private:
    I mEnd;
};
template <typename I>
__device__ GridStride<I> gridStride(I n) {
    return GridStride<I>(n);
}

//! An element of `N` bytes moved as one word.
template <size_t N>
struct WordOf;
template <>
struct WordOf<1> {
    using type = uint8_t;
};
template <>
struct WordOf<2> {
    using type = uint16_t;
};
template <>
struct WordOf<4> {
    using type = uint32_t;
};
template <>
struct WordOf<8> {
    using type = unsigned long long;
};
template <>
struct WordOf<16> {
    using type = uint4;
};

//! Calls fn(TypeTag<W>{}) with the word type of `bytes` (1, 2, 4, 8 or 16); cudaErrorInvalidValue otherwise.
template <typename Fn>
cudaError_t dispatchWord(size_t bytes, Fn&& fn) {
    switch (bytes) {
        case 1: return fn(TypeTag<WordOf<1>::type>{});
        case 2: return fn(TypeTag<WordOf<2>::type>{});
        case 4: return fn(TypeTag<WordOf<4>::type>{});
        case 8: return fn(TypeTag<WordOf<8>::type>{});
        case 16: return fn(TypeTag<WordOf<16>::type>{});
        default: return cudaErrorInvalidValue;
    }
}

//! A word whose bytes are `elemBytes`-byte `value` repeated (fill values of widened copies).
template <typename W>
W replicate(const void* value, size_t elemBytes) {
    W w;
    unsigned char* out = reinterpret_cast<unsigned char*>(&w);
    const unsigned char* in = static_cast<const unsigned char*>(value);
    for (size_t i = 0; i < sizeof(W); ++i) out[i] = value == nullptr ? 0 : in[i % elemBytes];
    return w;
}

//! An element read as compute type C (common.cuh's exact loadAcc, then a cast).
template <typename C, typename T>
__device__ __forceinline__ C toCompute(T v) {
    return static_cast<C>(loadAcc(v));
}

// Rounded float/double operations that are never fused into FMAs.
__device__ __forceinline__ float addRn(float a, float b) { return __fadd_rn(a, b); }
__device__ __forceinline__ float subRn(float a, float b) { return __fsub_rn(a, b); }
__device__ __forceinline__ float mulRn(float a, float b) { return __fmul_rn(a, b); }
__device__ __forceinline__ float divRn(float a, float b) { return __fdiv_rn(a, b); }
__device__ __forceinline__ double addRn(double a, double b) { return __dadd_rn(a, b); }
__device__ __forceinline__ double subRn(double a, double b) { return __dsub_rn(a, b); }
__device__ __forceinline__ double mulRn(double a, double b) { return __dmul_rn(a, b); }
__device__ __forceinline__ double divRn(double a, double b) { return __ddiv_rn(a, b); }

//! The CPU reference's conversion of a float/double result to an output element: integers round half to even and
//! saturate (NaN gives 0); float types convert.
template <typename T, typename F>
__device__ __forceinline__ T toOutput(F v) {
    if constexpr (std::is_integral_v<T> && !std::is_same_v<T, bool>) {
        using Limits = ::cuda::std::numeric_limits<T>;
        if (v != v) return T{};
        F r;
        if constexpr (std::is_same_v<F, float>) {
            r = rintf(v);
        } else {
            r = rint(v);
        }
        if (r <= static_cast<F>(Limits::lowest())) return Limits::lowest();
        if (r >= static_cast<F>(Limits::max())) return Limits::max();
        return static_cast<T>(r);
    } else {
        return storeAs<T>(v);
    }
}

}  // namespace kiln::cuda::dm
