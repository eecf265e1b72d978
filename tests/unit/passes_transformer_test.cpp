// The transformer-encoder passes: gelu-fusion, add-layer-norm-fusion and matmul-merge, alone and with
// bias-activation-fusion; where they must match and where they must not.
#include <gtest/gtest.h>

#include <cmath>

#include "passes/layer_precision.h"
#include "passes_test_util.h"

namespace kiln::testing {
namespace {

using ir::OpKind;

const Shape kX{2, 3, 8};
const Shape kH{2, 3, 16};

std::vector<std::unique_ptr<passes::Pass>> geluThenBias() {
    std::vector<std::unique_ptr<passes::Pass>> p;
    p.push_back(passes::createGeluFusion());
    p.push_back(passes::createBiasActivationFusion());
    p.push_back(passes::createDeadCodeElimination());
    return p;
}

//! x → MatMul(W) → Add(b) = h, then the caller's GELU spelling of h → y.
void linear(GraphBuilder& b) {
    b.input("x", DataType::kFloat32, kX);
    b.constant("W", randomTensor({8, 16}, 11));
    b.constant("b", randomTensor({16}, 12));
    b.constant("half", Tensor::scalar<float>(0.5f));
    b.constant("one", Tensor::scalar<float>(1.0f));
    b.node(OpKind::kMatMul, {"x", "W"}, {"mm"}, DataType::kFloat32, kH);
    b.node(OpKind::kAdd, {"mm", "b"}, {"h"}, DataType::kFloat32, kH);
}

enum class Tail { kMulXThenHalf, kHalfThenMulX, kHalfXTimes };

//! h's erf GELU: Div(h, √2) or Mul(h, 1/√2) → Erf → Add(1) → `tail`.
void erfGelu(GraphBuilder& b, bool divide, Tail tail, float one = 1.0f) {
    linear(b);
    if (divide) {
        b.constant("sqrt2", Tensor::scalar<float>(1.4142135f));
        b.node(OpKind::kDiv, {"h", "sqrt2"}, {"s"}, DataType::kFloat32, kH);
    } else {
        b.constant("rsqrt2", Tensor::scalar<float>(0.70710677f));
        b.node(OpKind::kMul, {"rsqrt2", "h"}, {"s"}, DataType::kFloat32, kH);
    }
    b.constant("plus", Tensor::scalar<float>(one));
    b.node(OpKind::kErf, {"s"}, {"e"}, DataType::kFloat32, kH);
    b.node(OpKind::kAdd, {"e", "plus"}, {"p"}, DataType::kFloat32, kH);
    switch (tail) {
        case Tail::kMulXThenHalf:
            b.node(OpKind::kMul, {"h", "p"}, {"m"}, DataType::kFloat32, kH);
            b.node(OpKind::kMul, {"m", "half"}, {"y"}, DataType::kFloat32, kH);
            break;
        case Tail::kHalfThenMulX:
            b.node(OpKind::kMul, {"p", "half"}, {"m"}, DataType::kFloat32, kH);
            b.node(OpKind::kMul, {"h", "m"}, {"y"}, DataType::kFloat32, kH);
            break;
        case Tail::kHalfXTimes:
            b.node(OpKind::kMul, {"half", "h"}, {"hh"}, DataType::kFloat32, kH);
            b.node(OpKind::kMul, {"hh", "p"}, {"y"}, DataType::kFloat32, kH);
            break;
    }
    b.output("y");
}

//! h's tanh GELU, the cube as Pow(h, 3) or h * (h * h).
void tanhGelu(GraphBuilder& b, bool pow) {
    linear(b);
    if (pow) {
        b.constant("three", Tensor::scalar<float>(3.0f));
        b.node(OpKind::kPow, {"h", "three"}, {"cube"}, DataType::kFloat32, kH);
    } else {
        b.node(OpKind::kMul, {"h", "h"}, {"sq"}, DataType::kFloat32, kH);
        b.node(OpKind::kMul, {"h", "sq"}, {"cube"}, DataType::kFloat32, kH);
    }
    b.constant("c", Tensor::scalar<float>(0.044715f));
    b.constant("k", Tensor::scalar<float>(0.7978846f));
    b.node(OpKind::kMul, {"cube", "c"}, {"cc"}, DataType::kFloat32, kH);
    b.node(OpKind::kAdd, {"h", "cc"}, {"inner"}, DataType::kFloat32, kH);
    b.node(OpKind::kMul, {"k", "inner"}, {"arg"}, DataType::kFloat32, kH);
    b.node(OpKind::kTanh, {"arg"}, {"t"}, DataType::kFloat32, kH);
    b.node(OpKind::kAdd, {"one", "t"}, {"p"}, DataType::kFloat32, kH);
    b.node(OpKind::kMul, {"p", "h"}, {"m"}, DataType::kFloat32, kH);
    b.node(OpKind::kMul, {"m", "half"}, {"y"}, DataType::kFloat32, kH);
    b.output("y");
}

void expectOneFusedMatMul(const ir::Graph& g, const std::string& activation) {
    ASSERT_EQ(g.nodes().size(), 1u);
    const ir::Node& f = *g.nodes()[0];
    EXPECT_EQ(f.op(), OpKind::kFusedMatMul);
    EXPECT_EQ(f.attrs().getString("activation"), activation);
    EXPECT_EQ(f.output(0)->name(), "y");
}

TEST(PassGelu, ErfFormsBecomeTheMatMulsActivation) {
    for (bool divide : {true, false}) {
        for (Tail tail : {Tail::kMulXThenHalf, Tail::kHalfThenMulX, Tail::kHalfXTimes}) {
            SCOPED_TRACE(std::to_string(divide) + " " + std::to_string(static_cast<int>(tail)));
            ir::Graph g;
            expectEquivalent([&](GraphBuilder& b) { erfGelu(b, divide, tail); }, {randomTensor(kX, 13, -3, 3)},
                             geluThenBias(), g, 1e-6);
            expectOneFusedMatMul(g, "Gelu");
        }
    }
}

TEST(PassGelu, TanhFormsBecomeGeluTanh) {
    for (bool pow : {true, false}) {
        ir::Graph g;
        expectEquivalent([&](GraphBuilder& b) { tanhGelu(b, pow); }, {randomTensor(kX, 14, -3, 3)}, geluThenBias(), g,
                         1e-6);
        expectOneFusedMatMul(g, "GeluTanh");
    }
}

TEST(PassGelu, FusesWithoutKnownShapes) {
    // Dynamic exports leave shapes unknown: the bias's N comes from the constant weight.
    ir::Graph g;
    expectEquivalent(
        [](GraphBuilder& b) {
            b.input("x", DataType::kFloat32, kX);
            b.constant("W", randomTensor({8, 16}, 16));
            b.constant("b", randomTensor({16}, 17));
            b.constant("sqrt2", Tensor::scalar<float>(1.4142135f));
            b.constant("one", Tensor::scalar<float>(1.0f));
            b.constant("half", Tensor::scalar<float>(0.5f));
            b.node(OpKind::kMatMul, {"x", "W"}, {"mm"});
            b.node(OpKind::kAdd, {"b", "mm"}, {"h"});
            b.node(OpKind::kDiv, {"h", "sqrt2"}, {"s"});
            b.node(OpKind::kErf, {"s"}, {"e"});
            b.node(OpKind::kAdd, {"e", "one"}, {"p"});
            b.node(OpKind::kMul, {"h", "p"}, {"m"});
            b.node(OpKind::kMul, {"m", "half"}, {"y"});
            b.output("y");
        },
        {randomTensor(kX, 18, -3, 3)}, geluThenBias(), g, 1e-6);
    expectOneFusedMatMul(g, "Gelu");
    EXPECT_EQ(g.nodes()[0]->input(2)->constant().shape(), (Shape{16}));
}

TEST(PassGelu, AloneMakesAGeluNode) {
    ir::Graph g;
    expectEquivalent([](GraphBuilder& b) { erfGelu(b, true, Tail::kMulXThenHalf); }, {randomTensor(kX, 15)},
                     one(passes::createGeluFusion()), g, 1e-6);
    EXPECT_EQ(countOps(g, OpKind::kGelu), 1u);
    EXPECT_EQ(countOps(g, OpKind::kErf), 0u);
    EXPECT_EQ(countOps(g, OpKind::kMul), 0u);
}

TEST(PassGelu, DoesNotMatch) {
    auto unchanged = [](const std::function<void(GraphBuilder&)>& build) {
        ir::Graph g;
        GraphBuilder b(g);
        build(b);
        const size_t before = g.nodes().size();
        runPasses(g, one(passes::createGeluFusion()));
        EXPECT_EQ(countOps(g, OpKind::kGelu), 0u);
        EXPECT_EQ(g.nodes().size(), before);
    };
    // Add(2) instead of Add(1).
    unchanged([](GraphBuilder& b) { erfGelu(b, true, Tail::kMulXThenHalf, 2.0f); });
    // An intermediate is a graph output.
    unchanged([](GraphBuilder& b) {
        erfGelu(b, true, Tail::kMulXThenHalf);
        b.output("e");
    });
    // An intermediate has another reader.
    unchanged([](GraphBuilder& b) {
        erfGelu(b, false, Tail::kHalfThenMulX);
        b.node(OpKind::kRelu, {"p"}, {"r"}, DataType::kFloat32, kH);
        b.output("r");
    });
    // A node pinned to another precision than the pattern's first.
    unchanged([](GraphBuilder& b) {
        erfGelu(b, true, Tail::kMulXThenHalf);
        b.value("e")->producer()->attrs().set(passes::kPrecisionAttr, std::string("fp32"));
    });
    // The tail multiplies by another tensor than x.
    unchanged([](GraphBuilder& b) {
        linear(b);
        b.input("other", DataType::kFloat32, kH);
        b.constant("sqrt2", Tensor::scalar<float>(1.4142135f));
        b.node(OpKind::kDiv, {"h", "sqrt2"}, {"s"}, DataType::kFloat32, kH);
        b.node(OpKind::kErf, {"s"}, {"e"}, DataType::kFloat32, kH);
        b.node(OpKind::kAdd, {"e", "one"}, {"p"}, DataType::kFloat32, kH);
        b.node(OpKind::kMul, {"other", "p"}, {"m"}, DataType::kFloat32, kH);
        b.node(OpKind::kMul, {"m", "half"}, {"y"}, DataType::kFloat32, kH);
        b.output("y");
    });
}

// ---- layer-norm-fusion

//! The opset-13 spelling of LayerNorm over the last `axes` dims of x [2, 3, 8].
void spelledNorm(GraphBuilder& b, bool pow, bool affine, std::vector<int64_t> axes = {-1}, bool unknownX = false) {
    if (unknownX) {  // x behind a Relu without a shape annotation, as past a dynamic Reshape
        b.input("x0", DataType::kFloat32, kX);
        b.node(OpKind::kRelu, {"x0"}, {"x"});
    } else {
        b.input("x", DataType::kFloat32, kX);
    }
    b.constant("two", Tensor::scalar<float>(2.0f));
    b.constant("eps", Tensor::scalar<float>(1e-5f));
    b.node(OpKind::kReduceMean, {"x"}, {"mean"}, DataType::kFloat32)->attrs().set("axes", axes);
    b.node(OpKind::kSub, {"x", "mean"}, {"d"}, DataType::kFloat32, kX);
    if (pow) {
        b.node(OpKind::kPow, {"d", "two"}, {"sq"}, DataType::kFloat32, kX);
    } else {
        b.node(OpKind::kMul, {"d", "d"}, {"sq"}, DataType::kFloat32, kX);
    }
    b.node(OpKind::kReduceMean, {"sq"}, {"var"}, DataType::kFloat32)->attrs().set("axes", axes);
    b.node(OpKind::kAdd, {"var", "eps"}, {"ve"}, DataType::kFloat32);
    b.node(OpKind::kSqrt, {"ve"}, {"s"}, DataType::kFloat32);
    b.node(OpKind::kDiv, {"d", "s"}, {affine ? "n" : "y"}, DataType::kFloat32, kX);
    if (affine) {
        b.constant("gamma", randomTensor({8}, 111, 0.5f, 1.5f));
        b.constant("beta", randomTensor(unknownX ? Shape{8} : Shape{1, 8}, 112));
        b.node(OpKind::kMul, {"gamma", "n"}, {"m"}, DataType::kFloat32, kX);
        b.node(OpKind::kAdd, {"m", "beta"}, {"y"}, DataType::kFloat32, kX);
    }
    b.output("y");
}

TEST(PassLayerNorm, SpelledOutFormsBecomeOneNode) {
    for (bool pow : {true, false}) {
        for (bool affine : {true, false}) {
            SCOPED_TRACE(std::to_string(pow) + " " + std::to_string(affine));
            ir::Graph g;
            expectEquivalent([&](GraphBuilder& b) { spelledNorm(b, pow, affine); }, {randomTensor(kX, 113, -2, 3)},
                             one(passes::createLayerNormFusion()), g, 1e-5);
            ASSERT_EQ(g.nodes().size(), 1u);
            const ir::Node& ln = *g.nodes()[0];
            EXPECT_EQ(ln.op(), OpKind::kLayerNormalization);
            EXPECT_EQ(ln.attrs().getInt("axis", 0), -1);
            EXPECT_FLOAT_EQ(ln.attrs().getFloat("epsilon", 0), 1e-5f);
            EXPECT_EQ(ln.inputs().size(), affine ? 3u : 2u);
            EXPECT_EQ(ln.output(0)->name(), "y");
        }
    }
    ir::Graph g;  // two trailing axes
    expectEquivalent(
        [](GraphBuilder& b) {
            spelledNorm(b, true, false, {2, -2});
        },
        {randomTensor(kX, 114)}, one(passes::createLayerNormFusion()), g, 1e-5);
    ASSERT_EQ(countOps(g, OpKind::kLayerNormalization), 1u);
    EXPECT_EQ(g.nodes()[0]->attrs().getInt("axis", 0), -2);
}

TEST(PassLayerNorm, UnknownRankWithLastAxis) {
    // x's shape unknown (behind a Relu without annotations): axes [-1] and 1-D gamma/beta still fuse, with axis -1.
    ir::Graph g;
    expectEquivalent([](GraphBuilder& b) { spelledNorm(b, true, true, {-1}, true); }, {randomTensor(kX, 116)},
                     one(passes::createLayerNormFusion()), g, 1e-5);
    ASSERT_EQ(countOps(g, OpKind::kLayerNormalization), 1u);
    EXPECT_EQ(g.nodes().size(), 2u);  // the Relu and the LayerNormalization
    for (const auto& n : g.nodes()) {
        if (n->op() == OpKind::kLayerNormalization) {
            EXPECT_EQ(n->attrs().getInt("axis", 0), -1);
        }
    }
}

TEST(PassLayerNorm, DoesNotMatch) {
    auto unchanged = [](const std::function<void(GraphBuilder&)>& build) {
        ir::Graph g;
        GraphBuilder b(g);
        build(b);
        runPasses(g, one(passes::createLayerNormFusion()));
        EXPECT_EQ(countOps(g, OpKind::kLayerNormalization), 0u);
    };
    unchanged([](GraphBuilder& b) { spelledNorm(b, true, true, {1}); });  // not the trailing axes
    unchanged([](GraphBuilder& b) {                                       // the variance is a graph output
        spelledNorm(b, true, true);
        b.output("var");
    });
    unchanged([](GraphBuilder& b) {  // the centered value has a third reader
        spelledNorm(b, false, false);
        b.node(OpKind::kRelu, {"d"}, {"r"}, DataType::kFloat32, kX);
        b.output("r");
    });
    unchanged([](GraphBuilder& b) {  // pinned apart
        spelledNorm(b, true, false);
        b.value("s")->producer()->attrs().set(passes::kPrecisionAttr, std::string("fp16"));
    });
}

// ---- add-layer-norm-fusion

//! BERT's post-norm residual: LayerNorm(x + (MatMul(x, W) + b)).
void residualNorm(GraphBuilder& b) {
    b.input("x", DataType::kFloat32, kX);
    b.constant("W", randomTensor({8, 8}, 21));
    b.constant("b", randomTensor({8}, 22));
    b.constant("gamma", randomTensor({8}, 23, 0.5f, 1.5f));
    b.constant("beta", randomTensor({8}, 24));
    b.node(OpKind::kMatMul, {"x", "W"}, {"mm"}, DataType::kFloat32, kX);
    b.node(OpKind::kAdd, {"mm", "b"}, {"h"}, DataType::kFloat32, kX);
    b.node(OpKind::kAdd, {"x", "h"}, {"sum"}, DataType::kFloat32, kX);
    b.node(OpKind::kLayerNormalization, {"sum", "gamma", "beta"}, {"y"}, DataType::kFloat32, kX)
        ->attrs()
        .set("epsilon", 1e-12f);
    b.output("y");
}

TEST(PassAddLayerNorm, ResidualGoesToTheNormalizationAndTheBiasToTheMatMul) {
    ir::Graph g;
    std::vector<std::unique_ptr<passes::Pass>> p;
    p.push_back(passes::createAddLayerNormFusion());
    p.push_back(passes::createBiasActivationFusion());
    expectEquivalent(residualNorm, {randomTensor(kX, 25)}, std::move(p), g, 1e-6);
    ASSERT_EQ(g.nodes().size(), 2u);
    const ir::Node& mm = *g.nodes()[0];
    const ir::Node& ln = *g.nodes()[1];
    EXPECT_EQ(mm.op(), OpKind::kFusedMatMul);
    EXPECT_TRUE(mm.inputs().size() < 4 || !mm.input(3)) << "the residual went into the MatMul";
    EXPECT_EQ(ln.op(), OpKind::kFusedAddLayerNorm);
    EXPECT_EQ(ln.input(0)->name(), "x");
    EXPECT_EQ(ln.input(1), mm.output(0));
    EXPECT_FLOAT_EQ(ln.attrs().getFloat("epsilon", 0), 1e-12f);
    EXPECT_EQ(ln.output(0)->name(), "y");
}

TEST(PassAddLayerNorm, UnknownOrBroadcastShapesFuseToo) {
    // The fused op broadcasts as Add does, so neither known nor equal shapes are needed.
    ir::Graph g;
    expectEquivalent(
        [](GraphBuilder& b) {
            b.input("a", DataType::kFloat32, kX);
            b.input("c", DataType::kFloat32, {8});
            b.constant("gamma", randomTensor({8}, 26));
            b.node(OpKind::kAdd, {"a", "c"}, {"sum"});
            b.node(OpKind::kLayerNormalization, {"sum", "gamma"}, {"y"});
            b.output("y");
        },
        {randomTensor(kX, 27), randomTensor({8}, 28)}, one(passes::createAddLayerNormFusion()), g, 1e-6);
    EXPECT_EQ(countOps(g, OpKind::kFusedAddLayerNorm), 1u);
    EXPECT_EQ(g.nodes().size(), 1u);
}

TEST(PassAddLayerNorm, DoesNotMatch) {
    auto unchanged = [](const std::function<void(GraphBuilder&)>& build) {
        ir::Graph g;
        GraphBuilder b(g);
        build(b);
        runPasses(g, one(passes::createAddLayerNormFusion()));
        EXPECT_EQ(countOps(g, OpKind::kFusedAddLayerNorm), 0u);
        EXPECT_EQ(countOps(g, OpKind::kLayerNormalization), 1u);
    };
    auto norm = [](GraphBuilder& b, const std::string& a, const std::string& c, const Shape& cShape) {
        b.input("a", DataType::kFloat32, kX);
        if (c == "c") b.input("c", DataType::kFloat32, cShape);
        b.constant("k", randomTensor(cShape, 31));
        b.constant("gamma", randomTensor({8}, 32));
        b.node(OpKind::kAdd, {a, c}, {"sum"}, DataType::kFloat32, kX);
        b.node(OpKind::kLayerNormalization, {"sum", "gamma"}, {"y", "mean"}, DataType::kFloat32, kX);
        b.output("y");
    };
    unchanged([&](GraphBuilder& b) { norm(b, "a", "k", kX); });  // a constant operand
    unchanged([&](GraphBuilder& b) {                             // the sum is a graph output
        norm(b, "a", "c", kX);
        b.output("sum");
    });
    unchanged([&](GraphBuilder& b) {  // Mean is used
        norm(b, "a", "c", kX);
        b.output("mean");
    });
    unchanged([&](GraphBuilder& b) {  // pinned apart
        norm(b, "a", "c", kX);
        b.value("sum")->producer()->attrs().set(passes::kPrecisionAttr, std::string("fp32"));
    });
}

// ---- matmul-merge

//! q, k, v = x W_i + b_i, each read by its own Transpose (graph outputs qt, kt, vt; and v itself); W_q a graph input
//! unless `constantQ`.
void projections(GraphBuilder& b, bool constantQ = true) {
    b.input("x", DataType::kFloat32, {2, 5, 8});
    const char* names[] = {"q", "k", "v"};
    for (int i = 0; i < 3; ++i) {
        const std::string n = names[i];
        if (i == 0 && !constantQ) {
            b.input("W" + n, DataType::kFloat32, {8, 6});
        } else {
            b.constant("W" + n, randomTensor({8, 6}, 40 + i));
        }
        b.constant("b" + n, randomTensor({6}, 50 + i));
        b.node(OpKind::kMatMul, {"x", "W" + n}, {n + "_mm"}, DataType::kFloat32, Shape{2, 5, 6});
        b.node(OpKind::kAdd, {n + "_mm", "b" + n}, {n}, DataType::kFloat32, Shape{2, 5, 6});
        b.node(OpKind::kTranspose, {n}, {n + "t"}, DataType::kFloat32, Shape{2, 6, 5})
            ->attrs()
            .set("perm", std::vector<int64_t>{0, 2, 1});
        b.output(n + "t");
    }
    b.output("v");
}

std::vector<std::unique_ptr<passes::Pass>> mergeThenDce() {
    std::vector<std::unique_ptr<passes::Pass>> p;
    p.push_back(passes::createMatMulMerge());
    p.push_back(passes::createDeadCodeElimination());
    return p;
}

TEST(PassMatMulMerge, QkvBecomeOneStackedFusedMatMul) {
    ir::Graph g;
    std::vector<std::unique_ptr<passes::Pass>> p;
    p.push_back(passes::createBiasActivationFusion());
    p.push_back(passes::createMatMulMerge());
    p.push_back(passes::createDeadCodeElimination());
    expectEquivalent([](GraphBuilder& b) { projections(b); }, {randomTensor({2, 5, 8}, 61)}, std::move(p), g, 1e-6);
    ASSERT_EQ(countOps(g, OpKind::kFusedMatMul), 1u);
    EXPECT_EQ(countOps(g, OpKind::kMatMul), 0u);
    EXPECT_EQ(countOps(g, OpKind::kSplit), 1u);
    EXPECT_EQ(countOps(g, OpKind::kSqueeze), 3u);
    for (const auto& n : g.nodes()) {
        if (n->op() != OpKind::kFusedMatMul) continue;
        EXPECT_EQ(n->input(1)->constant().shape(), (Shape{3, 1, 8, 6}));
        EXPECT_EQ(n->input(2)->constant().shape(), (Shape{3, 1, 1, 6}));
    }
    // q, k and v keep their names, so readers (and graph outputs) see the same values.
    for (const char* name : {"q", "k", "v"}) {
        const ir::Value* v = g.findValue(name);
        ASSERT_NE(v, nullptr);
        ASSERT_NE(v->producer(), nullptr);
        EXPECT_EQ(v->producer()->op(), OpKind::kSqueeze);
    }
}

TEST(PassMatMulMerge, PlainMatMulsWithoutBias) {
    ir::Graph g;
    expectEquivalent(
        [](GraphBuilder& b) {
            b.input("x", DataType::kFloat32, {4, 8});
            b.constant("W1", randomTensor({8, 5}, 71));
            b.constant("W2", randomTensor({8, 5}, 72));
            b.node(OpKind::kMatMul, {"x", "W1"}, {"y1"}, DataType::kFloat32, Shape{4, 5});
            b.node(OpKind::kMatMul, {"x", "W2"}, {"y2"}, DataType::kFloat32, Shape{4, 5});
            b.output("y1");
            b.output("y2");
        },
        {randomTensor({4, 8}, 73)}, mergeThenDce(), g, 1e-6);
    EXPECT_EQ(countOps(g, OpKind::kFusedMatMul), 1u);
    EXPECT_EQ(countOps(g, OpKind::kSplit), 1u);
}

TEST(PassMatMulMerge, OnlyCompatibleSiblingsMerge) {
    // A runtime weight (the first reader of x) stays apart; the two constant ones after it merge.
    {
        ir::Graph g;
        expectEquivalent([](GraphBuilder& b) { projections(b, false); },
                         {randomTensor({2, 5, 8}, 81), randomTensor({8, 6}, 82)}, mergeThenDce(), g, 1e-6);
        EXPECT_EQ(countOps(g, OpKind::kFusedMatMul), 1u);
        EXPECT_EQ(countOps(g, OpKind::kMatMul), 1u);
        EXPECT_EQ(countOps(g, OpKind::kSqueeze), 2u);
    }
    auto unchanged = [](const std::function<void(GraphBuilder&)>& build) {
        ir::Graph g;
        GraphBuilder b(g);
        build(b);
        runPasses(g, one(passes::createMatMulMerge()));
        EXPECT_EQ(countOps(g, OpKind::kSplit), 0u);
    };
    auto pair = [](GraphBuilder& b, const Shape& w2, OpKind second) {
        b.input("x", DataType::kFloat32, {4, 8});
        b.input("z", DataType::kFloat32, {4, 5});
        b.constant("W1", randomTensor({8, 5}, 91));
        b.constant("W2", randomTensor(w2, 92));
        b.node(OpKind::kMatMul, {"x", "W1"}, {"y1"}, DataType::kFloat32, Shape{4, 5});
        b.node(second, {"x", "W2"}, {"y2"}, DataType::kFloat32, Shape{4, w2[1]});
        b.output("y1");
        b.output("y2");
    };
    unchanged([&](GraphBuilder& b) { pair(b, {8, 7}, OpKind::kMatMul); });  // different N
    unchanged([&](GraphBuilder& b) {                                        // a residual input
        pair(b, {8, 5}, OpKind::kFusedMatMul);
        ir::Node* f = b.value("y2")->producer();
        f->setInput(2, nullptr);
        f->setInput(3, b.value("z"));
    });
    unchanged([&](GraphBuilder& b) {  // another activation
        pair(b, {8, 5}, OpKind::kFusedMatMul);
        b.value("y2")->producer()->attrs().set("activation", std::string("Relu"));
    });
    unchanged([&](GraphBuilder& b) {  // pinned apart
        pair(b, {8, 5}, OpKind::kMatMul);
        b.value("y2")->producer()->attrs().set(passes::kPrecisionAttr, std::string("fp16"));
    });
    unchanged([](GraphBuilder& b) {  // one MatMul
        b.input("x", DataType::kFloat32, {4, 8});
        b.constant("W1", randomTensor({8, 5}, 93));
        b.node(OpKind::kMatMul, {"x", "W1"}, {"y1"}, DataType::kFloat32, Shape{4, 5});
        b.output("y1");
    });
}

TEST(PassTransformer, DefaultPipelineOnABertLayer) {
    // FFN of a post-norm layer: LayerNorm(h + Linear2(GELU(Linear1(h)))).
    ir::Graph g;
    expectEquivalent(
        [](GraphBuilder& b) {
            erfGelu(b, true, Tail::kMulXThenHalf);  // y = GELU(x W + b), [2, 3, 16]
            b.constant("W2", randomTensor({16, 8}, 101));
            b.constant("b2", randomTensor({8}, 102));
            b.constant("gamma", randomTensor({8}, 103, 0.5f, 1.5f));
            b.node(OpKind::kMatMul, {"y", "W2"}, {"f"}, DataType::kFloat32, kX);
            b.node(OpKind::kAdd, {"f", "b2"}, {"fb"}, DataType::kFloat32, kX);
            b.node(OpKind::kAdd, {"x", "fb"}, {"sum"}, DataType::kFloat32, kX);
            b.node(OpKind::kLayerNormalization, {"sum", "gamma"}, {"out"}, DataType::kFloat32, kX);
            b.output("out");
        },
        {randomTensor(kX, 104, -2, 2)}, passes::defaultPipeline(), g, 1e-5);
    EXPECT_EQ(countOps(g, OpKind::kFusedMatMul), 2u);
    EXPECT_EQ(countOps(g, OpKind::kFusedAddLayerNorm), 1u);
    EXPECT_EQ(g.nodes().size(), 3u);
}

}  // namespace
}  // namespace kiln::testing
