// What Kiln's kernel launchers need from a device once rather than on every launch: its SM count (persistent grids,
// grid-size choices) and the opt-in to more than 48 KB of dynamic shared memory, which belongs to a (kernel, device)
// pair. Both are host calls that are allowed while a stream is being captured. Plain C++17 for nvcc and the host code
// alike; thread-safe.
#pragma once

#include <cuda_runtime.h>

#include <cstddef>

namespace kiln::cuda {

//! The SM count of the current device, asked of the driver once per device.
cudaError_t currentDeviceSmCount(int& sms);

//! Lets `kernel` launch with up to `bytes` of dynamic shared memory on the current device (and, with
//! `preferMaxShared`, asks for the largest shared-memory carveout), setting the attributes only the first time a
//! (kernel, device) pair asks for at least that much.
cudaError_t allowDynamicSharedMemory(const void* kernel, size_t bytes, bool preferMaxShared = false);

}  // namespace kiln::cuda
