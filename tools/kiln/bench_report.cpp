// The report of a benchmark run: the summary block, warnings, and the per-iteration JSON export.
#include <cstdio>
#include <thread>

#include "bench.h"
#include "json_io.h"
#include "stats.h"

namespace kiln::cli {

namespace {

constexpr double kMaxStableCv = 0.025;
//! trtexec's rule: enqueue-bound when the median enqueue time exceeds 80% of the median GPU compute time.
constexpr double kEnqueueBoundShare = 0.8;

template <typename F>
std::vector<double> collect(const BenchResult& r, F metric) {
    std::vector<double> v;
    v.reserve(r.iterations.size());
    for (const IterationTime& t : r.iterations) v.push_back(metric(t));
    return v;
}

std::vector<double> latencies(const BenchResult& r) {
    return collect(r, [](const IterationTime& t) { return t.latencyMs(); });
}

std::vector<double> enqueueTimes(const BenchResult& r) {
    return collect(r, [](const IterationTime& t) { return t.enqueueMs; });
}

double throughput(const BenchResult& r) {
    return r.walltimeS > 0 ? static_cast<double>(r.iterations.size()) / r.walltimeS : 0.0;
}

//! A flag's name as the command line that ran spells it: kiln's, or trtexec's for `kiln exec`.
const char* flag(bool trt, const char* kiln, const char* trtexec) { return trt ? trtexec : kiln; }

std::string format(const char* fmt, double a, double b = 0) {
    char buf[512];
    std::snprintf(buf, sizeof buf, fmt, a, b);
    return buf;
}

//! trtexec's warnings for a run timed on the device: unstable GPU compute, enqueue-bound, transfer-bound.
void deviceWarnings(const BenchResult& r, bool trt, std::vector<std::string>& out) {
    const Stats compute(collect(r, [](const IterationTime& t) { return t.computeMs; }));
    const Stats enqueue(enqueueTimes(r));
    if (compute.cv() > kMaxStableCv) {
        out.push_back(format("the run is unstable: GPU compute time varies by %.1f%% (coefficient of variation > "
                             "%.1f%%); lock the GPU clocks (nvidia-smi -lgc), wait with ",
                             compute.cv() * 100, kMaxStableCv * 100) +
                      flag(trt, "--spin-wait", "--useSpinWait") + " or run longer (" +
                      flag(trt, "--duration S", "--duration=S") + ")");
    }
    if (enqueue.median() > kEnqueueBoundShare * compute.median()) {
        out.push_back(format("enqueue-bound: the median enqueue takes %.4g ms against %.4g ms of GPU compute, so the "
                             "GPU waits for the host; ",
                             enqueue.median(), compute.median()) +
                      (r.cudaGraph ? std::string("try more ") + flag(trt, "--streams N", "--streams=N")
                                   : std::string("no CUDA graph was used (the Mode line says why, ") +
                                         flag(trt, "--cuda-graph", "--useCudaGraph") + " warns it); try more " +
                                         flag(trt, "--streams N", "--streams=N")));
    }
    if (!r.dataTransfers) return;
    const Stats h2d(collect(r, [](const IterationTime& t) { return t.h2dMs; }));
    const Stats d2h(collect(r, [](const IterationTime& t) { return t.d2hMs; }));
    for (const auto& [stats, what] : {std::pair{&h2d, "host-to-device copies of the inputs (H2D)"},
                                      std::pair{&d2h, "device-to-host copies of the outputs (D2H)"}}) {
        if (stats->median() >= compute.median()) {
            out.push_back(
                std::string("transfer-bound: the ") + what +
                format(" take %.4g ms, as long as the GPU compute (%.4g ms); ", stats->median(), compute.median()) +
                flag(trt, "--no-data-transfers", "--noDataTransfers") + " leaves them out");
        }
    }
}

}  // namespace

std::vector<std::string> benchWarnings(const BenchResult& r, const BenchOptions& o, bool trt) {
    std::vector<std::string> out;
    if (r.iterations.empty()) return out;
    if (r.deviceTimed) {
        deviceWarnings(r, trt, out);
        return out;
    }
    const Stats latency(latencies(r));
    if (latency.cv() > kMaxStableCv) {
        out.push_back(
            format("the run is unstable: latency varies by %.1f%% (coefficient of variation > %.1f%%); "
                   "close other programs, pin the process (taskset) or run longer (--duration)",
                   latency.cv() * 100, kMaxStableCv * 100));
    }
    const unsigned cores = std::thread::hardware_concurrency();
    if (cores > 0 && static_cast<unsigned>(o.streams) > cores) {
        out.emplace_back(std::to_string(o.streams) + " streams on " + std::to_string(cores) +
                         " cores: the CPU backend runs one stream per core at most, more only add contention");
    }
    return out;
}

namespace {

//! The lines of a run timed on the device, in trtexec's order and with its names.
void printDeviceTimes(const BenchResult& r, const BenchOptions& o, const char* p) {
    const Stats compute(collect(r, [](const IterationTime& t) { return t.computeMs; }));
    auto line = [&](const char* name, const std::vector<double>& samples) {
        std::printf("%s%s: %s\n", p, name, Stats(samples).describe(o.percentiles).c_str());
    };
    line("Latency", latencies(r));
    line("End-to-End Host Latency", collect(r, [](const IterationTime& t) { return t.endToEndMs(); }));
    line("Enqueue Time", enqueueTimes(r));
    if (r.dataTransfers) {
        line("H2D Latency", collect(r, [](const IterationTime& t) { return t.h2dMs; }));
    } else {
        std::printf("%sH2D Latency: none (no data transfers: the inputs stay on the device)\n", p);
    }
    std::printf("%sGPU Compute Time: %s\n", p, compute.describe(o.percentiles).c_str());
    if (r.dataTransfers) {
        line("D2H Latency", collect(r, [](const IterationTime& t) { return t.d2hMs; }));
    } else {
        std::printf("%sD2H Latency: none (no data transfers: the outputs stay on the device)\n", p);
    }
    std::printf("%sTotal Host Walltime: %.5g s\n", p, r.walltimeS);
    std::printf("%sTotal GPU Compute Time: %.5g s\n", p, compute.sum() / 1000.0);
    std::printf(
        "%s(Latency = H2D + GPU Compute + D2H, timed with CUDA events on the stream; End-to-End Host Latency is "
        "the host's time from issuing an iteration to seeing it done)\n",
        p);
}

void printCpuTimes(const BenchResult& r, const BenchOptions& o, const char* p, bool trt) {
    const Stats latency(latencies(r));
    std::printf("%sLatency: %s\n", p, latency.describe(o.percentiles).c_str());
    std::printf("%sEnqueue Time: %s\n", p, Stats(enqueueTimes(r)).describe(o.percentiles).c_str());
    std::printf("%sH2D Latency: none (the %s backend reads inputs in place from host memory)\n", p, r.backend.c_str());
    std::printf("%s%s: %s\n", p, trt ? "GPU Compute Time" : "Compute Time", latency.describe(o.percentiles).c_str());
    std::printf("%sD2H Latency: none (outputs are written to host memory)\n", p);
    std::printf(
        "%s(%s backend: enqueue runs the network synchronously, so latency, enqueue and compute time "
        "are the same measurement)\n",
        p, r.backend.c_str());
    std::printf("%sTotal Host Walltime: %.5g s\n", p, r.walltimeS);
    std::printf("%sTotal %s: %.5g s\n", p, trt ? "GPU Compute Time" : "Compute Time", latency.sum() / 1000.0);
}

//! The "Average on N runs" lines (--verbose), trtexec's trace averages.
void printAverages(const BenchResult& r, int runs, const char* p) {
    const auto n = static_cast<size_t>(runs);
    for (size_t i = 0; i + n <= r.iterations.size(); i += n) {
        double latency = 0;
        double enqueue = 0;
        double compute = 0;
        for (size_t k = i; k < i + n; ++k) {
            latency += r.iterations[k].latencyMs();
            enqueue += r.iterations[k].enqueueMs;
            compute += r.iterations[k].computeMs;
        }
        if (r.deviceTimed) {
            std::printf("%sAverage on %d runs - GPU latency: %.5g ms - Host latency: %.5g ms (enqueue %.5g ms)\n", p,
                        runs, compute / runs, latency / runs, enqueue / runs);
        } else {
            std::printf("%sAverage on %d runs - latency: %.5g ms - enqueue: %.5g ms\n", p, runs, latency / runs,
                        enqueue / runs);
        }
    }
}

}  // namespace

void printBenchReport(const BenchResult& r, const BenchOptions& o, bool trt, bool verbose) {
    const char* p = trt ? "[I] " : "";
    const double qps = throughput(r);
    std::string shapes;
    for (const std::string& name : r.plan.inputs) {
        shapes += (shapes.empty() ? "" : ", ") + name + " " + shapeToString(r.plan.shapes.at(name));
    }
    std::printf("%s=== Performance summary ===\n", p);
    std::printf("%sBackend: %s, %d stream%s, profile %d, inputs: %s\n", p, r.backend.c_str(), o.streams,
                o.streams == 1 ? "" : "s", r.plan.profile, shapes.c_str());
    if (!r.mode.empty()) std::printf("%sMode: %s\n", p, r.mode.c_str());
    std::printf("%sWarm-up: %d iteration%s in %.0f ms\n", p, r.warmupIterations, r.warmupIterations == 1 ? "" : "s",
                r.warmupMs);
    std::printf("%sIterations: %zu in %.3f s\n", p, r.iterations.size(), r.walltimeS);
    std::printf("%sThroughput: %.5g qps (%.5g items/s at batch %lld)\n", p, qps, qps * static_cast<double>(r.batch),
                static_cast<long long>(r.batch));
    if (r.deviceTimed) {
        printDeviceTimes(r, o, p);
    } else {
        printCpuTimes(r, o, p, trt);
    }
    if (verbose && o.avgRuns > 0) printAverages(r, o.avgRuns, p);
    for (const std::string& w : benchWarnings(r, o, trt)) std::printf("%s%s\n", trt ? "[W] " : "warning: ", w.c_str());
}

Status exportTimes(const std::string& path, const BenchResult& r) {
    nlohmann::json list = nlohmann::json::array();
    for (size_t i = 0; i < r.iterations.size(); ++i) {
        const IterationTime& t = r.iterations[i];
        nlohmann::json item = {{"iteration", i},
                               {"stream", t.stream},
                               {"startMs", t.startMs},
                               {"endMs", t.endMs},
                               {"latencyMs", t.latencyMs()},
                               {"enqueueMs", t.enqueueMs},
                               {"computeMs", t.deviceTimed() ? t.computeMs : t.latencyMs()}};
        if (t.deviceTimed()) {
            item["h2dMs"] = t.h2dMs;
            item["d2hMs"] = t.d2hMs;
            item["endToEndMs"] = t.endToEndMs();
        }
        list.push_back(std::move(item));
    }
    return writeJson(path, list, 1);
}

}  // namespace kiln::cli
