// The report of a benchmark run: the summary block, warnings, and the per-iteration JSON export.
#include <cstdio>
#include <thread>

#include "bench.h"
#include "json_io.h"
#include "stats.h"

namespace kiln::cli {

namespace {

constexpr double kMaxStableCv = 0.025;

std::vector<double> latencies(const BenchResult& r) {
    std::vector<double> v;
    for (const IterationTime& t : r.iterations) v.push_back(t.latencyMs());
    return v;
}

std::vector<double> enqueueTimes(const BenchResult& r) {
    std::vector<double> v;
    for (const IterationTime& t : r.iterations) v.push_back(t.enqueueMs);
    return v;
}

double throughput(const BenchResult& r) {
    return r.walltimeS > 0 ? static_cast<double>(r.iterations.size()) / r.walltimeS : 0.0;
}

}  // namespace

std::vector<std::string> benchWarnings(const BenchResult& r, const BenchOptions& o) {
    std::vector<std::string> out;
    const Stats latency(latencies(r));
    char buf[256];
    if (latency.cv() > kMaxStableCv) {
        std::snprintf(buf, sizeof buf,
                      "the run is unstable: latency varies by %.1f%% (coefficient of variation > %.1f%%); close other "
                      "programs, pin the process (taskset) or run longer (--duration)",
                      latency.cv() * 100, kMaxStableCv * 100);
        out.emplace_back(buf);
    }
    if (r.separateTransfers) {
        const Stats enqueue(enqueueTimes(r));
        if (enqueue.mean() >= 0.8 * latency.mean()) {
            out.emplace_back(
                "enqueue-bound: the host spends most of each iteration enqueueing; try --cuda-graph or "
                "more --streams");
        }
    }
    const unsigned cores = std::thread::hardware_concurrency();
    if (cores > 0 && static_cast<unsigned>(o.streams) > cores) {
        out.emplace_back(std::to_string(o.streams) + " streams on " + std::to_string(cores) +
                         " cores: the CPU backend runs one stream per core at most, more only add contention");
    }
    return out;
}

void printBenchReport(const BenchResult& r, const BenchOptions& o, bool trt, bool verbose) {
    const char* p = trt ? "[I] " : "";
    const Stats latency(latencies(r));
    const Stats enqueue(enqueueTimes(r));
    const double qps = throughput(r);
    std::string shapes;
    for (const std::string& name : r.plan.inputs) {
        shapes += (shapes.empty() ? "" : ", ") + name + " " + shapeToString(r.plan.shapes.at(name));
    }
    std::printf("%s=== Performance summary ===\n", p);
    std::printf("%sBackend: %s, %d stream%s, profile %d, inputs: %s\n", p, r.backend.c_str(), o.streams,
                o.streams == 1 ? "" : "s", r.plan.profile, shapes.c_str());
    std::printf("%sWarm-up: %d iteration%s in %.0f ms\n", p, r.warmupIterations, r.warmupIterations == 1 ? "" : "s",
                r.warmupMs);
    std::printf("%sIterations: %zu in %.3f s\n", p, r.iterations.size(), r.walltimeS);
    std::printf("%sThroughput: %.5g qps (%.5g items/s at batch %lld)\n", p, qps, qps * static_cast<double>(r.batch),
                static_cast<long long>(r.batch));
    std::printf("%sLatency: %s\n", p, latency.describe(o.percentiles).c_str());
    std::printf("%sEnqueue Time: %s\n", p, enqueue.describe(o.percentiles).c_str());
    if (r.separateTransfers) {
        // Reserved for the asynchronous backends, which time copies and compute with device events.
        std::printf("%sH2D Latency / D2H Latency: measured by the backend\n", p);
    } else {
        std::printf("%sH2D Latency: none (the %s backend reads inputs in place from host memory)\n", p,
                    r.backend.c_str());
        std::printf("%s%s: %s\n", p, trt ? "GPU Compute Time" : "Compute Time",
                    latency.describe(o.percentiles).c_str());
        std::printf("%sD2H Latency: none (outputs are written to host memory)\n", p);
        std::printf(
            "%s(%s backend: enqueue runs the network synchronously, so latency, enqueue and compute time "
            "are the same measurement)\n",
            p, r.backend.c_str());
    }
    std::printf("%sTotal Host Walltime: %.5g s\n", p, r.walltimeS);
    std::printf("%sTotal %s: %.5g s\n", p, trt ? "GPU Compute Time" : "Compute Time", latency.sum() / 1000.0);
    if (verbose && o.avgRuns > 0) {
        for (size_t i = 0; i + static_cast<size_t>(o.avgRuns) <= r.iterations.size();
             i += static_cast<size_t>(o.avgRuns)) {
            double sum = 0;
            double enq = 0;
            for (size_t k = i; k < i + static_cast<size_t>(o.avgRuns); ++k) {
                sum += r.iterations[k].latencyMs();
                enq += r.iterations[k].enqueueMs;
            }
            std::printf("%sAverage on %d runs - latency: %.5g ms - enqueue: %.5g ms\n", p, o.avgRuns, sum / o.avgRuns,
                        enq / o.avgRuns);
        }
    }
    for (const std::string& w : benchWarnings(r, o)) std::printf("%s%s\n", trt ? "[W] " : "warning: ", w.c_str());
}

Status exportTimes(const std::string& path, const BenchResult& r) {
    nlohmann::json list = nlohmann::json::array();
    for (size_t i = 0; i < r.iterations.size(); ++i) {
        const IterationTime& t = r.iterations[i];
        list.push_back({{"iteration", i},
                        {"stream", t.stream},
                        {"startMs", t.startMs},
                        {"endMs", t.endMs},
                        {"latencyMs", t.latencyMs()},
                        {"enqueueMs", t.enqueueMs},
                        {"computeMs", t.latencyMs()}});
    }
    return writeJson(path, list, 1);
}

}  // namespace kiln::cli
