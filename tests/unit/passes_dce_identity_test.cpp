// dead-code-elimination and identity-elimination.
#include <gtest/gtest.h>

#include "passes_test_util.h"

namespace kiln::testing {
namespace {

using ir::OpKind;

TEST(PassDeadCodeElimination, RemovesUnusedNodesAndValues) {
    ir::Graph g;
    auto build = [](GraphBuilder& b) {
        b.input("x", DataType::kFloat32, {4});
        b.constant("unused_w", Tensor::fromVector<float>({1, 2, 3, 4}));
        b.node(OpKind::kExp, {"x"}, {"dead1"});
        b.node(OpKind::kMul, {"dead1", "unused_w"}, {"dead2"});
        b.node(OpKind::kRelu, {"x"}, {"y"});
        b.output("y");
    };
    expectEquivalent(build, {randomTensor({4}, 5)}, one(passes::createDeadCodeElimination()), g);
    ASSERT_EQ(g.nodes().size(), 1u);
    EXPECT_EQ(g.nodes()[0]->op(), OpKind::kRelu);
    EXPECT_EQ(g.findValue("unused_w"), nullptr);
    EXPECT_EQ(g.findValue("dead2"), nullptr);
    EXPECT_NE(g.findValue("x"), nullptr) << "graph inputs stay";
}

TEST(PassDeadCodeElimination, KeepsValuesSubgraphsUse) {
    // If's then-branch returns the outer value 'a' directly and reads 'b' through a node: both stay alive.
    ir::Graph g;
    GraphBuilder b(g);
    b.input("cond", DataType::kBool, {});
    b.input("x", DataType::kFloat32, {2});
    b.node(OpKind::kRelu, {"x"}, {"a"});
    b.node(OpKind::kNeg, {"x"}, {"b"});
    auto thenG = std::make_shared<ir::Graph>("then", &g);
    thenG->addOutput(g.findValue("a"));
    auto elseG = std::make_shared<ir::Graph>("else", &g);
    ir::Node* inner = elseG->addNode(OpKind::kAbs, "abs", 17);
    inner->addInput(g.findValue("b"));
    ir::Value* out = elseG->createValue("else_out").value();
    out->setDtype(DataType::kFloat32);
    inner->addOutput(out);
    elseG->addOutput(out);
    ir::Node* iff = b.node(OpKind::kIf, {"cond"}, {"y"});
    iff->attrs().set("then_branch", thenG);
    iff->attrs().set("else_branch", elseG);
    b.output("y");
    runPasses(g, one(passes::createDeadCodeElimination()));
    EXPECT_EQ(g.nodes().size(), 3u);
    auto outs = runGraph(g, {Tensor::scalar<bool>(true), Tensor::fromVector<float>({-1, 2})});
    ASSERT_EQ(outs.size(), 1u);
    EXPECT_EQ(outs[0].data<float>()[0], 0.0f);
}

TEST(PassIdentityElimination, RemovesIdentityAndInferenceDropout) {
    ir::Graph g;
    auto build = [](GraphBuilder& b) {
        b.input("x", DataType::kFloat32, {6});
        b.node(OpKind::kIdentity, {"x"}, {"i1"});
        b.node(OpKind::kDropout, {"i1"}, {"d1"});
        b.node(OpKind::kRelu, {"d1"}, {"r"});
        b.node(OpKind::kIdentity, {"r"}, {"y"});  // produces a graph output: the Relu takes the name over
        b.output("y");
    };
    expectEquivalent(build, {randomTensor({6}, 6)}, one(passes::createIdentityElimination()), g, 0.0);
    ASSERT_EQ(g.nodes().size(), 1u);
    EXPECT_EQ(g.nodes()[0]->op(), OpKind::kRelu);
    EXPECT_EQ(g.nodes()[0]->input(0)->name(), "x");
    EXPECT_EQ(g.outputs()[0]->name(), "y");
    EXPECT_EQ(g.outputs()[0]->producer(), g.nodes()[0].get());
}

TEST(PassIdentityElimination, KeepsWhatItMust) {
    ir::Graph g;
    GraphBuilder b(g);
    b.input("x", DataType::kFloat32, {6});
    b.node(OpKind::kIdentity, {"x"}, {"y1"});  // graph input straight to graph output: needs the node
    b.node(OpKind::kRelu, {"x"}, {"r"});
    b.node(OpKind::kDropout, {"r"}, {"d", "mask"});  // mask is read
    b.node(OpKind::kCast, {"mask"}, {"mask_f"})->attrs().set("to", int64_t{1});
    b.constant("training", Tensor::scalar<bool>(true));
    b.constant("ratio", Tensor::scalar<float>(0.0f));
    b.node(OpKind::kDropout, {"r", "ratio", "training"}, {"t"});  // training mode
    g.findValue("mask")->setDtype(DataType::kBool);
    b.output("y1");
    b.output("d");
    b.output("mask_f");
    b.output("t");
    runPasses(g, one(passes::createIdentityElimination()));
    EXPECT_EQ(countOps(g, OpKind::kIdentity), 1u);
    EXPECT_EQ(countOps(g, OpKind::kDropout), 2u);
}

}  // namespace
}  // namespace kiln::testing
