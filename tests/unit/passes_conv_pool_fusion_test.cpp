// The conv-pool-fusion pass: a channels-last FP16/BF16 64 -> 64 convolution (1x1 or 3x3, stride 1, ReLU or none)
// whose output a 2x2 stride-2 MaxPoolNhwc reads becomes one FusedConvNhwc with `kiln_pool` and two outputs, the
// MaxPool's output value now the convolution's output 1, the convolution's output keeping its other readers; the CPU
// result is the unfused graph's bit for bit and, from an FP32 model through the CUDA FP16 pipeline, the pipeline
// without the pass's. It declines FP32, other channel counts, strides or kernels, other activations, other pools
// (3x3, stride 1, padded, ceil mode, with Indices), a convolution with a head, a pin to another precision, and a
// MaxPool of a subgraph.
#include <gtest/gtest.h>

#include "ir/graph_edit.h"
#include "ops/op_tester.h"
#include "passes/passes.h"
#include "passes_layout_test_util.h"

namespace kiln::testing {
namespace {

using ir::OpKind;
using Ints = std::vector<int64_t>;

struct PoolOptions {
    DataType dtype = DataType::kFloat16;
    int64_t inC = 64, outC = 64, kernel = 3;
    Ints strides{1, 1};        //!< The convolution's.
    std::string act = "Relu";  //!< The convolution's activation.
    bool bias = true;          //!< The convolution has a bias.
    bool residual = false;     //!< The convolution has a residual input Z.
    bool head = false;         //!< The convolution already has a 1x1 head (kiln_head, 2 output channels).
    bool yIsOutput = false;    //!< The convolution's output Y is a graph output too.
    bool skipReader = true;    //!< A Relu ("skip") reads Y too: UNet's skip connection.
    Ints poolKernel{2, 2}, poolStrides{2, 2}, poolPads{0, 0, 0, 0};
    int64_t ceilMode = 0;
    bool indices = false;          //!< The MaxPool has its Indices output.
    std::string autoPad{};         //!< The MaxPool's auto_pad ("" = absent).
    std::string pin{}, poolPin{};  //!< kiln_precision of the convolution and the MaxPool ("" = none).
};

constexpr DataType kF32 = DataType::kFloat32;
constexpr int64_t kN = 2, kH = 9, kW = 7;

//! Output size of a window `k`, stride `s` over `in` padded by `pads`, floor or ceil mode.
int64_t windowOut(int64_t in, int64_t pads, int64_t k, int64_t s, bool ceil = false) {
    const int64_t span = in + pads - k;
    return (ceil ? (span + s - 1) / s : span / s) + 1;
}

//! x [2, 9, 7, inC] → FusedConvNhwc k x k inC → outC, "same" pads (→ "y") → MaxPoolNhwc (→ "p") → Relu (→ "q");
//! "y" also read by a Relu (→ "skip"). Outputs q, then skip, then y as asked.
void poolGraph(GraphBuilder& b, const PoolOptions& o) {
    const DataType t = o.dtype;
    const int64_t pad = o.kernel / 2;
    const int64_t oh = windowOut(kH, 2 * pad, o.kernel, o.strides[0]);
    const int64_t ow = windowOut(kW, 2 * pad, o.kernel, o.strides[1]);
    const int64_t yc = o.head ? 2 : o.outC;
    const Shape y{kN, oh, ow, yc};
    b.input("x", t, {kN, kH, kW, o.inC});
    b.constant("W", randomTensor(t, {o.outC, o.kernel, o.kernel, o.inC}, 1));
    b.constant("B", randomTensor(t, {o.outC}, 2));
    std::vector<std::string> inputs{"x", "W", o.bias ? "B" : ""};
    if (o.residual) {
        b.input("z", t, {kN, oh, ow, o.outC});
        inputs.emplace_back("z");
    }
    if (o.head) {
        if (!o.residual) inputs.emplace_back("");
        b.constant("W2", randomTensor(t, {yc, 1, 1, o.outC}, 3));
        inputs.emplace_back("W2");
    }
    ir::Node* conv = b.node(OpKind::kFusedConvNhwc, inputs, {"y"}, t, y);
    conv->attrs().set("kernel_shape", Ints{o.kernel, o.kernel});
    conv->attrs().set("pads", Ints{pad, pad, pad, pad});
    conv->attrs().set("strides", o.strides);
    conv->attrs().set("activation", o.act);
    if (o.head) conv->attrs().set("kiln_head", int64_t{1});
    if (!o.pin.empty()) conv->attrs().set("kiln_precision", o.pin);

    const Shape p{kN, windowOut(oh, o.poolPads[0] + o.poolPads[2], o.poolKernel[0], o.poolStrides[0], o.ceilMode),
                  windowOut(ow, o.poolPads[1] + o.poolPads[3], o.poolKernel[1], o.poolStrides[1], o.ceilMode), yc};
    std::vector<std::string> poolOutputs{"p"};
    if (o.indices) poolOutputs.emplace_back("idx");
    ir::Node* pool = b.node(OpKind::kMaxPoolNhwc, {"y"}, poolOutputs, t, p);
    if (o.indices) b.value("idx")->setDtype(DataType::kInt64);
    pool->attrs().set("kernel_shape", o.poolKernel);
    pool->attrs().set("strides", o.poolStrides);
    pool->attrs().set("pads", o.poolPads);
    if (o.ceilMode != 0) pool->attrs().set("ceil_mode", o.ceilMode);
    if (!o.autoPad.empty()) pool->attrs().set("auto_pad", o.autoPad);
    if (!o.poolPin.empty()) pool->attrs().set("kiln_precision", o.poolPin);
    b.node(OpKind::kRelu, {"p"}, {"q"}, t, p);
    b.output("q");
    if (o.indices) b.output("idx");
    if (o.skipReader) {
        b.node(OpKind::kRelu, {"y"}, {"skip"}, t, y);
        b.output("skip");
    }
    if (o.yIsOutput) b.output("y");
}

std::vector<Tensor> poolFeeds(const PoolOptions& o) {
    std::vector<Tensor> feeds{randomTensor(o.dtype, {kN, kH, kW, o.inC}, 10)};
    if (o.residual) feeds.push_back(randomTensor(o.dtype, {kN, kH, kW, o.outC}, 11));
    return feeds;
}

//! Runs the pass alone on `g` and returns its rewrite count.
int64_t fusePools(ir::Graph& g) {
    return runPasses(g, one(passes::createConvPoolFusion())).changesByPass["conv-pool-fusion"];
}

//! Checks the two graphs' outputs bit for bit on `feeds`.
void expectSameResults(const ir::Graph& got, const ir::Graph& want, const std::vector<Tensor>& feeds) {
    const auto g = runGraph(got, feeds);
    const auto w = runGraph(want, feeds);
    ASSERT_EQ(g.size(), got.outputs().size());
    ASSERT_EQ(g.size(), w.size());
    for (size_t i = 0; i < g.size(); ++i) {
        SCOPED_TRACE("output " + got.outputs()[i]->name());
        expectTensorBitsEq(g[i], w[i]);
    }
}

TEST(PassConvPoolFusion, FusesThePoolAndMatchesTheUnfusedGraphBitwise) {
    const std::pair<const char*, PoolOptions> cases[] = {
        {"float16, ReLU, bias, the skip reads Y", {}},
        {"bfloat16", {.dtype = DataType::kBFloat16}},
        {"no activation, no bias", {.act = "", .bias = false}},
        {"1x1", {.kernel = 1}},
        {"with a residual input", {.residual = true}},
        {"Y is a graph output and has no other reader", {.yIsOutput = true, .skipReader = false}},
        {"Y is a graph output and read by the skip", {.yIsOutput = true}},
        {"auto_pad VALID", {.autoPad = "VALID"}},
        {"both pinned to fp16", {.pin = "fp16", .poolPin = "fp16"}},
    };
    for (const auto& [why, o] : cases) {
        SCOPED_TRACE(why);
        ir::Graph reference, g;
        GraphBuilder rb(reference), gb(g);
        poolGraph(rb, o);
        poolGraph(gb, o);
        ir::Value* y = g.findValue("y");
        ir::Value* p = g.findValue("p");
        ASSERT_EQ(fusePools(g), 1);
        EXPECT_EQ(countOps(g, OpKind::kMaxPoolNhwc), 0u);
        EXPECT_EQ(countOps(g, OpKind::kFusedConvNhwc), 1u);
        const ir::Node* fused = firstOf(g, OpKind::kFusedConvNhwc);
        ASSERT_NE(fused, nullptr);
        EXPECT_EQ(fused->name(), "y") << "the convolution's name (GraphBuilder names a node after its output)";
        EXPECT_EQ(fused->attrs().getInt("kiln_pool", 0), 1);
        EXPECT_FALSE(fused->attrs().has("kiln_head"));
        EXPECT_EQ(fused->attrs().getString("activation"), o.act);
        EXPECT_EQ(fused->inputs().size(), o.residual ? 4u : 3u) << "inputs unchanged";
        ASSERT_EQ(fused->outputs().size(), 2u);
        EXPECT_EQ(fused->output(0), y) << "Y stays output 0";
        EXPECT_EQ(fused->output(1), p) << "the MaxPool's output value is output 1 (the same object)";
        EXPECT_EQ(p->producer(), fused);
        ASSERT_EQ(p->consumers().size(), 1u);
        EXPECT_EQ(p->consumers()[0]->op(), OpKind::kRelu);
        EXPECT_EQ(p->consumers()[0]->input(0), fused->output(1)) << "the pooled value's reader reads output 1";
        EXPECT_EQ(y->consumers().size(), o.skipReader ? 1u : 0u) << "the MaxPool no longer reads Y";
        if (o.skipReader) {
            EXPECT_EQ(g.findValue("skip")->producer()->input(0), fused->output(0)) << "the skip still reads Y";
        }
        EXPECT_EQ(ir::isGraphOutput(y), o.yIsOutput);
        expectSameResults(g, reference, poolFeeds(o));
    }
}

TEST(PassConvPoolFusion, DeclinesWhatItCannotFuse) {
    const std::pair<const char*, PoolOptions> cases[] = {
        {"float32", {.dtype = kF32}},
        {"32 -> 64 channels (the GPU kernel serves 64 -> 64)", {.inC = 32}},
        {"64 -> 32 channels", {.outC = 32}},
        {"a stride-2 convolution", {.strides = {2, 2}}},
        {"a 5x5 convolution", {.kernel = 5}},
        {"the convolution's activation is not ReLU", {.act = "Sigmoid"}},
        {"the convolution already has a head", {.head = true}},
        {"a 3x3 MaxPool", {.poolKernel = {3, 3}}},
        {"a stride-1 MaxPool", {.poolStrides = {1, 1}}},
        {"a padded MaxPool", {.poolPads = {1, 1, 1, 1}}},
        {"ceil_mode 1", {.ceilMode = 1}},
        {"the MaxPool has its Indices output", {.indices = true}},
        {"auto_pad SAME_UPPER", {.autoPad = "SAME_UPPER"}},
        {"the MaxPool is pinned to another precision", {.poolPin = "fp32"}},
    };
    for (const auto& [why, o] : cases) {
        SCOPED_TRACE(why);
        ir::Graph g;
        GraphBuilder b(g);
        poolGraph(b, o);
        EXPECT_EQ(fusePools(g), 0);
        EXPECT_EQ(countOps(g, OpKind::kMaxPoolNhwc), 1u);
        for (const auto& n : g.nodes()) {
            EXPECT_FALSE(n->attrs().has("kiln_pool"));
            EXPECT_EQ(n->outputs().size(), n->op() == OpKind::kMaxPoolNhwc && o.indices ? 2u : 1u);
        }
    }
}

//! Adds a second MaxPoolNhwc 2x2 stride 2 of "y" (→ `out`, read by a Neg → `out`_neg, a graph output).
void secondPool(GraphBuilder& b, const std::string& out) {
    const Shape p{kN, kH / 2, kW / 2, 64};
    ir::Node* pool = b.node(OpKind::kMaxPoolNhwc, {"y"}, {out}, DataType::kFloat16, p);
    pool->attrs().set("kernel_shape", Ints{2, 2});
    pool->attrs().set("strides", Ints{2, 2});
    b.node(OpKind::kNeg, {out}, {out + "_neg"}, DataType::kFloat16, p);
    b.output(out + "_neg");
}

TEST(PassConvPoolFusion, FusesOnlyTheFirstOfSeveralPools) {
    ir::Graph reference, g;
    GraphBuilder rb(reference), gb(g);
    poolGraph(rb, {});
    secondPool(rb, "p2");
    poolGraph(gb, {});
    secondPool(gb, "p2");
    ASSERT_EQ(fusePools(g), 1);
    EXPECT_EQ(countOps(g, OpKind::kMaxPoolNhwc), 1u);
    const ir::Node* fused = firstOf(g, OpKind::kFusedConvNhwc);
    ASSERT_NE(fused, nullptr);
    ASSERT_EQ(fused->outputs().size(), 2u);
    EXPECT_EQ(fused->output(1)->name(), "p") << "the first MaxPool in node order";
    EXPECT_EQ(g.findValue("p2")->producer()->op(), OpKind::kMaxPoolNhwc);
    EXPECT_EQ(g.findValue("p2")->producer()->input(0), fused->output(0)) << "the second MaxPool still reads Y";
    expectSameResults(g, reference, poolFeeds({}));
}

//! cond → If whose then-branch returns `captured` (an outer value) and whose else-branch returns Neg(`captured`), or
//! with `poolInside`, whose else-branch is MaxPoolNhwc 2x2 stride 2 of the outer "y"; its output "branch" is a graph
//! output.
void addIf(ir::Graph& g, GraphBuilder& b, const std::string& captured, bool poolInside) {
    b.input("cond", DataType::kBool, {});
    auto thenG = std::make_shared<ir::Graph>("then", &g);
    thenG->addOutput(g.findValue(captured));
    auto elseG = std::make_shared<ir::Graph>("else", &g);
    ir::Node* inner = elseG->addNode(poolInside ? OpKind::kMaxPoolNhwc : OpKind::kNeg, "inner", 17);
    inner->addInput(g.findValue(poolInside ? "y" : captured));
    if (poolInside) {
        inner->attrs().set("kernel_shape", Ints{2, 2});
        inner->attrs().set("strides", Ints{2, 2});
    }
    ir::Value* out = elseG->createValue("else_out").value();
    out->setDtype(DataType::kFloat16);
    inner->addOutput(out);
    elseG->addOutput(out);
    ir::Node* iff = b.node(OpKind::kIf, {"cond"}, {"branch"}, DataType::kFloat16);
    iff->attrs().set("then_branch", thenG);
    iff->attrs().set("else_branch", elseG);
    b.output("branch");
}

// A subgraph that captures P keeps reading it (the same value, now the convolution's output 1); a MaxPool inside a
// subgraph that reads Y from the outer scope is not the convolution's to absorb.
TEST(PassConvPoolFusion, KeepsSubgraphCapturesAndLeavesSubgraphPools) {
    for (bool poolInside : {false, true}) {
        SCOPED_TRACE(poolInside ? "a MaxPool of Y in the else-branch" : "P captured by both branches");
        ir::Graph reference, g;
        GraphBuilder rb(reference), gb(g);
        poolGraph(rb, {});
        addIf(reference, rb, "p", poolInside);
        poolGraph(gb, {});
        addIf(g, gb, "p", poolInside);
        ASSERT_EQ(fusePools(g), 1) << "the outer MaxPool fuses either way";
        const ir::Node* fused = firstOf(g, OpKind::kFusedConvNhwc);
        ASSERT_NE(fused, nullptr);
        ASSERT_EQ(fused->outputs().size(), 2u);
        EXPECT_EQ(fused->output(1), g.findValue("p"));
        const ir::Value* y = fused->output(0);
        const auto subgraphPools = std::count_if(y->consumers().begin(), y->consumers().end(),
                                                 [](const ir::Node* n) { return n->op() == OpKind::kMaxPoolNhwc; });
        EXPECT_EQ(subgraphPools, poolInside ? 1 : 0) << "the else-branch's MaxPool still reads Y";
        for (bool cond : {true, false}) {
            std::vector<Tensor> feeds = poolFeeds({});
            feeds.push_back(Tensor::scalar<bool>(cond));
            expectSameResults(g, reference, feeds);
        }
    }
}

//! x [2, 64, 9, 7] → Conv 3x3 64 → 64 pad 1 → Relu (r) → MaxPool 2x2 → Conv 3x3 64 → 64 pad 1 (q); r also read by a
//! Conv 1x1 64 → 64 (s, the decoder's stand-in): UNet's level-0 encoder end in FP32, NCHW.
void unetLevel0(GraphBuilder& b) {
    constexpr int64_t kC = 64;
    const Shape full{kN, kC, kH, kW}, half{kN, kC, kH / 2, kW / 2};
    b.input("x", kF32, full);
    b.constant("W", randomTensor({kC, kC, 3, 3}, 21));
    b.constant("B", randomTensor({kC}, 22));
    b.node(OpKind::kConv, {"x", "W", "B"}, {"c"}, kF32, full)->attrs().set("pads", Ints{1, 1, 1, 1});
    b.node(OpKind::kRelu, {"c"}, {"r"}, kF32, full);
    ir::Node* pool = b.node(OpKind::kMaxPool, {"r"}, {"p"}, kF32, half);
    pool->attrs().set("kernel_shape", Ints{2, 2});
    pool->attrs().set("strides", Ints{2, 2});
    b.constant("W3", randomTensor({kC, kC, 3, 3}, 23));
    b.node(OpKind::kConv, {"p", "W3"}, {"q"}, kF32, half)->attrs().set("pads", Ints{1, 1, 1, 1});
    b.constant("W1", randomTensor({kC, kC, 1, 1}, 24));
    b.node(OpKind::kConv, {"r", "W1"}, {"s"}, kF32, full);
    b.output("q");
    b.output("s");
}

// The CUDA FP16 pipeline (defaultPipeline with the CUDA hooks' layout and lowering, run on the CPU reference) fuses
// the MaxPool, and the result equals the same pipeline without conv-pool-fusion bitwise, and float32 within 1e-2.
TEST(PassConvPoolFusion, TheCudaHalfPipelineFusesAndMatchesFloat32AndTheUnfusedGraph) {
    const std::vector<Tensor> feeds{randomTensor({kN, 64, kH, kW}, 25)};
    ir::Graph fused, unfused;
    passes::PipelineReport report = optimizeHalfAndCompare(unetLevel0, feeds, fused);
    EXPECT_EQ(report.changesByPass["conv-pool-fusion"], 1);
    EXPECT_EQ(countOps(fused, OpKind::kMaxPoolNhwc), 0u);
    const ir::Node* conv = firstOf(fused, OpKind::kFusedConvNhwc);
    ASSERT_NE(conv, nullptr);
    EXPECT_EQ(conv->attrs().getInt("kiln_pool", 0), 1);
    EXPECT_EQ(conv->outputs().size(), 2u);
    GraphBuilder ub(unfused);
    unetLevel0(ub);
    std::vector<std::unique_ptr<passes::Pass>> withoutPool = passes::defaultPipeline();
    std::erase_if(withoutPool, [](const auto& pass) { return pass->name() == "conv-pool-fusion"; });
    static const HalfNhwcHooks kHooks;
    passes::PassManager pm(std::move(withoutPool), {}, &kHooks);
    ASSERT_TRUE(pm.run(unfused).isOk());
    ASSERT_EQ(countOps(unfused, OpKind::kMaxPoolNhwc), 1u);
    expectSameResults(fused, unfused, feeds);
}

TEST(PassConvPoolFusion, Float32PipelineIsUntouched) {
    ir::Graph g;
    GraphBuilder b(g);
    unetLevel0(b);
    optimizeGraph(g, true);
    ASSERT_EQ(countOps(g, OpKind::kMaxPoolNhwc), 1u);
    EXPECT_EQ(fusePools(g), 0);
    for (const auto& n : g.nodes()) EXPECT_FALSE(n->attrs().has("kiln_pool"));
}

}  // namespace
}  // namespace kiln::testing
