// "add-layer-norm-fusion": LayerNormalization(Add(a, b)) → kiln FusedAddLayerNorm(a, b, Scale, B), the residual
// connection of post-norm transformer layers (BERT: LayerNorm(x + Dense(...))). One kernel then reads a and b
// once and writes Y once, where the Add alone wrote and re-read the sum.
//
// It runs before bias-activation-fusion so that the residual Add goes to the normalization and the MatMul keeps
// just its bias (+ activation) epilogue. The fused op keeps Add's broadcasting, so shapes need not be known (dynamic
// exports leave most of them unknown); the kernels take the one-pass path when a and b have one shape at run time.
// Matches only when: a and b are runtime values (Adds of a constant, the embeddings' position table say, stay) of
// the sum's float dtype; the sum is read by the LayerNormalization alone and is not a graph output or captured by a
// subgraph; the LayerNormalization's Mean and InvStdDev outputs are unused; neither node is pinned to another
// precision.
#include "passes/layer_precision.h"
#include "passes/passes.h"
#include "passes/pattern_util.h"

namespace kiln::passes {

namespace {

using ir::OpKind;

bool statsUnused(const ir::Node& ln) {
    for (size_t i = 1; i < ln.outputs().size(); ++i) {
        const ir::Value* v = ln.output(i);
        if (v && (!v->consumers().empty() || ir::isGraphOutput(v))) return false;
    }
    return true;
}

class AddLayerNormFusion : public RewriteRule {
public:
    std::string_view name() const override { return "add-layer-norm-fusion"; }
    std::string describe(int64_t n) const override {
        return "fused " + std::to_string(n) + " Add + LayerNormalization pairs";
    }

    Result<PassResult> run(ir::Graph& graph, PassContext& ctx) override {
        mRefs = ir::subgraphOutputRefs(graph);
        return RewriteRule::run(graph, ctx);
    }

    bool match(const ir::Node& ln) const override {
        if (ln.op() != OpKind::kLayerNormalization || ln.inputs().size() < 2 || !ln.output(0)) return false;
        const ir::Value* sum = ln.input(0);
        const ir::Node* add = producerOf(sum, OpKind::kAdd);
        if (!add || add->inputs().size() != 2 || !onlyReadOnce(sum, mRefs) || !statsUnused(ln)) return false;
        for (const ir::Value* operand : add->inputs()) {
            if (!operand || operand->isConstant() || operand->dtype() != sum->dtype()) return false;
        }
        return isFloatingPoint(sum->dtype()) && pinsAllowMerge(ln, *add);
    }

    Result<bool> apply(ir::Graph& graph, ir::Node& ln, PassContext& ctx) override {
        ir::Node* add = ln.input(0)->producer();
        ir::Node* fused = ir::insertNodeAfter(graph, &ln, OpKind::kFusedAddLayerNorm, ln.name(), ln.opset());
        fused->setSourceIndex(ln.sourceIndex());
        fused->attrs() = ln.attrs();
        fused->addInput(add->input(0));
        fused->addInput(add->input(1));
        for (size_t i = 1; i < ln.inputs().size(); ++i) fused->addInput(ln.input(i));
        ir::Value* y = ln.output(0);
        ctx.verbose("add-layer-norm-fusion: " + add->describe() + " into " + ln.describe());
        graph.removeNode(&ln);
        graph.removeNode(add);
        fused->addOutput(y);
        return true;
    }

private:
    std::unordered_set<const ir::Value*> mRefs;
};

}  // namespace

std::unique_ptr<Pass> createAddLayerNormFusion() { return std::make_unique<AddLayerNormFusion>(); }

}  // namespace kiln::passes
