// The convtranspose-concat-fusion pass: in the CUDA backend's channels-last pipeline (forced on here, FP32 and FP16
// on the CPU reference) UNet's Concat(ConvTranspose(x), skip) becomes one ConvTransposeNhwc writing into its slice,
// with the same outputs; it stays two nodes when the ConvTranspose's result has another reader, when the taps
// overlap (not a GEMM), when the slot is not 16-byte aligned, or without the layout pass. The fused node's CPU
// reference kernel (backends/cpu/kernels/layout.cpp) is checked against Concat + ConvTransposeNhwc directly too.
#include <gtest/gtest.h>

#include "passes_layout_test_util.h"

namespace kiln::testing {
namespace {

using ir::OpKind;
using Ints = std::vector<int64_t>;

constexpr DataType kF32 = DataType::kFloat32;

struct StepOptions {
    bool skipFirst = false;   //!< Concat([skip, up]) instead of UNet's Concat([up, skip]).
    int64_t upChannels = 8;   //!< M of the ConvTranspose.
    int64_t stride = 2;       //!< Its strides (kernel 2x2): 1 makes overlapping taps.
    bool upIsOutput = false;  //!< The ConvTranspose's result is also a graph output (another reader).
    bool bias = true;
    bool catIsOutput = false;  //!< The Concat is also a graph output (so that concat-conv-split leaves it).
};

//! x [2, 4, 8, 6] → conv 3x3 (skip, 8 channels) → MaxPool 2x2 → conv 3x3 (16) → ConvTranspose 2x2 → Concat with the
//! skip on channels → conv 1x1 → y: one UNet decoder level, at an odd width after pooling (3).
void unetStep(GraphBuilder& b, const StepOptions& o) {
    b.input("x", kF32, {2, 4, 8, 6});
    auto conv = [&](const std::string& in, const std::string& out, int64_t cin, int64_t cout, Shape shape,
                    uint32_t seed, int64_t k) {
        b.constant(out + "_W", randomTensor({cout, cin, k, k}, seed));
        b.constant(out + "_B", randomTensor({cout}, seed + 1));
        ir::Node* n = b.node(OpKind::kConv, {in, out + "_W", out + "_B"}, {out}, kF32, std::move(shape));
        if (k == 3) n->attrs().set("pads", Ints{1, 1, 1, 1});
    };
    conv("x", "skip", 4, 8, {2, 8, 8, 6}, 10, 3);
    ir::Node* pool = b.node(OpKind::kMaxPool, {"skip"}, {"pool"}, kF32, Shape{2, 8, 4, 3});
    pool->attrs().set("kernel_shape", Ints{2, 2});
    pool->attrs().set("strides", Ints{2, 2});
    conv("pool", "mid", 8, 16, {2, 16, 4, 3}, 20, 3);
    const int64_t m = o.upChannels;
    // Stride 2: [4, 3] → [8, 6] (the skip's size); stride 1: (in - 1) + 2 = [5, 4].
    const Shape upShape = o.stride == 2 ? Shape{2, m, 8, 6} : Shape{2, m, 5, 4};
    b.constant("up_W", randomTensor({16, m, 2, 2}, 30));
    b.constant("up_B", randomTensor({m}, 31));
    ir::Node* up = b.node(OpKind::kConvTranspose, {"mid", "up_W", o.bias ? "up_B" : ""}, {"up"}, kF32, upShape);
    up->attrs().set("strides", Ints{o.stride, o.stride});
    if (o.stride != 2) {
        // Overlapping taps give 5x4, not the skip's 8x6: concatenate x pooled to 5x4 (padded 2x2 pool) and mixed by
        // a 1x1 conv instead.
        ir::Node* p2 = b.node(OpKind::kMaxPool, {"x"}, {"xp"}, kF32, Shape{2, 4, 5, 4});
        p2->attrs().set("kernel_shape", Ints{2, 2});
        p2->attrs().set("pads", Ints{1, 1, 1, 1});
        p2->attrs().set("strides", Ints{2, 2});
        conv("xp", "skip2", 4, 8, {2, 8, 5, 4}, 40, 1);
    }
    const std::string skip = o.stride == 2 ? "skip" : "skip2";
    const Shape catShape{2, m + 8, upShape[2], upShape[3]};
    b.node(OpKind::kConcat, o.skipFirst ? std::vector<std::string>{skip, "up"} : std::vector<std::string>{"up", skip},
           {"cat"}, kF32, catShape)
        ->attrs()
        .set("axis", int64_t{1});
    conv("cat", "y", m + 8, 4, {2, 4, upShape[2], upShape[3]}, 50, 1);
    b.output("y");
    if (o.upIsOutput) b.output("up");
    if (o.catIsOutput) b.output("cat");
}

std::vector<Tensor> stepInputs() { return {randomTensor({2, 4, 8, 6}, 7)}; }

//! Builds the step twice, optimizes one copy channels-last into `g` and checks both give the same outputs.
void optimizeAndCompare(const StepOptions& o, ir::Graph& g) {
    ir::Graph reference;
    GraphBuilder rb(reference), gb(g);
    unetStep(rb, o);
    unetStep(gb, o);
    optimizeGraph(g, true);
    expectSameOutputs(runGraph(g, stepInputs()), runGraph(reference, stepInputs()), 1e-6);
}

//! The fused node of `g`, or null.
const ir::Node* fusedNode(const ir::Graph& g) {
    for (const auto& n : g.nodes()) {
        if (n->op() == OpKind::kConvTransposeNhwc && n->attrs().has("kiln_concat_slot")) return n.get();
    }
    return nullptr;
}

TEST(PassConvTransposeConcat, UNetOrderFusesIntoSlotZero) {
    ir::Graph g;
    optimizeAndCompare({}, g);
    const ir::Node* fused = fusedNode(g);
    ASSERT_NE(fused, nullptr);
    EXPECT_EQ(countOps(g, OpKind::kConcat), 0u);
    EXPECT_EQ(countOps(g, OpKind::kConvTransposeNhwc), 1u);
    EXPECT_EQ(fused->attrs().getInt("kiln_concat_slot", -1), 0);
    ASSERT_EQ(fused->inputs().size(), 4u);  // X, W, B, skip
    ASSERT_EQ(fused->output(0)->consumers().size(), 1u) << "the fused node takes over the Concat's output";
    EXPECT_EQ(fused->output(0)->consumers()[0]->op(), OpKind::kFusedConvNhwc);
    EXPECT_EQ(fused->name(), "up");
}

TEST(PassConvTransposeConcat, SkipFirstFusesIntoSlotOneWithoutBias) {
    ir::Graph g;
    optimizeAndCompare({.skipFirst = true, .bias = false}, g);
    const ir::Node* fused = fusedNode(g);
    ASSERT_NE(fused, nullptr);
    EXPECT_EQ(countOps(g, OpKind::kConcat), 0u);
    EXPECT_EQ(fused->attrs().getInt("kiln_concat_slot", -1), 1);
    ASSERT_EQ(fused->inputs().size(), 4u);
    EXPECT_EQ(fused->input(2), nullptr) << "the omitted bias stays an omitted input";
}

TEST(PassConvTransposeConcat, AnotherReaderOverlappingTapsOrAnUnalignedSlotKeepTheConcat) {
    const std::pair<const char*, StepOptions> cases[] = {
        {"the ConvTranspose's result is also a graph output", {.upIsOutput = true}},
        {"overlapping taps (kernel 2, stride 1): not a GEMM", {.stride = 1}},
        // M = 2 float32 channels are 8 bytes a row: cuBLASLt's fast kernels want 16.
        {"an unaligned slot", {.upChannels = 2}},
    };
    for (const auto& [why, options] : cases) {
        SCOPED_TRACE(why);
        ir::Graph g;
        optimizeAndCompare(options, g);
        EXPECT_EQ(fusedNode(g), nullptr);
        EXPECT_EQ(countOps(g, OpKind::kConcat), 1u);
        EXPECT_EQ(countOps(g, OpKind::kConvTransposeNhwc), 1u);
    }
}

TEST(PassConvTransposeConcat, NchwPipelineLeavesTheConcat) {
    ir::Graph g;
    GraphBuilder b(g);
    unetStep(b, {});
    optimizeGraph(g, false);
    EXPECT_EQ(countOps(g, OpKind::kConcat), 1u);
    EXPECT_EQ(countOps(g, OpKind::kConvTranspose), 1u);
    EXPECT_EQ(countOps(g, OpKind::kConvTransposeNhwc), 0u);
}

//! The step optimized as a CUDA FP16 engine is (layout, FP16 lowering, then the fusions) into `g`, checked against
//! the FP32 graph; returns the pipeline's report.
passes::PipelineReport optimizeHalf(const StepOptions& o, ir::Graph& g) {
    return optimizeHalfAndCompare([&](GraphBuilder& b) { unetStep(b, o); }, stepInputs(), g);
}

// In FP16, the Concat read by a convolution is split away first (concat-conv-split): the ConvTranspose stays alone.
TEST(PassConvTransposeConcat, HalfPrecisionPipelineSplitsTheDecoderConvolutionFirst) {
    ir::Graph g;
    passes::PipelineReport report = optimizeHalf({}, g);
    EXPECT_EQ(report.changesByPass["concat-conv-split"], 1);
    EXPECT_EQ(report.changesByPass["convtranspose-concat-fusion"], 0);
    EXPECT_EQ(fusedNode(g), nullptr);
    EXPECT_EQ(countOps(g, OpKind::kConcat), 0u);
    EXPECT_EQ(countOps(g, OpKind::kConvTransposeNhwc), 1u);
}

// A Concat that stays (here it is also a graph output) is fused with its ConvTranspose, in FP16, FP16-close to FP32.
TEST(PassConvTransposeConcat, HalfPrecisionPipelineFuses) {
    ir::Graph g;
    passes::PipelineReport report = optimizeHalf({.catIsOutput = true}, g);
    const ir::Node* fused = fusedNode(g);
    ASSERT_NE(fused, nullptr);
    EXPECT_EQ(fused->output(0)->dtype(), DataType::kFloat16);
    EXPECT_EQ(countOps(g, OpKind::kConcat), 0u);
    EXPECT_EQ(report.changesByPass["convtranspose-concat-fusion"], 1);
    EXPECT_EQ(report.changesByPass["concat-conv-split"], 0);
}

//! A one-node graph: the fused ConvTransposeNhwc over X [1, 3, 5, C], W [C, 2, 2, 4] and bias, with `others`
//! ([1, 6, 10, ci] each) concatenated around it at `slot`.
std::vector<Tensor> runFused(int64_t slot, const std::vector<int64_t>& others, Status* status = nullptr) {
    ir::Graph g;
    GraphBuilder b(g);
    b.input("x", kF32, {1, 3, 5, 3});
    b.constant("W", randomTensor({3, 2, 2, 4}, 60));
    b.constant("B", randomTensor({4}, 61));
    std::vector<std::string> inputs{"x", "W", "B"};
    int64_t total = 4;
    for (size_t i = 0; i < others.size(); ++i) {
        inputs.push_back("e" + std::to_string(i));
        b.input(inputs.back(), kF32, {1, 6, 10, others[i]});
        total += others[i];
    }
    ir::Node* n = b.node(OpKind::kConvTransposeNhwc, inputs, {"y"}, kF32, Shape{1, 6, 10, total});
    n->attrs().set("strides", Ints{2, 2});
    n->attrs().set("kiln_concat_slot", slot);
    b.output("y");
    std::vector<Tensor> feeds{randomTensor({1, 3, 5, 3}, 62)};
    for (size_t i = 0; i < others.size(); ++i) {
        feeds.push_back(randomTensor({1, 6, 10, others[i]}, 63 + static_cast<uint32_t>(i)));
    }
    auto outs = cpu::Executor().run(g, feeds);
    if (status) *status = outs.status();
    if (!outs.isOk()) return {};
    // The unfused reference: the ConvTranspose alone, then the Concat.
    ir::Graph r;
    GraphBuilder rb(r);
    rb.input("x", kF32, {1, 3, 5, 3});
    rb.constant("W", randomTensor({3, 2, 2, 4}, 60));
    rb.constant("B", randomTensor({4}, 61));
    std::vector<std::string> catInputs;
    for (size_t i = 0; i < others.size(); ++i) {
        catInputs.push_back("e" + std::to_string(i));
        rb.input(catInputs.back(), kF32, {1, 6, 10, others[i]});
    }
    rb.node(OpKind::kConvTransposeNhwc, {"x", "W", "B"}, {"up"}, kF32, Shape{1, 6, 10, 4})
        ->attrs()
        .set("strides", Ints{2, 2});
    catInputs.insert(catInputs.begin() + slot, "up");
    rb.node(OpKind::kConcat, catInputs, {"y"}, kF32, Shape{1, 6, 10, total})->attrs().set("axis", int64_t{3});
    rb.output("y");
    expectSameOutputs(outs.value(), runGraph(r, feeds), 0);
    return std::move(outs).value();
}

TEST(PassConvTransposeConcat, ReferenceKernelIsConvTransposeThenConcat) {
    for (int64_t slot : {0, 1, 2}) {
        SCOPED_TRACE("slot " + std::to_string(slot));
        EXPECT_EQ(runFused(slot, {3, 5}).size(), 1u);
    }
    EXPECT_EQ(runFused(1, {1}).size(), 1u);
}

TEST(PassConvTransposeConcat, ReferenceKernelRejectsABadSlot) {
    Status st;
    EXPECT_TRUE(runFused(3, {3, 5}, &st).empty());
    EXPECT_NE(st.message().find("kiln_concat_slot 3 is outside [0, 2]"), std::string::npos) << st.message();
    EXPECT_TRUE(runFused(-1, {3}, &st).empty());
    EXPECT_NE(st.message().find("kiln_concat_slot -1"), std::string::npos) << st.message();
}

}  // namespace
}  // namespace kiln::testing
