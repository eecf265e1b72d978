// CUDA graph capture of enqueue (kiln.h setCudaGraphs): on bert_tiny, whose enqueue is full of Shape → Gather →
// Concat → Reshape chains, a replayed graph must give bit-identical outputs to plain launches at every shape of a
// dynamic profile and with a static one; new addresses update the graph; the legacy stream and a caller's own
// capture fall back to plain launches without an error; 1,000 replays allocate nothing.
#include <gtest/gtest.h>

#include <cuda_runtime.h>

#include <cstring>
#include <filesystem>

#include "cuda/cuda_op_tester.h"
#include "kiln/kiln.h"
#include "unit/capture_test_models.h"
#include "unit/model_builder.h"

namespace kiln::testing {
namespace {

class QuietLogger : public ILogger {
public:
    void log(Severity, const char*) noexcept override {}
};

std::string bertTiny() {
    const char* env = std::getenv("KILN_MODELS_DIR");
    return std::string(env ? env : KILN_MODELS_DIR) + "/bert_tiny/model.onnx";
}

#define KILN_REQUIRE_BERT_TINY()                                                                            \
    do {                                                                                                    \
        KILN_REQUIRE_GPU();                                                                                 \
        if (!std::filesystem::exists(bertTiny())) GTEST_SKIP() << bertTiny() << " absent (prepare_models)"; \
    } while (0)

//! bert_tiny on the CUDA backend (FP32, TF32 off), input_ids in [min, max] (equal: a static profile).
std::unique_ptr<Engine> buildBert(const Shape& min, const Shape& opt, const Shape& max) {
    QuietLogger logger;
    Builder builder(logger);
    auto network = builder.createNetwork();
    OnnxParser parser(*network, logger);
    EXPECT_TRUE(parser.parseFromFile(bertTiny()).isOk());
    auto config = builder.createBuilderConfig();
    config->setBackend(Backend::kCuda);
    config->clearFlag(BuilderFlag::kTF32);
    auto p = builder.createOptimizationProfile();
    EXPECT_TRUE(p->setDimensions("input_ids", OptProfileSelector::kMIN, min).isOk());
    EXPECT_TRUE(p->setDimensions("input_ids", OptProfileSelector::kOPT, opt).isOk());
    EXPECT_TRUE(p->setDimensions("input_ids", OptProfileSelector::kMAX, max).isOk());
    EXPECT_TRUE(config->addOptimizationProfile(*p).isOk());
    auto engine = builder.buildEngine(*network, *config);
    EXPECT_TRUE(engine.isOk()) << engine.status().message();
    return engine ? std::move(engine).value() : nullptr;
}

//! Device buffers for every I/O tensor of bert_tiny at one input shape, bound to a context.
struct Bound {
    std::vector<std::pair<std::string, void*>> buffers;
    std::vector<size_t> bytes;
    ~Bound() {
        for (auto& [name, p] : buffers) cudaFree(p);
    }

    //! Token ids (deterministic, in the vocabulary), outputs sized by a host run of the same shape.
    void bind(ExecutionContext& ctx, const Shape& shape) {
        Tensor ids(DataType::kInt64, shape);
        for (int64_t i = 0; i < ids.numel(); ++i) ids.data<int64_t>()[i] = (i * 37 + 11) % 1000;
        auto outs = ctx.infer({{"input_ids", ids}});
        ASSERT_TRUE(outs.isOk()) << outs.status().message();
        ASSERT_TRUE(ctx.setInputShape("input_ids", shape).isOk());
        add(ctx, "input_ids", ids.byteSize(), ids.raw());
        for (const auto& [name, t] : *outs) add(ctx, name, t.byteSize(), nullptr);
    }
    void add(ExecutionContext& ctx, const std::string& name, size_t n, const void* init) {
        void* p = nullptr;
        ASSERT_EQ(cudaMalloc(&p, std::max<size_t>(n, 1)), cudaSuccess);
        if (init) {
            ASSERT_EQ(cudaMemcpy(p, init, n, cudaMemcpyHostToDevice), cudaSuccess);
        }
        buffers.emplace_back(name, p);
        bytes.push_back(n);
        ASSERT_TRUE(ctx.setTensorAddress(name, p, std::max<size_t>(n, 1)).isOk());
    }
    //! The outputs' bytes after an enqueue on `stream` (outputs poisoned with 0xFF first: a graph that skips a
    //! write cannot pass for one that made it).
    std::vector<std::string> run(ExecutionContext& ctx, cudaStream_t stream) {
        for (size_t i = 1; i < buffers.size(); ++i) cudaMemsetAsync(buffers[i].second, 0xFF, bytes[i], stream);
        const Status s = ctx.enqueue(stream);
        EXPECT_TRUE(s.isOk()) << s.message();
        std::vector<std::string> out;
        for (size_t i = 1; i < buffers.size(); ++i) {
            std::string host(bytes[i], '\0');
            EXPECT_EQ(cudaMemcpyAsync(host.data(), buffers[i].second, bytes[i], cudaMemcpyDeviceToHost, stream),
                      cudaSuccess);
            out.push_back(std::move(host));
        }
        EXPECT_EQ(cudaStreamSynchronize(stream), cudaSuccess);
        return out;
    }
};

struct Stream {
    cudaStream_t s = nullptr;
    Stream() { EXPECT_EQ(cudaStreamCreateWithFlags(&s, cudaStreamNonBlocking), cudaSuccess); }
    ~Stream() { cudaStreamDestroy(s); }
};

//! Plain launches (graphs off) on a context of its own: the reference a replay must match bit for bit.
std::vector<std::string> plainOutputs(const Engine& engine, const Shape& shape) {
    auto ctx = engine.createExecutionContext();
    EXPECT_TRUE(ctx.isOk());
    (*ctx)->setCudaGraphs(false);
    Bound b;
    b.bind(**ctx, shape);
    Stream st;
    b.run(**ctx, st.s);
    EXPECT_EQ((*ctx)->getLastEnqueuePath(), EnqueuePath::kPlain);
    return b.run(**ctx, st.s);
}

void expectReplaysMatch(const Engine& engine, const std::vector<Shape>& shapes) {
    auto ctx = engine.createExecutionContext();
    ASSERT_TRUE(ctx.isOk());
    EXPECT_TRUE((*ctx)->getCudaGraphs()) << "on by default";
    Stream st;
    for (int round = 0; round < 2; ++round) {
        for (const Shape& shape : shapes) {
            SCOPED_TRACE(shapeToString(shape) + " round " + std::to_string(round));
            const auto want = plainOutputs(engine, shape);
            Bound b;
            b.bind(**ctx, shape);
            for (int rep = 0; rep < 3; ++rep) {
                EXPECT_EQ(b.run(**ctx, st.s), want) << "enqueue " << rep << ": " << (*ctx)->getLastEnqueueReason();
            }
            // Each signature keeps its graph: back at a shape seen before, the enqueue replays.
            EXPECT_EQ((*ctx)->getLastEnqueuePath(), EnqueuePath::kGraphReplayed) << (*ctx)->getLastEnqueueReason();
        }
    }
}

TEST(CudaGraph, ReplayIsBitIdenticalAcrossADynamicProfile) {
    KILN_REQUIRE_BERT_TINY();
    auto engine = buildBert({1, 8}, {1, 16}, {2, 32});
    ASSERT_TRUE(engine);
    expectReplaysMatch(*engine, {{1, 16}, {2, 24}});
}

TEST(CudaGraph, ReplayIsBitIdenticalWithAStaticProfile) {
    KILN_REQUIRE_BERT_TINY();
    auto engine = buildBert({1, 16}, {1, 16}, {1, 16});
    ASSERT_TRUE(engine);
    expectReplaysMatch(*engine, {{1, 16}});
}

TEST(CudaGraph, PathsInOrderAndNewAddressesUpdateTheGraph) {
    KILN_REQUIRE_BERT_TINY();
    auto engine = buildBert({1, 8}, {1, 16}, {2, 32});
    ASSERT_TRUE(engine);
    auto ctx = engine->createExecutionContext();
    ASSERT_TRUE(ctx.isOk());
    Stream st;
    const auto want = plainOutputs(*engine, {1, 16});
    Bound a;
    a.bind(**ctx, {1, 16});
    EXPECT_EQ((*ctx)->getLastEnqueuePath(), EnqueuePath::kNone);
    for (EnqueuePath path : {EnqueuePath::kPlain, EnqueuePath::kGraphCaptured, EnqueuePath::kGraphReplayed}) {
        EXPECT_EQ(a.run(**ctx, st.s), want);
        EXPECT_EQ((*ctx)->getLastEnqueuePath(), path) << (*ctx)->getLastEnqueueReason();
    }
    Bound b;  // other buffers, same data: the graph is updated in place, not rebuilt
    b.bind(**ctx, {1, 16});
    EXPECT_EQ(b.run(**ctx, st.s), want);
    EXPECT_EQ((*ctx)->getLastEnqueuePath(), EnqueuePath::kGraphUpdated) << (*ctx)->getLastEnqueueReason();
    EXPECT_EQ(b.run(**ctx, st.s), want);
    EXPECT_EQ((*ctx)->getLastEnqueuePath(), EnqueuePath::kGraphReplayed);
    EXPECT_EQ(*(*ctx)->getTensorShape("last_hidden_state"), (Shape{1, 16, 128})) << "output shapes on replay";
    (*ctx)->setCudaGraphs(false);
    EXPECT_EQ(b.run(**ctx, st.s), want);
    EXPECT_EQ((*ctx)->getLastEnqueuePath(), EnqueuePath::kPlain);
    EXPECT_NE((*ctx)->getLastEnqueueReason().find("turned off"), std::string::npos);
}

TEST(CudaGraph, LegacyStreamAndCallerCaptureFallBackCleanly) {
    KILN_REQUIRE_BERT_TINY();
    auto engine = buildBert({1, 8}, {1, 16}, {2, 32});
    ASSERT_TRUE(engine);
    const auto want = plainOutputs(*engine, {1, 16});
    auto ctx = engine->createExecutionContext();
    ASSERT_TRUE(ctx.isOk());
    Bound b;
    b.bind(**ctx, {1, 16});
    for (int rep = 0; rep < 3; ++rep) {
        EXPECT_EQ(b.run(**ctx, nullptr), want);
        EXPECT_EQ((*ctx)->getLastEnqueuePath(), EnqueuePath::kPlain);
    }
    EXPECT_NE((*ctx)->getLastEnqueueReason().find("legacy default stream"), std::string::npos)
        << (*ctx)->getLastEnqueueReason();
    EXPECT_EQ(cudaGetLastError(), cudaSuccess);

    // The caller captures: enqueue runs plainly into the caller's graph, which then gives the same outputs.
    Stream st;
    ASSERT_EQ(cudaStreamBeginCapture(st.s, cudaStreamCaptureModeThreadLocal), cudaSuccess);
    const Status inCapture = (*ctx)->enqueue(st.s);
    cudaGraph_t graph = nullptr;
    ASSERT_EQ(cudaStreamEndCapture(st.s, &graph), cudaSuccess);
    ASSERT_TRUE(inCapture.isOk()) << inCapture.message();
    EXPECT_EQ((*ctx)->getLastEnqueuePath(), EnqueuePath::kPlain);
    EXPECT_NE((*ctx)->getLastEnqueueReason().find("capturing already"), std::string::npos);
    cudaGraphExec_t exec = nullptr;
    ASSERT_EQ(cudaGraphInstantiate(&exec, graph, 0), cudaSuccess);
    for (size_t i = 1; i < b.buffers.size(); ++i) cudaMemsetAsync(b.buffers[i].second, 0xFF, b.bytes[i], st.s);
    ASSERT_EQ(cudaGraphLaunch(exec, st.s), cudaSuccess);
    ASSERT_EQ(cudaStreamSynchronize(st.s), cudaSuccess);
    for (size_t i = 1; i < b.buffers.size(); ++i) {
        std::string host(b.bytes[i], '\0');
        ASSERT_EQ(cudaMemcpy(host.data(), b.buffers[i].second, b.bytes[i], cudaMemcpyDeviceToHost), cudaSuccess);
        EXPECT_EQ(host, want[i - 1]) << b.buffers[i].first;
    }
    cudaGraphExecDestroy(exec);
    cudaGraphDestroy(graph);

    // A caller capturing the very first enqueue at new shapes gets one clear error, and the stream stays usable.
    ASSERT_TRUE((*ctx)->setInputShape("input_ids", {1, 8}).isOk());
    ASSERT_EQ(cudaStreamBeginCapture(st.s, cudaStreamCaptureModeThreadLocal), cudaSuccess);
    const Status first = (*ctx)->enqueue(st.s);
    graph = nullptr;
    (void)cudaStreamEndCapture(st.s, &graph);
    if (graph) cudaGraphDestroy(graph);
    (void)cudaGetLastError();
    EXPECT_FALSE(first.isOk());
    EXPECT_NE(first.message().find("run one enqueue at these shapes before capturing"), std::string::npos)
        << first.message();
}

TEST(CudaGraph, ThousandReplaysKeepDeviceMemoryFlat) {
    KILN_REQUIRE_BERT_TINY();
    auto engine = buildBert({1, 8}, {1, 16}, {2, 32});
    ASSERT_TRUE(engine);
    auto ctx = engine->createExecutionContext();
    ASSERT_TRUE(ctx.isOk());
    Bound b;
    b.bind(**ctx, {2, 24});
    Stream st;
    for (int i = 0; i < 10; ++i) b.run(**ctx, st.s);
    ASSERT_EQ((*ctx)->getLastEnqueuePath(), EnqueuePath::kGraphReplayed) << (*ctx)->getLastEnqueueReason();
    size_t freeBefore = 0, freeAfter = 0, total = 0;
    ASSERT_EQ(cudaMemGetInfo(&freeBefore, &total), cudaSuccess);
    for (int i = 0; i < 1000; ++i) {
        ASSERT_TRUE((*ctx)->enqueue(st.s).isOk());
        ASSERT_EQ((*ctx)->getLastEnqueuePath(), EnqueuePath::kGraphReplayed);
    }
    ASSERT_EQ(cudaStreamSynchronize(st.s), cudaSuccess);
    ASSERT_EQ(cudaMemGetInfo(&freeAfter, &total), cudaSuccess);
    EXPECT_EQ(freeBefore, freeAfter) << "replays must not allocate device memory";
}

//! Reshape(Relu(x), shp) with `shp` a device input: enqueue downloads it every run, so no graph; never an error.
TEST(CudaGraph, NotCapturableEngineRunsPlainWithTheReason) {
    KILN_REQUIRE_GPU();
    const onnx::ModelProto m = reshapeByInputModel();
    TempDir dir;
    QuietLogger logger;
    Builder builder(logger);
    auto network = builder.createNetwork();
    OnnxParser parser(*network, logger);
    ASSERT_TRUE(parser.parseFromFile(dir.write("reshape.onnx", m)).isOk());
    auto config = builder.createBuilderConfig();
    config->setBackend(Backend::kCuda);
    auto engine = builder.buildEngine(*network, *config);
    ASSERT_TRUE(engine.isOk()) << engine.status().message();
    auto ctx = (*engine)->createExecutionContext();
    ASSERT_TRUE(ctx.isOk());
    std::vector<float> x(12);
    for (size_t i = 0; i < x.size(); ++i) x[i] = static_cast<float>(i) - 5.5f;
    const int64_t shp[2] = {3, 4};
    void *dx = nullptr, *ds = nullptr, *dy = nullptr;
    ASSERT_EQ(cudaMalloc(&dx, 48), cudaSuccess);
    ASSERT_EQ(cudaMalloc(&ds, 16), cudaSuccess);
    ASSERT_EQ(cudaMalloc(&dy, 48), cudaSuccess);
    ASSERT_EQ(cudaMemcpy(dx, x.data(), 48, cudaMemcpyHostToDevice), cudaSuccess);
    ASSERT_EQ(cudaMemcpy(ds, shp, 16, cudaMemcpyHostToDevice), cudaSuccess);
    ASSERT_TRUE((*ctx)->setTensorAddress("x", dx).isOk());
    ASSERT_TRUE((*ctx)->setTensorAddress("shp", ds).isOk());
    ASSERT_TRUE((*ctx)->setTensorAddress("y", dy, 48).isOk());
    Stream st;
    for (int rep = 0; rep < 3; ++rep) {
        const Status s = (*ctx)->enqueue(st.s);
        ASSERT_TRUE(s.isOk()) << s.message();
        EXPECT_EQ((*ctx)->getLastEnqueuePath(), EnqueuePath::kPlain);
    }
    EXPECT_NE((*ctx)->getLastEnqueueReason().find("not capturable: node"), std::string::npos)
        << (*ctx)->getLastEnqueueReason();
    EXPECT_NE((*ctx)->getLastEnqueueReason().find("'shp'"), std::string::npos);
    std::vector<float> y(12);
    ASSERT_EQ(cudaStreamSynchronize(st.s), cudaSuccess);
    ASSERT_EQ(cudaMemcpy(y.data(), dy, 48, cudaMemcpyDeviceToHost), cudaSuccess);
    for (size_t i = 0; i < y.size(); ++i) EXPECT_EQ(y[i], std::max(x[i], 0.0f)) << i;
    EXPECT_EQ(*(*ctx)->getTensorShape("y"), (Shape{3, 4}));
    cudaFree(dx);
    cudaFree(ds);
    cudaFree(dy);
}

}  // namespace
}  // namespace kiln::testing
