// "conv-pool-fusion": a channels-last convolution whose output Y a 2x2 stride-2 MaxPoolNhwc reads → the convolution
// with the attribute `kiln_pool` (semantics in src/ir/ops.def), whose second output is the MaxPool's output value
// (the same ir::Value, so its readers, its graph-output status and any subgraph capture of it carry over); the MaxPool
// is gone. Y keeps its meaning and its other readers and may stay a graph output.
//
// Issue 7: UNet's level-0 encoder ends with a 3x3 convolution 64 → 64 (ReLU) whose output the decoder reads (the skip
// connection) and a 2x2 MaxPool reads. On the GPU the MaxPool reads all of Y again (537 MB at batch 16, 512x512,
// FP16) only to write a quarter of it; Kiln's wgmma convolution pools in its epilogue, from the rounded rows it is
// storing. P is the MaxPool of the stored (dtype-rounded) Y, so the result is the unfused graph's.
//
// Matches only FP16/BF16 FusedConvNhwc nodes (CUDA engines: the CPU backend's FP32 graphs are untouched) with:
//   - the convolution: what Kiln's wgmma kernel serves (wgmmaServes: 64 -> 64 channels, 1x1 or 3x3, strides and
//     dilations 1, one group, constant weights, activation "" or "Relu", no head or pool yet); a residual input Z of
//     its dtype is allowed (UNet's split decoder convolutions have one);
//   - the pool: MaxPoolNhwc of Y (its only input) with kernel_shape [2, 2], strides [2, 2], pads absent or 0,
//     dilations absent or 1, ceil_mode 0, storage_order 0, auto_pad NOTSET or VALID, one output (no Indices) of Y's
//     dtype, in the convolution's graph (not a subgraph's node reading Y from the outer scope), and no pin other than
//     the convolution's.
// When several such MaxPools read Y, the first in the node list is fused. Runs after conv-head-fusion (a convolution
// with a head has no Y left to pool), in defaultPipeline (passes.h).
//
// Unlike conv-head-fusion, no value disappears: P changes producer but stays the same object, and Y stays, so the
// values subgraphs capture need no check (a plain RewriteRule, not SubgraphAwareRule).
#include "passes/layer_precision.h"
#include "passes/passes.h"
#include "passes/pattern_util.h"
#include "passes/wgmma_conv_match.h"

namespace kiln::passes {

namespace {

using ir::OpKind;

//! `pool` is a MaxPoolNhwc of `y` alone that computes what a FusedConvNhwc with kiln_pool writes as output 1: a 2x2
//! window, strides 2, no padding, dilations 1, floor mode, no Indices, Y's dtype, in Y's graph.
bool pools2x2(const ir::Node& pool, const ir::Value* y) {
    if (pool.op() != OpKind::kMaxPoolNhwc || pool.inputs().size() != 1 || pool.input(0) != y ||
        pool.outputs().size() != 1) {
        return false;
    }
    const ir::Value* p = pool.output(0);
    if (!p || p->dtype() != y->dtype() || p->graph() != y->graph()) return false;
    const ir::Attributes& a = pool.attrs();
    const std::vector<int64_t> twoByTwo{2, 2};
    const std::string autoPad = a.getString("auto_pad", "NOTSET");
    return a.getInts("kernel_shape") == twoByTwo && a.getInts("strides") == twoByTwo && allEqual(a, "pads", 0) &&
           allEqual(a, "dilations", 1) && a.getInt("ceil_mode", 0) == 0 && a.getInt("storage_order", 0) == 0 &&
           (autoPad == "NOTSET" || autoPad == "VALID");
}

class ConvPoolFusion : public RewriteRule {
public:
    std::string_view name() const override { return "conv-pool-fusion"; }
    std::string describe(int64_t n) const override {
        return "fused " + std::to_string(n) + " 2x2 MaxPools into the convolutions they read";
    }

    bool shouldRun(const ir::Graph& graph) const override {
        return hasNodeOf(graph, OpKind::kMaxPoolNhwc) && hasNodeOf(graph, OpKind::kFusedConvNhwc);
    }

    bool match(const ir::Node& conv) const override { return poolOf(conv) != nullptr; }

    Result<bool> apply(ir::Graph& graph, ir::Node& conv, PassContext& ctx) override {
        ir::Node* pool = poolOf(conv);
        if (!pool) return false;
        ir::Value* p = pool->output(0);
        ctx.verbose("conv-pool-fusion: " + pool->describe() + " → second output of " + conv.describe());
        // Removing the pool drops it from Y's readers and leaves P without a producer; the convolution (earlier in the
        // node list than any of P's readers, as the pool was) then produces P.
        graph.removeNode(pool);
        conv.attrs().set("kiln_pool", int64_t{1});
        conv.addOutput(p);
        return true;
    }

private:
    //! The first MaxPool (in node order) that reads `conv`'s output and may become its second output; null otherwise.
    static ir::Node* poolOf(const ir::Node& conv) {
        if (!wgmmaServes(conv)) return nullptr;
        const ir::Value* y = conv.output(0);
        const ir::Value* z = conv.input(3);
        if (z && z->dtype() != y->dtype()) return nullptr;
        ir::Node* first = nullptr;
        int64_t firstAt = -1;
        for (ir::Node* reader : y->consumers()) {
            if (!pools2x2(*reader, y) || !pinsAllowMerge(conv, *reader)) continue;
            const int64_t at = y->graph()->indexOf(reader);
            if (!first || at < firstAt) {
                first = reader;
                firstAt = at;
            }
        }
        return first;
    }
};

}  // namespace

std::unique_ptr<Pass> createConvPoolFusion() { return std::make_unique<ConvPoolFusion>(); }

}  // namespace kiln::passes
