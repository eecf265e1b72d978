// The public API on the CUDA backend: build (in memory and serialized), device-pointer enqueue on a stream,
// infer() with host tensors, profiles, FP16, and the clear errors (host memory bound, other device, no GPU).
#include <gtest/gtest.h>

#include <cuda_runtime.h>

#include "cuda/cuda_op_tester.h"
#include "kiln/kiln.h"
#include "plan/engine_file.h"
#include "unit/api_test_util.h"
#include "unit/model_builder.h"

namespace kiln::testing {
namespace {

class QuietLogger : public ILogger {
public:
    void log(Severity s, const char* msg) noexcept override {
        if (s == Severity::kError) last = msg;
    }
    std::string last;
};

//! y = Relu(x · W) + 1 with x float32[N, 3] (N dynamic in [1, 8]).
std::string writeModel(TempDir& dir) {
    onnx::ModelProto m = makeModel();
    auto& g = *m.mutable_graph();
    auto& x = addInput(g, "x", onnx::TensorProto::FLOAT, {1, 3});
    x.mutable_type()->mutable_tensor_type()->mutable_shape()->mutable_dim(0)->set_dim_param("N");
    addInitializer(g, floatTensor("W", {3, 4}, {1, -2, 3, -4, 0.5f, 0.25f, -1, 2, 3, 1, -0.5f, 0}));
    addInitializer(g, floatTensor("one", {1}, {1}));
    addNode(g, "MatMul", {"x", "W"}, {"xw"}, "mm");
    addNode(g, "Relu", {"xw"}, {"r"}, "relu");
    addNode(g, "Add", {"r", "one"}, {"y"}, "add");
    auto& y = addOutput(g, "y", onnx::TensorProto::FLOAT, {1, 4});
    y.mutable_type()->mutable_tensor_type()->mutable_shape()->mutable_dim(0)->set_dim_param("N");
    return dir.write("cuda_dyn.onnx", m);
}

std::vector<float> expected(const std::vector<float>& x) {
    const float w[12] = {1, -2, 3, -4, 0.5f, 0.25f, -1, 2, 3, 1, -0.5f, 0};
    std::vector<float> y(x.size() / 3 * 4);
    for (size_t r = 0; r < x.size() / 3; ++r) {
        for (size_t c = 0; c < 4; ++c) {
            float s = 0;
            for (size_t k = 0; k < 3; ++k) s += x[r * 3 + k] * w[k * 4 + c];
            y[r * 4 + c] = std::max(s, 0.0f) + 1;
        }
    }
    return y;
}

struct CudaBuild {
    QuietLogger logger;
    Builder builder{logger};
    std::unique_ptr<NetworkDefinition> network = builder.createNetwork();
    std::unique_ptr<BuilderConfig> config = builder.createBuilderConfig();
    TempDir dir;

    explicit CudaBuild(bool fp16 = false) {
        OnnxParser parser(*network, logger);
        EXPECT_TRUE(parser.parseFromFile(writeModel(dir)).isOk());
        config->setBackend(Backend::kCuda);
        config->clearFlag(BuilderFlag::kTF32);
        if (fp16) config->setFlag(BuilderFlag::kFP16);
        auto p = builder.createOptimizationProfile();
        EXPECT_TRUE(p->setDimensions("x", OptProfileSelector::kMIN, {1, 3}).isOk());
        EXPECT_TRUE(p->setDimensions("x", OptProfileSelector::kOPT, {4, 3}).isOk());
        EXPECT_TRUE(p->setDimensions("x", OptProfileSelector::kMAX, {8, 3}).isOk());
        EXPECT_TRUE(config->addOptimizationProfile(*p).isOk());
    }
};

Tensor inputTensor(int64_t n) {
    Tensor t(DataType::kFloat32, {n, 3});
    for (int64_t i = 0; i < t.numel(); ++i) t.data<float>()[i] = static_cast<float>(i % 7) - 3.0f;
    return t;
}

TEST(CudaEngine, EnqueueWithDevicePointersOnAStream) {
    KILN_REQUIRE_GPU();
    CudaBuild s;
    auto engine = s.builder.buildEngine(*s.network, *s.config);
    ASSERT_TRUE(engine.isOk()) << engine.status().message();
    EXPECT_GT((*engine)->getActivationMemorySize(), 0u);
    auto ctx = (*engine)->createExecutionContext();
    ASSERT_TRUE(ctx.isOk()) << ctx.status().message();
    const Tensor x = inputTensor(5);
    void* dx = nullptr;
    void* dy = nullptr;
    ASSERT_EQ(cudaMalloc(&dx, x.byteSize()), cudaSuccess);
    ASSERT_EQ(cudaMalloc(&dy, 5 * 4 * sizeof(float)), cudaSuccess);
    cudaStream_t stream = nullptr;
    ASSERT_EQ(cudaStreamCreate(&stream), cudaSuccess);
    ASSERT_EQ(cudaMemcpy(dx, x.raw(), x.byteSize(), cudaMemcpyHostToDevice), cudaSuccess);
    ASSERT_TRUE((*ctx)->setInputShape("x", {5, 3}).isOk());
    ASSERT_TRUE((*ctx)->setTensorAddress("x", dx).isOk());
    ASSERT_TRUE((*ctx)->setTensorAddress("y", dy, 5 * 4 * sizeof(float)).isOk());
    for (int rep = 0; rep < 3; ++rep) {
        const Status st = (*ctx)->enqueue(stream);
        ASSERT_TRUE(st.isOk()) << st.message();
    }
    std::vector<float> y(20);
    ASSERT_EQ(cudaMemcpyAsync(y.data(), dy, y.size() * sizeof(float), cudaMemcpyDeviceToHost, stream), cudaSuccess);
    ASSERT_EQ(cudaStreamSynchronize(stream), cudaSuccess);
    const std::vector<float> want = expected(std::vector<float>(x.data<float>(), x.data<float>() + 15));
    for (size_t i = 0; i < want.size(); ++i) EXPECT_NEAR(y[i], want[i], 1e-5) << i;
    EXPECT_EQ(*(*ctx)->getTensorShape("y"), (Shape{5, 4}));
    // Host memory bound to a CUDA engine is refused with a message that says what to do.
    std::vector<float> host(15);
    ASSERT_TRUE((*ctx)->setTensorAddress("x", host.data()).isOk());
    const Status bad = (*ctx)->enqueue(stream);
    EXPECT_FALSE(bad.isOk());
    EXPECT_NE(bad.message().find("host memory"), std::string::npos) << bad.message();
    // A shape outside the profile names the input and the range.
    const Status out = (*ctx)->setInputShape("x", {9, 3});
    EXPECT_NE(out.message().find("[1x3, 8x3]"), std::string::npos) << out.message();
    cudaStreamDestroy(stream);
    cudaFree(dx);
    cudaFree(dy);
}

TEST(CudaEngine, SerializedRoundTripIsBitIdentical) {
    KILN_REQUIRE_GPU();
    CudaBuild s;
    auto engine = s.builder.buildEngine(*s.network, *s.config);
    auto blob = s.builder.buildSerializedNetwork(*s.network, *s.config);
    ASSERT_TRUE(engine.isOk() && blob.isOk());
    Runtime runtime(s.logger);
    auto loaded = runtime.deserializeEngine((*blob)->data(), (*blob)->size());
    ASSERT_TRUE(loaded.isOk()) << loaded.status().message();
    EXPECT_EQ((*loaded)->getActivationMemorySize(), (*engine)->getActivationMemorySize());
    auto a = (*(*engine)->createExecutionContext())->infer({{"x", inputTensor(7)}});
    auto b = (*(*loaded)->createExecutionContext())->infer({{"x", inputTensor(7)}});
    ASSERT_TRUE(a.isOk() && b.isOk());
    const Tensor& ya = a->at("y");
    const Tensor& yb = b->at("y");
    ASSERT_EQ(ya.shape(), (Shape{7, 4}));
    EXPECT_EQ(std::memcmp(ya.raw(), yb.raw(), ya.byteSize()), 0);
}

TEST(CudaEngine, Float16BuildKeepsFloat32IoWithinTolerance) {
    KILN_REQUIRE_GPU();
    CudaBuild s(true);
    auto engine = s.builder.buildEngine(*s.network, *s.config);
    ASSERT_TRUE(engine.isOk()) << engine.status().message();
    EXPECT_EQ(*(*engine)->getTensorDataType("y"), DataType::kFloat32);
    const Tensor x = inputTensor(8);
    auto out = (*(*engine)->createExecutionContext())->infer({{"x", x}});
    ASSERT_TRUE(out.isOk()) << out.status().message();
    const std::vector<float> want = expected(std::vector<float>(x.data<float>(), x.data<float>() + 24));
    for (size_t i = 0; i < want.size(); ++i)
        EXPECT_NEAR(out->at("y").data<float>()[i], want[i], 1e-2 * (1 + std::fabs(want[i])));
}

TEST(CudaEngine, EngineForAnotherGpuNamesBothAndTheRebuildCommand) {
    KILN_REQUIRE_GPU();
    CudaBuild s;
    auto blob = s.builder.buildSerializedNetwork(*s.network, *s.config);
    ASSERT_TRUE(blob.isOk());
    plan::EngineExpectation any;
    any.backend.clear();
    auto file = plan::loadEngineFromMemory((*blob)->data(), (*blob)->size(), nullptr, any);
    ASSERT_TRUE(file.isOk()) << file.status().message();
    plan::EngineMetadata meta = file->metadata;
    meta.deviceName = "NVIDIA A100-SXM4-80GB";
    meta.computeMajor = 8;
    meta.computeMinor = 0;
    auto other = plan::serializeEngine(*file->graph, meta);
    ASSERT_TRUE(other.isOk());
    Runtime runtime(s.logger);
    auto loaded = runtime.deserializeEngine(other->data(), other->size());
    ASSERT_FALSE(loaded.isOk());
    const std::string& msg = loaded.status().message();
    EXPECT_NE(msg.find("A100"), std::string::npos) << msg;
    EXPECT_NE(msg.find("sm_80"), std::string::npos) << msg;
    EXPECT_NE(msg.find("kiln build"), std::string::npos) << msg;
}

TEST(CudaEngine, TenThousandInferencesKeepDeviceMemoryFlat) {
    KILN_REQUIRE_GPU();
    CudaBuild s;
    auto engine = s.builder.buildEngine(*s.network, *s.config);
    ASSERT_TRUE(engine.isOk()) << engine.status().message();
    auto ctx = (*engine)->createExecutionContext();
    ASSERT_TRUE(ctx.isOk()) << ctx.status().message();
    const Tensor x = inputTensor(8);
    void* dx = nullptr;
    void* dy = nullptr;
    ASSERT_EQ(cudaMalloc(&dx, x.byteSize()), cudaSuccess);
    ASSERT_EQ(cudaMalloc(&dy, 8 * 4 * sizeof(float)), cudaSuccess);
    ASSERT_EQ(cudaMemcpy(dx, x.raw(), x.byteSize(), cudaMemcpyHostToDevice), cudaSuccess);
    cudaStream_t stream = nullptr;
    ASSERT_EQ(cudaStreamCreate(&stream), cudaSuccess);
    ASSERT_TRUE((*ctx)->setTensorAddress("x", dx).isOk());
    ASSERT_TRUE((*ctx)->setTensorAddress("y", dy, 8 * 4 * sizeof(float)).isOk());
    // Shapes change between runs (inside the profile) so every plan the context keeps is exercised; after a
    // warm-up that has seen each shape, device memory must not move.
    auto runs = [&](int n) {
        for (int i = 0; i < n; ++i) {
            const int64_t rows = 1 + i % 8;
            if (!(*ctx)->setInputShape("x", {rows, 3}).isOk()) return false;
            if (!(*ctx)->enqueue(stream).isOk()) return false;
        }
        return cudaStreamSynchronize(stream) == cudaSuccess;
    };
    ASSERT_TRUE(runs(16));
    size_t freeBefore = 0;
    size_t total = 0;
    ASSERT_EQ(cudaMemGetInfo(&freeBefore, &total), cudaSuccess);
    ASSERT_TRUE(runs(10000));
    size_t freeAfter = 0;
    ASSERT_EQ(cudaMemGetInfo(&freeAfter, &total), cudaSuccess);
    EXPECT_EQ(freeAfter, freeBefore) << "device memory moved by " << (static_cast<double>(freeBefore) - freeAfter)
                                     << " bytes over 10,000 inferences";
    std::vector<float> y(32);
    ASSERT_EQ(cudaMemcpy(y.data(), dy, y.size() * sizeof(float), cudaMemcpyDeviceToHost), cudaSuccess);
    // The last run had 1 + 9999 % 8 = 8 rows.
    const std::vector<float> want = expected(std::vector<float>(x.data<float>(), x.data<float>() + 24));
    for (size_t i = 0; i < want.size(); ++i) EXPECT_NEAR(y[i], want[i], 1e-5) << i;
    cudaStreamDestroy(stream);
    cudaFree(dx);
    cudaFree(dy);
}

TEST(CudaEngine, EngineFileIsBuiltThenLoadedThenRebuiltWhenOptionsChange) {
    KILN_REQUIRE_GPU();
    CudaBuild s;
    const std::string model = s.dir.file("cuda_dyn.onnx");
    const std::string path = s.dir.file("cuda.engine");
    auto first = s.builder.buildEngineFile(model, *s.config, path);
    ASSERT_TRUE(first.isOk()) << first.status().message();
    EXPECT_EQ(first->action, EngineFileAction::kBuilt);
    auto second = s.builder.buildEngineFile(model, *s.config, path);
    ASSERT_TRUE(second.isOk()) << second.status().message();
    EXPECT_EQ(second->action, EngineFileAction::kLoaded) << second->reason;
    EXPECT_NE(second->reason.find("backend cuda"), std::string::npos) << second->reason;
    auto a = (*first->engine->createExecutionContext())->infer({{"x", inputTensor(6)}});
    auto b = (*second->engine->createExecutionContext())->infer({{"x", inputTensor(6)}});
    ASSERT_TRUE(a.isOk() && b.isOk());
    EXPECT_EQ(std::memcmp(a->at("y").raw(), b->at("y").raw(), a->at("y").byteSize()), 0);
    s.config->setFlag(BuilderFlag::kFP16);
    auto third = s.builder.buildEngineFile(model, *s.config, path);
    ASSERT_TRUE(third.isOk()) << third.status().message();
    EXPECT_EQ(third->action, EngineFileAction::kRebuilt);
    EXPECT_NE(third->reason.find("fp16"), std::string::npos) << third->reason;
}

TEST(CudaEngine, NoGpuIsAClearBuildError) {
    if (cuda::gpuAvailable()) GTEST_SKIP() << "this machine has a GPU";
    CudaBuild s;
    auto engine = s.builder.buildEngine(*s.network, *s.config);
    ASSERT_FALSE(engine.isOk());
    EXPECT_NE(engine.status().message().find("backend kCuda"), std::string::npos) << engine.status().message();
    s.config->setBackend(Backend::kAuto);  // falls back to the CPU
    EXPECT_TRUE(s.builder.buildEngine(*s.network, *s.config).isOk());
}

TEST(CudaEngine, ProfilerGetsEveryLayerOfEachEnqueueAndInfer) {
    KILN_REQUIRE_GPU();
    CudaBuild s;
    auto engine = s.builder.buildEngine(*s.network, *s.config);
    ASSERT_TRUE(engine.isOk()) << engine.status().message();
    auto ctx = (*engine)->createExecutionContext();
    ASSERT_TRUE(ctx.isOk()) << ctx.status().message();
    RecordingProfiler profiler;
    ASSERT_TRUE((*ctx)->infer({{"x", inputTensor(4)}}).isOk());
    EXPECT_TRUE(profiler.layers.empty());
    (*ctx)->setProfiler(&profiler);
    EXPECT_EQ((*ctx)->getProfiler(), &profiler);
    ASSERT_TRUE((*ctx)->infer({{"x", inputTensor(4)}}).isOk());
    const auto first = profiler.layers;
    ASSERT_FALSE(first.empty());
    bool sawAdd = false;
    for (const auto& [name, ms] : first) {
        EXPECT_FALSE(name.empty());
        EXPECT_GE(ms, 0.0f) << name;
        EXPECT_LT(ms, 1000.0f) << name;
        sawAdd = sawAdd || name == "add";
    }
    EXPECT_TRUE(sawAdd) << "the last layer ('add') was not reported";
    // enqueue on a stream reports the same layers, in the same order, once the run is done.
    profiler.layers.clear();
    const Tensor x = inputTensor(4);
    void* dx = nullptr;
    void* dy = nullptr;
    ASSERT_EQ(cudaMalloc(&dx, x.byteSize()), cudaSuccess);
    ASSERT_EQ(cudaMalloc(&dy, 4 * 4 * sizeof(float)), cudaSuccess);
    ASSERT_EQ(cudaMemcpy(dx, x.raw(), x.byteSize(), cudaMemcpyHostToDevice), cudaSuccess);
    ASSERT_TRUE((*ctx)->setInputShape("x", {4, 3}).isOk());
    ASSERT_TRUE((*ctx)->setTensorAddress("x", dx).isOk());
    ASSERT_TRUE((*ctx)->setTensorAddress("y", dy).isOk());
    cudaStream_t stream = nullptr;
    ASSERT_EQ(cudaStreamCreate(&stream), cudaSuccess);
    ASSERT_TRUE((*ctx)->enqueue(stream).isOk());
    ASSERT_EQ(profiler.layers.size(), first.size());
    for (size_t i = 0; i < first.size(); ++i) EXPECT_EQ(profiler.layers[i].first, first[i].first) << i;
    // Unset: no more reports.
    (*ctx)->setProfiler(nullptr);
    profiler.layers.clear();
    ASSERT_TRUE((*ctx)->enqueue(stream).isOk());
    ASSERT_EQ(cudaStreamSynchronize(stream), cudaSuccess);
    EXPECT_TRUE(profiler.layers.empty());
    cudaStreamDestroy(stream);
    cudaFree(dx);
    cudaFree(dy);
}

}  // namespace
}  // namespace kiln::testing
