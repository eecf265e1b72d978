#include "bench.h"

#include <algorithm>
#include <atomic>
#include <barrier>
#include <chrono>
#include <mutex>
#include <thread>

namespace kiln::cli {

namespace {

using Clock = std::chrono::steady_clock;

double msBetween(Clock::time_point a, Clock::time_point b) {
    return std::chrono::duration<double, std::milli>(b - a).count();
}

//! One stream: a context with its inputs and outputs bound to buffers it owns.
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

}  // namespace

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

    const int n = std::max(options.streams, 1);
    std::vector<Stream> streams;
    for (int i = 0; i < n; ++i) {
        KILN_ASSIGN_OR_RETURN(Stream s, makeStream(engine, result.plan, inputs, firstOutputs));
        streams.push_back(std::move(s));
    }

    std::barrier sync(n);
    std::atomic<int64_t> done{0};
    std::atomic<bool> failed{false};
    std::mutex mutex;
    Status error;
    Clock::time_point measureStart;
    std::vector<std::vector<IterationTime>> perStream(static_cast<size_t>(n));
    std::vector<int> warmups(static_cast<size_t>(n), 0);
    const auto duration = std::chrono::duration<double>(options.durationS);

    auto worker = [&](int id) {
        ExecutionContext& ctx = *streams[static_cast<size_t>(id)].context;
        auto enqueue = [&] {
            const Status s = ctx.enqueue(nullptr);
            if (!s && !failed.exchange(true)) {
                std::lock_guard<std::mutex> lock(mutex);
                error = s;
            }
            return s.isOk();
        };
        const auto warmStart = Clock::now();
        while (msBetween(warmStart, Clock::now()) < options.warmupMs && !failed) {
            if (!enqueue()) break;
            ++warmups[static_cast<size_t>(id)];
        }
        sync.arrive_and_wait();
        if (id == 0) measureStart = Clock::now();
        sync.arrive_and_wait();
        auto& times = perStream[static_cast<size_t>(id)];
        while (!failed) {
            const auto start = Clock::now();
            if (done.load() >= options.iterations && start - measureStart >= duration) break;
            if (!enqueue()) break;
            const auto end = Clock::now();
            // The CPU backend's enqueue returns when the outputs are ready: enqueue time = latency.
            times.push_back({id, msBetween(measureStart, start), msBetween(measureStart, end), msBetween(start, end)});
            ++done;
        }
    };
    const auto warmBegin = Clock::now();
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
    return result;
}

}  // namespace kiln::cli
