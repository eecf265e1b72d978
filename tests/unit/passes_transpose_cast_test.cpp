// The transpose-cast-fusion pass: in the CUDA backend's FP16 channels-last pipeline (run here on the CPU reference)
// the input edge Cast(float32 → float16) → Transpose(to NHWC) and the output edge Transpose(to NCHW) → Cast(float16 →
// float32) each become one kiln TransposeCast, with the same outputs. Nothing fuses when the value between the two
// has another reader or is a graph output, for integer casts, or for backends that do not ask for it (the CPU's).
#include <gtest/gtest.h>

#include "passes_layout_test_util.h"

namespace kiln::testing {
namespace {

using ir::OpKind;
using Ints = std::vector<int64_t>;

constexpr DataType kF32 = DataType::kFloat32;
constexpr DataType kF16 = DataType::kFloat16;

//! The CUDA backend's hooks for an FP16 engine (builder.cpp's GpuHooks): channels-last, FP16 lowering, and the
//! transpose-cast fusion.
class CudaHalfHooks final : public passes::BackendHooks {
public:
    std::string name() const override { return "cuda-fp16-test"; }
    Result<int64_t> assignLayouts(ir::Graph& graph, passes::PassContext& ctx) const override {
        return passes::convertToNhwc(graph, ctx);
    }
    Result<int64_t> assignPrecisions(ir::Graph& graph, const passes::PrecisionPolicy&,
                                     passes::PassContext&) const override {
        return passes::lowerPrecision(graph, DataType::kFloat16, passes::defaultLowerableInputs);
    }
    bool fusesTransposeCast() const override { return true; }
};

//! Only the fusion hook: for running transpose-cast-fusion alone on hand-made graphs.
class FusingHooks final : public passes::BackendHooks {
public:
    bool fusesTransposeCast() const override { return true; }
};

void conv(GraphBuilder& b, const std::string& x, const std::string& y, int64_t cin, int64_t cout, Shape out,
          uint32_t seed) {
    b.constant(y + "_W", randomTensor({cout, cin, 3, 3}, seed));
    b.constant(y + "_B", randomTensor({cout}, seed + 1));
    b.node(OpKind::kConv, {x, y + "_W", y + "_B"}, {y}, kF32, std::move(out))->attrs().set("pads", Ints{1, 1, 1, 1});
}

//! x [2, 3, 8, 6] → conv → Relu → conv → Relu, then a ResNet head (GlobalAveragePool → Flatten → MatMul: only the
//! input edge is NCHW) or a segmentation map (the NCHW output is the output edge), and with `alsoRelu`, x's Relu
//! as a second output (another reader of the float16 copy of x).
void smallNet(GraphBuilder& b, bool segmentation, bool alsoRelu) {
    b.input("x", kF32, {2, 3, 8, 6});
    conv(b, "x", "c1", 3, 8, {2, 8, 8, 6}, 10);
    b.node(OpKind::kRelu, {"c1"}, {"r1"}, kF32, Shape{2, 8, 8, 6});
    conv(b, "r1", "c2", 8, 4, {2, 4, 8, 6}, 20);
    b.node(OpKind::kRelu, {"c2"}, {"r2"}, kF32, Shape{2, 4, 8, 6});
    if (segmentation) {
        b.output("r2");
    } else {
        b.node(OpKind::kGlobalAveragePool, {"r2"}, {"gap"}, kF32, Shape{2, 4, 1, 1});
        b.node(OpKind::kFlatten, {"gap"}, {"flat"}, kF32, Shape{2, 4});
        b.constant("fcW", randomTensor({4, 5}, 30));
        b.node(OpKind::kMatMul, {"flat", "fcW"}, {"logits"}, kF32, Shape{2, 5});
        b.output("logits");
    }
    if (alsoRelu) {
        b.node(OpKind::kRelu, {"x"}, {"xr"}, kF32, Shape{2, 3, 8, 6});
        b.output("xr");
    }
}

//! Optimizes smallNet with the CUDA FP16 hooks into `g`; checks it against the FP32 original within FP16's error.
passes::PipelineReport optimizeHalf(ir::Graph& g, bool segmentation, bool alsoRelu) {
    ir::Graph reference;
    GraphBuilder rb(reference), gb(g);
    smallNet(rb, segmentation, alsoRelu);
    smallNet(gb, segmentation, alsoRelu);
    static const CudaHalfHooks kHooks;
    passes::PassManager pm(passes::defaultPipeline(), {}, &kHooks);
    auto report = pm.run(g);
    EXPECT_TRUE(report.isOk()) << report.status().message();
    EXPECT_TRUE(g.verify().isOk());
    const std::vector<Tensor> inputs{randomTensor({2, 3, 8, 6}, 9)};
    const auto got = runGraph(g, inputs);
    const auto want = runGraph(reference, inputs);
    EXPECT_EQ(got.size(), want.size());
    for (size_t i = 0; i < got.size() && i < want.size(); ++i) {
        EXPECT_EQ(got[i].dtype(), kF32);
        EXPECT_LE(maxRelError(got[i], want[i]), 1e-2) << "output " << i;
    }
    return report.isOk() ? std::move(report).value() : passes::PipelineReport{};
}

//! The TransposeCast nodes of `g`.
std::vector<const ir::Node*> fused(const ir::Graph& g) {
    std::vector<const ir::Node*> out;
    for (const auto& n : g.nodes()) {
        if (n->op() == OpKind::kTransposeCast) out.push_back(n.get());
    }
    return out;
}

TEST(PassTransposeCast, ResNetLikeInputEdgeIsOneNode) {
    ir::Graph g;
    const passes::PipelineReport report = optimizeHalf(g, false, false);
    EXPECT_EQ(report.changesByPass.at("transpose-cast-fusion"), 1);
    const auto nodes = fused(g);
    ASSERT_EQ(nodes.size(), 1u);
    const ir::Node& n = *nodes[0];
    EXPECT_EQ(n.input(0)->name(), "x") << "reads the float32 NCHW input itself";
    EXPECT_EQ(n.attrs().getInts("perm"), std::optional<Ints>(Ints{0, 2, 3, 1}));
    EXPECT_EQ(n.attrs().getInt("to", 0), static_cast<int64_t>(kF16));
    EXPECT_EQ(n.output(0)->dtype(), kF16);
    ASSERT_EQ(n.output(0)->consumers().size(), 1u);
    EXPECT_EQ(n.output(0)->consumers()[0]->op(), OpKind::kFusedConvNhwc);
    EXPECT_EQ(countOps(g, OpKind::kTranspose), 0u);
    EXPECT_EQ(countOps(g, OpKind::kCast), 1u) << "only the logits' Cast up stays";
}

TEST(PassTransposeCast, SegmentationMapFusesBothEdges) {
    ir::Graph g;
    optimizeHalf(g, true, false);
    const auto nodes = fused(g);
    ASSERT_EQ(nodes.size(), 2u);
    EXPECT_EQ(countOps(g, OpKind::kTranspose) + countOps(g, OpKind::kCast), 0u);
    const ir::Node* out = nodes[0]->input(0)->name() == "x" ? nodes[1] : nodes[0];
    EXPECT_EQ(out->attrs().getInts("perm"), std::optional<Ints>(Ints{0, 3, 1, 2}));
    EXPECT_EQ(out->attrs().getInt("to", 0), static_cast<int64_t>(kF32));
    EXPECT_EQ(out->input(0)->dtype(), kF16);
    EXPECT_EQ(out->output(0)->name(), "r2") << "takes over the graph output";
}

TEST(PassTransposeCast, AnotherReaderOfTheFloat16InputKeepsTheInputEdge) {
    ir::Graph g;
    optimizeHalf(g, false, true);
    for (const ir::Node* n : fused(g)) EXPECT_NE(n->input(0)->name(), "x") << n->describe();
    bool castOfX = false;
    for (const auto& n : g.nodes()) castOfX |= n->op() == OpKind::kCast && n->input(0)->name() == "x";
    EXPECT_TRUE(castOfX) << "x's Cast to float16 feeds the Transpose and the Relu";
}

//! x [2, 3, 4, 5] float32 → Cast(to) → Transpose(perm) → y, or Transpose first; `intermediateOut` makes the value
//! between them a graph output too, `reader` gives it a Relu reader.
struct PairOptions {
    bool transposeFirst = false;
    DataType to = kF16;
    bool intermediateOut = false;
    bool reader = false;
};

void pair(GraphBuilder& b, const PairOptions& o) {
    b.input("x", kF32, {2, 3, 4, 5});
    const Ints perm{0, 2, 3, 1};
    const Shape permuted{2, 4, 5, 3};
    if (o.transposeFirst) {
        b.node(OpKind::kTranspose, {"x"}, {"mid"}, kF32, permuted)->attrs().set("perm", perm);
        b.node(OpKind::kCast, {"mid"}, {"y"}, o.to, permuted)->attrs().set("to", static_cast<int64_t>(o.to));
    } else {
        b.node(OpKind::kCast, {"x"}, {"mid"}, o.to, Shape{2, 3, 4, 5})->attrs().set("to", static_cast<int64_t>(o.to));
        b.node(OpKind::kTranspose, {"mid"}, {"y"}, o.to, permuted)->attrs().set("perm", perm);
    }
    b.output("y");
    if (o.intermediateOut) b.output("mid");
    if (o.reader) {
        b.node(OpKind::kNeg, {"mid"}, {"neg"}, o.transposeFirst ? kF32 : o.to);
        b.output("neg");
    }
}

//! Runs transpose-cast-fusion alone on pair(o) with `hooks` and checks the outputs; returns the rewrites.
int64_t fusePair(const PairOptions& o, const passes::BackendHooks& hooks, ir::Graph& g) {
    ir::Graph reference;
    GraphBuilder rb(reference), gb(g);
    pair(rb, o);
    pair(gb, o);
    std::vector<std::unique_ptr<passes::Pass>> pipeline;
    pipeline.push_back(passes::createTransposeCastFusion());
    passes::PassManager pm(std::move(pipeline), {}, &hooks);
    auto report = pm.run(g);
    EXPECT_TRUE(report.isOk()) << report.status().message();
    EXPECT_TRUE(g.verify().isOk());
    const std::vector<Tensor> inputs{randomTensor({2, 3, 4, 5}, 3)};
    expectSameOutputs(runGraph(g, inputs), runGraph(reference, inputs), 0.0);
    if (!report.isOk()) return -1;
    auto it = report->changesByPass.find("transpose-cast-fusion");
    return it == report->changesByPass.end() ? 0 : it->second;
}

TEST(PassTransposeCast, PairsFuseInEitherOrder) {
    static const FusingHooks kHooks;
    for (bool transposeFirst : {false, true}) {
        for (DataType to : {kF16, DataType::kBFloat16}) {
            SCOPED_TRACE(std::string(transposeFirst ? "Transpose → Cast " : "Cast → Transpose ") + dataTypeName(to));
            ir::Graph g;
            EXPECT_EQ(fusePair({.transposeFirst = transposeFirst, .to = to}, kHooks, g), 1);
            ASSERT_EQ(g.nodes().size(), 1u);
            const ir::Node& n = *g.nodes().front();
            EXPECT_EQ(n.op(), OpKind::kTransposeCast);
            EXPECT_EQ(n.input(0)->name(), "x");
            EXPECT_EQ(n.output(0)->name(), "y");
            EXPECT_EQ(n.attrs().getInt("to", 0), static_cast<int64_t>(to));
        }
    }
}

TEST(PassTransposeCast, NothingFusesWhenTheIntermediateIsSharedOrTheCastIsNotBetweenFloats) {
    static const FusingHooks kHooks;
    const std::pair<const char*, PairOptions> cases[] = {
        {"the value between them is a graph output", {.intermediateOut = true}},
        {"the value between them has another reader", {.reader = true}},
        {"Transpose first, its result has another reader", {.transposeFirst = true, .reader = true}},
        {"a Cast to int32", {.to = DataType::kInt32}},
        {"a Cast to float64", {.to = DataType::kFloat64}},
    };
    for (const auto& [why, options] : cases) {
        SCOPED_TRACE(why);
        ir::Graph g;
        EXPECT_EQ(fusePair(options, kHooks, g), 0);
        EXPECT_EQ(countOps(g, OpKind::kTransposeCast), 0u);
        EXPECT_EQ(countOps(g, OpKind::kTranspose), 1u);
        EXPECT_EQ(countOps(g, OpKind::kCast), 1u);
    }
}

TEST(PassTransposeCast, BackendsThatDoNotAskKeepBothNodes) {
    static const passes::BackendHooks kCpu;
    ir::Graph g;
    EXPECT_EQ(fusePair({}, kCpu, g), 0);
    EXPECT_EQ(countOps(g, OpKind::kTransposeCast), 0u);
    EXPECT_EQ(countOps(g, OpKind::kTranspose), 1u);
}

}  // namespace
}  // namespace kiln::testing
