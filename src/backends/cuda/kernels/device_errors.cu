#include "backends/cuda/kernels/device_errors.h"

namespace kiln::cuda {

namespace {
__device__ DeviceErrorRecord gDeviceErrors;
}  // namespace

cudaError_t deviceErrorRecordAddress(DeviceErrorRecord** out) {
    return cudaGetSymbolAddress(reinterpret_cast<void**>(out), gDeviceErrors);
}

}  // namespace kiln::cuda
