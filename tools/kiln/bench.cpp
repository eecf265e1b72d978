#include "bench.h"

#include <algorithm>
#include <atomic>
#include <barrier>
#include <mutex>
#include <thread>

#include "bench_cuda.h"
#include "bench_loop.h"

namespace kiln::cli {

namespace {

//! One CPU stream: a context with its inputs and outputs bound to host buffers it owns.
struct Stream {
    std::unique_ptr<ExecutionContext> context;
    std::map<std::string, Tensor> buffers;
};

//! A context bound to private copies of the inputs and to output buffers of the sizes a first run produced.
Result<Stream> makeStream(const Engine& engine, const InputPlan& plan, const std::map<std::string, Tensor>& inputs,
                          const std::map<std::string, Tensor>& firstOutputs) {
    Stream s;
    KILN_ASSIGN_OR_RETURN(s.context, makeContext(engine, plan));
    for (const auto& [name, t] : inputs) s.buffers[name] = t.clone();
    for (const auto& [name, t] : firstOutputs) {
        KILN_ASSIGN_OR_RETURN(s.buffers[name], Tensor::allocate(t.dtype(), t.shape()));
    }
    for (auto& [name, t] : s.buffers) KILN_RETURN_IF_ERROR(s.context->setTensorAddress(name, t.raw(), t.byteSize()));
    return s;
}

//! The CPU backend's loop: enqueue runs the network synchronously on host memory, so one host measurement around
//! it is the latency, the enqueue time and the compute time at once.
Status runCpuBench(const Engine& engine, const BenchOptions& options, const std::map<std::string, Tensor>& inputs,
                   const std::map<std::string, Tensor>& firstOutputs, BenchResult& result) {
    const int n = std::max(options.streams, 1);
    std::vector<Stream> streams;
    for (int i = 0; i < n; ++i) {
        KILN_ASSIGN_OR_RETURN(Stream s, makeStream(engine, result.plan, inputs, firstOutputs));
        streams.push_back(std::move(s));
    }
    BenchLoop loop;
    loop.iterate = [&](int id, BenchClock::time_point origin) -> Result<IterationTime> {
        const auto start = BenchClock::now();
        KILN_RETURN_IF_ERROR(streams[static_cast<size_t>(id)].context->enqueue(nullptr));
        const auto end = BenchClock::now();
        return IterationTime{id, msBetween(origin, start), msBetween(origin, end), msBetween(start, end)};
    };
    return runBenchLoop(n, options, loop, result);
}

}  // namespace

Status runBenchLoop(int n, const BenchOptions& options, const BenchLoop& loop, BenchResult& result) {
    std::barrier sync(n);
    std::atomic<int64_t> done{0};
    std::atomic<bool> failed{false};
    std::mutex mutex;
    Status error;
    BenchClock::time_point measureStart;
    std::vector<std::vector<IterationTime>> perStream(static_cast<size_t>(n));
    std::vector<int> warmups(static_cast<size_t>(n), 0);
    const auto duration = std::chrono::duration<double>(options.durationS);

    // Keeps the first failure; every thread stops at its next check and still meets the barriers.
    auto ok = [&](const Status& s) {
        if (!s && !failed.exchange(true)) {
            std::lock_guard<std::mutex> lock(mutex);
            error = s;
        }
        return s.isOk();
    };
    auto worker = [&](int id) {
        if (loop.startThread) ok(loop.startThread(id));
        const auto warmStart = BenchClock::now();
        while (msBetween(warmStart, BenchClock::now()) < options.warmupMs && !failed) {
            if (!ok(loop.iterate(id, warmStart).status())) break;
            ++warmups[static_cast<size_t>(id)];
        }
        sync.arrive_and_wait();
        if (id == 0) measureStart = BenchClock::now();
        sync.arrive_and_wait();
        auto& times = perStream[static_cast<size_t>(id)];
        while (!failed) {
            if (done.load() >= options.iterations && BenchClock::now() - measureStart >= duration) break;
            Result<IterationTime> t = loop.iterate(id, measureStart);
            if (!ok(t.status())) break;
            times.push_back(*t);
            ++done;
        }
    };
    const auto warmBegin = BenchClock::now();
    std::vector<std::thread> threads;
    for (int i = 1; i < n; ++i) threads.emplace_back(worker, i);
    worker(0);
    for (std::thread& t : threads) t.join();
    if (failed) return error;

    result.warmupMs = std::max(0.0, msBetween(warmBegin, measureStart));
    for (int w : warmups) result.warmupIterations += w;
    for (auto& times : perStream) result.iterations.insert(result.iterations.end(), times.begin(), times.end());
    std::sort(result.iterations.begin(), result.iterations.end(),
              [](const IterationTime& a, const IterationTime& b) { return a.startMs < b.startMs; });
    double lastEnd = 0;
    for (const IterationTime& t : result.iterations) lastEnd = std::max(lastEnd, t.endMs);
    result.walltimeS = lastEnd / 1000.0;
    return Status::ok();
}

Result<BenchResult> runBench(const Engine& engine, const std::string& backend, const BenchOptions& options) {
    BenchResult result;
    result.backend = backend;
    std::map<std::string, Shape> requested = options.shapes;
    for (const auto& [name, t] : options.givenInputs) requested[name] = t.shape();
    KILN_ASSIGN_OR_RETURN(result.plan, planInputs(engine, requested));
    result.batch = batchOf(result.plan);
    KILN_ASSIGN_OR_RETURN(auto inputs, makeInputs(engine, result.plan, options.givenInputs, options.seed));

    // One checked run through infer() gives the output sizes (data-dependent ones included) for the buffers.
    KILN_ASSIGN_OR_RETURN(auto probe, makeContext(engine, result.plan));
    KILN_ASSIGN_OR_RETURN(auto firstOutputs, probe->infer(inputs));
    probe.reset();

    if (backend == "cuda") {
#if KILN_HAVE_CUDA
        KILN_RETURN_IF_ERROR(runCudaBench(engine, options, inputs, firstOutputs, result));
        return result;
#else
        return unsupported("a CUDA engine needs a kiln built with its CUDA backend (this one has none)");
#endif
    }
    KILN_RETURN_IF_ERROR(runCpuBench(engine, options, inputs, firstOutputs, result));
    return result;
}

}  // namespace kiln::cli
