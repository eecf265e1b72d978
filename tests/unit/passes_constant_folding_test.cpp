// constant-folding: constant subgraphs and shape subgraphs fold; random ops and oversized results do not.
#include <gtest/gtest.h>

#include "passes_test_util.h"

namespace kiln::testing {
namespace {

using ir::OpKind;

TEST(PassConstantFolding, FoldsConstantChains) {
    ir::Graph g;
    auto build = [](GraphBuilder& b) {
        b.input("x", DataType::kFloat32, {5});
        b.constant("c1", Tensor::fromVector<float>({1, 2, 3, 4, 5}));
        b.constant("c2", Tensor::fromVector<float>({0.5f, 0.5f, 0.5f, 0.5f, 0.5f}));
        b.node(OpKind::kMul, {"c1", "c2"}, {"m"});
        b.node(OpKind::kSqrt, {"m"}, {"s"});
        b.node(OpKind::kAdd, {"x", "s"}, {"y"});
        b.output("y");
    };
    expectEquivalent(build, {randomTensor({5}, 3)}, one(passes::createConstantFolding()), g);
    ASSERT_EQ(g.nodes().size(), 1u);
    EXPECT_EQ(g.nodes()[0]->op(), OpKind::kAdd);
    const ir::Value* s = g.nodes()[0]->input(1);
    ASSERT_TRUE(s->isConstant());
    EXPECT_EQ(s->name(), "s") << "a folded value keeps its name";
    EXPECT_FLOAT_EQ(s->constant().data<float>()[2], std::sqrt(1.5f));
}

TEST(PassConstantFolding, FoldsShapeSubgraphs) {
    // y = Reshape(x, Concat(Gather(Shape(x), 0), [-1])): the exporters' flatten, all static here.
    ir::Graph g;
    auto build = [](GraphBuilder& b) {
        b.input("x", DataType::kFloat32, {3, 5, 7});
        b.constant("idx", Tensor::fromVector<int64_t>({0}, {1}));
        b.constant("minus1", Tensor::fromVector<int64_t>({-1}, {1}));
        b.node(OpKind::kShape, {"x"}, {"shape"}, DataType::kInt64, Shape{3});
        b.node(OpKind::kGather, {"shape", "idx"}, {"n"}, DataType::kInt64, Shape{1});
        b.node(OpKind::kConcat, {"n", "minus1"}, {"target"}, DataType::kInt64, Shape{2})
            ->attrs()
            .set("axis", int64_t{0});
        b.node(OpKind::kReshape, {"x", "target"}, {"y"}, DataType::kFloat32, Shape{3, 35});
        b.node(OpKind::kSize, {"x"}, {"size"}, DataType::kInt64, Shape{});
        b.output("y");
        b.output("size");
    };
    expectEquivalent(build, {randomTensor({3, 5, 7}, 4)}, one(passes::createConstantFolding()), g);
    ASSERT_EQ(g.nodes().size(), 1u);
    EXPECT_EQ(g.nodes()[0]->op(), OpKind::kReshape);
    EXPECT_EQ(g.nodes()[0]->input(1)->constant().toInt64Vector(), (std::vector<int64_t>{3, -1}));
    ASSERT_TRUE(g.findValue("size")->isConstant()) << "a graph output may become a constant";
    EXPECT_EQ(g.findValue("size")->constant().getInt(0), 105);
}

TEST(PassConstantFolding, ShapeHonoursStartEnd) {
    ir::Graph g;
    GraphBuilder b(g);
    b.input("x", DataType::kFloat32, {2, 3, 4, 5});
    ir::Node* n = b.node(OpKind::kShape, {"x"}, {"s"}, DataType::kInt64, Shape{2});
    n->attrs().set("start", int64_t{1});
    n->attrs().set("end", int64_t{-1});
    b.output("s");
    runPasses(g, one(passes::createConstantFolding()));
    ASSERT_TRUE(g.findValue("s")->isConstant());
    EXPECT_EQ(g.findValue("s")->constant().toInt64Vector(), (std::vector<int64_t>{3, 4}));
}

TEST(PassConstantFolding, KeepsDynamicShapesRandomOpsAndHugeResults) {
    ir::Graph g;
    GraphBuilder b(g);
    ir::Value* x = b.input("x", DataType::kFloat32, {1});
    x->setShape(std::vector<ir::Dim>{ir::Dim::symbolic("batch")});
    b.node(OpKind::kShape, {"x"}, {"dyn"}, DataType::kInt64, Shape{1});
    ir::Node* r = b.node(OpKind::kRandomUniform, {}, {"r"}, DataType::kFloat32, Shape{4});
    r->attrs().set("shape", std::vector<int64_t>{4});
    b.constant("big_shape", Tensor::fromVector<int64_t>({1024, 1024}));
    b.constant("one", Tensor::scalar<float>(1.0f));
    b.node(OpKind::kExpand, {"one", "big_shape"}, {"big"}, DataType::kFloat32, Shape{1024, 1024});
    b.output("dyn");
    b.output("r");
    b.output("big");
    passes::ConstantFoldingOptions options;
    options.maxOutputBytes = 1 << 20;  // the 4 MiB Expand stays a node
    runPasses(g, one(passes::createConstantFolding(options)));
    EXPECT_EQ(g.nodes().size(), 3u);
    EXPECT_EQ(countOps(g, OpKind::kShape), 1u);
    EXPECT_EQ(countOps(g, OpKind::kRandomUniform), 1u);
    EXPECT_EQ(countOps(g, OpKind::kExpand), 1u);
    // With the default 64 MiB cap it folds.
    runPasses(g, one(passes::createConstantFolding()));
    EXPECT_EQ(countOps(g, OpKind::kExpand), 0u);
    ASSERT_TRUE(g.findValue("big")->isConstant());
    EXPECT_EQ(g.findValue("big")->constant().numel(), 1024 * 1024);
}

TEST(PassConstantFolding, KernelErrorsLeaveTheNode) {
    // Reshape of 6 elements to 4: the model's error must surface when the node runs, not vanish at build time.
    ir::Graph g;
    GraphBuilder b(g);
    b.constant("data", Tensor::fromVector<float>({1, 2, 3, 4, 5, 6}));
    b.constant("shape", Tensor::fromVector<int64_t>({4}, {1}));
    b.node(OpKind::kReshape, {"data", "shape"}, {"y"});
    b.output("y");
    runPasses(g, one(passes::createConstantFolding()));
    EXPECT_EQ(countOps(g, OpKind::kReshape), 1u);
    EXPECT_FALSE(cpu::Executor().run(g, {}).isOk());
}

}  // namespace
}  // namespace kiln::testing
