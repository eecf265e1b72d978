// The concat-conv-split pass: in the CUDA backend's FP16 channels-last pipeline (run here on the CPU reference),
// conv(Concat(a, b, ...)) becomes one convolution per concatenated input chained through the residual input, with
// the FP32 graph's outputs to FP16 accuracy; the activation stays on the last convolution only. It declines a
// grouped convolution, a Concat with another reader, a Concat whose slices would not be 16-byte aligned, a
// convolution that has its own residual, and FP32 (the pipeline without FP16 lowering).
#include <gtest/gtest.h>

#include "passes_layout_test_util.h"

namespace kiln::testing {
namespace {

using ir::OpKind;
using Ints = std::vector<int64_t>;

constexpr DataType kF32 = DataType::kFloat32;

struct SplitOptions {
    std::vector<int64_t> parts{8, 16};  //!< Channels of each concatenated input.
    int64_t group = 1;
    bool bias = true;
    bool catIsOutput = false;  //!< The Concat is also a graph output (another reader).
    bool residual = false;     //!< The convolution adds a residual of its own (Conv → Add → Relu).
    int64_t kernel = 3;
};

//! Inputs p0, p1, ... [2, c_i, 5, 6] → a 1x1 Conv each (so that they are channels-last) → Concat on channels → Conv (8
//! outputs, kernel k, pad k/2) [+ residual] → Relu.
void splitGraph(GraphBuilder& b, const SplitOptions& o) {
    std::vector<std::string> names;
    int64_t total = 0;
    for (size_t i = 0; i < o.parts.size(); ++i) {
        const std::string p = "p" + std::to_string(i), a = "a" + std::to_string(i);
        const int64_t c = o.parts[i];
        b.input(p, kF32, {2, c, 5, 6});
        b.constant(a + "_W", randomTensor({c, c, 1, 1}, 60 + static_cast<uint32_t>(i)));
        b.node(OpKind::kConv, {p, a + "_W"}, {a}, kF32, Shape{2, c, 5, 6});
        names.push_back(a);
        total += c;
    }
    b.node(OpKind::kConcat, names, {"cat"}, kF32, Shape{2, total, 5, 6})->attrs().set("axis", int64_t{1});
    b.constant("W", randomTensor({8, total / o.group, o.kernel, o.kernel}, 70));
    b.constant("B", randomTensor({8}, 71));
    ir::Node* conv = b.node(OpKind::kConv, {"cat", "W", o.bias ? "B" : ""}, {"conv"}, kF32, Shape{2, 8, 5, 6});
    const int64_t pad = o.kernel / 2;
    conv->attrs().set("pads", Ints{pad, pad, pad, pad});
    conv->attrs().set("group", o.group);
    std::string pre = "conv";
    if (o.residual) {
        b.input("r", kF32, {2, 8, 5, 6});
        b.node(OpKind::kAdd, {"conv", "r"}, {"sum"}, kF32, Shape{2, 8, 5, 6});
        pre = "sum";
    }
    b.node(OpKind::kRelu, {pre}, {"y"}, kF32, Shape{2, 8, 5, 6});
    b.output("y");
    if (o.catIsOutput) b.output("cat");
}

std::vector<Tensor> splitInputs(const SplitOptions& o) {
    std::vector<Tensor> feeds;
    for (size_t i = 0; i < o.parts.size(); ++i) {
        feeds.push_back(randomTensor({2, o.parts[i], 5, 6}, 80 + static_cast<uint32_t>(i)));
    }
    if (o.residual) feeds.push_back(randomTensor({2, 8, 5, 6}, 90));
    return feeds;
}

//! Optimizes the graph for an FP16 CUDA engine into `g`, checks its outputs against the unoptimized FP32 graph and
//! returns how many convolutions the pass split.
int64_t optimizeHalf(const SplitOptions& o, ir::Graph& g) {
    passes::PipelineReport report =
        optimizeHalfAndCompare([&](GraphBuilder& b) { splitGraph(b, o); }, splitInputs(o), g);
    return report.changesByPass["concat-conv-split"];
}

TEST(PassConcatConvSplit, TwoInputsBecomeTwoChainedConvolutions) {
    ir::Graph g;
    ASSERT_EQ(optimizeHalf({}, g), 1);
    EXPECT_EQ(countOps(g, OpKind::kConcat), 0u);
    std::vector<const ir::Node*> convs;
    for (const auto& n : g.nodes()) {
        if (n->op() == OpKind::kFusedConvNhwc && n->name().rfind("conv", 0) == 0) convs.push_back(n.get());
    }
    ASSERT_EQ(convs.size(), 2u);
    // The first adds the bias and no activation; the second reads the first as its residual and keeps the ReLU.
    EXPECT_EQ(convs[0]->attrs().getString("activation", "x"), "");
    EXPECT_EQ(convs[0]->inputs().size(), 3u);
    EXPECT_EQ(convs[0]->input(1)->constant().shape(), (Shape{8, 3, 3, 8}));
    EXPECT_EQ(convs[1]->attrs().getString("activation", ""), "Relu");
    ASSERT_EQ(convs[1]->inputs().size(), 4u);
    EXPECT_EQ(convs[1]->input(3), convs[0]->output(0));
    EXPECT_EQ(convs[1]->input(1)->constant().shape(), (Shape{8, 3, 3, 16}));
    EXPECT_EQ(convs[1]->output(0)->dtype(), DataType::kFloat16);
    // The unsplit weights are gone from the engine's graph (dead-code elimination prunes them): no constant is left
    // without a reader.
    for (const auto& v : g.values()) {
        if (v->isConstant()) {
            EXPECT_FALSE(v->consumers().empty()) << v->name() << " is an unused constant";
        }
    }
}

TEST(PassConcatConvSplit, ThreeInputsWithoutBiasAndAOneByOneKernel) {
    ir::Graph g;
    ASSERT_EQ(optimizeHalf({.parts = {8, 24, 16}, .bias = false, .kernel = 1}, g), 1);
    EXPECT_EQ(countOps(g, OpKind::kConcat), 0u);
    EXPECT_EQ(countOps(g, OpKind::kFusedConvNhwc), 3u + 3u) << "three 1x1 preludes, three split convolutions";
}

TEST(PassConcatConvSplit, DeclinesWhatItCannotSplit) {
    const std::pair<const char*, SplitOptions> cases[] = {
        {"a grouped convolution", {.group = 2}},
        {"the Concat has another reader", {.catIsOutput = true}},
        // 4 FP16 channels are 8 bytes a row: the slices' rows would not be 16-byte aligned.
        {"an unaligned slice", {.parts = {4, 12}}},
        {"the convolution has a residual of its own", {.residual = true}},
    };
    for (const auto& [why, options] : cases) {
        SCOPED_TRACE(why);
        ir::Graph g;
        EXPECT_EQ(optimizeHalf(options, g), 0);
        EXPECT_EQ(countOps(g, OpKind::kConcat), 1u);
    }
}

TEST(PassConcatConvSplit, Float32PipelineKeepsTheConcat) {
    ir::Graph g;
    GraphBuilder b(g);
    splitGraph(b, {});
    optimizeGraph(g, true);
    EXPECT_EQ(countOps(g, OpKind::kConcat), 1u);
    EXPECT_EQ(countOps(g, OpKind::kFusedConvNhwc), 2u + 1u) << "two 1x1 preludes, the convolution unsplit";
}

}  // namespace
}  // namespace kiln::testing
