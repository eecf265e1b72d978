// Device helpers shared by the Conv and MatMul families' own kernels (conv.cu, mat_mul.cu, conv_gemm_epilogue.cu):
// float/double accumulation and grid-stride launch shapes. dtype dispatch is common.cuh's dispatchDevice.
#pragma once

#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <cuda_runtime.h>

#include <cstdint>
#include <type_traits>

#include "backends/cuda/kernels/common.cuh"
#include "kiln/dtype.h"

namespace kiln::cuda::cg {

//! Accumulation type: float for float/half/bfloat16, double for double (FP32 accumulation for 16-bit types).
template <typename T>
using Acc = std::conditional_t<std::is_same<T, double>::value, double, float>;

//! Storage → accumulation and back; __half and __nv_bfloat16 convert through their float operators
//! (round-to-nearest-even).
template <typename A, typename T>
__device__ __forceinline__ A toAcc(T v) {
    return static_cast<A>(v);
}
template <typename T, typename A>
__device__ __forceinline__ T fromAcc(A v) {
    return static_cast<T>(v);
}

//! Threads per block of the simple grid-stride kernels here.
constexpr int kBlock = 256;

//! Blocks for `count` elements in a grid-stride loop (the loop covers what a capped grid does not).
inline unsigned gridFor(int64_t count) {
    const int64_t blocks = (count + kBlock - 1) / kBlock;
    return static_cast<unsigned>(blocks < 1 ? 1 : (blocks > (int64_t{1} << 20) ? (int64_t{1} << 20) : blocks));
}

__device__ __forceinline__ int64_t globalThread() {
    return static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
}
__device__ __forceinline__ int64_t gridThreads() { return static_cast<int64_t>(gridDim.x) * blockDim.x; }

}  // namespace kiln::cuda::cg
