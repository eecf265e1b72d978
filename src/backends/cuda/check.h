// Every CUDA runtime, cuDNN and cuBLASLt call is checked; a failure becomes a kiln::Status that carries the
// library's own message and the call that failed.
#pragma once

#include <cublasLt.h>
#include <cuda_runtime.h>
#include <cudnn.h>

#include "kiln/status.h"

namespace kiln::cuda {

//! "CUDA error in <what>: <name> (<description>)"; out-of-memory maps to kOutOfRange, the rest to kInternal.
Status cudaFailure(cudaError_t err, const char* what);
Status cudnnFailure(cudnnStatus_t err, const char* what);
Status cublasFailure(cublasStatus_t err, const char* what);

}  // namespace kiln::cuda

#define KILN_CUDA_CHECK(expr)                                                                   \
    do {                                                                                        \
        const cudaError_t kilnCudaErr_ = (expr);                                                \
        if (kilnCudaErr_ != cudaSuccess) return ::kiln::cuda::cudaFailure(kilnCudaErr_, #expr); \
    } while (0)

#define KILN_CUDNN_CHECK(expr)                                                                              \
    do {                                                                                                    \
        const cudnnStatus_t kilnCudnnErr_ = (expr);                                                         \
        if (kilnCudnnErr_ != CUDNN_STATUS_SUCCESS) return ::kiln::cuda::cudnnFailure(kilnCudnnErr_, #expr); \
    } while (0)

#define KILN_CUBLAS_CHECK(expr)                                                                                 \
    do {                                                                                                        \
        const cublasStatus_t kilnCublasErr_ = (expr);                                                           \
        if (kilnCublasErr_ != CUBLAS_STATUS_SUCCESS) return ::kiln::cuda::cublasFailure(kilnCublasErr_, #expr); \
    } while (0)

//! After a kernel launch: reports launch-configuration errors (the launch itself is asynchronous).
#define KILN_CUDA_CHECK_LAUNCH(what) KILN_CUDA_CHECK((static_cast<void>(what), cudaGetLastError()))
