#include "backends/cuda/kernels/launch_cache.h"

#include <map>
#include <mutex>
#include <utility>

namespace kiln::cuda {

namespace {

std::mutex gMutex;

}  // namespace

cudaError_t currentDeviceSmCount(int& sms) {
    static auto* counts = new std::map<int, int>();  // device → SM count; never destroyed (used at exit too)
    int device = 0;
    cudaError_t err = cudaGetDevice(&device);
    if (err != cudaSuccess) return err;
    std::lock_guard<std::mutex> lock(gMutex);
    if (auto it = counts->find(device); it != counts->end()) {
        sms = it->second;
        return cudaSuccess;
    }
    err = cudaDeviceGetAttribute(&sms, cudaDevAttrMultiProcessorCount, device);
    if (err == cudaSuccess) (*counts)[device] = sms;
    return err;
}

cudaError_t allowDynamicSharedMemory(const void* kernel, size_t bytes, bool preferMaxShared) {
    static auto* allowed = new std::map<std::pair<const void*, int>, size_t>();  // (kernel, device) → bytes
    int device = 0;
    cudaError_t err = cudaGetDevice(&device);
    if (err != cudaSuccess) return err;
    std::lock_guard<std::mutex> lock(gMutex);
    const auto key = std::make_pair(kernel, device);
    if (auto it = allowed->find(key); it != allowed->end() && it->second >= bytes) return cudaSuccess;
    err = cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, static_cast<int>(bytes));
    if (err != cudaSuccess) return err;
    if (preferMaxShared) {
        err = cudaFuncSetAttribute(kernel, cudaFuncAttributePreferredSharedMemoryCarveout,
                                   cudaSharedmemCarveoutMaxShared);
        if (err != cudaSuccess) return err;
    }
    (*allowed)[key] = bytes;
    return cudaSuccess;
}

}  // namespace kiln::cuda
