// The conv-head-fusion pass: a channels-last FP16/BF16 convolution (ReLU or none) read only by a 1x1 convolution of
// at most 16 outputs becomes one FusedConvNhwc with `kiln_head`, whose CPU result is the unfused graph's bit for bit
// and, from an FP32 model through the CUDA FP16 pipeline, the FP32 model's to FP16 accuracy. It declines an
// intermediate with another reader or that is a graph output, residual inputs, a head with an activation, a window
// or more than 16 outputs, other activations, a pin to another precision, and FP32.
#include <gtest/gtest.h>

#include "ops/op_tester.h"
#include "passes/passes.h"
#include "passes_layout_test_util.h"

namespace kiln::testing {
namespace {

using ir::OpKind;
using Ints = std::vector<int64_t>;

struct HeadOptions {
    DataType dtype = DataType::kFloat16;
    std::string act = "Relu";    //!< The first convolution's activation.
    bool bias = true;            //!< The first convolution has a bias.
    bool residual = false;       //!< The first convolution has a residual input Z.
    bool innerIsOutput = false;  //!< The intermediate is also a graph output.
    bool secondReader = false;   //!< A Relu reads the intermediate too.
    std::string headAct{};       //!< The head's activation.
    bool headResidual = false;
    bool headBias = true;
    int64_t headKernel = 1;
    Ints headStrides{1, 1}, headPads{0, 0, 0, 0};
    int64_t k = 2;
    int64_t outC = 64;             //!< The first convolution's output channels (the intermediate's).
    std::string pin{}, headPin{};  //!< kiln_precision of the convolution and the head ("" = none).
};

constexpr DataType kF32 = DataType::kFloat32;
constexpr int64_t kN = 2, kH = 9, kW = 7, kC = 64;

//! x [2, 9, 7, 64] → FusedConvNhwc 3x3 64 → outC, pad 1 (→ "inner") → FusedConvNhwc "head" (→ "y"), channels-last.
void headGraph(GraphBuilder& b, const HeadOptions& o) {
    const DataType t = o.dtype;
    const Shape inner{kN, kH, kW, o.outC};
    b.input("x", t, {kN, kH, kW, kC});
    b.constant("W", randomTensor(t, {o.outC, 3, 3, kC}, 1));
    b.constant("B", randomTensor(t, {o.outC}, 2));
    std::vector<std::string> aInputs{"x", "W", o.bias ? "B" : ""};
    if (o.residual) {
        b.input("z", t, inner);
        aInputs.emplace_back("z");
    }
    ir::Node* a = b.node(OpKind::kFusedConvNhwc, aInputs, {"inner"}, t, inner);
    a->attrs().set("pads", Ints{1, 1, 1, 1});
    a->attrs().set("activation", o.act);
    if (!o.pin.empty()) a->attrs().set("kiln_precision", o.pin);

    const int64_t kk = o.headKernel;
    const int64_t oh = (kH + o.headPads[0] + o.headPads[2] - kk) / o.headStrides[0] + 1;
    const int64_t ow = (kW + o.headPads[1] + o.headPads[3] - kk) / o.headStrides[1] + 1;
    b.constant("W2", randomTensor(t, {o.k, kk, kk, o.outC}, 3));
    b.constant("B2", randomTensor(t, {o.k}, 4));
    std::vector<std::string> headInputs{"inner", "W2", o.headBias ? "B2" : ""};
    if (o.headResidual) {
        b.input("z2", t, {kN, oh, ow, o.k});
        headInputs.emplace_back("z2");
    }
    ir::Node* head = b.node(OpKind::kFusedConvNhwc, headInputs, {"y"}, t, Shape{kN, oh, ow, o.k});
    head->attrs().set("kernel_shape", Ints{kk, kk});
    head->attrs().set("strides", o.headStrides);
    head->attrs().set("pads", o.headPads);
    head->attrs().set("activation", o.headAct);
    if (!o.headPin.empty()) head->attrs().set("kiln_precision", o.headPin);
    b.output("y");
    if (o.innerIsOutput) b.output("inner");
    if (o.secondReader) {
        b.node(OpKind::kRelu, {"inner"}, {"side"}, t, inner);
        b.output("side");
    }
}

std::vector<Tensor> headFeeds(const HeadOptions& o) {
    std::vector<Tensor> feeds{randomTensor(o.dtype, {kN, kH, kW, kC}, 10)};
    if (o.residual) feeds.push_back(randomTensor(o.dtype, {kN, kH, kW, o.outC}, 11));
    if (o.headResidual) feeds.push_back(randomTensor(o.dtype, {kN, kH, kW, o.k}, 12));
    return feeds;
}

//! Runs the pass alone on `g` and returns its rewrite count.
int64_t fuseHeads(ir::Graph& g) {
    return runPasses(g, one(passes::createConvHeadFusion())).changesByPass["conv-head-fusion"];
}

TEST(PassConvHeadFusion, FusesTheHeadAndMatchesTheUnfusedGraphBitwise) {
    const std::pair<const char*, HeadOptions> cases[] = {
        {"float16, ReLU, both biases", {}},
        {"bfloat16", {.dtype = DataType::kBFloat16}},
        {"no activation, no biases", {.act = "", .bias = false, .headBias = false}},
        {"8 head channels", {.k = 8}},
        {"both pinned to fp16", {.pin = "fp16", .headPin = "fp16"}},
    };
    for (const auto& [why, o] : cases) {
        SCOPED_TRACE(why);
        ir::Graph reference, g;
        GraphBuilder rb(reference), gb(g);
        headGraph(rb, o);
        headGraph(gb, o);
        ASSERT_EQ(fuseHeads(g), 1);
        const ir::Node* fused = firstOf(g, OpKind::kFusedConvNhwc);
        ASSERT_NE(fused, nullptr);
        EXPECT_EQ(countOps(g, OpKind::kFusedConvNhwc), 1u);
        EXPECT_EQ(fused->name(), "inner") << "the convolution's name (GraphBuilder names a node after its output)";
        EXPECT_EQ(fused->attrs().getInt("kiln_head", 0), 1);
        EXPECT_EQ(fused->attrs().getString("activation"), o.act);
        ASSERT_EQ(fused->inputs().size(), o.headBias ? 6u : 5u);
        EXPECT_EQ(fused->input(2) != nullptr, o.bias);
        EXPECT_EQ(fused->input(3), nullptr) << "no residual";
        EXPECT_EQ(fused->input(4)->name(), "W2");
        if (o.headBias) {
            EXPECT_EQ(fused->input(5)->name(), "B2");
        }
        EXPECT_EQ(fused->output(0), g.outputs()[0]);
        EXPECT_EQ(fused->output(0)->name(), "y");
        EXPECT_EQ(g.findValue("inner"), nullptr) << "the intermediate value is dropped";
        const auto got = runGraph(g, headFeeds(o));
        const auto want = runGraph(reference, headFeeds(o));
        ASSERT_EQ(got.size(), 1u);
        ASSERT_EQ(want.size(), 1u);
        expectTensorEq(got[0], want[0]);
    }
}

TEST(PassConvHeadFusion, DeclinesWhatItCannotFuse) {
    const std::pair<const char*, HeadOptions> cases[] = {
        {"the intermediate has a second reader", {.secondReader = true}},
        {"the intermediate is a graph output", {.innerIsOutput = true}},
        {"the convolution has a residual", {.residual = true}},
        {"the convolution's activation is not ReLU", {.act = "Sigmoid"}},
        {"the head has an activation", {.headAct = "Relu"}},
        {"the head has a residual", {.headResidual = true}},
        {"the head is 3x3", {.headKernel = 3, .headPads = {1, 1, 1, 1}}},
        {"the head is strided", {.headStrides = {2, 2}}},
        {"the head is padded", {.headPads = {1, 1, 1, 1}}},
        {"9 head channels", {.k = 9}},
        {"the convolution has 32 output channels (the GPU kernel computes heads for 64)", {.outC = 32}},
        {"the head is pinned to another precision", {.headPin = "fp32"}},
        {"float32", {.dtype = kF32}},
    };
    for (const auto& [why, o] : cases) {
        SCOPED_TRACE(why);
        ir::Graph g;
        GraphBuilder b(g);
        headGraph(b, o);
        EXPECT_EQ(fuseHeads(g), 0);
        EXPECT_EQ(countOps(g, OpKind::kFusedConvNhwc), 2u);
        for (const auto& n : g.nodes()) EXPECT_FALSE(n->attrs().has("kiln_head"));
    }
}

//! x [2, 8, 9, 7] → Conv 3x3 8 → 8 pad 1 → Relu → Conv 1x1 8 → 2 (UNet's last layers in FP32, NCHW).
void unetTail(GraphBuilder& b) {
    b.input("x", kF32, {kN, kC, kH, kW});
    b.constant("W", randomTensor({kC, kC, 3, 3}, 21));
    b.constant("B", randomTensor({kC}, 22));
    b.node(OpKind::kConv, {"x", "W", "B"}, {"c"}, kF32, Shape{kN, kC, kH, kW})->attrs().set("pads", Ints{1, 1, 1, 1});
    b.node(OpKind::kRelu, {"c"}, {"r"}, kF32, Shape{kN, kC, kH, kW});
    b.constant("W2", randomTensor({2, kC, 1, 1}, 23));
    b.constant("B2", randomTensor({2}, 24));
    b.node(OpKind::kConv, {"r", "W2", "B2"}, {"y"}, kF32, Shape{kN, 2, kH, kW});
    b.output("y");
}

// The CUDA FP16 pipeline (defaultPipeline with the CUDA hooks' layout and lowering) fuses the head, and the result
// equals the same pipeline without conv-head-fusion bitwise, and float32 within 1e-2.
TEST(PassConvHeadFusion, TheCudaHalfPipelineFusesAndMatchesFloat32AndTheUnfusedGraph) {
    const std::vector<Tensor> feeds{randomTensor({kN, kC, kH, kW}, 25)};
    ir::Graph fused, unfused, reference;
    optimizeHalfAndCompare(unetTail, feeds, fused);
    EXPECT_EQ(countOps(fused, OpKind::kFusedConvNhwc), 1u);
    GraphBuilder ub(unfused);
    unetTail(ub);
    std::vector<std::unique_ptr<passes::Pass>> withoutHead = passes::defaultPipeline();
    std::erase_if(withoutHead, [](const auto& pass) { return pass->name() == "conv-head-fusion"; });
    static const HalfNhwcHooks kHooks;
    passes::PassManager pm(std::move(withoutHead), {}, &kHooks);
    ASSERT_TRUE(pm.run(unfused).isOk());
    ASSERT_EQ(countOps(unfused, OpKind::kFusedConvNhwc), 2u);
    GraphBuilder rb(reference);
    unetTail(rb);
    const auto got = runGraph(fused, feeds);
    const auto half = runGraph(unfused, feeds);
    const auto want = runGraph(reference, feeds);
    ASSERT_EQ(got.size(), 1u);
    ASSERT_EQ(half.size(), 1u);
    ASSERT_EQ(want.size(), 1u);
    expectTensorEq(got[0], half[0]);
    EXPECT_LE(maxRelError(got[0], want[0]), 1e-2);
}

TEST(PassConvHeadFusion, Float32PipelineIsUntouched) {
    ir::Graph g;
    GraphBuilder b(g);
    unetTail(b);
    optimizeGraph(g, true);
    ASSERT_EQ(countOps(g, OpKind::kFusedConvNhwc), 2u);
    EXPECT_EQ(fuseHeads(g), 0);
}

}  // namespace
}  // namespace kiln::testing
