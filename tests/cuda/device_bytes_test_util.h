// Raw device memory for tests that call launchers directly (no engine, no arena): cudaMalloc'd bytes freed on scope
// exit, addressable at any byte offset (misaligned views), and a download helper.
#pragma once

#include <cuda_runtime.h>
#include <gtest/gtest.h>

#include <cstddef>
#include <vector>

namespace kiln::testing {

struct DeviceBytes {
    void* p = nullptr;
    explicit DeviceBytes(size_t n) { EXPECT_EQ(cudaMalloc(&p, n == 0 ? 1 : n), cudaSuccess); }
    ~DeviceBytes() { cudaFree(p); }
    DeviceBytes(const DeviceBytes&) = delete;
    DeviceBytes& operator=(const DeviceBytes&) = delete;
    char* at(size_t offset) const { return static_cast<char*>(p) + offset; }
};

//! `n` bytes from device memory (synchronous).
inline std::vector<char> download(const void* src, size_t n) {
    std::vector<char> out(n);
    EXPECT_EQ(cudaMemcpy(out.data(), src, n, cudaMemcpyDeviceToHost), cudaSuccess);
    return out;
}

}  // namespace kiln::testing
