// The measurement loop of `kiln bench` and `kiln exec`, and its report.
//
// Each of --streams N threads owns an ExecutionContext with its own bound input/output buffers. All threads warm
// up for --warmup ms (time based), meet at a barrier, then run until, together, they have done at least
// --iterations N and --duration S seconds have passed. Every iteration's start, end and enqueue time is kept.
//
// On the CPU backend enqueue runs the network synchronously on host memory: the end-to-end latency, the enqueue
// time and the compute time are one and the same, and there are no host-to-device or device-to-host copies. The
// report says so rather than printing zeros.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "inputs.h"
#include "kiln/kiln.h"

namespace kiln::cli {

struct BenchOptions {
    double warmupMs = 200;
    int64_t iterations = 10;
    double durationS = 3;
    int streams = 1;
    uint64_t seed = 1;
    std::map<std::string, Shape> shapes;        //!< Requested input shapes.
    std::map<std::string, Tensor> givenInputs;  //!< Inputs from files.
    std::vector<double> percentiles{90, 95, 99};
    int avgRuns = 10;        //!< Window of the "average on N runs" lines (--verbose).
    bool cudaGraph = false;  //!< Accepted for the CUDA backend; no effect on the CPU (a warning says so).
    bool noTransfers = false;
    bool spinWait = false;
};

struct IterationTime {
    int stream = 0;
    double startMs = 0;  //!< Since the start of the measured phase.
    double endMs = 0;
    double enqueueMs = 0;  //!< Time spent in the enqueue call.
    double latencyMs() const { return endMs - startMs; }
};

struct BenchResult {
    std::string backend;
    InputPlan plan;
    int64_t batch = 1;
    int warmupIterations = 0;
    double warmupMs = 0;
    std::vector<IterationTime> iterations;  //!< In order of start time.
    double walltimeS = 0;                   //!< First start to last end of the measured phase.
    //! Host-side timings of the async backends; empty on the CPU (no separate H2D/compute/D2H there).
    bool separateTransfers = false;
};

//! Runs the benchmark. Fails naming the tensor or shape when the engine rejects the inputs.
Result<BenchResult> runBench(const Engine& engine, const std::string& backend, const BenchOptions& options);

//! Prints the "=== Performance summary ===" block and the warnings on stdout. `trtexecStyle` prefixes lines with
//! "[I] " and uses trtexec's metric names (for scripts that parse trtexec's output).
void printBenchReport(const BenchResult& result, const BenchOptions& options, bool trtexecStyle, bool verbose);

//! The warnings a run deserves: unstable (CV > 2.5%), enqueue-bound, transfer-bound (async backends), more
//! streams than cores.
std::vector<std::string> benchWarnings(const BenchResult& result, const BenchOptions& options);

//! Writes every iteration as JSON (a list of objects, as trtexec's --exportTimes does).
Status exportTimes(const std::string& path, const BenchResult& result);

struct BuildFlags;
struct EngineSource;
struct InputFile;

//! What `bench` and `exec` share before loading anything: parses the percentiles, the run's --shapes and the
//! --input flags, checks the output paths. Returns kExitOk, or the exit code after printing the error.
int prepareBench(const std::string& percentiles, const BuildFlags& flags, const std::vector<std::string>& inputFlags,
                 const std::vector<std::string>& outputs, BenchOptions& options, std::vector<InputFile>& inputFiles);

//! Loads the input files, warns about flags without effect on the backend, runs, reports, exports and plots.
int runBenchOn(EngineSource& source, BenchOptions& options, const std::vector<InputFile>& inputFiles,
               const std::string& exportPath, const std::string& plotPath, bool trtexecStyle);

}  // namespace kiln::cli
