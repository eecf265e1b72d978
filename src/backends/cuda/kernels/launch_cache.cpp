#include "backends/cuda/kernels/launch_cache.h"

#include <map>
#include <mutex>
#include <utility>

namespace kiln::cuda {

namespace {

std::mutex gMutex;

}  // namespace

cudaError_t currentDeviceAttribute(cudaDeviceAttr attr, int& value) {
    // (device, attribute) → value; never destroyed (used at exit too).
    static auto* values = new std::map<std::pair<int, cudaDeviceAttr>, int>();
    int device = 0;
    cudaError_t err = cudaGetDevice(&device);
    if (err != cudaSuccess) return err;
    std::lock_guard<std::mutex> lock(gMutex);
    const auto key = std::make_pair(device, attr);
    if (auto it = values->find(key); it != values->end()) {
        value = it->second;
        return cudaSuccess;
    }
    err = cudaDeviceGetAttribute(&value, attr, device);
    if (err == cudaSuccess) (*values)[key] = value;
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
