// Device helpers shared by the Conv and MatMul families' own kernels (conv.cu, mat_mul.cu, conv_gemm_epilogue.cu):
// the storage → device type mapping, float/double accumulation, grid-stride launch shapes and a C++17 dtype
// dispatcher. The elementwise family's common.cuh may absorb these once it lands; they are kept apart until then.
#pragma once

#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <cuda_runtime.h>

#include <cstdint>
#include <type_traits>

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

template <typename T>
struct TypeTag {
    using type = T;
};

//! Calls fn(TypeTag<device type>{}) for the floating-point dtypes; cudaErrorInvalidValue for the others.
template <typename Fn>
cudaError_t dispatchFloat(DataType t, Fn&& fn) {
    switch (t) {
        case DataType::kFloat32: return fn(TypeTag<float>{});
        case DataType::kFloat64: return fn(TypeTag<double>{});
        case DataType::kFloat16: return fn(TypeTag<__half>{});
        case DataType::kBFloat16: return fn(TypeTag<__nv_bfloat16>{});
        default: return cudaErrorInvalidValue;
    }
}

//! Calls fn(TypeTag<T>{}) for the integer dtypes; cudaErrorInvalidValue for the others.
template <typename Fn>
cudaError_t dispatchInteger(DataType t, Fn&& fn) {
    switch (t) {
        case DataType::kInt8: return fn(TypeTag<int8_t>{});
        case DataType::kInt16: return fn(TypeTag<int16_t>{});
        case DataType::kInt32: return fn(TypeTag<int32_t>{});
        case DataType::kInt64: return fn(TypeTag<int64_t>{});
        case DataType::kUInt8: return fn(TypeTag<uint8_t>{});
        case DataType::kUInt16: return fn(TypeTag<uint16_t>{});
        case DataType::kUInt32: return fn(TypeTag<uint32_t>{});
        case DataType::kUInt64: return fn(TypeTag<uint64_t>{});
        default: return cudaErrorInvalidValue;
    }
}

}  // namespace kiln::cuda::cg
