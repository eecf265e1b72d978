// Tactic timing at build (backends/cuda/tactics.h, docs/cuda.md "Tactic timing"): a small ResNet-50-style network
// (stem, one bottleneck with a projection shortcut, classifier) built for CUDA in FP16 at levels 0 and 3 computes
// the same function; level 3 records a tactic on every cuDNN / cuBLASLt layer, the tactics survive serialization,
// a warm timing cache makes the rebuild time nothing, the workspace limit bounds the choices, and other shapes of a
// dynamic profile run on the heuristics.
#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>
#include <iostream>
#include <random>
#include <regex>

#include "backends/cuda/tactics.h"
#include "cuda/cuda_op_tester.h"
#include "cuda/engine_build_util.h"
#include "kiln/kiln.h"
#include "plan/engine_file.h"
#include "plan/timing_cache.h"
#include "unit/cli_test_util.h"
#include "unit/model_builder.h"

namespace kiln::testing {
namespace {

constexpr const char* kTactic = cuda::kTacticAttribute;

//! A number the tactics summary line gives before `what` ("12 problems timed" → 12); -1 when absent.
long summaryCount(const std::string& line, const std::string& what) {
    std::smatch m;
    if (!std::regex_search(line, m, std::regex("(\\d+) " + what))) return -1;
    return std::stol(m[1]);
}

std::vector<float> uniform(size_t n, float scale, uint32_t seed) {
    std::mt19937 rng(seed);
    std::uniform_real_distribution<float> dist(-scale, scale);
    std::vector<float> v(n);
    for (float& x : v) x = dist(rng);
    return v;
}

void conv(onnx::GraphProto& g, const std::string& in, const std::string& out, int64_t cin, int64_t cout, int64_t k,
          int64_t stride, uint32_t seed) {
    const float scale = 1.0f / std::sqrt(static_cast<float>(cin * k * k));
    addInitializer(g, floatTensor(out + "_W", {cout, cin, k, k}, uniform(size_t(cout * cin * k * k), scale, seed)));
    addInitializer(g, floatTensor(out + "_B", {cout}, uniform(size_t(cout), 0.1f, seed + 1)));
    auto& n = addNode(g, "Conv", {in, out + "_W", out + "_B"}, {out}, out);
    const int64_t pad = k / 2;
    addIntsAttr(n, "pads", {pad, pad, pad, pad});
    addIntsAttr(n, "strides", {stride, stride});
}

//! x [N, 3, 32, 32] → 3x3 stem + relu → bottleneck (1x1 → 3x3/2 → 1x1, with a 1x1/2 projection) + relu → global
//! pool → flatten → gemm [N, 10]. `batch` -1: a dynamic batch dim.
std::string writeBottleneckNet(TempDir& dir, int64_t batch) {
    onnx::ModelProto m = makeModel();
    auto& g = *m.mutable_graph();
    auto& x = addInput(g, "x", onnx::TensorProto::FLOAT, {batch < 0 ? 1 : batch, 3, 32, 32});
    if (batch < 0) x.mutable_type()->mutable_tensor_type()->mutable_shape()->mutable_dim(0)->set_dim_param("N");
    conv(g, "x", "stem", 3, 32, 3, 1, 1);
    addNode(g, "Relu", {"stem"}, {"stem_r"}, "stem_relu");
    conv(g, "stem_r", "a", 32, 16, 1, 1, 10);
    addNode(g, "Relu", {"a"}, {"a_r"}, "a_relu");
    conv(g, "a_r", "b", 16, 16, 3, 2, 20);
    addNode(g, "Relu", {"b"}, {"b_r"}, "b_relu");
    conv(g, "b_r", "c", 16, 64, 1, 1, 30);
    conv(g, "stem_r", "proj", 32, 64, 1, 2, 40);
    addNode(g, "Add", {"c", "proj"}, {"sum"}, "residual");
    addNode(g, "Relu", {"sum"}, {"out_r"}, "out_relu");
    addNode(g, "GlobalAveragePool", {"out_r"}, {"gap"}, "gap");
    addNode(g, "Flatten", {"gap"}, {"flat"}, "flatten");
    addInitializer(g, floatTensor("fc_W", {64, 10}, uniform(640, 0.125f, 50)));
    addInitializer(g, floatTensor("fc_B", {10}, uniform(10, 0.1f, 51)));
    addNode(g, "Gemm", {"flat", "fc_W", "fc_B"}, {"logits"}, "fc");
    addOutput(g, "logits", onnx::TensorProto::FLOAT, {batch < 0 ? 1 : batch, 10});
    return dir.write("bottleneck.onnx", m);
}

struct Options {
    Backend backend = Backend::kCuda;
    int level = 3;
    std::string timingCache;
    size_t workspace = 0;
    bool dynamic = false;
};

void build(const std::string& path, const Options& o, Built& out) {
    buildFile(
        path, o.backend,
        [&](Builder& builder, BuilderConfig& config) {
            if (o.backend == Backend::kCuda) config.setFlag(BuilderFlag::kFP16);
            ASSERT_TRUE(config.setOptimizationLevel(o.level).isOk());
            if (!o.timingCache.empty()) config.setTimingCachePath(o.timingCache);
            config.setMemoryPoolLimit(o.workspace);
            if (!o.dynamic) return;
            auto profile = builder.createOptimizationProfile();
            ASSERT_TRUE(profile->setDimensions("x", OptProfileSelector::kMIN, {1, 3, 32, 32}).isOk());
            ASSERT_TRUE(profile->setDimensions("x", OptProfileSelector::kOPT, {4, 3, 32, 32}).isOk());
            ASSERT_TRUE(profile->setDimensions("x", OptProfileSelector::kMAX, {8, 3, 32, 32}).isOk());
            ASSERT_TRUE(config.addOptimizationProfile(*profile).isOk());
        },
        out);
}

//! Node name → [signature, tactic] for every node with a tactic.
std::map<std::string, std::vector<std::string>> tactics(const ir::Graph& g) {
    std::map<std::string, std::vector<std::string>> out;
    for (const auto& n : g.nodes()) {
        if (auto t = n->attrs().getStrings(kTactic)) out[n->name()] = *t;
    }
    return out;
}

//! The nodes whose CUDA kernels call cuDNN or cuBLASLt in this network.
size_t libraryLayers(const ir::Graph& g) {
    size_t count = 0;
    for (const auto& n : g.nodes()) {
        switch (n->op()) {
            case ir::OpKind::kFusedConvNhwc:
            case ir::OpKind::kConv:
            case ir::OpKind::kFusedConv:
            case ir::OpKind::kGemm:
            case ir::OpKind::kFusedGemm:
            case ir::OpKind::kMatMul:
            case ir::OpKind::kFusedMatMul: ++count; break;
            default: break;
        }
    }
    return count;
}

// Host-side rules, checked without a GPU.

TEST(CudaTacticsHost, EffortGrowsWithTheLevel) {
    EXPECT_EQ(cuda::tuningEffort(0).iterations, 0) << "level 0 times nothing";
    for (int level = 1; level <= 5; ++level) {
        const cuda::TuningEffort lower = cuda::tuningEffort(level - 1), e = cuda::tuningEffort(level);
        EXPECT_GT(e.candidates, lower.candidates) << level;
        EXPECT_GE(e.iterations, lower.iterations) << level;
        EXPECT_GE(e.warmups, 1) << level;
    }
    EXPECT_EQ(cuda::tuningEffort(5).candidates, SIZE_MAX) << "level 5: every candidate";
    EXPECT_EQ(cuda::budgetText(SIZE_MAX), "none");
    EXPECT_EQ(cuda::budgetText(1024), "1024");
}

TEST(CudaTacticsHost, RecordedTacticIsUsedOnlyForItsSignature) {
    ir::Graph g("g");
    ir::Node* node = g.addNode(ir::OpKind::kConv, "conv", 17);
    cuda::RunState run;
    cuda::CudaKernelContext ctx{*node, run, {}, {}, {}, {}};
    auto never = []() -> Result<cuda::TacticCandidates> { return internalError("no timing at run time"); };
    EXPECT_FALSE(cuda::mayHaveTactic(ctx)) << "no tuner, no attribute: no signature is built";
    const std::string sig =
        cuda::Signature("cudnn.fwd").add("dtype", "float16").dims("in", Shape{4, 64, 56, 56}, 4).text();
    EXPECT_EQ(sig, "cudnn.fwd|dtype=float16|in=4x64x56x56");
    node->attrs().set(kTactic, std::vector<std::string>{sig, "algo=1 math=1 workspace=0"});
    EXPECT_TRUE(cuda::mayHaveTactic(ctx));
    auto same = cuda::chooseTactic(ctx, sig, never);
    ASSERT_TRUE(same.isOk()) << same.status().message();
    EXPECT_EQ(*same, "algo=1 math=1 workspace=0");
    auto other = cuda::chooseTactic(ctx, "cudnn.fwd|dtype=float16|in=2x64x56x56", never);
    ASSERT_TRUE(other.isOk()) << other.status().message();
    EXPECT_EQ(*other, "") << "another shape of a dynamic profile: the heuristics";
    node->attrs().set(kTactic, std::vector<std::string>{sig});
    EXPECT_EQ(cuda::chooseTactic(ctx, sig, never).value(), "") << "a malformed attribute is no tactic";
}

TEST(CudaTactics, LevelThreeMatchesLevelZeroAndTunesEveryLibraryLayer) {
    KILN_REQUIRE_GPU();
    TempDir dir;
    const std::string path = writeBottleneckNet(dir, 4);
    Built cpu, level0, level3;
    build(path, Options{Backend::kCpu, 3, {}, 0, false}, cpu);
    build(path, Options{Backend::kCuda, 0, {}, 0, false}, level0);
    build(path, Options{Backend::kCuda, 3, {}, 0, false}, level3);
    EXPECT_NE(level0.logger.find("optimization level 0 times nothing"), "");
    EXPECT_TRUE(tactics(*level0.net.graph).empty());
    const auto chosen = tactics(*level3.net.graph);
    const size_t layers = libraryLayers(*level3.net.graph);
    EXPECT_GE(layers, 6u) << "5 convolutions and the classifier";
    EXPECT_EQ(chosen.size(), layers) << level3.summary();
    for (const auto& [name, t] : chosen) {
        ASSERT_EQ(t.size(), 2u) << name;
        EXPECT_TRUE(t[0].rfind("cudnn.", 0) == 0 || t[0].rfind("cublaslt.", 0) == 0) << name << ": " << t[0];
        EXPECT_NE(t[1].find("workspace="), std::string::npos) << name << ": " << t[1];
    }
    std::cout << "  " << level3.summary() << "\n";
    EXPECT_EQ(summaryCount(level3.summary(), "layers tuned"), static_cast<long>(layers));
    EXPECT_GT(summaryCount(level3.summary(), "problems timed"), 0);

    const Tensor x = randomTensor(DataType::kFloat32, {4, 3, 32, 32}, seed());
    const Tensor want = runLogits(*cpu.net.engine, x);
    const Tensor got0 = runLogits(*level0.net.engine, x);
    const Tensor got3 = runLogits(*level3.net.engine, x);
    EXPECT_LE(relativeError(got0, want), 1e-2);
    EXPECT_LE(relativeError(got3, want), 1e-2);
    EXPECT_LE(relativeError(got3, got0), 1e-2) << "the timed algorithms compute the same function";
}

TEST(CudaTactics, TacticsSurviveSerialization) {
    KILN_REQUIRE_GPU();
    TempDir dir;
    const std::string path = writeBottleneckNet(dir, 4);
    Built built;
    build(path, Options{}, built);
    auto bytes = plan::serializeEngine(*built.net.graph, built.net.metadata);
    ASSERT_TRUE(bytes.isOk()) << bytes.status().message();
    plan::EngineExpectation expect;
    expect.backend = "cuda";  // the bytes are this GPU's
    expect.deviceName = built.net.metadata.deviceName;
    expect.computeMajor = built.net.metadata.computeMajor;
    expect.computeMinor = built.net.metadata.computeMinor;
    auto file = plan::loadEngineFromMemory(bytes->data(), bytes->size(), nullptr, expect);
    ASSERT_TRUE(file.isOk()) << file.status().message();
    const auto before = tactics(*built.net.graph);
    EXPECT_FALSE(before.empty());
    EXPECT_EQ(tactics(*file->graph), before);

    RecordingLogger logger;
    Runtime runtime(logger);
    auto loaded = runtime.deserializeEngine(bytes->data(), bytes->size());
    ASSERT_TRUE(loaded.isOk()) << loaded.status().message();
    EXPECT_EQ(logger.find("tactics: "), "") << "loading times nothing";
    const Tensor x = randomTensor(DataType::kFloat32, {4, 3, 32, 32}, seed());
    EXPECT_LE(relativeError(runLogits(**loaded, x), runLogits(*built.net.engine, x)), 1e-3);
}

TEST(CudaTactics, WarmTimingCacheTimesNothing) {
    KILN_REQUIRE_GPU();
    TempDir dir;
    const std::string path = writeBottleneckNet(dir, 4);
    const std::string cache = dir.file("kiln.timing-cache");
    Built cold, warm;
    build(path, Options{Backend::kCuda, 3, cache, 0, false}, cold);
    ASSERT_TRUE(std::filesystem::exists(cache));
    EXPECT_NE(cold.logger.find("does not exist yet"), "");
    build(path, Options{Backend::kCuda, 3, cache, 0, false}, warm);
    std::cout << "  cold: " << cold.seconds << " s, " << cold.summary() << "\n  warm: " << warm.seconds << " s, "
              << warm.summary() << "\n";
    EXPECT_GT(summaryCount(cold.summary(), "problems timed"), 0);
    EXPECT_EQ(summaryCount(warm.summary(), "problems timed"), 0);
    EXPECT_EQ(summaryCount(warm.summary(), "candidates"), 0);
    EXPECT_GT(summaryCount(warm.summary(), "cache hits"), 0);
    EXPECT_EQ(tactics(*warm.net.graph), tactics(*cold.net.graph));
    EXPECT_NE(warm.summary().find("(0 new)"), std::string::npos) << warm.summary();
}

TEST(CudaTactics, CorruptTimingCacheWarnsAndIsReplaced) {
    KILN_REQUIRE_GPU();
    TempDir dir;
    const std::string path = writeBottleneckNet(dir, 4);
    const std::string cache = dir.writeBytes("bad.cache", "{ not a timing cache");
    Built b;
    build(path, Options{Backend::kCuda, 2, cache, 0, false}, b);
    const std::string warning = b.logger.find("is corrupt");
    EXPECT_NE(warning.find(cache), std::string::npos) << warning;
    auto parsed = plan::TimingCache::parse(readFile(cache), cache);
    ASSERT_TRUE(parsed.isOk()) << parsed.status().message();
    EXPECT_GT(parsed->size(), 0u);
}

TEST(CudaTactics, WorkspaceLimitBoundsTheChoices) {
    KILN_REQUIRE_GPU();
    TempDir dir;
    constexpr size_t kLimit = 64 << 10;
    Built b;
    build(writeBottleneckNet(dir, 4), Options{Backend::kCuda, 5, {}, kLimit, false}, b);
    const auto chosen = tactics(*b.net.graph);
    EXPECT_FALSE(chosen.empty()) << b.summary();
    for (const auto& [name, t] : chosen) {
        std::smatch m;
        ASSERT_TRUE(std::regex_search(t[1], m, std::regex("workspace=(\\d+)"))) << t[1];
        EXPECT_LE(std::stoull(m[1]), kLimit) << name;
        EXPECT_NE(t[0].find("workspace=" + std::to_string(kLimit)), std::string::npos) << t[0];
    }
}

TEST(CudaTactics, OtherShapesOfADynamicProfileRunOnTheHeuristics) {
    KILN_REQUIRE_GPU();
    TempDir dir;
    const std::string path = writeBottleneckNet(dir, -1);
    Built cpu, cuda;
    build(path, Options{Backend::kCpu, 3, {}, 0, true}, cpu);
    build(path, Options{Backend::kCuda, 3, {}, 0, true}, cuda);
    const auto chosen = tactics(*cuda.net.graph);
    ASSERT_FALSE(chosen.empty());
    for (const auto& [name, t] : chosen) {
        if (t[0].rfind("cudnn.", 0) == 0) {
            EXPECT_NE(t[0].find("in=4x"), std::string::npos) << "tuned at opt: " << t[0];
        }
    }
    for (int64_t batch : {1, 2, 4, 8}) {
        SCOPED_TRACE("batch " + std::to_string(batch));
        const Tensor x = randomTensor(DataType::kFloat32, {batch, 3, 32, 32}, seed());
        EXPECT_LE(relativeError(runLogits(*cuda.net.engine, x), runLogits(*cpu.net.engine, x)), 1e-2);
    }
}

TEST(CudaTactics, CommandLineRebuildWithTheTimingCacheTimesNothing) {
    KILN_REQUIRE_GPU();
    TempDir dir;
    const std::string model = writeBottleneckNet(dir, 4);
    const std::string cache = dir.file("h100.cache");
    std::vector<std::string> summaries;
    for (const char* level : {"3", "3", "0"}) {
        const CliResult r =
            runKiln(dir, "-v build " + shq(model) + " -o " + shq(dir.file("b.engine")) +
                             " --force --backend cuda --fp16 --opt-level " + level + " --timing-cache " + shq(cache));
        ASSERT_EQ(r.exitCode, 0) << r.err;
        const size_t at = r.err.find("tactics: ");
        summaries.push_back(at == std::string::npos ? "" : r.err.substr(at, r.err.find('\n', at) - at));
        if (summaries.size() == 2) {
            const CliResult info = runKiln(dir, "inspect " + shq(dir.file("b.engine")));
            ASSERT_EQ(info.exitCode, 0) << info.err;
            EXPECT_NE(info.out.find("[cudnn."), std::string::npos) << "tactics shown per layer:\n" << info.out;
        }
    }
    EXPECT_GT(summaryCount(summaries[0], "problems timed"), 0) << summaries[0];
    EXPECT_EQ(summaryCount(summaries[1], "problems timed"), 0) << summaries[1];
    EXPECT_NE(summaries[2].find("level 0 times nothing"), std::string::npos) << summaries[2];
    auto parsed = plan::TimingCache::parse(readFile(cache), cache);
    ASSERT_TRUE(parsed.isOk()) << parsed.status().message();
    EXPECT_GT(parsed->size(), 0u);
}

}  // namespace
}  // namespace kiln::testing
