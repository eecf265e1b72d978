// "conv-head-fusion": a channels-last convolution A whose output only a 1x1 "head" convolution B reads → one
// FusedConvNhwc with the attribute `kiln_head` (semantics in src/ir/ops.def): A keeps its name, X, W and bias, an
// absent residual slot, then B's weights W2 [K, 1, 1, M] and bias B2 [K] (omitted when B had none); A's node now
// writes B's output value, B and A's old output are gone.
//
// Issue 7: UNet's last layers are a 3x3 convolution 64 → 64 (ReLU) read only by the 1x1 logits convolution 64 → 2. On
// the GPU the 64-channel intermediate (537 MB at batch 16, 512x512, FP16) is written and read back only to be reduced
// to 2 channels; a convolution that computes the head in its epilogue never stores it. The intermediate keeps its
// meaning: the fused node rounds it to the dtype as the stored tensor was, so the result is the unfused graph's.
//
// Matches only FP16/BF16 FusedConvNhwc pairs (CUDA engines: the CPU backend's FP32 graphs are untouched) with:
//   - A: what Kiln's wgmma kernel serves (64 -> 64 channels, 1x1 or 3x3, strides and dilations 1, one group),
//     constant weights, activation "" or "Relu", no residual input Z, no head yet; its output read by B alone (as
//     X), not a graph output or captured by a subgraph;
//   - B: 1x1 with strides, dilations 1, pads 0 and one group, no residual input and no activation, constant weights
//     [K, 1, 1, M] with K <= kMaxHeadChannels (the head's results must fit the epilogue's registers), constant or
//     absent bias [K];
//   - one dtype for X, W, A's and B's outputs and B's weights and bias, and no pin on B other than A's.
// Runs after precision-assignment (dtypes final) and concat-conv-split, in defaultPipeline (passes.h).
#include "passes/layer_precision.h"
#include "passes/passes.h"
#include "passes/pattern_util.h"
#include "passes/wgmma_conv_match.h"

namespace kiln::passes {

namespace {

using ir::OpKind;

//! The most head channels Kiln's wgmma convolution computes in its epilogue (src/backends/cuda/kernels/conv_wgmma.h;
//! the head's results must fit its registers): past that, or where wgmmaServes declines the convolution, the fused
//! node would only move the intermediate into workspace, so the pass leaves the pair alone.
constexpr int64_t kMaxHeadChannels = 8;

//! B's window is the identity: 1x1, strides and dilations 1, no padding, one group.
bool pointwiseWindow(const ir::Attributes& attrs) {
    const std::string autoPad = attrs.getString("auto_pad", "NOTSET");
    return allEqual(attrs, "kernel_shape", 1) && allEqual(attrs, "strides", 1) && allEqual(attrs, "dilations", 1) &&
           allEqual(attrs, "pads", 0) && attrs.getInt("group", 1) == 1 && (autoPad == "NOTSET" || autoPad == "VALID");
}

//! A constant of dtype `t` and shape `shape`.
bool constantOf(const ir::Value* v, DataType t, const Shape& shape) {
    return v && v->isConstant() && v->constant().dtype() == t && v->constant().shape() == shape;
}

class ConvHeadFusion : public SubgraphAwareRule {
public:
    std::string_view name() const override { return "conv-head-fusion"; }
    std::string describe(int64_t n) const override {
        return "fused " + std::to_string(n) + " 1x1 head convolutions into the convolutions they read";
    }

    bool shouldRun(const ir::Graph& graph) const override { return hasNodeOf(graph, OpKind::kFusedConvNhwc); }

    bool match(const ir::Node& conv) const override { return headOf(conv) != nullptr; }

    Result<bool> apply(ir::Graph& graph, ir::Node& conv, PassContext& ctx) override {
        ir::Node* head = headOf(conv);
        if (!head) return false;
        ir::Value* inner = conv.output(0);
        ir::Value* y = head->output(0);
        ir::Value* w2 = head->input(1);
        ir::Value* b2 = head->input(2);
        ctx.verbose("conv-head-fusion: " + head->describe() + " → head of " + conv.describe());
        // Inputs [X, W, B, Z, W2, B2]: the bias and residual slots stay (nullptr: omitted), B2 only when given.
        while (conv.inputs().size() < 4) conv.addInput(nullptr);
        conv.addInput(w2);
        if (b2) conv.addInput(b2);
        conv.attrs().set("kiln_head", int64_t{1});
        graph.removeNode(head);
        conv.setOutput(0, y);
        KILN_RETURN_IF_ERROR(graph.removeValue(inner));
        return true;
    }

private:
    //! The 1x1 convolution that alone reads `conv`'s output and may become its head; null otherwise.
    ir::Node* headOf(const ir::Node& conv) const {
        if (!wgmmaServes(conv) || conv.input(3) != nullptr) return nullptr;
        const ir::Value* inner = conv.output(0);
        const DataType t = inner->dtype();
        const ir::Value* w = conv.input(1);
        ir::Node* head = soleReader(inner, OpKind::kFusedConvNhwc, mRefs);
        if (!head || head->input(0) != inner || head->inputs().size() > 3 || head->outputs().size() != 1) {
            return nullptr;
        }
        if (head->attrs().has("kiln_head") || !head->attrs().getString("activation").empty() ||
            !pointwiseWindow(head->attrs()) || !pinsAllowMerge(conv, *head)) {
            return nullptr;
        }
        const ir::Value* w2 = head->input(1);
        const ir::Value* b2 = head->input(2);
        const int64_t m = w->constant().dim(0);
        const int64_t k = w2 && w2->isConstant() && w2->constant().rank() == 4 ? w2->constant().dim(0) : 0;
        if (k < 1 || k > kMaxHeadChannels || !constantOf(w2, t, {k, 1, 1, m})) return nullptr;
        if (b2 && !constantOf(b2, t, {k})) return nullptr;
        if (!head->output(0) || head->output(0)->dtype() != t) return nullptr;
        return head;
    }
};

}  // namespace

std::unique_ptr<Pass> createConvHeadFusion() { return std::make_unique<ConvHeadFusion>(); }

}  // namespace kiln::passes
