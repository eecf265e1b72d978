// cse: duplicate nodes and small duplicate constants merge; different attributes, random ops and graph outputs
// keep their nodes.
#include <gtest/gtest.h>

#include "passes_test_util.h"

namespace kiln::testing {
namespace {

using ir::OpKind;

TEST(PassCse, MergesDuplicateNodesAndConstants) {
    ir::Graph g;
    auto build = [](GraphBuilder& b) {
        b.input("x", DataType::kFloat32, {2, 3});
        b.constant("k1", Tensor::fromVector<float>({2, 2, 2}));
        b.constant("k2", Tensor::fromVector<float>({2, 2, 2}));  // same contents as k1
        b.node(OpKind::kMul, {"x", "k1"}, {"m1"});
        b.node(OpKind::kMul, {"x", "k2"}, {"m2"});  // equal to m1 once k2 is k1
        b.node(OpKind::kSoftmax, {"m1"}, {"s1"})->attrs().set("axis", int64_t{1});
        b.node(OpKind::kSoftmax, {"m2"}, {"s2"})->attrs().set("axis", int64_t{1});
        b.node(OpKind::kSoftmax, {"m2"}, {"s3"})->attrs().set("axis", int64_t{0});  // other attribute
        b.node(OpKind::kAdd, {"s1", "s2"}, {"a"});
        b.node(OpKind::kAdd, {"a", "s3"}, {"y"});
        b.output("y");
    };
    expectEquivalent(build, {randomTensor({2, 3}, 7)}, one(passes::createCommonSubexpressionElimination()), g, 0.0);
    EXPECT_EQ(countOps(g, OpKind::kMul), 1u);
    EXPECT_EQ(countOps(g, OpKind::kSoftmax), 2u);
    EXPECT_EQ(g.findValue("k2"), nullptr) << "the duplicate constant is gone";
    const ir::Node* add = g.findValue("a")->producer();
    EXPECT_EQ(add->input(0), add->input(1));
}

TEST(PassCse, KeepsRandomOpsAndGraphOutputs) {
    ir::Graph g;
    GraphBuilder b(g);
    b.input("x", DataType::kFloat32, {4});
    b.node(OpKind::kRandomUniformLike, {"x"}, {"r1"});
    b.node(OpKind::kRandomUniformLike, {"x"}, {"r2"});
    b.node(OpKind::kRelu, {"x"}, {"y1"});
    b.node(OpKind::kRelu, {"x"}, {"y2"});  // both are graph outputs: names are the interface
    b.output("r1");
    b.output("r2");
    b.output("y1");
    b.output("y2");
    runPasses(g, one(passes::createCommonSubexpressionElimination()));
    EXPECT_EQ(g.nodes().size(), 4u);
}

}  // namespace
}  // namespace kiln::testing
