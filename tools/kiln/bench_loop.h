// The measurement loop every backend's benchmark shares (bench.cpp runs it; bench_cuda.cpp brings the CUDA
// iteration): --streams N threads, each with its own context, warm up for --warmup ms, meet at a barrier, then
// iterate until, together, they have done at least --iterations N and --duration S seconds have passed.
#pragma once

#include <chrono>
#include <functional>

#include "bench.h"

namespace kiln::cli {

using BenchClock = std::chrono::steady_clock;

inline double msBetween(BenchClock::time_point a, BenchClock::time_point b) {
    return std::chrono::duration<double, std::milli>(b - a).count();
}

//! What one backend does in the loop.
struct BenchLoop {
    //! Called once on each stream's thread before its first iteration (e.g. to select the GPU); may be empty.
    std::function<Status(int stream)> startThread;
    //! Runs one iteration on `stream` and returns its times, host times in ms since `origin`.
    std::function<Result<IterationTime>(int stream, BenchClock::time_point origin)> iterate;
};

//! Runs `loop` on `streams` threads (stream 0 on the calling thread) and fills `result`'s iterations (sorted by
//! start), warm-up count and time, and walltime. The first failure of any thread stops all of them and is returned.
Status runBenchLoop(int streams, const BenchOptions& options, const BenchLoop& loop, BenchResult& result);

}  // namespace kiln::cli
