// `kiln bench` and `kiln exec` on CUDA engines, through the executable: the H2D / GPU Compute / D2H summary with
// sane numbers, CUDA graphs by default (--no-cuda-graph; --cuda-graph's fallback with one warning), --streams,
// --no-data-transfers, --spin-wait, and NVIDIA's benchmarking-guide line through `kiln exec`, unchanged. On the GPU
// machine scripts/gpu_check.sh points KILN_CLI_PATH at the bundled kiln.
#include <gtest/gtest.h>

#include <cmath>
#include <nlohmann/json.hpp>
#include <set>
#include <sstream>

#include "cuda/cuda_op_tester.h"
#include "unit/cli_test_util.h"

namespace kiln::testing {
namespace {

class CliBenchCuda : public ::testing::Test {
protected:
    void SetUp() override { KILN_REQUIRE_GPU(); }
};

//! The number after `stat` ("mean = ", "min = "; "": the first) on the summary line of `metric` ("GPU Compute
//! Time"), with or without trtexec's "[I] " prefix; NaN when there is no such line.
double statOf(const std::string& out, const std::string& metric, const std::string& stat = "mean = ") {
    std::istringstream lines(out);
    for (std::string line; std::getline(lines, line);) {
        if (line.rfind("[I] ", 0) == 0) line = line.substr(4);
        if (line.rfind(metric + ": ", 0) != 0) continue;
        const size_t at = stat.empty() ? metric.size() + 2 : line.find(stat);
        return at == std::string::npos ? std::nan("") : std::strtod(line.c_str() + at + stat.size(), nullptr);
    }
    return std::nan("");
}

//! The summary of a run on the CUDA backend: every line, and numbers that hold together (the phases are > 0,
//! GPU compute ≤ latency = H2D + compute + D2H ≤ the host's end-to-end time). `transfers`: H2D and D2H measured,
//! else reported as none.
void expectCudaSummary(const CliResult& r, bool transfers) {
    ASSERT_EQ(r.exitCode, 0) << r.err << r.out;
    for (const char* s : {"=== Performance summary ===", "Backend: cuda", "Mode: ", "Iterations: ", "Throughput: ",
                          "Total Host Walltime: ", "Total GPU Compute Time: "}) {
        EXPECT_NE(r.out.find(s), std::string::npos) << "no '" << s << "' in:\n" << r.out;
    }
    const double latency = statOf(r.out, "Latency");
    const double compute = statOf(r.out, "GPU Compute Time");
    EXPECT_GT(statOf(r.out, "GPU Compute Time", "min = "), 0) << r.out;
    EXPECT_GT(statOf(r.out, "Enqueue Time"), 0) << r.out;
    EXPECT_LE(compute, latency) << r.out;
    EXPECT_LE(statOf(r.out, "GPU Compute Time", "median = "), statOf(r.out, "Latency", "median = ")) << r.out;
    EXPECT_LT(latency, 1000) << r.out;
    // The device's phases lie inside the host's view of each iteration (the printed numbers have 5 digits).
    EXPECT_GE(statOf(r.out, "End-to-End Host Latency") * 1.001, latency) << r.out;
    EXPECT_GT(statOf(r.out, "Throughput", ""), 0) << r.out;
    if (transfers) {
        EXPECT_GT(statOf(r.out, "H2D Latency"), 0) << r.out;
        EXPECT_GT(statOf(r.out, "D2H Latency"), 0) << r.out;
        EXPECT_NEAR(statOf(r.out, "H2D Latency") + compute + statOf(r.out, "D2H Latency"), latency, 1e-3 * latency)
            << r.out;
    } else {
        EXPECT_NE(r.out.find("H2D Latency: none"), std::string::npos) << r.out;
        EXPECT_NE(r.out.find("D2H Latency: none"), std::string::npos) << r.out;
        EXPECT_NEAR(compute, latency, 1e-3 * latency) << r.out;
    }
}

const char* kRun = " --iterations 40 --duration 0 --warmup 20";

TEST_F(CliBenchCuda, SummaryWithTransfersAndExports) {
    TempDir dir;
    const std::string model = dir.write("conv.onnx", cli_models::convRelu());
    const CliResult r = runKiln(dir, "bench " + shq(model) + " --backend cuda" + kRun + " --export-times " +
                                         shq(dir.file("t.json")) + " --plot " + shq(dir.file("p.png")));
    expectCudaSummary(r, true);
    // CUDA graphs are the default where the engine is capturable (docs/cuda.md).
    EXPECT_NE(r.out.find("Mode: CUDA graph launch per iteration, H2D/D2H copies through pinned host memory, "
                         "blocking wait"),
              std::string::npos)
        << r.out;
    EXPECT_EQ(r.err, "");
    const auto times = nlohmann::json::parse(readFile(dir.file("t.json")));
    ASSERT_GE(times.size(), 40u);
    for (const auto& t : times) {
        EXPECT_GT(t["computeMs"].get<double>(), 0);
        EXPECT_GT(t["h2dMs"].get<double>(), 0);
        EXPECT_GT(t["d2hMs"].get<double>(), 0);
        EXPECT_NEAR(t["latencyMs"].get<double>(),
                    t["h2dMs"].get<double>() + t["computeMs"].get<double>() + t["d2hMs"].get<double>(), 1e-9);
        EXPECT_GE(t["endToEndMs"].get<double>(), t["latencyMs"].get<double>());
    }
    EXPECT_EQ(pngSize(dir.file("p.png")), (std::array<int, 3>{960, 680, 3}));
}

TEST_F(CliBenchCuda, CudaGraph) {
    TempDir dir;
    const std::string model = dir.write("conv.onnx", cli_models::convRelu());
    const CliResult r = runKiln(dir, "bench " + shq(model) + " --backend cuda --cuda-graph" + kRun);
    expectCudaSummary(r, true);
    EXPECT_NE(r.out.find("Mode: CUDA graph launch per iteration"), std::string::npos) << r.out;
    EXPECT_EQ(r.err, "") << "capture should work on Conv + Relu";
}

//! NonZero has no CUDA kernel: it runs on the host, which needs Relu's output there, so enqueue synchronizes the
//! stream and cannot be captured.
onnx::ModelProto hostNodeModel() {
    onnx::ModelProto m = makeModel();
    auto& g = *m.mutable_graph();
    addInput(g, "x", onnx::TensorProto::FLOAT, {64});
    addNode(g, "Relu", {"x"}, {"r"}, "relu");
    addNode(g, "NonZero", {"r"}, {"nz"}, "nonzero");
    auto& y = addOutput(g, "nz", onnx::TensorProto::INT64, {1, 1});
    y.mutable_type()->mutable_tensor_type()->mutable_shape()->mutable_dim(1)->set_dim_param("n");
    return m;
}

TEST_F(CliBenchCuda, CudaGraphFallsBackWithOneWarning) {
    TempDir dir;
    const std::string model = dir.write("host.onnx", hostNodeModel());
    const CliResult r = runKiln(dir, "bench " + shq(model) + " --backend cuda --cuda-graph" + kRun);
    expectCudaSummary(r, true);
    EXPECT_NE(r.out.find("Mode: enqueue per iteration (no CUDA graph: not capturable: "), std::string::npos) << r.out;
    ASSERT_FALSE(r.err.empty());
    EXPECT_EQ(r.err.rfind("kiln: warning: running without CUDA graphs: not capturable: ", 0), 0u) << r.err;
    EXPECT_EQ(r.err.find('\n'), r.err.size() - 1) << "more than one line:\n" << r.err;
    EXPECT_NE(r.err.find("NonZero"), std::string::npos) << "the warning names the node: " << r.err;
    // Without --cuda-graph (graphs are the default) the Mode line says why, and there is no warning.
    const CliResult quiet = runKiln(dir, "bench " + shq(model) + " --backend cuda" + kRun);
    expectCudaSummary(quiet, true);
    EXPECT_NE(quiet.out.find("NonZero"), std::string::npos) << quiet.out;
    EXPECT_EQ(quiet.err, "");
}

TEST_F(CliBenchCuda, CudaGraphsByDefaultAndNoCudaGraph) {
    TempDir dir;
    const std::string model = dir.write("conv.onnx", cli_models::convRelu());
    const CliResult r = runKiln(dir, "bench " + shq(model) + " --backend cuda" + kRun);
    expectCudaSummary(r, true);
    EXPECT_NE(r.out.find("Mode: CUDA graph launch per iteration"), std::string::npos) << r.out;
    const CliResult off = runKiln(dir, "bench " + shq(model) + " --backend cuda --no-cuda-graph" + kRun);
    expectCudaSummary(off, true);
    EXPECT_NE(off.out.find("Mode: enqueue per iteration (no CUDA graph: --no-cuda-graph)"), std::string::npos)
        << off.out;
    EXPECT_EQ(off.err, "");
}

TEST_F(CliBenchCuda, StreamsSpinWaitNoTransfers) {
    TempDir dir;
    const std::string model = dir.write("conv.onnx", cli_models::convRelu());
    const CliResult r =
        runKiln(dir, "bench " + shq(model) + " --backend cuda --streams 2 --spin-wait --no-data-transfers" + kRun +
                         " --export-times " + shq(dir.file("t.json")));
    expectCudaSummary(r, false);
    EXPECT_NE(r.out.find("Backend: cuda, 2 streams"), std::string::npos) << r.out;
    EXPECT_NE(r.out.find(", no data transfers, spin-wait"), std::string::npos) << r.out;
    std::set<int> streams;
    for (const auto& t : nlohmann::json::parse(readFile(dir.file("t.json")))) streams.insert(t["stream"].get<int>());
    EXPECT_EQ(streams, (std::set<int>{0, 1}));
    // The same with CUDA graphs on both streams.
    const CliResult g = runKiln(dir, "bench " + shq(model) + " --backend cuda --streams 2 --cuda-graph" + kRun);
    expectCudaSummary(g, true);
    EXPECT_NE(g.out.find("Mode: CUDA graph launch per iteration"), std::string::npos) << g.out;
}

TEST_F(CliBenchCuda, EngineFilesAndTheAutomaticBackend) {
    TempDir dir;
    const std::string model = dir.write("dyn.onnx", cli_models::convRelu(true));
    const std::string engine = dir.file("dyn.engine");
    ASSERT_EQ(runKiln(dir, "build -q " + shq(model) + " -o " + shq(engine) +
                               " --backend cuda --min-shapes x:1x3x8x8 --opt-shapes x:4x3x8x8 --max-shapes x:8x3x8x8")
                  .exitCode,
              0);
    const CliResult r = runKiln(dir, "bench " + shq(engine) + " --shapes x:8x3x8x8" + kRun);
    expectCudaSummary(r, true);
    EXPECT_NE(r.out.find("items/s at batch 8"), std::string::npos) << r.out;
    // An ONNX model without --backend builds for the GPU when there is one, and the bench follows.
    const CliResult a = runKiln(dir, "bench " + shq(dir.write("conv.onnx", cli_models::convRelu())) + kRun);
    expectCudaSummary(a, true);
}

TEST_F(CliBenchCuda, BadDeviceIsOneLine) {
    TempDir dir;
    const std::string model = dir.write("conv.onnx", cli_models::convRelu());
    expectOneErrorLine(runKiln(dir, "bench " + shq(model) + " --backend cuda --device 99" + kRun), {"device 99"},
                       "a device that does not exist", 3);
}

//! A stand-in for the guide's resnet50.onnx with its input name and shape: input[N, 3, 224, 224] → Conv 3x3
//! stride 2 → Relu → GlobalAveragePool → output[N, 8, 1, 1].
onnx::ModelProto guideModel() {
    onnx::ModelProto m = makeModel();
    auto& g = *m.mutable_graph();
    auto& x = addInput(g, "input", onnx::TensorProto::FLOAT, {1, 3, 224, 224});
    x.mutable_type()->mutable_tensor_type()->mutable_shape()->mutable_dim(0)->set_dim_param("batch");
    std::vector<float> w(8 * 3 * 3 * 3);
    for (size_t i = 0; i < w.size(); ++i) w[i] = static_cast<float>((i * 5) % 13) / 13.0f - 0.5f;
    addInitializer(g, floatTensor("W", {8, 3, 3, 3}, w));
    auto& conv = addNode(g, "Conv", {"input", "W"}, {"c"}, "conv");
    addIntsAttr(conv, "strides", {2, 2});
    addIntsAttr(conv, "pads", {1, 1, 1, 1});
    addNode(g, "Relu", {"c"}, {"r"}, "relu");
    addNode(g, "GlobalAveragePool", {"r"}, {"output"}, "gap");
    auto& y = addOutput(g, "output", onnx::TensorProto::FLOAT, {1, 8, 1, 1});
    y.mutable_type()->mutable_tensor_type()->mutable_shape()->mutable_dim(0)->set_dim_param("batch");
    return m;
}

TEST_F(CliBenchCuda, ExecRunsTheGuideLineUnchanged) {
    TempDir dir;
    dir.write("resnet50.onnx", guideModel());
    const std::string guide =
        "--onnx=resnet50.onnx --shapes=input:4x3x224x224 --fp16 --noDataTransfers --useCudaGraph --useSpinWait";
    const CliResult r = runKiln(dir, "exec " + guide, dir.path().string());
    expectCudaSummary(r, false);
    for (const char* s : {"&&&& RUNNING Kiln.exec", "&&&& PASSED Kiln.exec", "[I] === Performance summary ===",
                          "[I] Mode: CUDA graph launch per iteration, no data transfers, spin-wait",
                          "[I] GPU Compute Time: min = ", "[I] H2D Latency: none", "items/s at batch 4"}) {
        EXPECT_NE(r.out.find(s), std::string::npos) << "no '" << s << "' in:\n" << r.out;
    }
    EXPECT_EQ(r.err.find("warning"), std::string::npos) << r.err;
    // trtexec's transfers and streams flags.
    const CliResult t =
        runKiln(dir,
                "exec --onnx=resnet50.onnx --shapes=input:2x3x224x224 --useSpinWait --streams=2 --iterations=20 "
                "--duration=0",
                dir.path().string());
    expectCudaSummary(t, true);
    EXPECT_NE(t.out.find("[I] H2D Latency: min = "), std::string::npos) << t.out;
    EXPECT_NE(t.out.find("[I] Backend: cuda, 2 streams"), std::string::npos) << t.out;
}

}  // namespace
}  // namespace kiln::testing
