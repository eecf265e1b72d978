// The measurement of `kiln bench` and `kiln exec`, and its report.
//
// Each of --streams N threads owns an ExecutionContext with its own bound input/output buffers. All threads warm
// up for --warmup ms (time based), meet at a barrier, then run until, together, they have done at least
// --iterations N and --duration S seconds have passed (bench_loop.h). Every iteration's times are kept.
//
// On the CPU backend enqueue runs the network synchronously on host memory: the end-to-end latency, the enqueue
// time and the compute time are one and the same, and there are no host-to-device or device-to-host copies. The
// report says so rather than printing zeros.
//
// On the CUDA backend (bench_cuda.cpp) each context has its own stream, device buffers and pinned host buffers;
// an iteration copies the inputs in, enqueues (or launches the CUDA graph of one enqueue), copies the outputs out
// and waits, and CUDA events time the three phases on the GPU, as trtexec does.
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
    int avgRuns = 10;  //!< Window of the "average on N runs" lines (--verbose).
    // The CUDA backend's options; on the CPU they have no effect (a warning says so).
    bool cudaGraph = false;  //!< --cuda-graph given: graphs are the default; this only asks for a warning on fallback.
    bool noCudaGraph = false;  //!< --no-cuda-graph: the contexts launch every kernel from the host.
    bool noTransfers = false;  //!< No H2D/D2H copies per iteration: the inputs stay on the device.
    bool spinWait = false;     //!< Busy-poll for the end of an iteration instead of a blocking wait.
};

struct IterationTime {
    int stream = 0;
    double startMs = 0;    //!< Host clock, since the start of the measured phase.
    double endMs = 0;      //!< Host clock: when the host saw the iteration's results ready.
    double enqueueMs = 0;  //!< Host time spent in the enqueue call (or the CUDA graph launch).
    //! Phases timed on the device by an asynchronous backend (CUDA events); -1 on the CPU, which has none. Without
    //! data transfers h2dMs and d2hMs are 0.
    double h2dMs = -1;
    double computeMs = -1;
    double d2hMs = -1;
    bool deviceTimed() const { return computeMs >= 0; }
    //! Host time from the start of the iteration to its results (trtexec's End-to-End Host Latency).
    double endToEndMs() const { return endMs - startMs; }
    //! trtexec's Latency: H2D + GPU compute + D2H when timed on the device; on the CPU the host time.
    double latencyMs() const { return deviceTimed() ? h2dMs + computeMs + d2hMs : endToEndMs(); }
};

struct BenchResult {
    std::string backend;
    InputPlan plan;
    int64_t batch = 1;
    int warmupIterations = 0;
    double warmupMs = 0;
    std::vector<IterationTime> iterations;  //!< In order of start time.
    double walltimeS = 0;                   //!< First start to last end of the measured phase.
    bool deviceTimed = false;               //!< An asynchronous backend: H2D, compute and D2H come from device events.
    bool dataTransfers = false;             //!< Each iteration copied the inputs in and the outputs out.
    bool cudaGraph = false;                 //!< Iterations replayed the contexts' CUDA graphs.
    std::string mode;  //!< How iterations ran, for the report ("CUDA graph, ..."); empty on the CPU.
};

//! Runs the benchmark. Fails naming the tensor or shape when the engine rejects the inputs.
Result<BenchResult> runBench(const Engine& engine, const std::string& backend, const BenchOptions& options);

//! Prints the "=== Performance summary ===" block and the warnings on stdout. `trtexecStyle` prefixes lines with
//! "[I] " and uses trtexec's metric names (for scripts that parse trtexec's output).
void printBenchReport(const BenchResult& result, const BenchOptions& options, bool trtexecStyle, bool verbose);

//! The warnings a run deserves: unstable (CV > 2.5% of the latency on the CPU, of the GPU compute time on a GPU),
//! enqueue-bound and transfer-bound (as trtexec decides them, on asynchronous backends), more streams than cores
//! (CPU). `trtexecStyle` names trtexec's flags in the advice.
std::vector<std::string> benchWarnings(const BenchResult& result, const BenchOptions& options,
                                       bool trtexecStyle = false);

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
