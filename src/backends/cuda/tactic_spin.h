// A one-thread kernel that keeps the GPU busy for a while, for tactic timing (tactics.cpp): launched before a
// candidate's timed runs, it holds the stream while the host queues them, so that the events between the runs
// measure the GPU's time and not the library's host-side cost per call (cuDNN's legacy API spends tens of
// microseconds per call, more than a small convolution takes on the H100).
#pragma once

#include <cuda_runtime.h>

#include <cstdint>

namespace kiln::cuda {

//! Spins one thread on the device's global timer for `nanoseconds`, on `stream`.
cudaError_t launchTimingSpin(uint64_t nanoseconds, cudaStream_t stream);

}  // namespace kiln::cuda
