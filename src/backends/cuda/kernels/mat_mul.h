// Kiln's own kernels of the MatMul family (cuBLASLt does the floating-point products, mat_mul_lt.h): integer
// MatMul and Gemm, and the broadcast of Gemm's C into the output. Plain C++17 for nvcc and the host code alike.
#pragma once

#include <cuda_runtime.h>

#include <cstdint>

#include "kiln/dtype.h"

namespace kiln::cuda {

//! Integer MatMul over `batch` row-major products: y[b] (m x n, packed) = a[b] (m x k, at b * strideA) times
//! b[b] (k x n, at b * strideB), accumulated in 64 bits and wrapped to the dtype as the CPU reference does.
cudaError_t launchIntegerMatMul(DataType dtype, const void* a, const void* b, void* y, int64_t batch, int64_t m,
                                int64_t n, int64_t k, int64_t strideA, int64_t strideB, cudaStream_t stream);

//! Integer Gemm: y (m x n) = alpha * op(a) op(b) + beta * c[i * cStrideM + j * cStrideN], exact integer products,
//! the scaling in double (the spec's float attributes), as the CPU reference does. `c` may be null.
cudaError_t launchIntegerGemm(DataType dtype, const void* a, const void* b, const void* c, void* y, int64_t m,
                              int64_t n, int64_t k, bool transA, bool transB, double alpha, double beta,
                              int64_t cStrideM, int64_t cStrideN, cudaStream_t stream);

//! Floating point: y (m x n) = scale * c[i * cStrideM + j * cStrideN] (Gemm's C broadcast into the output, which
//! the GEMM then accumulates onto).
cudaError_t launchBroadcastMatrix(DataType dtype, const void* c, void* y, int64_t m, int64_t n, int64_t cStrideM,
                                  int64_t cStrideN, double scale, cudaStream_t stream);

}  // namespace kiln::cuda
