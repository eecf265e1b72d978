// What Kiln's kernel launchers need from a device once rather than on every launch: its attributes (the SM count for
// persistent grids and grid-size choices, the compute capability for architecture-specific kernels) and the opt-in to
// more than 48 KB of dynamic shared memory, which belongs to a (kernel, device) pair. Both are host calls that are
// allowed while a stream is being captured. Plain C++17 for nvcc and the host code alike; thread-safe.
#pragma once

#include <cuda_runtime.h>

#include <cstddef>

namespace kiln::cuda {

//! An attribute of the current device (SM count, compute capability, ...), asked of the driver once per device.
cudaError_t currentDeviceAttribute(cudaDeviceAttr attr, int& value);

//! The SM count of the current device (currentDeviceAttribute).
inline cudaError_t currentDeviceSmCount(int& sms) {
    return currentDeviceAttribute(cudaDevAttrMultiProcessorCount, sms);
}

//! Lets `kernel` launch with up to `bytes` of dynamic shared memory on the current device (and, with
//! `preferMaxShared`, asks for the largest shared-memory carveout), setting the attributes only the first time a
//! (kernel, device) pair asks for at least that much.
cudaError_t allowDynamicSharedMemory(const void* kernel, size_t bytes, bool preferMaxShared = false);

}  // namespace kiln::cuda
