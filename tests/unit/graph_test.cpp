// The IR: values, nodes, scoping, verification, attributes and the op table.
#include <gtest/gtest.h>

#include "ir/graph.h"
#include "ir/op.h"

namespace kiln::ir {
namespace {

TEST(Graph, ValueNamesAreUniquePerGraph) {
    Graph g("g");
    auto a = g.createValue("a");
    ASSERT_TRUE(a.isOk());
    EXPECT_EQ((*a)->name(), "a");
    EXPECT_EQ((*a)->graph(), &g);
    auto again = g.createValue("a");
    ASSERT_FALSE(again.isOk());
    EXPECT_EQ(again.status().code(), ErrorCode::kInvalidModel);
    EXPECT_EQ(again.status().message(), "value 'a' is defined more than once in graph 'g'");
    // Unnamed values (omitted optional outputs, internal temporaries) never clash.
    EXPECT_TRUE(g.createValue("").isOk());
    EXPECT_TRUE(g.createValue("").isOk());
    EXPECT_EQ(g.findValue(""), nullptr);
}

TEST(Graph, LexicalScoping) {
    Graph outer("outer");
    Graph inner("inner", &outer);
    Value* x = outer.createValue("x").value();
    Value* shadow = inner.createValue("y").value();
    Value* outerY = outer.createValue("y").value();
    EXPECT_EQ(inner.parent(), &outer);
    EXPECT_EQ(inner.findValue("x"), nullptr) << "findValue looks in this graph only";
    EXPECT_EQ(inner.findValueInScope("x"), x);
    EXPECT_EQ(inner.findValueInScope("y"), shadow) << "the innermost definition wins";
    EXPECT_EQ(outer.findValueInScope("y"), outerY);
    EXPECT_EQ(inner.findValueInScope("nope"), nullptr);
}

TEST(Node, InputsOutputsAndConsumers) {
    Graph g;
    Value* a = g.createValue("a").value();
    Value* b = g.createValue("b").value();
    Value* y = g.createValue("y").value();
    Node* n = g.addNode(OpKind::kAdd, "add", 13);
    n->addInput(a);
    n->addInput(a);
    n->addOutput(y);
    EXPECT_EQ(a->consumers().size(), 2u);
    EXPECT_EQ(y->producer(), n);
    n->setInput(1, b);
    EXPECT_EQ(a->consumers().size(), 1u);
    ASSERT_EQ(b->consumers().size(), 1u);
    EXPECT_EQ(b->consumers()[0], n);
    n->setInput(4, nullptr);  // grows the list with omitted inputs
    EXPECT_EQ(n->inputs().size(), 5u);
    EXPECT_EQ(n->input(3), nullptr);
    EXPECT_EQ(n->input(99), nullptr) << "out of range reads as omitted";
    EXPECT_EQ(n->output(7), nullptr);
    EXPECT_EQ(n->opType(), "Add");
    EXPECT_EQ(n->opset(), 13);
    EXPECT_EQ(n->describe(), "node <kiln> (Add 'add')");
    n->setSourceIndex(12);
    EXPECT_EQ(n->describe(), "node 12 (Add 'add')");
    EXPECT_EQ(g.addNode(OpKind::kRelu, "", 14)->describe(), "node <kiln> (Relu)");
}

TEST(Graph, VerifyAcceptsAWellFormedGraph) {
    Graph g("main");
    Value* x = g.createValue("x").value();
    g.addInput(x);
    Value* w = g.createValue("w").value();
    w->setConstant(Tensor::fromVector<float>({1, 2}));
    Value* h = g.createValue("h").value();
    Value* y = g.createValue("y").value();
    Node* n0 = g.addNode(OpKind::kAdd, "n0", 17);
    n0->addInput(x);
    n0->addInput(w);
    n0->addOutput(h);
    Node* n1 = g.addNode(OpKind::kRelu, "n1", 17);
    n1->addInput(h);
    n1->addOutput(y);
    g.addOutput(y);
    g.addOutput(w);  // a constant can be an output
    EXPECT_TRUE(g.verify().isOk()) << g.verify().message();
}

TEST(Graph, VerifyFindsUseBeforeProduce) {
    Graph g("main");
    Value* x = g.createValue("x").value();
    g.addInput(x);
    Value* h = g.createValue("h").value();
    Value* y = g.createValue("y").value();
    Node* consumer = g.addNode(OpKind::kRelu, "consumer", 17);
    consumer->setSourceIndex(0);
    consumer->addInput(h);
    consumer->addOutput(y);
    Node* producer = g.addNode(OpKind::kRelu, "producer", 17);
    producer->addInput(x);
    producer->addOutput(h);
    g.addOutput(y);
    Status s = g.verify();
    ASSERT_FALSE(s.isOk());
    EXPECT_EQ(s.message(), "node 0 (Relu 'consumer'): input 'h' is used before it is produced");
}

TEST(Graph, VerifyFindsAnOutputNothingProduces) {
    Graph g("main");
    Value* ghost = g.createValue("ghost").value();
    g.addOutput(ghost);
    Status s = g.verify();
    ASSERT_FALSE(s.isOk());
    EXPECT_EQ(s.message(), "graph 'main' output 'ghost' is never produced");
}

TEST(Graph, VerifyLeavesOuterScopeCapturesToTheEnclosingGraph) {
    Graph outer("outer");
    Value* a = outer.createValue("a").value();
    outer.addInput(a);
    Graph body("body", &outer);
    Value* y = body.createValue("y").value();
    Node* n = body.addNode(OpKind::kIdentity, "id", 17);
    n->addInput(a);
    n->addOutput(y);
    body.addOutput(y);
    body.addOutput(a);  // a branch may return an outer value directly
    EXPECT_TRUE(body.verify().isOk()) << body.verify().message();
}

TEST(Value, ShapesAndConstants) {
    Graph g;
    Value* v = g.createValue("v").value();
    EXPECT_EQ(v->dtype(), DataType::kUndefined);
    EXPECT_FALSE(v->shape().has_value());
    EXPECT_EQ(symbolicShapeToString(v->shape()), "?");
    EXPECT_FALSE(v->staticShape().has_value());
    v->setShape(std::vector<Dim>{Dim::symbolic("batch"), Dim::known(3), Dim::symbolic("")});
    EXPECT_EQ(symbolicShapeToString(v->shape()), "batchx3x?");
    EXPECT_FALSE(v->staticShape().has_value());
    v->setShape(std::vector<Dim>{});
    EXPECT_EQ(symbolicShapeToString(v->shape()), "scalar");
    ASSERT_TRUE(v->staticShape().has_value());
    EXPECT_TRUE(v->staticShape()->empty());
    v->setConstant(Tensor::fromVector<int32_t>({1, 2, 3, 4, 5, 6}, {2, 3}));
    EXPECT_TRUE(v->isConstant());
    EXPECT_EQ(v->dtype(), DataType::kInt32);
    EXPECT_EQ(v->staticShape(), (Shape{2, 3}));
    EXPECT_EQ(symbolicShapeToString(v->shape()), "2x3");
}

TEST(Attributes, TypedGettersNeverThrow) {
    Attributes attrs;
    attrs.set("i", int64_t{4});
    attrs.set("f", 2.5f);
    attrs.set("s", std::string("abc"));
    attrs.set("ints", std::vector<int64_t>{1, 2});
    EXPECT_EQ(attrs.getInt("i", 0), 4);
    EXPECT_EQ(attrs.getInt("missing", 7), 7);
    EXPECT_EQ(attrs.getInt("f", -1), -1) << "wrong type reads as absent";
    EXPECT_EQ(attrs.getFloat("f", 0), 2.5f);
    EXPECT_EQ(attrs.getString("s"), "abc");
    EXPECT_EQ(attrs.getInts("ints"), (std::vector<int64_t>{1, 2}));
    EXPECT_FALSE(attrs.getInts("i").has_value());
    EXPECT_FALSE(attrs.getTensor("i").has_value());
    EXPECT_EQ(attrs.getGraph("i"), nullptr);
    EXPECT_TRUE(attrs.has("s"));
    attrs.erase("s");
    EXPECT_FALSE(attrs.has("s"));
}

TEST(OpTable, NamesRoundTripAndDomainsAlias) {
    for (int32_t i = 0; i < kOpCount; ++i) {
        const auto kind = static_cast<OpKind>(i);
        const OpInfo& info = opInfo(kind);
        EXPECT_EQ(info.kind, kind);
        EXPECT_FALSE(info.family.empty()) << info.name;
        EXPECT_EQ(findOp(info.domain, info.name), kind) << info.name;
        if (info.domain.empty()) {
            EXPECT_EQ(findOp("ai.onnx", info.name), kind) << info.name;
        }
    }
    EXPECT_FALSE(findOp("", "NoSuchOp").has_value());
    EXPECT_FALSE(findOp("com.example", "Add").has_value());
    EXPECT_EQ(opName(OpKind::kAdd), "Add");
}

}  // namespace
}  // namespace kiln::ir
