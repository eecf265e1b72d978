// "convtranspose-concat-fusion": Concat(..., ConvTransposeNhwc(x, w, b), ..., axis = channels) → one
// ConvTransposeNhwc that writes its result straight into its channel slice of the Concat's output (issue 7: UNet's
// decoder levels are Concat([ConvTranspose(x), skip]) in channels-last; the Concat re-read and re-wrote the whole
// up-sampled tensor, 1.3 ms of a 12.8 ms batch-16 step).
//
// The fused node keeps the ConvTranspose's name, inputs and attributes and takes the Concat's output. Its inputs 3...
// are the Concat's other inputs in order, and the attribute `kiln_concat_slot` is the ConvTranspose result's position
// among the concatenated tensors (backends/cpu/kernels/layout.cpp states the semantics; an omitted bias is an
// omitted input 2). The CUDA kernel copies the other inputs into their slices and runs the ConvTranspose GEMMs with
// their output pointer at the slot (conv_transpose_concat.h).
//
// Matches only what that kernel does as GEMMs, so that the fusion never trades a fast Concat for a slow path:
//   - a rank-4 Concat along the last axis (channels-last) whose inputs all have the output's dtype;
//   - an input produced by a ConvTransposeNhwc not already fused, read by this Concat alone (once), not a graph
//     output or captured by a subgraph, and not pinned to another precision than the Concat;
//   - non-overlapping taps (kernel == stride, no crop, output exactly in * stride, dilation 1, one group: the
//     condition of kernels/conv_transpose_gemm.h), on static C, H, W and weights' shape;
//   - 16-byte aligned rows and slot (channel counts times the element size), which cuBLASLt's fast kernels need.
// Only ConvTransposeNhwc nodes are matched, and only the CUDA backend's layout hook makes them (FP16/BF16 engines),
// so the pass does nothing for the CPU backend; the CPU reference kernel implements the fused node too (the
// kEMULATE_REDUCED_PRECISION engines run it). It runs after precision-assignment so that dtypes are final.
#include <algorithm>
#include <optional>

#include "backends/cpu/nn_common.h"
#include "passes/layer_precision.h"
#include "passes/passes.h"
#include "passes/pattern_util.h"

namespace kiln::passes {

namespace {

using ir::OpKind;

constexpr int64_t kAlignBytes = 16;

//! The dims of `v` when all are known and it is 4-D; the batch dim may be unknown (reads 1: no condition uses it).
std::optional<Shape> staticNhwc(const ir::Value* v) {
    if (!v || !v->shape() || v->shape()->size() != 4) return std::nullopt;
    Shape s;
    for (size_t i = 0; i < 4; ++i) {
        const ir::Dim& d = (*v->shape())[i];
        if (!d.isStatic()) {
            if (i != 0) return std::nullopt;
            s.push_back(1);
            continue;
        }
        s.push_back(d.size);
    }
    return s;
}

//! The output channels of `convT` when its taps do not overlap (conv_transpose_gemm.h's convTransposeIsGemm on the
//! reference's geometry); nullopt otherwise or when shapes are not known.
std::optional<int64_t> gemmOutChannels(const ir::Node& convT) {
    const ir::Value* x = convT.input(0);
    const ir::Value* w = convT.input(1);
    const std::optional<Shape> xs = staticNhwc(x);
    const std::optional<Shape> ws = staticNhwc(w);
    if (!xs || !ws || (*ws)[0] <= 0) return std::nullopt;  // the weights' leading dim is C: never symbolic
    const DataType t = x->dtype();
    if (t != DataType::kFloat32 && t != DataType::kFloat16 && t != DataType::kBFloat16) return std::nullopt;
    // The reference's geometry on data-less channels-first views, as the kernels compute it.
    auto geo = cpu::nn::convTransposeGeometry(convT.attrs(),
                                              Tensor::wrap(t, {(*xs)[0], (*xs)[3], (*xs)[1], (*xs)[2]}, nullptr),
                                              Tensor::wrap(t, {(*ws)[0], (*ws)[3], (*ws)[1], (*ws)[2]}, nullptr));
    if (!geo.isOk() || geo->group != 1 || geo->win.rank != 2) return std::nullopt;
    const cpu::nn::Window& win = geo->win;  // col2im's view: `in` is Y's spatial dims, `out` X's
    for (size_t d = 0; d < win.in.size(); ++d) {
        if (win.kernel[d] != win.stride[d] || win.dilation[d] != 1 || win.padBegin[d] != 0 ||
            win.in[d] != win.out[d] * win.stride[d]) {
            return std::nullopt;
        }
    }
    return geo->outC;
}

class ConvTransposeConcatFusion : public SubgraphAwareRule {
public:
    std::string_view name() const override { return "convtranspose-concat-fusion"; }
    std::string describe(int64_t n) const override {
        return "wrote " + std::to_string(n) + " ConvTransposeNhwc outputs straight into their Concat's slice";
    }

    bool shouldRun(const ir::Graph& graph) const override { return hasNodeOf(graph, OpKind::kConvTransposeNhwc); }

    bool match(const ir::Node& concat) const override { return slotOf(concat) >= 0; }

    Result<bool> apply(ir::Graph& graph, ir::Node& concat, PassContext& ctx) override {
        const int64_t slot = slotOf(concat);
        if (slot < 0) return false;
        ir::Node* convT = concat.input(static_cast<size_t>(slot))->producer();
        ir::Node* fused =
            ir::insertNodeAfter(graph, &concat, OpKind::kConvTransposeNhwc, convT->name(), convT->opset());
        fused->setSourceIndex(convT->sourceIndex());
        fused->attrs() = convT->attrs();
        fused->attrs().set("kiln_concat_slot", slot);
        for (size_t i = 0; i < 3; ++i) fused->addInput(convT->input(i));  // X, W and B (nullptr when omitted)
        for (size_t i = 0; i < concat.inputs().size(); ++i) {
            if (static_cast<int64_t>(i) != slot) fused->addInput(concat.input(i));
        }
        ir::Value* y = concat.output(0);
        ctx.verbose("convtranspose-concat-fusion: " + convT->describe() + " writes into slot " + std::to_string(slot) +
                    " of " + concat.describe());
        graph.removeNode(&concat);
        graph.removeNode(convT);
        fused->addOutput(y);
        return true;
    }

private:
    //! The position of the fusable ConvTransposeNhwc among the Concat's inputs, or -1 (the first one when several are).
    int64_t slotOf(const ir::Node& concat) const {
        if (concat.op() != OpKind::kConcat || concat.inputs().size() < 2 || concat.outputs().size() != 1) return -1;
        const ir::Value* y = concat.output(0);
        if (!y || !y->shape() || y->shape()->size() != 4) return -1;
        const int64_t axis = concat.attrs().getInt("axis", 0);
        if (axis != 3 && axis != -1) return -1;
        // Element offsets of each slot along a row of the output: every one must be 16-byte aligned.
        const auto elem = static_cast<int64_t>(dataTypeSize(y->dtype()));
        int64_t offset = 0;
        std::vector<int64_t> offsets;
        for (const ir::Value* in : concat.inputs()) {
            const int64_t c = channelsOf(in);
            if (!in || in->dtype() != y->dtype() || c < 0) return -1;
            offsets.push_back(offset);
            offset += c;
        }
        if (offset * elem % kAlignBytes != 0) return -1;
        for (size_t i = 0; i < concat.inputs().size(); ++i) {
            const ir::Value* in = concat.input(i);
            const ir::Node* convT = producerOf(in, OpKind::kConvTransposeNhwc);
            if (!convT || convT->attrs().has("kiln_concat_slot") || convT->inputs().size() > 3) continue;
            if (!onlyReadOnce(in, mRefs) || !pinsAllowMerge(*convT, concat)) continue;
            if (std::count(concat.inputs().begin(), concat.inputs().end(), in) != 1) continue;
            const std::optional<int64_t> m = gemmOutChannels(*convT);
            if (!m || *m != channelsOf(in) || offsets[i] * elem % kAlignBytes != 0 || *m * elem % kAlignBytes != 0) {
                continue;
            }
            return static_cast<int64_t>(i);
        }
        return -1;
    }
};

}  // namespace

std::unique_ptr<Pass> createConvTransposeConcatFusion() { return std::make_unique<ConvTransposeConcatFusion>(); }

}  // namespace kiln::passes
