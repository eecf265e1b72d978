// Marked outputs and layer precision pins on the CUDA backend, where FP16 lowering really happens: marked tensors
// come out float32 and agree with the reference tensor by tensor; pins decide which layers compute in 16 bits.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>

#include "cuda/cuda_op_tester.h"
#include "kiln/kiln.h"
#include "kiln/validate.h"
#include "plan/engine_file.h"
#include "unit/model_builder.h"

namespace kiln::testing {
namespace {

class QuietLogger : public ILogger {
public:
    void log(Severity s, const char* msg) noexcept override {
        if (s <= Severity::kWarning) lines.emplace_back(msg);
    }
    std::vector<std::string> lines;
};

//! x[4, 64] → MatMul(W[64, 32]) → mm → Relu → r → Softmax(axis 1) → y.
std::string writeModel(const TempDir& dir) {
    onnx::ModelProto m = makeModel();
    auto& g = *m.mutable_graph();
    addInput(g, "x", onnx::TensorProto::FLOAT, {4, 64});
    std::vector<float> w(64 * 32);
    for (size_t i = 0; i < w.size(); ++i) w[i] = 0.2f * std::sin(0.37f * static_cast<float>(i));
    addInitializer(g, floatTensor("W", {64, 32}, w));
    addNode(g, "MatMul", {"x", "W"}, {"mm"}, "mm");
    addNode(g, "Relu", {"mm"}, {"r"}, "relu");
    addIntAttr(addNode(g, "Softmax", {"r"}, {"y"}, "softmax"), "axis", 1);
    addOutput(g, "y", onnx::TensorProto::FLOAT, {4, 32});
    return dir.write("mm_softmax.onnx", m);
}

Tensor input() {
    Tensor x(DataType::kFloat32, {4, 64});
    for (int64_t i = 0; i < x.numel(); ++i) x.data<float>()[i] = std::cos(0.11f * static_cast<float>(i));
    return x;
}

struct Build {
    QuietLogger logger;
    Builder builder{logger};
    std::unique_ptr<NetworkDefinition> network = builder.createNetwork();
    std::unique_ptr<BuilderConfig> config = builder.createBuilderConfig();
    TempDir dir;
    std::string model = writeModel(dir);

    Build() {
        OnnxParser parser(*network, logger);
        EXPECT_TRUE(parser.parseFromFile(model).isOk());
        config->setBackend(Backend::kCuda);
        config->clearFlag(BuilderFlag::kTF32);
    }
    //! The dtype each tensor has in the optimized graph, by the name of the node that computes it.
    std::map<std::string, DataType> layerDtypes() {
        auto bytes = builder.buildSerializedNetwork(*network, *config);
        EXPECT_TRUE(bytes.isOk()) << bytes.status().message();
        std::map<std::string, DataType> out;
        if (!bytes) return out;
        plan::EngineExpectation any;  // just built here, for this GPU: only the graph is read
        any.backend.clear();
        auto file = plan::loadEngineFromMemory((*bytes)->data(), (*bytes)->size(), nullptr, any);
        EXPECT_TRUE(file.isOk()) << file.status().message();
        if (!file) return out;
        for (const auto& n : file->graph->nodes()) {
            if (n->op() != ir::OpKind::kCast) out[n->name()] = n->output(0)->dtype();
        }
        return out;
    }
    ValidationReport validate(const Tolerances& tol) {
        auto engine = builder.buildEngine(*network, *config);
        EXPECT_TRUE(engine.isOk()) << engine.status().message();
        if (!engine) return {};
        auto report = validateEngine(**engine, model, {{"x", input()}}, tol);
        EXPECT_TRUE(report.isOk()) << report.status().message();
        return report.isOk() ? std::move(report).value() : ValidationReport{};
    }
};

TEST(CudaPrecision, MarkedTensorsOfAnFp16EngineAreFloat32AndMatchTheReference) {
    KILN_REQUIRE_GPU();
    Build b;
    b.config->setFlag(BuilderFlag::kFP16);
    ASSERT_EQ(*markAllTensors(*b.network), 2);
    const auto dtypes = b.layerDtypes();
    ASSERT_EQ(dtypes.count("mm"), 1u);
    EXPECT_EQ(dtypes.at("mm"), DataType::kFloat16);  // lowered, and marked tensors do not stop that
    const ValidationReport report = b.validate(Tolerances::forFlags({BuilderFlag::kFP16}));
    ASSERT_EQ(report.outputs.size(), 3u);
    for (const OutputComparison& o : report.outputs) {
        EXPECT_EQ(o.engineDtype, DataType::kFloat32) << o.name;
        EXPECT_TRUE(o.passed) << o.name << ": max rel " << o.maxRelError << " " << o.problem;
        EXPECT_GT(o.maxAbsError, 0.0) << o.name << " computed in fp16 cannot be exact";
    }
    EXPECT_EQ(report.outputs[0].name, "mm");
}

TEST(CudaPrecision, Fp32PinsWinOverTheFp16Flag) {
    KILN_REQUIRE_GPU();
    Build b;
    b.config->setFlag(BuilderFlag::kFP16);
    ASSERT_TRUE(b.config->setLayerPrecision("*", DataType::kFloat32).isOk());
    for (const auto& [name, dtype] : b.layerDtypes()) EXPECT_EQ(dtype, DataType::kFloat32) << name;
    ASSERT_EQ(*markAllTensors(*b.network), 2);
    const ValidationReport report = b.validate(Tolerances::forFlags({}));  // FP32's 1e-4 (TF32 is off)
    EXPECT_TRUE(report.passed());
    for (const OutputComparison& o : report.outputs) EXPECT_LE(o.maxRelError, 1e-4) << o.name;
}

TEST(CudaPrecision, A16BitPinLowersOneLayerWithoutTheFlag) {
    KILN_REQUIRE_GPU();
    Build b;
    ASSERT_TRUE(b.config->setLayerPrecision("mm", DataType::kBFloat16).isOk());
    ASSERT_TRUE(b.network->markOutput("mm").isOk());  // also keeps the Relu out of the MatMul: three layers
    const auto dtypes = b.layerDtypes();
    ASSERT_EQ(dtypes.size(), 3u);
    EXPECT_EQ(dtypes.at("mm"), DataType::kBFloat16);
    EXPECT_EQ(dtypes.at("relu"), DataType::kFloat32);
    EXPECT_EQ(dtypes.at("softmax"), DataType::kFloat32);
    // BF16 keeps 8 significant bits: x and the weights each round by up to 2^-8 relative, so a 64-term dot product
    // with cancellation lands near 1e-2 of the output's peak (1.08e-2 measured on the H100). The default BF16
    // tolerance (1e-2) is for whole models where errors average out; this one-layer check allows 2.5e-2.
    Tolerances bf16 = Tolerances::forFlags({BuilderFlag::kBF16});
    bf16.rtol = 2.5e-2;
    const ValidationReport report = b.validate(bf16);
    EXPECT_TRUE(report.passed());
    for (const OutputComparison& o : report.outputs) {
        EXPECT_TRUE(o.passed) << o.name << " (" << dataTypeName(o.engineDtype) << "): max rel " << o.maxRelError << " "
                              << o.problem;
    }
    EXPECT_GT(report.outputs.at(0).maxAbsError, 0.0);
}

TEST(CudaPrecision, ObeyRefusesAndPreferKeepsFp32ForALayerWithoutA16BitKernel) {
    KILN_REQUIRE_GPU();
    TempDir dir;
    onnx::ModelProto m = makeModel();
    auto& g = *m.mutable_graph();
    addInput(g, "x", onnx::TensorProto::FLOAT, {4, 64});
    addIntsAttr(addNode(g, "ReduceMean", {"x"}, {"m"}, "mean"), "axes", {1});
    addOutput(g, "m", onnx::TensorProto::FLOAT, {4, 1});
    const std::string model = dir.write("mean.onnx", m);
    QuietLogger logger;
    Builder builder(logger);
    auto network = builder.createNetwork();
    OnnxParser parser(*network, logger);
    ASSERT_TRUE(parser.parseFromFile(model).isOk());
    auto config = builder.createBuilderConfig();
    config->setBackend(Backend::kCuda);
    ASSERT_TRUE(config->setLayerPrecision("op:ReduceMean", DataType::kFloat16).isOk());
    auto obey = builder.buildEngine(*network, *config);
    ASSERT_FALSE(obey.isOk());
    EXPECT_NE(obey.status().message().find("(ReduceMean 'mean') is pinned to fp16"), std::string::npos)
        << obey.status().message();
    config->setFlag(BuilderFlag::kPREFER_PRECISION_CONSTRAINTS);
    logger.lines.clear();
    auto prefer = builder.buildEngine(*network, *config);
    ASSERT_TRUE(prefer.isOk()) << prefer.status().message();
    EXPECT_EQ(std::count_if(logger.lines.begin(), logger.lines.end(),
                            [](const std::string& l) { return l.find("it stays fp32") != std::string::npos; }),
              1);
    auto report = validateEngine(**prefer, model, {{"x", input()}}, Tolerances::forFlags({}));
    ASSERT_TRUE(report.isOk()) << report.status().message();
    EXPECT_TRUE(report->passed());
}

}  // namespace
}  // namespace kiln::testing
