// "concat-conv-split": FusedConvNhwc(Concat(a_0, ..., a_k, axis = channels), W, b) → a chain of convolutions, one per
// concatenated input, each reading its own slice of the weights and adding the previous one's result as its residual:
//   t_0 = conv(a_0, W_0) + b,  t_i = conv(a_i, W_i) + 0 + t_{i-1},  y = act(conv(a_k, W_k) + 0 + t_{k-1}).
// A convolution is linear in its input channels, so this is the same sum, and the Concat (a copy of every input into
// a wider tensor that the convolution then reads again) disappears.
//
// Issue 7: UNet's decoder levels are conv(Concat(ConvTranspose(x), skip)). With the Concat gone, the ConvTranspose
// runs alone (2 GEMMs reading x once per tap row instead of 4 into a Concat slot), the skip is not copied, and the
// decoder's first convolution becomes two of half the input channels (same FLOPs). Measured on the H100 at batch 16
// (tests/cuda/conv_cudnn_graph_speed_test.cpp, conv_transpose_gemm_speed_test.cpp): level 0 (512², 64 + 64
// channels) slot 0.67 + skip copy 0.38 + conv 128→64 1.25 ms against ConvTranspose alone 0.41 + 2 × conv 64→64
// 0.66 ms; level 1 about 1.38 against 1.16 ms; the deeper levels within a few percent.
//
// The partial sums t_i are stored in the convolution's dtype (FP16/BF16): one more rounding of a partial sum, the
// size of the output's own. Runs after precision-assignment (dtypes final) and before convtranspose-concat-fusion,
// which would otherwise fuse the ConvTranspose into the Concat. Matches only channels-last FP16/BF16 convolutions
// (FusedConvNhwc: CUDA engines), so that the CPU backend's graphs are untouched, with:
//   - a rank-4 Concat along the last axis, read by that convolution alone (once, as its input X), not a graph output
//     or captured by a subgraph, whose inputs all have static channel counts that keep rows 16-byte aligned;
//   - a convolution of one group, constant weights [M, kH, kW, C], no residual input of its own, and no pin to
//     another precision than the Concat's.
#include <algorithm>
#include <cstring>

#include "passes/layer_precision.h"
#include "passes/passes.h"
#include "passes/pattern_util.h"

namespace kiln::passes {

namespace {

using ir::OpKind;

constexpr int64_t kAlignBytes = 16;

//! Channels [begin, begin + count) of the last axis of a constant `w` [M, kH, kW, C].
Result<Tensor> channelSlice(const Tensor& w, int64_t begin, int64_t count) {
    const int64_t c = w.dim(3), rows = w.numel() / std::max<int64_t>(c, 1);
    const size_t elem = dataTypeSize(w.dtype());
    KILN_ASSIGN_OR_RETURN(Tensor out, Tensor::allocate(w.dtype(), {w.dim(0), w.dim(1), w.dim(2), count}));
    const auto* src = static_cast<const char*>(w.raw());
    auto* dst = static_cast<char*>(out.raw());
    for (int64_t r = 0; r < rows; ++r) {
        std::memcpy(dst + static_cast<size_t>(r * count) * elem, src + static_cast<size_t>(r * c + begin) * elem,
                    static_cast<size_t>(count) * elem);
    }
    return out;
}

class ConcatConvSplit : public SubgraphAwareRule {
public:
    std::string_view name() const override { return "concat-conv-split"; }
    std::string describe(int64_t n) const override {
        return "split " + std::to_string(n) + " convolutions of a Concat into one per concatenated input";
    }

    bool shouldRun(const ir::Graph& graph) const override { return hasNodeOf(graph, OpKind::kFusedConvNhwc); }

    bool match(const ir::Node& concat) const override { return convOf(concat) != nullptr; }

    Result<bool> apply(ir::Graph& graph, ir::Node& concat, PassContext& ctx) override {
        ir::Node* conv = convOf(concat);
        if (!conv) return false;
        const Tensor& w = conv->input(1)->constant();
        ir::Value* bias = conv->inputs().size() > 2 ? conv->input(2) : nullptr;
        ir::Value* y = conv->output(0);
        // Channel offsets in the Concat's order; the chain runs the inputs in the order they are produced, so that
        // the last convolution (the one with the activation) reads the input made last, right after it is made.
        struct Part {
            ir::Value* in;
            int64_t offset, channels, producedAt;
        };
        std::vector<Part> parts;
        int64_t offset = 0;
        for (ir::Value* in : concat.inputs()) {
            const int64_t c = channelsOf(in);
            const ir::Node* p = in->producer();
            parts.push_back(Part{in, offset, c, p ? graph.indexOf(p) : -1});
            offset += c;
        }
        std::stable_sort(parts.begin(), parts.end(),
                         [](const Part& a, const Part& b) { return a.producedAt < b.producedAt; });
        ir::Value* zeros = nullptr;
        if (bias) {
            KILN_ASSIGN_OR_RETURN(ir::Value * z, ir::addConstant(graph, bias->name() + "_zero",
                                                                 Tensor(bias->dtype(), bias->constant().shape())));
            zeros = z;
        }
        const size_t at = static_cast<size_t>(graph.indexOf(conv));
        ir::Value* previous = nullptr;
        std::vector<ir::Node*> made;
        for (size_t i = 0; i < parts.size(); ++i) {
            const Part& part = parts[i];
            const bool last = i + 1 == parts.size();
            KILN_ASSIGN_OR_RETURN(Tensor slice, channelSlice(w, part.offset, part.channels));
            KILN_ASSIGN_OR_RETURN(
                ir::Value * wi,
                ir::addConstant(graph, conv->input(1)->name() + "_split" + std::to_string(i), std::move(slice)));
            ir::Node* n =
                graph.insertNode(at + i, OpKind::kFusedConvNhwc,
                                 last ? conv->name() : conv->name() + "/split" + std::to_string(i), conv->opset());
            n->setSourceIndex(conv->sourceIndex());
            n->attrs() = conv->attrs();
            if (!last) {
                n->attrs().set("activation", std::string());
                n->attrs().erase("activation_params");
            }
            n->addInput(part.in);
            n->addInput(wi);
            n->addInput(i == 0 ? bias : zeros);
            if (previous) n->addInput(previous);
            if (!last) {
                KILN_ASSIGN_OR_RETURN(previous, graph.createValue(ir::uniqueValueName(graph, y->name() + "_partial")));
                previous->setDtype(y->dtype());
                previous->setShape(y->shape());
                n->addOutput(previous);
            }
            made.push_back(n);
        }
        ctx.verbose("concat-conv-split: " + conv->describe() + " over " + concat.describe() + " → " +
                    std::to_string(made.size()) + " convolutions");
        graph.removeNode(conv);
        graph.removeNode(&concat);
        made.back()->addOutput(y);
        return true;
    }

private:
    //! The convolution that reads `concat` and may be split over its inputs; null otherwise.
    ir::Node* convOf(const ir::Node& concat) const {
        if (concat.op() != OpKind::kConcat || concat.inputs().size() < 2 || concat.outputs().size() != 1)
            return nullptr;
        const ir::Value* cat = concat.output(0);
        const int64_t axis = concat.attrs().getInt("axis", 0);
        if (channelsOf(cat) < 0 || (axis != 3 && axis != -1)) return nullptr;
        ir::Node* conv = soleReader(cat, OpKind::kFusedConvNhwc, mRefs);
        if (!conv || conv->input(0) != cat || conv->inputs().size() > 3 || conv->outputs().size() != 1) return nullptr;
        if (conv->attrs().getInt("group", 1) != 1 || !pinsAllowMerge(*conv, concat)) return nullptr;
        const ir::Value* w = conv->input(1);
        if (!w || !w->isConstant() || w->constant().rank() != 4 || w->constant().dim(3) != channelsOf(cat)) {
            return nullptr;
        }
        const ir::Value* bias = conv->inputs().size() > 2 ? conv->input(2) : nullptr;
        if (bias && !bias->isConstant()) return nullptr;
        const DataType t = cat->dtype();
        if ((t != DataType::kFloat16 && t != DataType::kBFloat16) || conv->output(0)->dtype() != t) return nullptr;
        const auto elem = static_cast<int64_t>(dataTypeSize(t));
        for (const ir::Value* in : concat.inputs()) {
            const int64_t c = channelsOf(in);
            if (!in || in->dtype() != t || c <= 0 || c * elem % kAlignBytes != 0) return nullptr;
        }
        return conv;
    }
};

}  // namespace

std::unique_ptr<Pass> createConcatConvSplit() { return std::make_unique<ConcatConvSplit>(); }

}  // namespace kiln::passes
