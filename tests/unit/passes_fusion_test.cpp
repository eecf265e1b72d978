// bias-activation-fusion and the kiln Fused* reference kernels.
#include <gtest/gtest.h>

#include "backends/cpu/kernel.h"
#include "frontend/onnx/importer.h"
#include "model_builder.h"
#include "passes_test_util.h"

namespace kiln::testing {
namespace {

using ir::OpKind;

//! ResNet's block tail: Conv(+bias) → Add(skip) → Relu, the skip computed after the Conv.
void residualBlock(GraphBuilder& b) {
    b.input("x", DataType::kFloat32, {1, 4, 6, 5});
    b.constant("W", randomTensor({4, 4, 3, 3}, 21));
    b.constant("b", randomTensor({4}, 22));
    b.node(OpKind::kConv, {"x", "W", "b"}, {"c"}, DataType::kFloat32, Shape{1, 4, 6, 5})
        ->attrs()
        .set("pads", std::vector<int64_t>{1, 1, 1, 1});
    b.node(OpKind::kSigmoid, {"x"}, {"skip"}, DataType::kFloat32, Shape{1, 4, 6, 5});
    b.node(OpKind::kAdd, {"skip", "c"}, {"sum"}, DataType::kFloat32, Shape{1, 4, 6, 5});
    b.node(OpKind::kRelu, {"sum"}, {"y"}, DataType::kFloat32, Shape{1, 4, 6, 5});
    b.output("y");
}

TEST(PassFusion, ConvResidualRelu) {
    ir::Graph g;
    expectEquivalent(residualBlock, {randomTensor({1, 4, 6, 5}, 23)}, one(passes::createBiasActivationFusion()), g,
                     0.0);
    ASSERT_EQ(g.nodes().size(), 2u);
    const ir::Node& f = *g.nodes()[1];
    EXPECT_EQ(f.op(), OpKind::kFusedConv);
    EXPECT_EQ(ir::opInfo(f.op()).domain, "kiln");
    EXPECT_EQ(f.attrs().getString("activation"), "Relu");
    EXPECT_EQ(f.input(3)->name(), "skip");
    EXPECT_EQ(f.output(0)->name(), "y");
    EXPECT_EQ(countOps(g, OpKind::kRelu), 0u);
}

TEST(PassFusion, ConvConstantBiasAndEveryActivation) {
    const std::vector<OpKind> acts = {OpKind::kRelu,        OpKind::kLeakyRelu, OpKind::kClip,     OpKind::kSigmoid,
                                      OpKind::kHardSigmoid, OpKind::kTanh,      OpKind::kHardSwish};
    for (OpKind act : acts) {
        ir::Graph g;
        auto build = [act](GraphBuilder& b) {
            b.input("x", DataType::kFloat32, {2, 3, 5, 7});
            b.constant("W", randomTensor({6, 3, 1, 1}, 31, -2.0f, 2.0f));
            b.constant("bias", randomTensor({1, 6, 1, 1}, 32));
            b.node(OpKind::kConv, {"x", "W"}, {"c"}, DataType::kFloat32, Shape{2, 6, 5, 7});
            b.node(OpKind::kAdd, {"c", "bias"}, {"cb"}, DataType::kFloat32, Shape{2, 6, 5, 7});
            std::vector<std::string> in{"cb"};
            if (act == OpKind::kClip) {
                b.constant("lo", Tensor::scalar<float>(-0.25f));
                b.constant("hi", Tensor::scalar<float>(0.5f));
                in = {"cb", "lo", "hi"};
            }
            ir::Node* a = b.node(act, in, {"y"}, DataType::kFloat32, Shape{2, 6, 5, 7});
            if (act == OpKind::kLeakyRelu) a->attrs().set("alpha", 0.3f);
            if (act == OpKind::kHardSigmoid) a->attrs().set("alpha", 0.3f);
            b.output("y");
        };
        expectEquivalent(build, {randomTensor({2, 3, 5, 7}, 33)}, one(passes::createBiasActivationFusion()), g, 1e-6);
        ASSERT_EQ(g.nodes().size(), 1u) << ir::opName(act);
        EXPECT_EQ(g.nodes()[0]->op(), OpKind::kFusedConv);
        EXPECT_EQ(g.nodes()[0]->attrs().getString("activation"), ir::opName(act));
        EXPECT_EQ(g.nodes()[0]->input(2)->constant().shape(), (Shape{6}));
    }
}

TEST(PassFusion, GemmBiasSigmoid) {
    ir::Graph g;
    auto build = [](GraphBuilder& b) {
        b.input("a", DataType::kFloat32, {5, 7});
        b.constant("B", randomTensor({11, 7}, 41));
        b.constant("C", randomTensor({11}, 42));
        ir::Node* gemm = b.node(OpKind::kGemm, {"a", "B"}, {"m"}, DataType::kFloat32, Shape{5, 11});
        gemm->attrs().set("transB", int64_t{1});
        gemm->attrs().set("alpha", 0.5f);
        gemm->attrs().set("beta", 3.0f);  // no C: beta has no effect, and must not scale the fused bias
        b.node(OpKind::kAdd, {"C", "m"}, {"mb"}, DataType::kFloat32, Shape{5, 11});
        b.node(OpKind::kSigmoid, {"mb"}, {"y"}, DataType::kFloat32, Shape{5, 11});
        b.output("y");
    };
    expectEquivalent(build, {randomTensor({5, 7}, 43)}, one(passes::createBiasActivationFusion()), g, 1e-6);
    ASSERT_EQ(g.nodes().size(), 1u);
    EXPECT_EQ(g.nodes()[0]->op(), OpKind::kFusedGemm);
    EXPECT_EQ(g.nodes()[0]->input(2)->constant().shape(), (Shape{11}));
}

TEST(PassFusion, MatMulBiasTanhWithBatch) {
    ir::Graph g;
    auto build = [](GraphBuilder& b) {
        b.input("a", DataType::kFloat32, {2, 3, 7});
        b.constant("B", randomTensor({7, 13}, 51));
        b.constant("bias", randomTensor({13}, 52));
        b.node(OpKind::kMatMul, {"a", "B"}, {"m"}, DataType::kFloat32, Shape{2, 3, 13});
        b.node(OpKind::kAdd, {"m", "bias"}, {"mb"}, DataType::kFloat32, Shape{2, 3, 13});
        b.node(OpKind::kTanh, {"mb"}, {"y"}, DataType::kFloat32, Shape{2, 3, 13});
        b.output("y");
    };
    expectEquivalent(build, {randomTensor({2, 3, 7}, 53)}, one(passes::createBiasActivationFusion()), g, 1e-6);
    ASSERT_EQ(g.nodes().size(), 1u);
    EXPECT_EQ(g.nodes()[0]->op(), OpKind::kFusedMatMul);
}

TEST(PassFusion, LeavesSharedOutputsAndNonBiasAdds) {
    ir::Graph g;
    GraphBuilder b(g);
    b.input("a", DataType::kFloat32, {3, 7});
    b.input("big", DataType::kFloat32, {4, 3, 13});
    b.constant("B", randomTensor({7, 13}, 61));
    b.node(OpKind::kMatMul, {"a", "B"}, {"m"}, DataType::kFloat32, Shape{3, 13});
    b.node(OpKind::kRelu, {"m"}, {"r"}, DataType::kFloat32, Shape{3, 13});
    b.node(OpKind::kSigmoid, {"m"}, {"s"}, DataType::kFloat32, Shape{3, 13});  // second reader of m
    b.node(OpKind::kMatMul, {"a", "B"}, {"m2"}, DataType::kFloat32, Shape{3, 13});
    b.node(OpKind::kAdd, {"m2", "big"}, {"bc"}, DataType::kFloat32, Shape{4, 3, 13});  // broadcasts the output
    b.output("r");
    b.output("s");
    b.output("bc");
    runPasses(g, one(passes::createBiasActivationFusion()));
    EXPECT_EQ(countOps(g, OpKind::kFusedMatMul), 0u);
    EXPECT_EQ(g.nodes().size(), 5u);
}

TEST(PassFusion, FusedKernelRejectsBadInputs) {
    ir::Graph g;
    ir::Node* n = g.addNode(OpKind::kFusedMatMul, "f", 1);
    n->attrs().set("activation", std::string("Softplus"));
    Tensor a = randomTensor({2, 3}, 1), bm = randomTensor({3, 4}, 2), bias = randomTensor({5}, 3);
    cpu::KernelContext ctx{*n, {&a, &bm}, {}, {}};
    ctx.outputs.resize(1);
    Status s = cpu::kernelFusedMatMul(ctx);
    EXPECT_FALSE(s.isOk());
    EXPECT_NE(s.message().find("Softplus"), std::string::npos) << s.message();
    n->attrs().set("activation", std::string("Relu"));
    ctx.inputs = {&a, &bm, &bias};
    s = cpu::kernelFusedMatMul(ctx);
    EXPECT_FALSE(s.isOk());
    EXPECT_NE(s.message().find("bias"), std::string::npos) << s.message();
}

TEST(PassFusion, ImporterRefusesTheKilnDomain) {
    EXPECT_TRUE(ir::findOp("kiln", "FusedConv").has_value());
    EXPECT_FALSE(ir::findOp("", "FusedConv").has_value());
    onnx::ModelProto m = makeModel();
    auto* op = m.add_opset_import();
    op->set_domain("kiln");
    op->set_version(1);
    addInput(*m.mutable_graph(), "a", onnx::TensorProto::FLOAT, {2, 3});
    addInput(*m.mutable_graph(), "b", onnx::TensorProto::FLOAT, {3, 4});
    addNode(*m.mutable_graph(), "FusedMatMul", {"a", "b"}, {"y"}, "f", "kiln");
    addOutput(*m.mutable_graph(), "y", onnx::TensorProto::FLOAT, {2, 4});
    auto imported = onnx_frontend::importModel(m, "");
    ASSERT_FALSE(imported.isOk());
    EXPECT_EQ(imported.status().code(), ErrorCode::kUnsupported) << imported.status().message();
    EXPECT_NE(imported.status().message().find("FusedMatMul"), std::string::npos) << imported.status().message();
}

}  // namespace
}  // namespace kiln::testing
