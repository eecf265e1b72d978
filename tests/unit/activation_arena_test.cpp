// The CPU execution context's activation arena (src/runtime/activation_arena.h): a static engine's context owns one
// arena of Engine::getActivationMemorySize bytes and runs every activation in it; a dynamic engine's context plans
// after its first run per input shapes; outputs are bit-identical to the heap-allocating reference executor on
// every ONNX node test model and the real models.
#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <optional>
#include <thread>

#include "api_test_util.h"
#include "backends/cpu/executor.h"
#include "frontend/onnx/importer.h"
#include "kiln/kiln.h"
#include "model_builder.h"
#include "plan/engine_file.h"
#include "plan_test_util.h"
#include "runtime/activation_arena.h"
#include "runtime/engine_impl.h"

namespace kiln::testing {
namespace {

namespace fs = std::filesystem;
using runtime::ArenaStats;
using runtime::arenaStatsOf;

//! A static residual block: y = MatMul(Reshape(Relu(Conv(x) + x)), W) with x float32[1, 4, 6, 6], plus a
//! Reshape that aliases its input (so the arena has to copy it into its own place).
std::string writeStaticModel(const TempDir& dir) {
    onnx::ModelProto m = makeModel();
    auto& g = *m.mutable_graph();
    addInput(g, "x", onnx::TensorProto::FLOAT, {1, 4, 6, 6});
    std::vector<float> w(4 * 4 * 3 * 3), fc(144 * 5);
    for (size_t i = 0; i < w.size(); ++i) w[i] = static_cast<float>(static_cast<int>(i % 7) - 3) * 0.125f;
    for (size_t i = 0; i < fc.size(); ++i) fc[i] = static_cast<float>(static_cast<int>(i % 11) - 5) * 0.0625f;
    addInitializer(g, floatTensor("w", {4, 4, 3, 3}, w));
    addInitializer(g, floatTensor("fc", {144, 5}, fc));
    onnx::TensorProto shape;
    shape.set_name("shape");
    shape.set_data_type(onnx::TensorProto::INT64);
    shape.add_dims(2);
    shape.add_int64_data(1);
    shape.add_int64_data(144);
    addInitializer(g, shape);
    auto& conv = addNode(g, "Conv", {"x", "w"}, {"c"}, "conv");
    addIntsAttr(conv, "pads", {1, 1, 1, 1});
    addNode(g, "Add", {"c", "x"}, {"s"}, "residual");
    addNode(g, "Relu", {"s"}, {"r"}, "relu");
    addNode(g, "Reshape", {"r", "shape"}, {"flat"}, "flatten");
    addNode(g, "MatMul", {"flat", "fc"}, {"mm"}, "fc");
    addNode(g, "Sigmoid", {"mm"}, {"y"}, "sigmoid");
    addOutput(g, "y", onnx::TensorProto::FLOAT, {1, 5});
    return dir.write("static.onnx", m);
}

Tensor patternInput(const Shape& shape, float phase) {
    Tensor t(DataType::kFloat32, shape);
    for (int64_t i = 0; i < t.numel(); ++i) t.data<float>()[i] = std::sin(static_cast<float>(i) * 0.37f + phase);
    return t;
}

struct BuiltBlob {
    CollectingLogger logger;
    std::unique_ptr<HostMemory> blob;
    std::unique_ptr<Engine> engine;
    std::unique_ptr<ir::Graph> graph;  // the engine's graph, run by the heap-allocating reference executor
};

void buildBlob(BuiltBlob& b, const std::string& model) {
    Builder builder(b.logger);
    auto network = builder.createNetwork();
    OnnxParser parser(*network, b.logger);
    ASSERT_TRUE(parser.parseFromFile(model).isOk());
    auto config = builder.createBuilderConfig();
    config->setBackend(Backend::kCpu);  // the CPU backend's arena
    auto blob = builder.buildSerializedNetwork(*network, *config);
    ASSERT_TRUE(blob.isOk()) << blob.status().message();
    b.blob = std::move(blob).value();
    Runtime runtime(b.logger);
    auto engine = runtime.deserializeEngine(b.blob->data(), b.blob->size());
    ASSERT_TRUE(engine.isOk()) << engine.status().message();
    b.engine = std::move(engine).value();
    auto file = plan::loadEngineFromMemory(b.blob->data(), b.blob->size(), nullptr);
    ASSERT_TRUE(file) << file.status().message();
    b.graph = std::move(file->graph);
}

TEST(ActivationArena, StaticModelRunsInOneArena) {
    TempDir dir;
    BuiltBlob b;
    buildBlob(b, writeStaticModel(dir));
    const size_t arena = b.engine->getActivationMemorySize();
    ASSERT_GT(arena, 0u);
    auto ctx = b.engine->createExecutionContext();
    ASSERT_TRUE(ctx.isOk());
    EXPECT_EQ(arenaStatsOf(**ctx).arenaBytes, arena);  // allocated with the context

    std::vector<float> y(5);
    for (int run = 0; run < 3; ++run) {
        Tensor x = patternInput({1, 4, 6, 6}, static_cast<float>(run));
        ASSERT_TRUE((*ctx)->setTensorAddress("x", x.raw()).isOk());
        ASSERT_TRUE((*ctx)->setTensorAddress("y", y.data(), y.size() * sizeof(float)).isOk());
        ASSERT_TRUE((*ctx)->enqueue().isOk());
        const ArenaStats s = arenaStatsOf(**ctx);
        EXPECT_EQ(s.arenaBytes, arena);
        EXPECT_EQ(s.onHeap, 0u) << "an activation was allocated outside the arena";
        EXPECT_GE(s.copiedIn, 1u) << "the Reshape's alias is copied into its own place";
        EXPECT_GE(s.inArena, 2u);  // the fused Conv+Add+Relu and MatMul+Sigmoid

        auto want = cpu::Executor().run(*b.graph, {x});
        ASSERT_TRUE(want.isOk()) << want.status().message();
        ASSERT_EQ((*want)[0].numel(), 5);
        EXPECT_EQ(std::memcmp((*want)[0].raw(), y.data(), 5 * sizeof(float)), 0) << "run " << run;

        // infer returns tensors of its own: the next run does not overwrite them.
        auto out = (*ctx)->infer({{"x", x}});
        ASSERT_TRUE(out.isOk());
        const Tensor kept = out->at("y");
        ASSERT_TRUE((*ctx)->infer({{"x", patternInput({1, 4, 6, 6}, 9.0f)}}).isOk());
        EXPECT_EQ(std::memcmp(kept.raw(), y.data(), 5 * sizeof(float)), 0);
    }
    std::printf("  static block: arena %zu bytes, activations %zu bytes; per run %zu in place, %zu copied in\n", arena,
                arenaStatsOf(**ctx).plannedBytes, arenaStatsOf(**ctx).inArena, arenaStatsOf(**ctx).copiedIn);
}

TEST(ActivationArena, ContextsOfOneStaticEngineRunConcurrently) {
    // Each context has an arena of its own over the plan the engine shares (scripts/tsan.sh runs this under TSan).
    TempDir dir;
    BuiltBlob b;
    buildBlob(b, writeStaticModel(dir));
    const Tensor x = patternInput({1, 4, 6, 6}, 0.5f);
    auto want = cpu::Executor().run(*b.graph, {x});
    ASSERT_TRUE(want.isOk());
    constexpr int kThreads = 8, kRuns = 250;
    std::vector<int> mismatches(kThreads, 0);
    std::vector<std::thread> threads;
    for (int t = 0; t < kThreads; ++t) {
        threads.emplace_back([&, t] {
            auto ctx = b.engine->createExecutionContext();
            std::vector<float> y(5);
            if (!ctx || !(*ctx)->setTensorAddress("x", const_cast<void*>(x.raw())) ||
                !(*ctx)->setTensorAddress("y", y.data())) {
                mismatches[static_cast<size_t>(t)] = -1;
                return;
            }
            for (int i = 0; i < kRuns; ++i) {
                const bool ok = (*ctx)->enqueue().isOk() && arenaStatsOf(**ctx).onHeap == 0;
                if (!ok || std::memcmp(y.data(), (*want)[0].raw(), sizeof(float) * 5) != 0) {
                    ++mismatches[static_cast<size_t>(t)];
                }
            }
        });
    }
    for (auto& th : threads) th.join();
    for (int t = 0; t < kThreads; ++t) EXPECT_EQ(mismatches[static_cast<size_t>(t)], 0) << "thread " << t;
}

//! y = Relu(x · W) with x float32[N, 3] (N dynamic).
std::string writeDynamicModel(const TempDir& dir) {
    onnx::ModelProto m = makeModel();
    auto& g = *m.mutable_graph();
    auto& x = addInput(g, "x", onnx::TensorProto::FLOAT, {1, 3});
    x.mutable_type()->mutable_tensor_type()->mutable_shape()->mutable_dim(0)->set_dim_param("N");
    addInitializer(g, floatTensor("W", {3, 4}, {1, -2, 3, -4, 0.5f, 0.25f, -1, 2, 3, 1, -0.5f, 0}));
    addNode(g, "MatMul", {"x", "W"}, {"xw"}, "mm");
    addNode(g, "Relu", {"xw"}, {"r"}, "relu");
    addNode(g, "Neg", {"r"}, {"y"}, "neg");
    auto& y = addOutput(g, "y", onnx::TensorProto::FLOAT, {1, 4});
    y.mutable_type()->mutable_tensor_type()->mutable_shape()->mutable_dim(0)->set_dim_param("N");
    return dir.write("dyn.onnx", m);
}

TEST(ActivationArena, DynamicEnginePlansPerInputShapes) {
    TempDir dir;
    CollectingLogger logger;
    Builder builder(logger);
    auto network = builder.createNetwork();
    OnnxParser parser(*network, logger);
    ASSERT_TRUE(parser.parseFromFile(writeDynamicModel(dir)).isOk());
    auto config = builder.createBuilderConfig();
    config->setBackend(Backend::kCpu);  // the CPU backend's arena
    auto profile = builder.createOptimizationProfile();
    ASSERT_TRUE(profile->setDimensions("x", OptProfileSelector::kMIN, {1, 3}).isOk());
    ASSERT_TRUE(profile->setDimensions("x", OptProfileSelector::kOPT, {4, 3}).isOk());
    ASSERT_TRUE(profile->setDimensions("x", OptProfileSelector::kMAX, {64, 3}).isOk());
    ASSERT_TRUE(config->addOptimizationProfile(*profile).isOk());
    auto engine = builder.buildEngine(*network, *config);
    ASSERT_TRUE(engine.isOk()) << engine.status().message();
    EXPECT_EQ((*engine)->getActivationMemorySize(), 0u);  // depends on the shapes given at run time
    auto ctx = (*engine)->createExecutionContext();
    ASSERT_TRUE(ctx.isOk());

    auto runOnce = [&](int64_t n, float phase) {
        const Tensor x = patternInput({n, 3}, phase);
        auto out = (*ctx)->infer({{"x", x}});
        EXPECT_TRUE(out.isOk()) << out.status().message();
        const Tensor& y = out->at("y");
        EXPECT_EQ(y.shape(), (Shape{n, 4}));
        const float w[12] = {1, -2, 3, -4, 0.5f, 0.25f, -1, 2, 3, 1, -0.5f, 0};
        for (int64_t r = 0; r < n; ++r) {
            for (int64_t c = 0; c < 4; ++c) {
                float s = 0;
                for (int64_t k = 0; k < 3; ++k) s += x.data<float>()[r * 3 + k] * w[k * 4 + c];
                EXPECT_FLOAT_EQ(y.data<float>()[r * 4 + c], -std::max(s, 0.0f));
            }
        }
        return arenaStatsOf(**ctx);
    };
    ArenaStats s = runOnce(8, 0.0f);  // recorded on the heap
    EXPECT_EQ(s.arenaBytes, 0u);
    const size_t activations = s.onHeap;
    EXPECT_GE(activations, 2u);
    s = runOnce(8, 1.0f);  // planned for 8x3
    EXPECT_GT(s.arenaBytes, 0u);
    EXPECT_EQ(s.onHeap, 0u);
    EXPECT_EQ(s.inArena, activations);
    const size_t small = s.arenaBytes;
    s = runOnce(64, 2.0f);  // new shapes: recorded again
    EXPECT_EQ(s.inArena, 0u);
    s = runOnce(64, 3.0f);
    EXPECT_EQ(s.onHeap, 0u);
    EXPECT_GT(s.arenaBytes, small);
}

// ---- every ONNX node test model and the real models: arena runs equal heap runs bit for bit ---------------------

//! Runs `graph` through a CPU engine's context twice (the second run of a dynamic engine uses the arena) and
//! compares both with the heap-allocating executor. Empty when equal; else the difference; nullopt when not
//! applicable (the reference does not run it, random outputs, test data the API refuses).
std::optional<std::string> compareWithHeap(std::shared_ptr<const ir::Graph> graph, const std::vector<Tensor>& inputs,
                                           std::vector<runtime::ProfileShapes> profiles, ArenaStats* stats) {
    auto heap = cpu::Executor().run(*graph, inputs);
    if (!heap) return std::nullopt;
    auto again = cpu::Executor().run(*graph, inputs);
    if (!again || !bitwiseDiff(*heap, *again).empty()) return std::nullopt;
    CollectingLogger logger;
    auto engine = runtime::makeCpuEngine(graph, std::move(profiles), logger);
    if (!engine) return "engine: " + engine.status().message();
    auto ctx = (*engine)->createExecutionContext();
    if (!ctx) return "context: " + ctx.status().message();
    std::map<std::string, Tensor> named;
    for (size_t i = 0; i < inputs.size(); ++i) {
        // Test data the API checks more strictly than the executor (bfloat16 read as uint16, shapes that
        // contradict the model's own declarations): not applicable.
        const ir::Value* in = graph->inputs()[i];
        if (in->dtype() != inputs[i].dtype() || !(*ctx)->setInputShape(in->name(), inputs[i].shape())) {
            return std::nullopt;
        }
        named.emplace(in->name(), inputs[i]);
    }
    for (int run = 0; run < 2; ++run) {
        auto out = (*ctx)->infer(named);
        if (!out) return "infer: " + out.status().message();
        std::vector<Tensor> ordered;
        for (const ir::Value* o : graph->outputs()) ordered.push_back(out->at(o->name()));
        const std::string diff = bitwiseDiff(*heap, ordered);
        if (!diff.empty()) return "run " + std::to_string(run) + ": " + diff;
    }
    if (stats) *stats = arenaStatsOf(**ctx);
    return std::string();
}

TEST(ActivationArena, NodeTestModelsMatchTheHeapExecutor) {
    const fs::path root = "/usr/share/libonnx-testdata/data/node";
    if (!fs::is_directory(root)) GTEST_SKIP() << "no ONNX test data in " << root;
    std::vector<fs::path> dirs;
    for (const auto& e : fs::directory_iterator(root)) {
        if (fs::exists(e.path() / "model.onnx")) dirs.push_back(e.path());
    }
    std::sort(dirs.begin(), dirs.end());
    int compared = 0, withArena = 0, copied = 0;
    for (const fs::path& d : dirs) {
        auto imported = onnx_frontend::importOnnxFile((d / "model.onnx").string());
        auto inputs = readTestInputs(d / "test_data_set_0");
        if (!imported || !inputs) continue;
        std::shared_ptr<const ir::Graph> graph(std::move(imported->graph));
        ArenaStats s;
        const auto diff = compareWithHeap(graph, *inputs, {}, &s);
        if (!diff) continue;
        EXPECT_EQ(*diff, "") << d.filename();
        ++compared;
        withArena += s.arenaBytes > 0;
        copied += s.copiedIn > 0;
    }
    std::printf(
        "  %d of %zu node test models compared: arena runs bit-identical to heap runs; %d ran in an arena, "
        "%d copied an alias into its place\n",
        compared, dirs.size(), withArena, copied);
    EXPECT_GT(withArena, compared / 2);
}

TEST(ActivationArena, RealModelsMatchTheHeapExecutor) {
    const fs::path root = modelsDir();
    if (!fs::exists(root / "resnet50" / "model.onnx")) GTEST_SKIP() << "no real models in " << root;
    for (const char* name : {"resnet50", "ppocr_cls", "ppocrv4_det", "bert_tiny", "unet_small"}) {
        const fs::path dir = root / name;
        if (!fs::exists(dir / "model.onnx")) continue;
        CollectingLogger logger;
        Builder builder(logger);
        auto network = builder.createNetwork();
        OnnxParser parser(*network, logger);
        ASSERT_TRUE(parser.parseFromFile((dir / "model.onnx").string()).isOk()) << name;
        auto config = builder.createBuilderConfig();
        config->setBackend(Backend::kCpu);  // the CPU backend's arena
        std::map<std::string, Tensor> named;
        ASSERT_TRUE(readInputsAndPinProfile(builder, *network, *config, dir, named));
        auto blob = builder.buildSerializedNetwork(*network, *config);
        ASSERT_TRUE(blob.isOk()) << blob.status().message();
        auto file = plan::loadEngineFromMemory((*blob)->data(), (*blob)->size(), nullptr);
        ASSERT_TRUE(file) << file.status().message();
        auto profiles = runtime::decodeProfiles(file->metadata.buildOptions);
        ASSERT_TRUE(profiles.isOk());
        std::shared_ptr<const ir::Graph> graph(std::move(file->graph));
        std::vector<Tensor> inputs;
        for (const ir::Value* in : graph->inputs()) inputs.push_back(named.at(in->name()));

        ArenaStats s;
        const auto start = std::chrono::steady_clock::now();
        EXPECT_EQ(compareWithHeap(graph, inputs, *profiles, &s), std::optional<std::string>("")) << name;
        std::printf(
            "  %-12s arena %8.2f MB, activations %8.2f MB (%5.2fx smaller); %zu in place, %zu copied in, %zu on "
            "the heap (%.1f s)\n",
            name, s.arenaBytes / 1e6, s.plannedBytes / 1e6,
            static_cast<double>(s.plannedBytes) / static_cast<double>(std::max<size_t>(s.arenaBytes, 1)), s.inArena,
            s.copiedIn, s.onHeap, std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count());
        EXPECT_GT(s.arenaBytes, 0u) << name;
        // Fusion and the planner together: the optimized ResNet-50's arena is at least 3x smaller than the sum.
        if (std::string(name) == "resnet50") {
            EXPECT_GE(s.plannedBytes, 3 * s.arenaBytes);
        }
    }
}

}  // namespace
}  // namespace kiln::testing
