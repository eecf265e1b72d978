// The benchmark report of tools/kiln (bench_report.cpp) on runs timed on the device, built by hand: the lines a
// CUDA run prints, trtexec's warnings (unstable GPU compute, enqueue-bound, transfer-bound) with each command's
// flag names, and the per-iteration export. The CUDA loop itself runs only on a GPU (tests/cuda/cli_bench_test.cpp).
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "bench.h"
#include "unit/model_builder.h"

namespace kiln::cli {
namespace {

//! `n` iterations of one stream, back to back, each with these device phases and this enqueue time.
BenchResult deviceRun(int n, double h2d, double compute, double d2h, double enqueue, bool transfers = true) {
    BenchResult r;
    r.backend = "cuda";
    r.plan.inputs = {"x"};
    r.plan.shapes["x"] = {2, 3};
    r.batch = 2;
    r.deviceTimed = true;
    r.dataTransfers = transfers;
    r.mode = "enqueue per iteration";
    double at = 0;
    for (int i = 0; i < n; ++i) {
        IterationTime t;
        t.startMs = at;
        t.h2dMs = transfers ? h2d : 0;
        t.computeMs = compute;
        t.d2hMs = transfers ? d2h : 0;
        t.enqueueMs = enqueue;
        t.endMs = at + t.latencyMs() + 0.01;
        at = t.endMs;
        r.iterations.push_back(t);
    }
    r.walltimeS = at / 1000;
    return r;
}

bool mentions(const std::vector<std::string>& lines, const std::string& what) {
    for (const std::string& l : lines) {
        if (l.find(what) != std::string::npos) return true;
    }
    return false;
}

TEST(BenchReport, DeviceTimedSummary) {
    const BenchResult r = deviceRun(10, 0.1, 2.0, 0.05, 0.3);
    BenchOptions o;
    ::testing::internal::CaptureStdout();
    printBenchReport(r, o, true, false);
    const std::string out = ::testing::internal::GetCapturedStdout();
    for (const char* s :
         {"[I] Backend: cuda, 1 stream", "[I] Mode: enqueue per iteration", "[I] Throughput: ", "items/s at batch 2",
          "[I] Latency: min = 2.15 ms", "[I] End-to-End Host Latency: min = 2.16 ms", "[I] Enqueue Time: min = 0.3 ms",
          "[I] H2D Latency: min = 0.1 ms", "[I] GPU Compute Time: min = 2 ms", "[I] D2H Latency: min = 0.05 ms",
          "[I] Total Host Walltime: 0.0216 s", "[I] Total GPU Compute Time: 0.02 s"}) {
        EXPECT_NE(out.find(s), std::string::npos) << "no '" << s << "' in:\n" << out;
    }
    EXPECT_EQ(out.find("[W]"), std::string::npos) << "a steady, GPU-bound run has no warnings:\n" << out;
    EXPECT_EQ(out.find("none ("), std::string::npos) << out;
}

TEST(BenchReport, NoDataTransfersSaysNone) {
    const BenchResult r = deviceRun(5, 0, 1.0, 0, 0.1, false);
    ::testing::internal::CaptureStdout();
    printBenchReport(r, BenchOptions{}, false, false);
    const std::string out = ::testing::internal::GetCapturedStdout();
    EXPECT_NE(out.find("H2D Latency: none (no data transfers"), std::string::npos) << out;
    EXPECT_NE(out.find("D2H Latency: none (no data transfers"), std::string::npos) << out;
    EXPECT_NE(out.find("\nLatency: min = 1 ms"), std::string::npos) << out;
    EXPECT_TRUE(benchWarnings(r, BenchOptions{}).empty());
}

TEST(BenchReport, TrtexecWarnings) {
    BenchOptions o;
    // Enqueue above 80% of the GPU compute time: enqueue-bound, with the advice in each command's flags.
    BenchResult enq = deviceRun(20, 0.01, 1.0, 0.01, 0.9);
    EXPECT_TRUE(mentions(benchWarnings(enq, o), "enqueue-bound"));
    EXPECT_TRUE(mentions(benchWarnings(enq, o), "--cuda-graph"));
    EXPECT_TRUE(mentions(benchWarnings(enq, o, true), "--useCudaGraph"));
    enq.cudaGraph = true;
    EXPECT_FALSE(mentions(benchWarnings(enq, o), "--cuda-graph")) << "graphs are in use already";
    EXPECT_FALSE(mentions(benchWarnings(deviceRun(20, 0.01, 1.0, 0.01, 0.7), o), "enqueue-bound"));
    // Copies as long as the compute: transfer-bound, once per direction.
    const auto h2d = benchWarnings(deviceRun(20, 1.0, 1.0, 0.01, 0.1), o, true);
    EXPECT_TRUE(mentions(h2d, "transfer-bound: the host-to-device copies"));
    EXPECT_TRUE(mentions(h2d, "--noDataTransfers"));
    EXPECT_FALSE(mentions(h2d, "device-to-host"));
    EXPECT_TRUE(mentions(benchWarnings(deviceRun(20, 0.01, 1.0, 2.0, 0.1), o), "--no-data-transfers"));
    // Unstable GPU compute time (CV > 2.5%).
    BenchResult noisy = deviceRun(20, 0.01, 1.0, 0.01, 0.1);
    for (size_t i = 0; i < noisy.iterations.size(); i += 2) noisy.iterations[i].computeMs = 1.5;
    const auto unstable = benchWarnings(noisy, o);
    EXPECT_TRUE(mentions(unstable, "GPU compute time varies by 20.5%")) << (unstable.empty() ? "" : unstable[0]);
    EXPECT_TRUE(mentions(unstable, "--spin-wait"));
    // A GPU run is not held to the CPU's streams-per-core rule.
    o.streams = 100000;
    EXPECT_TRUE(benchWarnings(deviceRun(20, 0.01, 1.0, 0.01, 0.1), o).empty());
}

TEST(BenchReport, ExportHasTheDevicePhases) {
    testing::TempDir dir;
    const BenchResult r = deviceRun(3, 0.1, 2.0, 0.05, 0.3);
    ASSERT_TRUE(exportTimes(dir.file("t.json"), r).isOk());
    std::ifstream in(dir.file("t.json"));
    const auto times = nlohmann::json::parse(in);
    ASSERT_EQ(times.size(), 3u);
    for (const auto& t : times) {
        EXPECT_DOUBLE_EQ(t["h2dMs"].get<double>(), 0.1);
        EXPECT_DOUBLE_EQ(t["computeMs"].get<double>(), 2.0);
        EXPECT_DOUBLE_EQ(t["d2hMs"].get<double>(), 0.05);
        EXPECT_DOUBLE_EQ(t["latencyMs"].get<double>(), 2.15);
        EXPECT_NEAR(t["endToEndMs"].get<double>(), 2.16, 1e-12);
    }
}

}  // namespace
}  // namespace kiln::cli
