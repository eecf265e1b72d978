// The public API (kiln/kiln.h) end to end on the CPU backend: build, serialize, load, run, profiles, errors,
// and one Engine shared by many threads.
#include <gtest/gtest.h>

#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <thread>

#include "api_test_util.h"
#include "frontend/onnx/tensor_proto.h"
#include "kiln/kiln.h"
#include "model_builder.h"
#include "passes_test_util.h"

namespace kiln::testing {
namespace {

namespace fs = std::filesystem;

//! y = Relu(x · W) with x float32[N, 3] (N dynamic) and a constant W[3, 4].
std::string writeDynamicModel(TempDir& dir) {
    onnx::ModelProto m = makeModel();
    auto& g = *m.mutable_graph();
    auto& x = addInput(g, "x", onnx::TensorProto::FLOAT, {1, 3});
    x.mutable_type()->mutable_tensor_type()->mutable_shape()->mutable_dim(0)->set_dim_param("N");
    addInitializer(g, floatTensor("W", {3, 4}, {1, -2, 3, -4, 0.5f, 0.25f, -1, 2, 3, 1, -0.5f, 0}));
    addNode(g, "MatMul", {"x", "W"}, {"xw"}, "mm");
    addNode(g, "Relu", {"xw"}, {"y"}, "relu");
    auto& y = addOutput(g, "y", onnx::TensorProto::FLOAT, {1, 4});
    y.mutable_type()->mutable_tensor_type()->mutable_shape()->mutable_dim(0)->set_dim_param("N");
    return dir.write("dyn.onnx", m);
}

struct Built {
    CollectingLogger logger;
    Builder builder{logger};
    std::unique_ptr<NetworkDefinition> network;
    std::unique_ptr<BuilderConfig> config;
};

void parse(Built& b, const std::string& path) {
    b.network = b.builder.createNetwork();
    b.config = b.builder.createBuilderConfig();
    OnnxParser parser(*b.network, b.logger);
    const Status s = parser.parseFromFile(path);
    ASSERT_TRUE(s.isOk()) << s.message();
}

void addProfile(Built& b, Shape min, Shape opt, Shape max) {
    auto p = b.builder.createOptimizationProfile();
    ASSERT_TRUE(p->setDimensions("x", OptProfileSelector::kMIN, min).isOk());
    ASSERT_TRUE(p->setDimensions("x", OptProfileSelector::kOPT, opt).isOk());
    ASSERT_TRUE(p->setDimensions("x", OptProfileSelector::kMAX, max).isOk());
    ASSERT_TRUE(b.config->addOptimizationProfile(*p).isOk());
}

std::vector<float> expectedDynamic(const std::vector<float>& x) {
    const float w[12] = {1, -2, 3, -4, 0.5f, 0.25f, -1, 2, 3, 1, -0.5f, 0};
    std::vector<float> y(x.size() / 3 * 4);
    for (size_t r = 0; r < x.size() / 3; ++r) {
        for (size_t c = 0; c < 4; ++c) {
            float s = 0;
            for (size_t k = 0; k < 3; ++k) s += x[r * 3 + k] * w[k * 4 + c];
            y[r * 4 + c] = std::max(s, 0.0f);
        }
    }
    return y;
}

TEST(Api, DynamicModelEnqueueAndIntrospection) {
    TempDir dir;
    Built b;
    parse(b, writeDynamicModel(dir));
    EXPECT_EQ(b.network->getNbInputs(), 1);
    EXPECT_EQ(*b.network->getTensorShape("x"), (Shape{-1, 3}));
    addProfile(b, {1, 3}, {4, 3}, {8, 3});
    auto engine = b.builder.buildEngine(*b.network, *b.config);
    ASSERT_TRUE(engine.isOk()) << engine.status().message();
    const Engine& e = **engine;
    ASSERT_EQ(e.getNbIOTensors(), 2);
    EXPECT_EQ(*e.getIOTensorName(0), "x");
    EXPECT_EQ(*e.getIOTensorName(1), "y");
    EXPECT_EQ(*e.getTensorIOMode("y"), TensorIOMode::kOUTPUT);
    EXPECT_EQ(*e.getTensorDataType("x"), DataType::kFloat32);
    EXPECT_EQ(*e.getTensorShape("x"), (Shape{-1, 3}));
    EXPECT_EQ(e.getNbOptimizationProfiles(), 1);
    EXPECT_EQ(*e.getProfileShape("x", 0, OptProfileSelector::kMAX), (Shape{8, 3}));
    EXPECT_FALSE(e.getProfileShape("x", 1, OptProfileSelector::kMAX).isOk());

    auto ctx = e.createExecutionContext();
    ASSERT_TRUE(ctx.isOk());
    ExecutionContext& c = **ctx;
    std::vector<float> x = {1, 2, 3, -1, -2, -3, 0.5f, 0, 4};
    std::vector<float> y(12, -99.0f);
    ASSERT_TRUE(c.setTensorAddress("x", x.data()).isOk());
    // Dynamic input without a shape, then output without an address: errors naming the tensor.
    Status s = c.enqueue();
    EXPECT_NE(s.message().find("'x'"), std::string::npos) << s.message();
    ASSERT_TRUE(c.setInputShape("x", {3, 3}).isOk());
    s = c.enqueue();
    EXPECT_NE(s.message().find("output 'y'"), std::string::npos) << s.message();
    ASSERT_TRUE(c.setTensorAddress("y", y.data(), 8).isOk());
    s = c.enqueue();
    EXPECT_EQ(s.code(), ErrorCode::kOutOfRange) << s.message();
    ASSERT_TRUE(c.setTensorAddress("y", y.data(), y.size() * sizeof(float)).isOk());
    ASSERT_TRUE(c.enqueue().isOk());
    EXPECT_EQ(y, expectedDynamic(x));
    EXPECT_EQ(*c.getTensorShape("y"), (Shape{3, 4}));

    // Profile range, rank, unknown names.
    s = c.setInputShape("x", {9, 3});
    EXPECT_EQ(s.code(), ErrorCode::kOutOfRange);
    EXPECT_NE(s.message().find("input 'x' shape 9x3"), std::string::npos) << s.message();
    EXPECT_NE(s.message().find("[1x3, 8x3]"), std::string::npos) << s.message();
    EXPECT_FALSE(c.setInputShape("x", {2, 4}).isOk());
    EXPECT_FALSE(c.setInputShape("x", {2}).isOk());
    EXPECT_EQ(c.setInputShape("nope", {1, 3}).code(), ErrorCode::kNotFound);
    EXPECT_NE(c.setTensorAddress("nope", x.data()).message().find("'nope'"), std::string::npos);
    EXPECT_EQ(e.getTensorShape("nope").status().code(), ErrorCode::kNotFound);
    EXPECT_FALSE(e.getIOTensorName(2).isOk());
    EXPECT_FALSE(c.setOptimizationProfile(1).isOk());

    auto out = c.infer({{"x", Tensor::fromVector<float>({1, 1, 1}, {1, 3})}});
    ASSERT_TRUE(out.isOk()) << out.status().message();
    const Tensor& yt = out->at("y");
    EXPECT_EQ(std::vector<float>(yt.data<float>(), yt.data<float>() + 4), expectedDynamic({1, 1, 1}));
}

TEST(Api, BuildErrors) {
    TempDir dir;
    const std::string path = writeDynamicModel(dir);
    {
        Built b;
        parse(b, path);
        auto r = b.builder.buildEngine(*b.network, *b.config);
        ASSERT_FALSE(r.isOk());
        EXPECT_NE(r.status().message().find("input 'x'"), std::string::npos) << r.status().message();
        EXPECT_TRUE(b.logger.contains(ILogger::Severity::kError, "input 'x'"));
    }
    {
        Built b;
        parse(b, path);
        addProfile(b, {1, 3}, {2, 3}, {4, 3});
        auto p = b.builder.createOptimizationProfile();
        for (auto sel : {OptProfileSelector::kMIN, OptProfileSelector::kOPT, OptProfileSelector::kMAX}) {
            ASSERT_TRUE(p->setDimensions("x", sel, {1, 3}).isOk());
            ASSERT_TRUE(p->setDimensions("ghost", sel, {1}).isOk());
        }
        ASSERT_TRUE(b.config->addOptimizationProfile(*p).isOk());
        auto r = b.builder.buildSerializedNetwork(*b.network, *b.config);
        ASSERT_FALSE(r.isOk());
        EXPECT_NE(r.status().message().find("'ghost'"), std::string::npos) << r.status().message();
    }
    {
        Built b;
        parse(b, path);
        auto p = b.builder.createOptimizationProfile();
        ASSERT_TRUE(p->setDimensions("x", OptProfileSelector::kMIN, {4, 3}).isOk());
        ASSERT_TRUE(p->setDimensions("x", OptProfileSelector::kOPT, {2, 3}).isOk());
        EXPECT_FALSE(p->setDimensions("x", OptProfileSelector::kMAX, {8}).isOk());  // rank mismatch
        ASSERT_TRUE(p->setDimensions("x", OptProfileSelector::kMAX, {8, 3}).isOk());
        const Status s = b.config->addOptimizationProfile(*p);
        EXPECT_NE(s.message().find("'x'"), std::string::npos) << s.message();
        addProfile(b, {1, 3}, {2, 3}, {4, 3});

        b.config->setFlag(BuilderFlag::kINT8);
        auto r = b.builder.buildEngine(*b.network, *b.config);
        ASSERT_FALSE(r.isOk());
        EXPECT_NE(r.status().message().find("kINT8"), std::string::npos) << r.status().message();
        b.config->clearFlag(BuilderFlag::kINT8);

        b.config->setBackend(Backend::kCuda);
        r = b.builder.buildEngine(*b.network, *b.config);
        ASSERT_FALSE(r.isOk());
        EXPECT_EQ(r.status().code(), ErrorCode::kUnsupported);
        b.config->setBackend(Backend::kAuto);

        b.config->setFlag(BuilderFlag::kFP16);
        EXPECT_FALSE(b.config->setOptimizationLevel(6).isOk());
        r = b.builder.buildEngine(*b.network, *b.config);
        ASSERT_TRUE(r.isOk()) << r.status().message();
        EXPECT_TRUE(b.logger.contains(ILogger::Severity::kInfo, "FP32"));
    }
    {
        CollectingLogger logger;
        Builder builder(logger);
        auto net = builder.createNetwork();
        OnnxParser parser(*net, logger);
        EXPECT_EQ(parser.parseFromFile((dir.path() / "missing.onnx").string()).code(), ErrorCode::kNotFound);
    }
}

TEST(Api, ManyThreadsShareOneEngine) {
    TempDir dir;
    Built b;
    parse(b, writeDynamicModel(dir));
    addProfile(b, {1, 3}, {4, 3}, {64, 3});
    auto blob = b.builder.buildSerializedNetwork(*b.network, *b.config);
    ASSERT_TRUE(blob.isOk()) << blob.status().message();
    Runtime runtime(b.logger);
    auto engine = runtime.deserializeEngine((*blob)->data(), (*blob)->size());
    ASSERT_TRUE(engine.isOk()) << engine.status().message();
    EXPECT_EQ(*(*engine)->getProfileShape("x", 0, OptProfileSelector::kMAX), (Shape{64, 3}));

    std::vector<float> x(64 * 3);
    for (size_t i = 0; i < x.size(); ++i) x[i] = static_cast<float>(i % 17) * 0.37f - 2.5f;
    std::vector<float> want(64 * 4);
    {
        auto ctx = (*engine)->createExecutionContext();
        ASSERT_TRUE((*ctx)->setInputShape("x", {64, 3}).isOk());
        ASSERT_TRUE((*ctx)->setTensorAddress("x", x.data()).isOk());
        ASSERT_TRUE((*ctx)->setTensorAddress("y", want.data()).isOk());
        ASSERT_TRUE((*ctx)->enqueue().isOk());
    }
    // The bar: 8 threads, each with its own context on the shared engine, 1,000 inferences each, outputs
    // bit-identical to the single-threaded run (scripts/tsan.sh runs this under ThreadSanitizer).
    constexpr int kThreads = 8, kRuns = 1000;
    std::vector<int> mismatches(kThreads, 0);
    std::vector<std::thread> threads;
    for (int t = 0; t < kThreads; ++t) {
        threads.emplace_back([&, t] {
            auto ctx = (*engine)->createExecutionContext();
            std::vector<float> y(want.size());
            std::vector<float> in = x;
            if (!ctx.isOk() || !(*ctx)->setInputShape("x", {64, 3}).isOk() ||
                !(*ctx)->setTensorAddress("x", in.data()).isOk() || !(*ctx)->setTensorAddress("y", y.data()).isOk()) {
                mismatches[static_cast<size_t>(t)] = -1;
                return;
            }
            const Tensor xt = Tensor::wrap(DataType::kFloat32, {64, 3}, in.data());
            for (int i = 0; i < kRuns; ++i) {
                const float* got = y.data();
                Result<std::map<std::string, Tensor>> out = std::map<std::string, Tensor>{};
                if (i % 4 == 3) {  // every fourth run through infer(), the others through enqueue()
                    out = (*ctx)->infer({{"x", xt}});
                    if (!out.isOk()) {
                        ++mismatches[static_cast<size_t>(t)];
                        continue;
                    }
                    got = out->at("y").data<float>();
                } else {
                    std::fill(y.begin(), y.end(), 0.0f);
                    if (!(*ctx)->enqueue().isOk()) {
                        ++mismatches[static_cast<size_t>(t)];
                        continue;
                    }
                }
                if (std::memcmp(got, want.data(), want.size() * sizeof(float)) != 0)
                    ++mismatches[static_cast<size_t>(t)];
            }
        });
    }
    for (auto& th : threads) th.join();
    for (int t = 0; t < kThreads; ++t) EXPECT_EQ(mismatches[static_cast<size_t>(t)], 0) << "thread " << t;
}

TEST(Api, ProfilerGetsEveryLayerOfEachRun) {
    TempDir dir;
    Built b;
    parse(b, writeDynamicModel(dir));
    addProfile(b, {1, 3}, {2, 3}, {4, 3});
    auto engine = b.builder.buildEngine(*b.network, *b.config);
    ASSERT_TRUE(engine.isOk()) << engine.status().message();
    auto ctx = (*engine)->createExecutionContext();
    ASSERT_TRUE(ctx.isOk());
    Tensor x(DataType::kFloat32, {2, 3});
    for (int64_t i = 0; i < x.numel(); ++i) x.data<float>()[i] = static_cast<float>(i) - 2.5f;
    RecordingProfiler profiler;
    (*ctx)->setProfiler(&profiler);
    EXPECT_EQ((*ctx)->getProfiler(), &profiler);
    ASSERT_TRUE((*ctx)->infer({{"x", x}}).isOk());
    // MatMul + Relu fuse into one layer, which keeps the name of the node whose output it computes.
    ASSERT_EQ(profiler.layers.size(), 1u);
    EXPECT_FALSE(profiler.layers[0].first.empty());
    EXPECT_GE(profiler.layers[0].second, 0.0f);
    // enqueue reports the same layer; without a profiler, nothing.
    std::vector<float> y(8);
    ASSERT_TRUE((*ctx)->setInputShape("x", {2, 3}).isOk());
    ASSERT_TRUE((*ctx)->setTensorAddress("x", x.raw()).isOk());
    ASSERT_TRUE((*ctx)->setTensorAddress("y", y.data()).isOk());
    ASSERT_TRUE((*ctx)->enqueue().isOk());
    ASSERT_EQ(profiler.layers.size(), 2u);
    EXPECT_EQ(profiler.layers[1].first, profiler.layers[0].first);
    (*ctx)->setProfiler(nullptr);
    ASSERT_TRUE((*ctx)->enqueue().isOk());
    EXPECT_EQ(profiler.layers.size(), 2u);
}

class ApiOnModels : public ::testing::TestWithParam<std::string> {};

TEST_P(ApiOnModels, MatchesReferenceAndRoundTripIsBitIdentical) {
    const fs::path modelDir = modelsDir() / GetParam();
    if (!fs::exists(modelDir / "model.onnx")) GTEST_SKIP() << "no " << modelDir / "model.onnx";
    Built b;
    parse(b, (modelDir / "model.onnx").string());
    std::map<std::string, Tensor> inputs;
    ASSERT_TRUE(readInputsAndPinProfile(b.builder, *b.network, *b.config, modelDir, inputs));
    const fs::path set = modelDir / "test_data_set_0";

    auto inMemory = b.builder.buildEngine(*b.network, *b.config);
    ASSERT_TRUE(inMemory.isOk()) << inMemory.status().message();
    auto blob = b.builder.buildSerializedNetwork(*b.network, *b.config);
    ASSERT_TRUE(blob.isOk()) << blob.status().message();
    Runtime runtime(b.logger);
    auto loaded = runtime.deserializeEngine((*blob)->data(), (*blob)->size());
    ASSERT_TRUE(loaded.isOk()) << loaded.status().message();

    auto c1 = (*inMemory)->createExecutionContext();
    auto c2 = (*loaded)->createExecutionContext();
    auto o1 = (*c1)->infer(inputs);
    ASSERT_TRUE(o1.isOk()) << o1.status().message();
    auto o2 = (*c2)->infer(inputs);
    ASSERT_TRUE(o2.isOk()) << o2.status().message();
    for (int32_t i = 0; i < b.network->getNbOutputs(); ++i) {
        const std::string name = *b.network->getOutputName(i);
        auto want = onnx_frontend::readTensorProtoFile((set / ("output_" + std::to_string(i) + ".pb")).string());
        ASSERT_TRUE(want.isOk()) << want.status().message();
        const Tensor& a = o1->at(name);
        const Tensor& c = o2->at(name);
        ASSERT_EQ(a.shape(), want->shape()) << name;
        EXPECT_LE(maxRelError(a, *want), 1e-4) << name;
        ASSERT_EQ(a.byteSize(), c.byteSize());
        EXPECT_EQ(std::memcmp(a.raw(), c.raw(), a.byteSize()), 0) << name << ": round trip is not bit-identical";
    }
}

INSTANTIATE_TEST_SUITE_P(Models, ApiOnModels, ::testing::Values("resnet50", "bert_tiny", "ppocr_cls"));

}  // namespace
}  // namespace kiln::testing
