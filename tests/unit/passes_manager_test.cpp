// PassManager (fixed point, reports, errors) and the graph surgery helpers of ir/graph_edit.h.
#include <gtest/gtest.h>

#include "ir/graph_edit.h"
#include "passes_test_util.h"

namespace kiln::testing {
namespace {

using ir::OpKind;

//! Rewrites Neg(Neg(x)) → x, one pair per apply: needs several pipeline iterations for nested pairs only when
//! matching is blocked, so it also exercises the fixed point.
class DoubleNegRule : public passes::RewriteRule {
public:
    std::string_view name() const override { return "double-neg"; }
    std::string describe(int64_t n) const override { return "removed " + std::to_string(n) + " Neg pairs"; }
    bool match(const ir::Node& n) const override {
        const ir::Value* in = n.input(0);
        return n.op() == OpKind::kNeg && in && in->producer() && in->producer()->op() == OpKind::kNeg &&
               in->consumers().size() == 1 && !ir::isGraphOutput(n.output(0));
    }
    Result<bool> apply(ir::Graph& g, ir::Node& n, passes::PassContext&) override {
        ir::Node* inner = n.input(0)->producer();
        ir::replaceAllUsesWith(n.output(0), inner->input(0));
        g.removeNode(&n);
        g.removeNode(inner);
        return true;
    }
};

class FailingPass : public passes::Pass {
public:
    std::string_view name() const override { return "always-fails"; }
    Result<passes::PassResult> run(ir::Graph&, passes::PassContext&) override { return internalError("boom"); }
};

//! x → Neg → Neg → Neg → Neg → Relu → y
void buildNegChain(GraphBuilder& b) {
    b.input("x", DataType::kFloat32, {3});
    b.node(OpKind::kNeg, {"x"}, {"n1"});
    b.node(OpKind::kNeg, {"n1"}, {"n2"});
    b.node(OpKind::kNeg, {"n2"}, {"n3"});
    b.node(OpKind::kNeg, {"n3"}, {"n4"});
    b.node(OpKind::kRelu, {"n4"}, {"y"});
    b.output("y");
}

TEST(PassManager, RunsToAFixedPointAndReports) {
    ir::Graph g;
    std::vector<std::unique_ptr<passes::Pass>> pipeline;
    pipeline.push_back(std::make_unique<DoubleNegRule>());
    pipeline.push_back(passes::createDeadCodeElimination());
    expectEquivalent(buildNegChain, {randomTensor({3}, 1)}, std::move(pipeline), g);
    EXPECT_EQ(countOps(g, OpKind::kNeg), 0u);
    EXPECT_EQ(g.nodes().size(), 1u);
    EXPECT_EQ(g.nodes()[0]->input(0)->name(), "x");
}

TEST(PassManager, LogsEveryPassInVerboseAndChangesInInfo) {
    ir::Graph g;
    GraphBuilder b(g);
    buildNegChain(b);
    std::vector<std::string> info, verbose;
    std::vector<std::unique_ptr<passes::Pass>> pipeline;
    pipeline.push_back(std::make_unique<DoubleNegRule>());
    passes::PassManager pm(std::move(pipeline), [&](passes::LogLevel level, std::string_view line) {
        (level == passes::LogLevel::kInfo ? info : verbose).emplace_back(line);
    });
    auto report = pm.run(g);
    ASSERT_TRUE(report.isOk()) << report.status().message();
    ASSERT_FALSE(info.empty());
    EXPECT_EQ(info[0], "double-neg: removed 2 Neg pairs");
    EXPECT_EQ(report->changesByPass.at("double-neg"), 2);
    EXPECT_EQ(report->nodesBefore, 5u);
    EXPECT_EQ(report->nodesAfter, 1u);
    EXPECT_NE(info.back().find("5 -> 1 nodes"), std::string::npos) << info.back();
    bool sawNothingToDo = false;
    for (const auto& l : verbose) sawNothingToDo |= l == "double-neg: nothing to do";
    EXPECT_TRUE(sawNothingToDo) << "the second iteration's cheap match finds nothing";
}

TEST(PassManager, FailureNamesThePass) {
    ir::Graph g;
    GraphBuilder b(g);
    buildNegChain(b);
    passes::PassManager pm(one(std::make_unique<FailingPass>()));
    auto r = pm.run(g);
    ASSERT_FALSE(r.isOk());
    EXPECT_NE(r.status().message().find("always-fails"), std::string::npos) << r.status().message();
}

TEST(GraphEdit, ReplaceUsesRemoveAndPrune) {
    ir::Graph g;
    GraphBuilder b(g);
    b.input("x", DataType::kFloat32, {2});
    ir::Node* a = b.node(OpKind::kRelu, {"x"}, {"a"});
    ir::Node* c = b.node(OpKind::kAdd, {"a", "a"}, {"c"});
    b.output("c");
    ir::Value* x = g.findValue("x");
    ir::Value* av = g.findValue("a");
    EXPECT_EQ(ir::replaceAllUsesWith(av, x), 2u);
    EXPECT_TRUE(av->consumers().empty());
    EXPECT_EQ(x->consumers().size(), 3u);  // Relu once, Add twice
    EXPECT_FALSE(g.removeValue(av).isOk()) << "still produced by the Relu";
    g.removeNode(a);
    EXPECT_TRUE(a->removed());
    EXPECT_EQ(av->producer(), nullptr);
    EXPECT_EQ(x->consumers().size(), 2u);
    EXPECT_EQ(ir::pruneUnusedValues(g), 1u);
    EXPECT_EQ(g.findValue("a"), nullptr);
    EXPECT_TRUE(g.verify().isOk());
    EXPECT_FALSE(g.removeValue(g.findValue("c")).isOk()) << "graph output";
    g.collectGarbage();
    EXPECT_EQ(g.nodes().size(), 1u);
    EXPECT_EQ(g.nodes()[0].get(), c);
}

TEST(GraphEdit, InsertAndMoveKeepOrder) {
    ir::Graph g;
    GraphBuilder b(g);
    b.input("x", DataType::kFloat32, {2});
    ir::Node* first = b.node(OpKind::kRelu, {"x"}, {"a"});
    ir::Node* last = b.node(OpKind::kNeg, {"a"}, {"y"});
    b.output("y");
    ir::Node* mid = ir::insertNodeAfter(g, first, OpKind::kAbs, "abs", 17);
    EXPECT_EQ(g.indexOf(mid), 1);
    EXPECT_EQ(g.indexOf(last), 2);
    g.moveNodeAfter(first, last);
    EXPECT_EQ(g.indexOf(first), 2);
    EXPECT_FALSE(g.verify().isOk()) << "Neg now reads 'a' before the Relu writes it";
    g.moveNodeAfter(first, nullptr);
    EXPECT_EQ(g.indexOf(first), 0);
    EXPECT_EQ(ir::uniqueValueName(g, "a"), "a_1");
    EXPECT_EQ(ir::uniqueValueName(g, "fresh"), "fresh");
}

}  // namespace
}  // namespace kiln::testing
