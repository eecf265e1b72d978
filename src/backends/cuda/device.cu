#include <cuda_runtime.h>

#include "backends/cuda/device.h"

namespace kiln::cuda {

namespace {

__global__ void fillKernel(float* out, size_t count, float value) {
    const size_t i = blockIdx.x * static_cast<size_t>(blockDim.x) + threadIdx.x;
    if (i < count) out[i] = value;
}

Status check(cudaError_t err, const char* what) {
    if (err == cudaSuccess) return Status::ok();
    return internalError(std::string(what) + ": " + cudaGetErrorString(err));
}

}  // namespace

std::vector<DeviceInfo> listDevices() {
    int count = 0;
    if (cudaGetDeviceCount(&count) != cudaSuccess) {
        (void)cudaGetLastError();
        return {};
    }
    std::vector<DeviceInfo> out;
    for (int i = 0; i < count; ++i) {
        cudaDeviceProp prop{};
        if (cudaGetDeviceProperties(&prop, i) != cudaSuccess) continue;
        out.push_back({i, prop.name, prop.major, prop.minor, prop.totalGlobalMem});
    }
    return out;
}

Result<std::vector<float>> fillOnDevice(size_t count, float value) {
    float* d = nullptr;
    KILN_RETURN_IF_ERROR(check(cudaMalloc(&d, count * sizeof(float)), "cudaMalloc"));
    const unsigned blocks = static_cast<unsigned>((count + 255) / 256);
    fillKernel<<<blocks, 256>>>(d, count, value);
    Status s = check(cudaGetLastError(), "fill kernel launch");
    std::vector<float> host(count);
    Status copied =
        s.isOk() ? check(cudaMemcpy(host.data(), d, count * sizeof(float), cudaMemcpyDeviceToHost), "cudaMemcpy") : s;
    cudaFree(d);
    if (!copied.isOk()) return copied;
    return host;
}

}  // namespace kiln::cuda
