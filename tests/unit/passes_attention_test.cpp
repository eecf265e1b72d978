// attention-fusion: the variants it must match (scale by Mul or Div on q, k or the scores; with or without a mask;
// one or two Transposes on k; rank 3 and 4; Cast pair around Softmax), what it must refuse, and that the fused
// graph computes what the unfused chain does (CPU reference, ≤ 1e-5 relative in float32).
#include <gtest/gtest.h>

#include <cmath>

#include "passes/layer_precision.h"
#include "passes_test_util.h"

namespace kiln::testing {
namespace {

using ir::OpKind;

enum class ScaleAt { kMulQ, kDivQ, kMulK, kMulScores, kDivScores, kSplitQK };

struct Variant {
    int rank = 4;
    ScaleAt scale = ScaleAt::kMulQ;
    bool mergedKPerm = true;  //!< k: one Transpose (0,2,3,1) instead of (0,2,1,3) then (0,1,3,2)
    bool mask = false;        //!< runtime mask input [B, 1, 1, S] (rank 3: [1, S])
    bool constMask = false;   //!< constant mask [S, S]
    bool maskBeforeScale = false;
    Shape maskShape;  //!< overrides the mask's shape
    int64_t softmaxAxis = -1;
    bool outTranspose = true;
    bool castAround = false;  //!< q/k/v in float16, Cast up before Softmax and down after
    bool probsIsOutput = false;
    std::string pinSoftmax;  //!< "fp32": pins the Softmax
};

constexpr int64_t kB = 2, kS = 5, kH = 3, kD = 4;

//! Builds the chain from "xq", "xk", "xv" (stored [B, S, H, D]; rank 3: [S, N, D]) to "y".
void attentionGraph(GraphBuilder& b, const Variant& v) {
    const DataType t = v.castAround ? DataType::kFloat16 : DataType::kFloat32;
    const bool r4 = v.rank == 4;
    const Shape stored = r4 ? Shape{kB, kS, kH, kD} : Shape{kS, kH, kD};
    const Shape logical = r4 ? Shape{kB, kH, kS, kD} : Shape{kH, kS, kD};
    const Shape keyT = r4 ? Shape{kB, kH, kD, kS} : Shape{kH, kD, kS};
    const Shape scores = r4 ? Shape{kB, kH, kS, kS} : Shape{kH, kS, kS};
    const std::vector<int64_t> toHeads = r4 ? std::vector<int64_t>{0, 2, 1, 3} : std::vector<int64_t>{1, 0, 2};
    for (const char* name : {"xq", "xk", "xv"}) b.input(name, t, stored);
    auto scalar = [&](const std::string& name, float value) {
        Tensor c(t, {});
        if (t == DataType::kFloat16) {
            c.data<Half>()[0] = Half(value);
        } else {
            c.data<float>()[0] = value;
        }
        b.constant(name, std::move(c));
    };
    scalar("c_mul", 0.5f);
    scalar("c_div", 2.0f);
    scalar("c_root", std::sqrt(0.5f));
    b.node(OpKind::kTranspose, {"xq"}, {"q"}, t, logical)->attrs().set("perm", toHeads);
    std::string qIn = "q";
    if (v.scale == ScaleAt::kMulQ || v.scale == ScaleAt::kSplitQK) {
        b.node(OpKind::kMul, {"q", v.scale == ScaleAt::kMulQ ? "c_mul" : "c_root"}, {"qs"}, t, logical);
        qIn = "qs";
    } else if (v.scale == ScaleAt::kDivQ) {
        b.node(OpKind::kDiv, {"q", "c_div"}, {"qs"}, t, logical);
        qIn = "qs";
    }
    if (v.mergedKPerm) {
        const std::vector<int64_t> perm = r4 ? std::vector<int64_t>{0, 2, 3, 1} : std::vector<int64_t>{1, 2, 0};
        b.node(OpKind::kTranspose, {"xk"}, {"kt"}, t, keyT)->attrs().set("perm", perm);
    } else {
        b.node(OpKind::kTranspose, {"xk"}, {"k"}, t, logical)->attrs().set("perm", toHeads);
        const std::vector<int64_t> perm = r4 ? std::vector<int64_t>{0, 1, 3, 2} : std::vector<int64_t>{0, 2, 1};
        b.node(OpKind::kTranspose, {"k"}, {"kt"}, t, keyT)->attrs().set("perm", perm);
    }
    std::string kIn = "kt";
    if (v.scale == ScaleAt::kMulK || v.scale == ScaleAt::kSplitQK) {
        b.node(OpKind::kMul, {v.scale == ScaleAt::kMulK ? "c_mul" : "c_root", "kt"}, {"kts"}, t, keyT);
        kIn = "kts";
    }
    b.node(OpKind::kTranspose, {"xv"}, {"v"}, t, logical)->attrs().set("perm", toHeads);
    b.node(OpKind::kMatMul, {qIn, kIn}, {"scores"}, t, scores);
    std::string s = "scores";
    auto addMask = [&]() {
        if (!v.mask && !v.constMask) return;
        Shape ms = v.maskShape;
        if (ms.empty()) ms = v.constMask ? Shape{kS, kS} : (r4 ? Shape{kB, 1, 1, kS} : Shape{1, kS});
        if (v.constMask) {
            Tensor m = randomTensor(ms, 41, -3.0f, 0.0f);
            b.constant("mask", std::move(m));
        } else {
            b.input("mask", DataType::kFloat32, ms);
        }
        const DataType mt = v.castAround ? DataType::kFloat32 : t;
        b.node(OpKind::kAdd, {s, "mask"}, {s + "_masked"}, mt, scores);
        s += "_masked";
    };
    if (v.maskBeforeScale) addMask();
    if (v.scale == ScaleAt::kMulScores) {
        b.node(OpKind::kMul, {s, "c_mul"}, {"scaled"}, t, scores);
        s = "scaled";
    } else if (v.scale == ScaleAt::kDivScores) {
        b.node(OpKind::kDiv, {s, "c_div"}, {"scaled"}, t, scores);
        s = "scaled";
    }
    if (v.castAround) {
        b.node(OpKind::kCast, {s}, {"up"}, DataType::kFloat32, scores)->attrs().set("to", int64_t{1});
        s = "up";
    }
    if (!v.maskBeforeScale) addMask();
    ir::Node* sm = b.node(OpKind::kSoftmax, {s}, {"probs"}, v.castAround ? DataType::kFloat32 : t, scores);
    sm->attrs().set("axis", v.softmaxAxis);
    if (!v.pinSoftmax.empty()) sm->attrs().set(passes::kPrecisionAttr, v.pinSoftmax);
    std::string probs = "probs";
    if (v.castAround) {
        b.node(OpKind::kCast, {"probs"}, {"down"}, t, scores)->attrs().set("to", int64_t{10});
        probs = "down";
    }
    if (v.outTranspose) {
        b.node(OpKind::kMatMul, {probs, "v"}, {"ctx"}, t, logical);
        b.node(OpKind::kTranspose, {"ctx"}, {"y"}, t, stored)->attrs().set("perm", toHeads);
    } else {
        b.node(OpKind::kMatMul, {probs, "v"}, {"y"}, t, logical);
    }
    b.output("y");
    if (v.probsIsOutput) b.output("probs");
}

std::vector<Tensor> feeds(const Variant& v) {
    const Shape stored = v.rank == 4 ? Shape{kB, kS, kH, kD} : Shape{kS, kH, kD};
    std::vector<Tensor> in;
    for (uint32_t i = 0; i < 3; ++i) {
        Tensor x = randomTensor(stored, 100 + i, -2.0f, 2.0f);
        if (v.castAround) {
            Tensor h(DataType::kFloat16, stored);
            for (int64_t j = 0; j < x.numel(); ++j) h.data<Half>()[j] = Half(x.data<float>()[j]);
            x = std::move(h);
        }
        in.push_back(std::move(x));
    }
    if (v.mask) {
        Shape ms = v.maskShape;
        if (ms.empty()) ms = v.rank == 4 ? Shape{kB, 1, 1, kS} : Shape{1, kS};
        in.push_back(randomTensor(ms, 104, -3.0f, 0.0f));
    }
    return in;
}

//! Fuses `v`, checks one Attention replaced the chain, and returns it (null when the pass declined).
const ir::Node* fuse(const Variant& v, ir::Graph& g, double tol = 1e-5) {
    expectEquivalent([&](GraphBuilder& b) { attentionGraph(b, v); }, feeds(v), one(passes::createAttentionFusion()), g,
                     tol);
    for (const auto& n : g.nodes()) {
        if (n->op() == OpKind::kAttention) return n.get();
    }
    return nullptr;
}

TEST(PassAttention, BertLayerBecomesOneNodeWithEveryTransposeFolded) {
    ir::Graph g;
    const ir::Node* a = fuse({}, g);
    ASSERT_NE(a, nullptr);
    EXPECT_EQ(g.nodes().size(), 1u);
    EXPECT_EQ(ir::opInfo(a->op()).domain, "kiln");
    for (const char* attr : {"q_layout", "k_layout", "v_layout", "out_layout"}) {
        EXPECT_EQ(a->attrs().getInt(attr, -1), 1) << attr;
    }
    EXPECT_FLOAT_EQ(a->attrs().getFloat("scale", 0.0f), 0.5f);
    EXPECT_EQ(a->input(0)->name(), "xq");
    EXPECT_EQ(a->input(1)->name(), "xk");
    EXPECT_EQ(a->input(2)->name(), "xv");
    EXPECT_EQ(a->output(0)->name(), "y");
}

TEST(PassAttention, EveryScalePlacementAndMaskForm) {
    for (ScaleAt at : {ScaleAt::kMulQ, ScaleAt::kDivQ, ScaleAt::kMulK, ScaleAt::kMulScores, ScaleAt::kDivScores,
                       ScaleAt::kSplitQK}) {
        for (int mask = 0; mask < 3; ++mask) {
            SCOPED_TRACE("scale " + std::to_string(static_cast<int>(at)) + ", mask " + std::to_string(mask));
            Variant v;
            v.scale = at;
            v.mask = mask == 1;
            v.constMask = mask == 2;
            v.mergedKPerm = mask != 1;
            ir::Graph g;
            const ir::Node* a = fuse(v, g);
            ASSERT_NE(a, nullptr);
            EXPECT_EQ(g.nodes().size(), 1u);
            EXPECT_EQ(a->inputs().size(), mask == 0 ? 3u : 4u);
            EXPECT_NEAR(a->attrs().getFloat("scale", 0.0f), 0.5f, 1e-6f);
        }
    }
}

TEST(PassAttention, HeadMajorOutputWhenNoTransposeFollows) {
    Variant v;
    v.outTranspose = false;
    ir::Graph g;
    const ir::Node* a = fuse(v, g);
    ASSERT_NE(a, nullptr);
    EXPECT_EQ(a->attrs().getInt("out_layout", -1), 0);
    EXPECT_EQ(a->output(0)->name(), "y");  // a graph output keeps its name
}

TEST(PassAttention, TransformerEncoderRank3) {
    // nn.MultiheadAttention's export (bert_tiny): [S, N, D] heads, Div on q, k by one Transpose (1, 2, 0).
    Variant v;
    v.rank = 3;
    v.scale = ScaleAt::kDivQ;
    for (bool mask : {false, true}) {
        v.mask = mask;
        ir::Graph g;
        const ir::Node* a = fuse(v, g);
        ASSERT_NE(a, nullptr);
        EXPECT_EQ(g.nodes().size(), 1u);
        EXPECT_EQ(a->attrs().getInt("k_layout", -1), 1);
    }
}

TEST(PassAttention, CastPairAroundSoftmaxFolds) {
    Variant v;
    v.castAround = true;
    v.mask = true;
    ir::Graph g;
    // float16 in and out: the fused op rounds once at the end, the chain at every step (scores, probabilities).
    const ir::Node* a = fuse(v, g, 5e-3);
    ASSERT_NE(a, nullptr);
    EXPECT_EQ(countOps(g, OpKind::kCast), 0u);
    EXPECT_EQ(a->input(3)->dtype(), DataType::kFloat32);
}

TEST(PassAttention, RefusesWhatItCannotFold) {
    struct Case {
        const char* what;
        Variant v;
    };
    std::vector<Case> cases;
    cases.push_back({"softmax over the queries", Variant{}});
    cases.back().v.softmaxAxis = 2;
    cases.push_back({"mask that grows the scores", Variant{}});
    cases.back().v.mask = true;
    cases.back().v.maskShape = {3, kB, 1, 1, kS};
    cases.push_back({"mask added before the scale", Variant{}});
    cases.back().v.mask = true;
    cases.back().v.scale = ScaleAt::kMulScores;
    cases.back().v.maskBeforeScale = true;
    cases.push_back({"probabilities are a graph output", Variant{}});
    cases.back().v.probsIsOutput = true;
    cases.push_back({"softmax pinned to fp32", Variant{}});
    cases.back().v.pinSoftmax = "fp32";
    for (const Case& c : cases) {
        SCOPED_TRACE(c.what);
        ir::Graph g;
        GraphBuilder b(g);
        attentionGraph(b, c.v);
        const size_t before = g.nodes().size();
        runPasses(g, one(passes::createAttentionFusion()));
        EXPECT_EQ(countOps(g, OpKind::kAttention), 0u);
        EXPECT_EQ(g.nodes().size(), before);
    }
}

TEST(PassAttention, DefaultPipelineFusesBeforeBiasFusionTakesTheMask) {
    Variant v;
    v.constMask = true;
    v.maskShape = {1, 1, 1, kS};  // would be a FusedMatMul bias of the scores MatMul otherwise
    ir::Graph g;
    expectEquivalent([&](GraphBuilder& b) { attentionGraph(b, v); }, feeds(v), passes::defaultPipeline(), g, 1e-5);
    EXPECT_EQ(countOps(g, OpKind::kAttention), 1u);
    EXPECT_EQ(countOps(g, OpKind::kFusedMatMul), 0u);
}

}  // namespace
}  // namespace kiln::testing
