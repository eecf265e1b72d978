// A post-norm transformer layer (static shapes, as an export with a fixed batch gives) built into CUDA engines in
// FP32 (TF32 off), FP16 and BF16: the optimized graph has the transformer fusions (q/k/v merged with a Split,
// GELU absorbed into the FFN's FusedMatMul, both residual LayerNorms fused) and every engine agrees with the CPU
// reference within its precision's tolerance.
#include <gtest/gtest.h>

#include <cmath>
#include <map>

#include "cuda/cuda_op_tester.h"
#include "kiln/kiln.h"
#include "kiln/validate.h"
#include "plan/engine_file.h"
#include "unit/model_builder.h"

namespace kiln::testing {
namespace {

constexpr int64_t kB = 2, kS = 16, kH = 64, kF = 128;

class QuietLogger : public ILogger {
public:
    void log(Severity, const char*) noexcept override {}
};

std::vector<float> wave(size_t n, float freq, float scale) {
    std::vector<float> v(n);
    for (size_t i = 0; i < n; ++i) v[i] = scale * std::sin(freq * static_cast<float>(i) + 0.3f);
    return v;
}

void linear(onnx::GraphProto& g, const std::string& in, const std::string& name, int64_t k, int64_t n, float freq) {
    addInitializer(g, floatTensor(name + ".W", {k, n}, wave(static_cast<size_t>(k * n), freq, 0.15f)));
    addInitializer(g, floatTensor(name + ".b", {n}, wave(static_cast<size_t>(n), freq * 3, 0.1f)));
    addNode(g, "MatMul", {in, name + ".W"}, {name + ".mm"}, name + "/MatMul");
    addNode(g, "Add", {name + ".mm", name + ".b"}, {name}, name + "/Add");
}

void layerNorm(onnx::GraphProto& g, const std::string& in, const std::string& out, float freq) {
    addInitializer(g, floatTensor(out + ".gamma", {kH}, wave(kH, freq, 0.2f)));
    addInitializer(g, floatTensor(out + ".beta", {kH}, wave(kH, freq * 2, 0.1f)));
    addFloatAttr(addNode(g, "LayerNormalization", {in, out + ".gamma", out + ".beta"}, {out}, out), "epsilon", 1e-5f);
}

//! x → q, k, v (multiplied elementwise in place of attention) → LN(x + Linear) → LN(h + Linear(GELU(Linear(h)))).
std::string writeLayer(const TempDir& dir) {
    onnx::ModelProto m = makeModel();
    auto& g = *m.mutable_graph();
    addInput(g, "x", onnx::TensorProto::FLOAT, {kB, kS, kH});
    linear(g, "x", "q", kH, kH, 0.37f);
    linear(g, "x", "k", kH, kH, 0.23f);
    linear(g, "x", "v", kH, kH, 0.41f);
    addNode(g, "Mul", {"q", "k"}, {"qk"}, "qk");
    addNode(g, "Mul", {"qk", "v"}, {"ctx"}, "ctx");  // not an Add: bias-activation-fusion would take it as v's residual
    linear(g, "ctx", "attn", kH, kH, 0.19f);
    addNode(g, "Add", {"x", "attn"}, {"res1"}, "res1");
    layerNorm(g, "res1", "h", 0.5f);
    linear(g, "h", "ffn1", kH, kF, 0.29f);
    addInitializer(g, floatTensor("sqrt2", {}, {1.4142135f}));
    addInitializer(g, floatTensor("one", {}, {1.0f}));
    addInitializer(g, floatTensor("half", {}, {0.5f}));
    addNode(g, "Div", {"ffn1", "sqrt2"}, {"g.div"}, "gelu/Div");
    addNode(g, "Erf", {"g.div"}, {"g.erf"}, "gelu/Erf");
    addNode(g, "Add", {"g.erf", "one"}, {"g.add"}, "gelu/Add");
    addNode(g, "Mul", {"ffn1", "g.add"}, {"g.mul"}, "gelu/Mul");
    addNode(g, "Mul", {"g.mul", "half"}, {"gelu"}, "gelu/Mul_1");
    linear(g, "gelu", "ffn2", kF, kH, 0.31f);
    addNode(g, "Add", {"h", "ffn2"}, {"res2"}, "res2");
    layerNorm(g, "res2", "y", 0.7f);
    addOutput(g, "y", onnx::TensorProto::FLOAT, {kB, kS, kH});
    return dir.write("bert_layer.onnx", m);
}

Tensor input() {
    Tensor x(DataType::kFloat32, {kB, kS, kH});
    for (int64_t i = 0; i < x.numel(); ++i) x.data<float>()[i] = std::cos(0.13f * static_cast<float>(i));
    return x;
}

//! Builds the layer for `backend` with `flag` (kTF32: plain FP32, TF32 off), checks the fusions in the optimized
//! graph and validates the engine against the reference executor.
void buildAndValidate(const std::string& model, Backend backend, BuilderFlag flag) {
    QuietLogger logger;
    Builder builder(logger);
    auto network = builder.createNetwork();
    auto config = builder.createBuilderConfig();
    OnnxParser parser(*network, logger);
    ASSERT_TRUE(parser.parseFromFile(model).isOk());
    config->setBackend(backend);
    config->clearFlag(BuilderFlag::kTF32);
    if (flag != BuilderFlag::kTF32) config->setFlag(flag);

    auto bytes = builder.buildSerializedNetwork(*network, *config);
    ASSERT_TRUE(bytes.isOk()) << bytes.status().message();
    plan::EngineExpectation any;
    any.backend.clear();
    auto file = plan::loadEngineFromMemory((*bytes)->data(), (*bytes)->size(), nullptr, any);
    ASSERT_TRUE(file.isOk()) << file.status().message();
    std::map<ir::OpKind, int> ops;
    for (const auto& n : file->graph->nodes()) ++ops[n->op()];
    EXPECT_EQ(ops[ir::OpKind::kSplit], 1) << "q/k/v not merged";
    EXPECT_EQ(ops[ir::OpKind::kFusedMatMul], 4);  // merged q/k/v, attn, ffn1 (+GELU), ffn2
    EXPECT_EQ(ops[ir::OpKind::kFusedAddLayerNorm], 2);
    EXPECT_EQ(ops[ir::OpKind::kErf] + ops[ir::OpKind::kGelu] + ops[ir::OpKind::kLayerNormalization], 0);

    auto engine = builder.buildEngine(*network, *config);
    ASSERT_TRUE(engine.isOk()) << engine.status().message();
    const std::set<BuilderFlag> allowed =
        flag == BuilderFlag::kTF32 ? std::set<BuilderFlag>{} : std::set<BuilderFlag>{flag};
    Tolerances tol = Tolerances::forFlags(allowed);
    // bfloat16 keeps 8 mantissa bits: half an ulp is 2e-3 of every value, through six GEMMs and two LayerNorms.
    if (flag == BuilderFlag::kBF16) tol.rtol = 3e-2;
    auto report = validateEngine(**engine, model, {{"x", input()}}, tol);
    ASSERT_TRUE(report.isOk()) << report.status().message();
    for (const OutputComparison& o : report->outputs) {
        EXPECT_TRUE(o.passed) << o.name << ": max rel " << o.maxRelError << " " << o.problem;
    }
}

TEST(TransformerEngine, FusedLayerOnTheCpuBackend) {  // runs without a GPU: the passes and reference kernels
    TempDir dir;
    buildAndValidate(writeLayer(dir), Backend::kCpu, BuilderFlag::kTF32);
}

TEST(CudaTransformerEngine, FusedLayerMatchesTheReferenceInEveryPrecision) {
    KILN_REQUIRE_GPU();
    TempDir dir;
    const std::string model = writeLayer(dir);
    for (BuilderFlag flag : {BuilderFlag::kTF32, BuilderFlag::kFP16, BuilderFlag::kBF16}) {
        SCOPED_TRACE(static_cast<int>(flag));
        buildAndValidate(model, Backend::kCuda, flag);
    }
}

}  // namespace
}  // namespace kiln::testing
