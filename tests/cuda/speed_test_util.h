// Timing for the DISABLED_ GPU microbenchmarks: the median of CUDA-event-timed launches on the default stream.
#pragma once

#include <cuda_runtime.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <functional>
#include <vector>

#include "kiln/status.h"

namespace kiln::testing {

//! Median milliseconds of `launch` over `runs` runs after `warmups` untimed ones; each run is bracketed by events.
inline double medianMs(const std::function<cudaError_t()>& launch, int warmups = 3, int runs = 20) {
    cudaEvent_t start, stop;
    EXPECT_EQ(cudaEventCreate(&start), cudaSuccess);
    EXPECT_EQ(cudaEventCreate(&stop), cudaSuccess);
    for (int i = 0; i < warmups; ++i) EXPECT_EQ(launch(), cudaSuccess);
    std::vector<float> times;
    for (int i = 0; i < runs; ++i) {
        cudaEventRecord(start);
        EXPECT_EQ(launch(), cudaSuccess);
        cudaEventRecord(stop);
        cudaEventSynchronize(stop);
        float ms = 0;
        cudaEventElapsedTime(&ms, start, stop);
        times.push_back(ms);
    }
    cudaEventDestroy(start);
    cudaEventDestroy(stop);
    std::sort(times.begin(), times.end());
    return times[times.size() / 2];
}

//! The same for a launcher that returns a Status: a failure fails the test, and the result is then -1.
inline double medianMs(const std::function<Status()>& launch, int warmups = 3, int runs = 20) {
    bool ok = true;
    const double ms = medianMs(
        [&]() -> cudaError_t {
            const Status st = launch();
            if (!st.isOk()) {
                ok = false;
                ADD_FAILURE() << st.message();
            }
            return cudaSuccess;  // reported above, once
        },
        warmups, runs);
    return ok ? ms : -1;
}

}  // namespace kiln::testing
