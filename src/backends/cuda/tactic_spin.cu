#include "backends/cuda/tactic_spin.h"

namespace kiln::cuda {

namespace {

__device__ __forceinline__ uint64_t globalTimer() {
    uint64_t t;
    asm volatile("mov.u64 %0, %%globaltimer;" : "=l"(t));
    return t;
}

__global__ void spinKernel(uint64_t nanoseconds) {
    const uint64_t start = globalTimer();
    while (globalTimer() - start < nanoseconds) __nanosleep(1000);
}

}  // namespace

cudaError_t launchTimingSpin(uint64_t nanoseconds, cudaStream_t stream) {
    spinKernel<<<1, 1, 0, stream>>>(nanoseconds);
    return cudaGetLastError();
}

}  // namespace kiln::cuda
