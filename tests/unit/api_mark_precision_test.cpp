// NetworkDefinition::markOutput (TensorRT's markOutput) and BuilderConfig::setLayerPrecision through the public API:
// the errors, marked tensors surviving the passes with their own values, and what engines record about both.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>

#include "kiln/kiln.h"
#include "kiln/validate.h"
#include "plan/engine_file.h"
#include "unit/cli_test_util.h"

namespace kiln::testing {
namespace {

using Severity = ILogger::Severity;

class CollectingLogger : public ILogger {
public:
    void log(Severity severity, const char* msg) noexcept override { lines.emplace_back(severity, msg); }
    bool contains(Severity severity, const std::string& text) const {
        return std::any_of(lines.begin(), lines.end(), [&](const auto& l) {
            return l.first == severity && l.second.find(text) != std::string::npos;
        });
    }
    std::vector<std::pair<Severity, std::string>> lines;
};

struct Parsed {
    CollectingLogger logger;
    Builder builder{logger};
    std::unique_ptr<NetworkDefinition> network = builder.createNetwork();
    std::unique_ptr<BuilderConfig> config = builder.createBuilderConfig();

    explicit Parsed(const std::string& path) {
        OnnxParser parser(*network, logger);
        const Status s = parser.parseFromFile(path);
        EXPECT_TRUE(s.isOk()) << s.message();
        config->setBackend(Backend::kCpu);
    }
    //! The optimized graph and metadata of a build, read back from its engine bytes.
    plan::EngineFile built() {
        auto bytes = builder.buildSerializedNetwork(*network, *config);
        EXPECT_TRUE(bytes.isOk()) << bytes.status().message();
        auto file = plan::loadEngineFromMemory((*bytes)->data(), (*bytes)->size(), nullptr);
        EXPECT_TRUE(file.isOk()) << file.status().message();
        return std::move(file).value();
    }
};

const ir::Node* producerOf(const ir::Graph& g, const std::string& tensor) {
    for (const auto& n : g.nodes()) {
        for (const ir::Value* out : n->outputs()) {
            if (out && out->name() == tensor) return n.get();
        }
    }
    return nullptr;
}

Tensor waveInput(const Shape& shape) {
    Tensor x(DataType::kFloat32, shape);
    for (int64_t i = 0; i < x.numel(); ++i) x.data<float>()[i] = std::sin(0.7f * static_cast<float>(i));
    return x;
}

TEST(MarkOutput, ErrorsNameTheTensor) {
    TempDir dir;
    Parsed p(dir.write("conv.onnx", cli_models::convRelu()));
    EXPECT_EQ(p.network->getComputedTensorNames(), (std::vector<std::string>{"c", "y"}));
    auto expectError = [&](const std::string& name, ErrorCode code, const std::string& why) {
        const Status s = p.network->markOutput(name);
        EXPECT_EQ(s.code(), code) << name << ": " << s.message();
        EXPECT_NE(s.message().find("'" + name + "'"), std::string::npos) << s.message();
        EXPECT_NE(s.message().find(why), std::string::npos) << s.message();
    };
    expectError("nope", ErrorCode::kNotFound, "computes no tensor");
    expectError("x", ErrorCode::kInvalidArgument, "network input");
    expectError("W", ErrorCode::kInvalidArgument, "weight");
    expectError("y", ErrorCode::kInvalidArgument, "already an output");
    ASSERT_TRUE(p.network->markOutput("c").isOk());
    expectError("c", ErrorCode::kInvalidArgument, "already an output");
    EXPECT_EQ(p.network->getNbOutputs(), 2);
    EXPECT_EQ(*p.network->getOutputName(1), "c");
    EXPECT_EQ(*p.network->getTensorShape("c"), (Shape{1, 4, 8, 8}));

    Builder builder(p.logger);
    auto empty = builder.createNetwork();
    EXPECT_EQ(empty->markOutput("c").code(), ErrorCode::kInvalidArgument);
    EXPECT_TRUE(empty->getComputedTensorNames().empty());
}

TEST(MarkOutput, AMarkedConvOutputSurvivesConvReluFusionWithItsValueBeforeTheRelu) {
    TempDir dir;
    const std::string model = dir.write("conv.onnx", cli_models::convRelu());
    {
        // Unmarked, the Relu fuses into the Conv: the test below means something.
        Parsed p(model);
        const plan::EngineFile f = p.built();
        EXPECT_EQ(producerOf(*f.graph, "y")->attrs().getString("activation"), "Relu");
        EXPECT_EQ(f.metadata.buildOptions.count("marked_outputs"), 0u);
    }
    Parsed p(model);
    ASSERT_TRUE(p.network->markOutput("c").isOk());
    const plan::EngineFile f = p.built();
    const ir::Node* conv = producerOf(*f.graph, "c");
    ASSERT_NE(conv, nullptr);
    EXPECT_TRUE(conv->op() == ir::OpKind::kConv || conv->op() == ir::OpKind::kFusedConv) << conv->describe();
    EXPECT_EQ(conv->attrs().getString("activation"), "");
    EXPECT_EQ(producerOf(*f.graph, "y")->op(), ir::OpKind::kRelu);
    EXPECT_EQ(f.metadata.buildOptions.at("marked_outputs"), "c");
    ASSERT_EQ(f.graph->outputs().size(), 2u);
    EXPECT_EQ(f.graph->outputs()[1]->name(), "c");

    auto engine = p.builder.buildEngine(*p.network, *p.config);
    ASSERT_TRUE(engine.isOk()) << engine.status().message();
    EXPECT_EQ(*(*engine)->getTensorIOMode("c"), TensorIOMode::kOUTPUT);
    const Tensor x = waveInput({1, 3, 8, 8});
    auto ctx = (*engine)->createExecutionContext();
    auto out = (*ctx)->infer({{"x", x}});
    ASSERT_TRUE(out.isOk()) << out.status().message();
    const Tensor& c = out->at("c");
    const Tensor& y = out->at("y");
    int64_t negatives = 0;
    for (int64_t i = 0; i < c.numel(); ++i) {
        negatives += c.data<float>()[i] < 0 ? 1 : 0;
        EXPECT_EQ(y.data<float>()[i], std::max(c.data<float>()[i], 0.0f)) << i;
    }
    EXPECT_GT(negatives, 0) << "c holds the value before the Relu";
    auto reference = runReference(model, {{"x", x}}, {"c"});
    ASSERT_TRUE(reference.isOk()) << reference.status().message();
    ASSERT_EQ(reference->size(), 2u);
    EXPECT_EQ((*reference)[1].first, "c");
    const auto report = compareOutputs(*reference, *out, Tolerances::forFlags({}));
    EXPECT_TRUE(report.passed());
}

//! x → Conv → c → BatchNormalization → bn → Identity → id → Relu → r; Sigmoid(bn) twice (s1, s2: CSE fodder);
//! y = s1 + r; d = Neg(x), read by nothing (dead code). Output y only.
std::string passFodderModel(const TempDir& dir) {
    onnx::ModelProto m = makeModel();
    auto& g = *m.mutable_graph();
    addInput(g, "x", onnx::TensorProto::FLOAT, {1, 2, 5, 5});
    std::vector<float> w(3 * 2 * 3 * 3);
    for (size_t i = 0; i < w.size(); ++i) w[i] = std::cos(static_cast<float>(i)) * 0.5f;
    addInitializer(g, floatTensor("W", {3, 2, 3, 3}, w));
    addInitializer(g, floatTensor("scale", {3}, {1.5f, 0.5f, -1}));
    addInitializer(g, floatTensor("shift", {3}, {0.1f, 0.2f, 0.3f}));
    addInitializer(g, floatTensor("mean", {3}, {0.05f, -0.1f, 0.2f}));
    addInitializer(g, floatTensor("var", {3}, {1, 2, 0.5f}));
    addIntsAttr(addNode(g, "Conv", {"x", "W"}, {"c"}, "conv"), "pads", {1, 1, 1, 1});
    addNode(g, "BatchNormalization", {"c", "scale", "shift", "mean", "var"}, {"bn"}, "bn");
    addNode(g, "Identity", {"bn"}, {"id"}, "identity");
    addNode(g, "Relu", {"id"}, {"r"}, "relu");
    addNode(g, "Sigmoid", {"bn"}, {"s1"}, "sig1");
    addNode(g, "Sigmoid", {"bn"}, {"s2"}, "sig2");
    addNode(g, "Neg", {"x"}, {"d"}, "dead");
    addNode(g, "Add", {"s1", "r"}, {"y"}, "add");
    addOutput(g, "y", onnx::TensorProto::FLOAT, {1, 3, 5, 5});
    return dir.write("fodder.onnx", m);
}

TEST(MarkOutput, EveryTensorSurvivesBnFoldIdentityCseAndDeadCodeElimination) {
    TempDir dir;
    const std::string model = passFodderModel(dir);
    Parsed p(model);
    auto marked = markAllTensors(*p.network);
    ASSERT_TRUE(marked.isOk()) << marked.status().message();
    EXPECT_EQ(*marked, 7);  // c, bn, id, r, s1, s2, d (y is an output already)
    const plan::EngineFile f = p.built();
    EXPECT_EQ(f.graph->outputs().size(), 8u);
    EXPECT_EQ(producerOf(*f.graph, "bn")->op(), ir::OpKind::kBatchNormalization);  // not folded into the Conv
    EXPECT_NE(producerOf(*f.graph, "id"), nullptr);
    EXPECT_NE(producerOf(*f.graph, "s2"), nullptr);
    EXPECT_EQ(producerOf(*f.graph, "d")->op(), ir::OpKind::kNeg);

    auto engine = p.builder.buildEngine(*p.network, *p.config);
    ASSERT_TRUE(engine.isOk()) << engine.status().message();
    auto report = validateEngine(**engine, model, {{"x", waveInput({1, 2, 5, 5})}}, Tolerances::forFlags({}));
    ASSERT_TRUE(report.isOk()) << report.status().message();
    EXPECT_TRUE(report->passed());
    std::vector<std::string> order;
    for (const OutputComparison& o : report->outputs) {
        order.push_back(o.name);
        EXPECT_EQ(o.marked, o.name != "y") << o.name;
        EXPECT_LE(o.maxRelError, 1e-5) << o.name;
    }
    EXPECT_EQ(order, (std::vector<std::string>{"c", "bn", "id", "r", "s1", "s2", "d", "y"}));
    EXPECT_EQ(report->outputs[1].producerOp, "BatchNormalization");
    EXPECT_EQ(report->outputs[1].producerName, "bn");
    EXPECT_EQ(report->firstFailure(), nullptr);
}

TEST(LayerPrecisionApi, ConfigErrorsAndBuildErrors) {
    TempDir dir;
    Parsed p(dir.write("conv.onnx", cli_models::convRelu()));
    EXPECT_EQ(p.config->setLayerPrecision("", DataType::kFloat32).code(), ErrorCode::kInvalidArgument);
    const Status int8 = p.config->setLayerPrecision("conv0", DataType::kInt8);
    EXPECT_EQ(int8.code(), ErrorCode::kInvalidArgument);
    EXPECT_NE(int8.message().find("'conv0'"), std::string::npos) << int8.message();
    ASSERT_TRUE(p.config->setLayerPrecision("conv*", DataType::kFloat16).isOk());
    ASSERT_TRUE(p.config->setLayerPrecision("*Softmax*", DataType::kFloat32).isOk());
    EXPECT_EQ(p.config->getLayerPrecisions(), (std::vector<std::pair<std::string, DataType>>{
                                                  {"conv*", DataType::kFloat16}, {"*Softmax*", DataType::kFloat32}}));
    auto engine = p.builder.buildEngine(*p.network, *p.config);
    ASSERT_FALSE(engine.isOk());
    EXPECT_EQ(engine.status().code(), ErrorCode::kNotFound);
    EXPECT_NE(engine.status().message().find("'*Softmax*' matches no node"), std::string::npos)
        << engine.status().message();
    EXPECT_TRUE(p.logger.contains(Severity::kError, "'*Softmax*' matches no node"));

    p.config->clearLayerPrecisions();
    EXPECT_TRUE(p.config->getLayerPrecisions().empty());
    ASSERT_TRUE(p.config->setLayerPrecision("conv*", DataType::kFloat16).isOk());
    EXPECT_TRUE(p.builder.buildEngine(*p.network, *p.config).isOk());
    EXPECT_TRUE(p.logger.contains(Severity::kInfo, "'conv*:fp16' is recorded but has no effect"));
}

TEST(LayerPrecisionApi, PinsAndConstraintsAreRecordedOnTheLayersAndInTheBuildOptions) {
    TempDir dir;
    Parsed p(dir.write("conv.onnx", cli_models::convRelu()));
    ASSERT_TRUE(p.config->setLayerPrecision("*", DataType::kFloat16).isOk());
    ASSERT_TRUE(p.config->setLayerPrecision("relu?", DataType::kFloat32).isOk());
    p.config->setFlag(BuilderFlag::kPREFER_PRECISION_CONSTRAINTS);
    plan::EngineFile f = p.built();
    EXPECT_EQ(f.metadata.buildOptions.at("layer_precision.0"), "*:fp16");
    EXPECT_EQ(f.metadata.buildOptions.at("layer_precision.1"), "relu?:fp32");
    EXPECT_EQ(f.metadata.buildOptions.at("precision_constraints"), "prefer");
    // The Relu is pinned otherwise than the Conv: it stays a layer of its own, with its pin.
    EXPECT_EQ(producerOf(*f.graph, "c")->attrs().getString("kiln_precision"), "fp16");
    EXPECT_EQ(producerOf(*f.graph, "y")->op(), ir::OpKind::kRelu);
    EXPECT_EQ(producerOf(*f.graph, "y")->attrs().getString("kiln_precision"), "fp32");
    p.config->setFlag(BuilderFlag::kOBEY_PRECISION_CONSTRAINTS);  // obey wins over prefer, as in TensorRT
    EXPECT_EQ(p.built().metadata.buildOptions.at("precision_constraints"), "obey");
}

TEST(LayerPrecisionApi, BuildEngineFileRebuildsWhenPinsOrMarksChange) {
    TempDir dir;
    const std::string model = dir.write("conv.onnx", cli_models::convRelu());
    const std::string path = dir.file("conv.engine");
    Parsed p(model);
    ASSERT_TRUE(p.config->setLayerPrecision("relu0", DataType::kFloat32).isOk());
    auto first = p.builder.buildEngineFile(model, *p.config, path);
    ASSERT_TRUE(first.isOk()) << first.status().message();
    auto again = p.builder.buildEngineFile(model, *p.config, path);
    ASSERT_TRUE(again.isOk());
    EXPECT_EQ(again->action, EngineFileAction::kLoaded) << again->reason;
    ASSERT_TRUE(p.config->setLayerPrecision("conv0", DataType::kFloat16).isOk());
    auto changed = p.builder.buildEngineFile(model, *p.config, path);
    ASSERT_TRUE(changed.isOk());
    EXPECT_EQ(changed->action, EngineFileAction::kRebuilt);
    EXPECT_NE(changed->reason.find("layer_precision.1 (unset) -> 'conv0:fp16'"), std::string::npos) << changed->reason;

    // An engine saved from a network with marked outputs is not what buildEngineFile builds from the model.
    p.config->clearLayerPrecisions();
    ASSERT_TRUE(p.network->markOutput("c").isOk());
    auto bytes = p.builder.buildSerializedNetwork(*p.network, *p.config);
    ASSERT_TRUE(bytes.isOk());
    dir.writeBytes("conv.engine", std::string(static_cast<const char*>((*bytes)->data()), (*bytes)->size()));
    auto unmarked = p.builder.buildEngineFile(model, *p.config, path);
    ASSERT_TRUE(unmarked.isOk()) << unmarked.status().message();
    EXPECT_EQ(unmarked->action, EngineFileAction::kRebuilt);
    EXPECT_NE(unmarked->reason.find("marked_outputs 'c' -> (unset)"), std::string::npos) << unmarked->reason;
    EXPECT_EQ(unmarked->engine->getNbIOTensors(), 2);
}

}  // namespace
}  // namespace kiln::testing
