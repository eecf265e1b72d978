#include "backends/cuda/check.h"

#include <string>

namespace kiln::cuda {

Status cudaFailure(cudaError_t err, const char* what) {
    (void)cudaGetLastError();  // clear a sticky launch error so the next call reports its own
    const std::string msg =
        std::string("CUDA error in ") + what + ": " + cudaGetErrorName(err) + " (" + cudaGetErrorString(err) + ")";
    return err == cudaErrorMemoryAllocation ? outOfRange(msg) : internalError(msg);
}

Status cudnnFailure(cudnnStatus_t err, const char* what) {
    const std::string msg = std::string("cuDNN error in ") + what + ": " + cudnnGetErrorString(err);
    return err == CUDNN_STATUS_NOT_SUPPORTED ? unsupported(msg) : internalError(msg);
}

Status cublasFailure(cublasStatus_t err, const char* what) {
    const std::string msg = std::string("cuBLAS error in ") + what + ": " + cublasLtGetStatusName(err) + " (" +
                            cublasLtGetStatusString(err) + ")";
    return err == CUBLAS_STATUS_NOT_SUPPORTED ? unsupported(msg) : internalError(msg);
}

}  // namespace kiln::cuda
