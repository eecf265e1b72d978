// Raw device memory for tests that call launchers directly (no engine, no arena): cudaMalloc'd bytes freed on scope
// exit, addressable at any byte offset (misaligned views), and a download helper.
#pragma once

#include <cuda_runtime.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <cstddef>
#include <vector>

#include "ops/op_tester.h"

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

//! Fills `bytes` of device memory with random float16 values in [lo, hi] (a 4 MiB random block repeated: the
//! values do not change the speed of the kernels benchmarked, and generating GiBs on the host would take longer).
inline void fillRandomHalves(void* dst, size_t bytes, uint32_t seed, double lo, double hi) {
    const Tensor block = randomTensor(DataType::kFloat16, {2 << 20}, seed, lo, hi);
    for (size_t at = 0; at < bytes; at += block.byteSize()) {
        const size_t n = std::min(block.byteSize(), bytes - at);
        ASSERT_EQ(cudaMemcpy(static_cast<char*>(dst) + at, block.raw(), n, cudaMemcpyHostToDevice), cudaSuccess);
    }
}

}  // namespace kiln::testing
