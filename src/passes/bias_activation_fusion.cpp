// Conv/Gemm/MatMul + bias Add + residual Add + activation → one kiln FusedConv/FusedGemm/FusedMatMul node.
//
// Starting from a Conv, Gemm or MatMul (or a fused node from an earlier iteration) whose output has one reader,
// the rule absorbs that reader while it is:
//   - an Add of a constant bias (Conv: [M,1,1]-like per channel, when the Conv has no bias yet; Gemm: anything
//     broadcastable to [M, N] when Gemm has no C; MatMul: [.., N] along the last dim; a 1-D one also when the output's
//     shape is unknown, N then read from a constant weight), before any residual or activation;
//   - an Add of a runtime value with the same shape (the residual of ResNet blocks), before any activation;
//   - one of Relu, LeakyRelu, Clip (constant bounds), Sigmoid, HardSigmoid, Tanh, HardSwish, Gelu (activation
//     "Gelu", or "GeluTanh" for approximate="tanh").
// The fused node takes the last absorbed node's place in the order (a residual may be computed after the Conv)
// and its output value, so output names survive. Only floating-point dtypes fuse. A value that is a graph output
// (marked ones too: NetworkDefinition::markOutput) is never fused away, and a reader pinned to another precision
// than the node (passes/layer_precision.h) is not absorbed.
#include <limits>
#include <unordered_set>

#include "ir/graph_edit.h"
#include "passes/layer_precision.h"
#include "passes/passes.h"
#include "passes/pattern_util.h"

namespace kiln::passes {

namespace {

using ir::OpKind;

bool isBase(OpKind op) { return op == OpKind::kConv || op == OpKind::kGemm || op == OpKind::kMatMul; }
bool isFused(OpKind op) { return op == OpKind::kFusedConv || op == OpKind::kFusedGemm || op == OpKind::kFusedMatMul; }

OpKind fusedKind(OpKind op) {
    return op == OpKind::kConv ? OpKind::kFusedConv : op == OpKind::kGemm ? OpKind::kFusedGemm : OpKind::kFusedMatMul;
}

bool isActivation(OpKind op) {
    return op == OpKind::kRelu || op == OpKind::kLeakyRelu || op == OpKind::kClip || op == OpKind::kSigmoid ||
           op == OpKind::kHardSigmoid || op == OpKind::kTanh || op == OpKind::kHardSwish || op == OpKind::kGelu;
}

enum class Step { kNone, kBias, kResidual, kActivation };

struct Plan {
    Step step = Step::kNone;
    ir::Value* operand = nullptr;  //!< The bias or residual.
    Shape biasShape;               //!< Shape the bias constant is stored with.
};

//! A scalar constant input (Clip bounds), or nullopt when absent; false in `ok` when present but not constant.
std::optional<float> scalarInput(const ir::Node& n, size_t i, bool& ok) {
    const ir::Value* v = n.input(i);
    if (!v) return std::nullopt;
    if (!v->isConstant() || v->constant().numel() != 1 || !isFloatingPoint(v->constant().dtype())) {
        ok = false;
        return std::nullopt;
    }
    return static_cast<float>(v->constant().getDouble(0));
}

class BiasActivationFusion : public RewriteRule {
public:
    std::string_view name() const override { return "bias-activation-fusion"; }
    std::string describe(int64_t n) const override {
        return "fused " + std::to_string(mAbsorbed) + " Add/activation nodes into " + std::to_string(n) +
               " Conv/Gemm/MatMul";
    }

    Result<PassResult> run(ir::Graph& graph, PassContext& ctx) override {
        mAbsorbed = 0;
        mSubgraphRefs = ir::subgraphOutputRefs(graph);
        return RewriteRule::run(graph, ctx);
    }

    bool match(const ir::Node& node) const override {
        if (!isBase(node.op()) && !isFused(node.op())) return false;
        return plan(node).step != Step::kNone;
    }

    Result<bool> apply(ir::Graph& graph, ir::Node& node, PassContext& ctx) override {
        ir::Node* fused = &node;
        bool changed = false;
        for (Plan p = plan(*fused); p.step != Step::kNone; p = plan(*fused)) {
            if (!isFused(fused->op())) fused = toFused(graph, fused);
            ir::Node* reader = fused->output(0)->consumers().front();
            switch (p.step) {
                case Step::kBias: {
                    KILN_ASSIGN_OR_RETURN(Tensor bias, p.operand->constant().reshaped(p.biasShape));
                    KILN_ASSIGN_OR_RETURN(ir::Value * b, ir::addConstant(graph, p.operand->name() + "_bias", bias));
                    fused->setInput(2, b);
                    if (fused->op() == OpKind::kFusedGemm) fused->attrs().set("beta", 1.0f);
                    break;
                }
                case Step::kResidual:
                    if (fused->inputs().size() < 3) fused->setInput(2, nullptr);
                    fused->setInput(3, p.operand);
                    break;
                case Step::kActivation: setActivation(*fused, *reader); break;
                case Step::kNone: break;
            }
            ctx.verbose("bias-activation-fusion: " + reader->describe() + " into " + fused->describe());
            ir::Value* out = reader->output(0);
            graph.moveNodeAfter(fused, reader);
            graph.removeNode(reader);
            fused->setOutput(0, out);
            ++mAbsorbed;
            changed = true;
        }
        return changed;
    }

private:
    Plan plan(const ir::Node& node) const {
        const ir::Value* y = node.output(0);
        if (!y || node.outputs().size() != 1 || !isFloatingPoint(y->dtype())) return {};
        if (y->consumers().size() != 1 || ir::isGraphOutput(y) || mSubgraphRefs.count(y)) return {};
        const ir::Node& reader = *y->consumers().front();
        // A reader inside an If/Loop/Scan body is not fused into a main-graph node.
        if (!reader.output(0) || reader.output(0)->graph() != y->graph()) return {};
        // A reader pinned to another precision (BuilderConfig::setLayerPrecision) keeps its own layer.
        if (!pinsAllowMerge(node, reader)) return {};
        const std::string act = node.attrs().getString("activation");
        const bool hasResidual = node.input(3) != nullptr;
        if (isActivation(reader.op())) {
            if (!act.empty()) return {};
            bool ok = true;
            if (reader.op() == OpKind::kClip) {
                scalarInput(reader, 1, ok);
                scalarInput(reader, 2, ok);
            }
            const std::string approximate = reader.attrs().getString("approximate", "none");
            if (reader.op() == OpKind::kGelu && approximate != "none" && approximate != "tanh") return {};
            return ok && reader.output(0) && reader.output(0)->dtype() == y->dtype()
                       ? Plan{Step::kActivation, nullptr, {}}
                       : Plan{};
        }
        if (reader.op() != OpKind::kAdd || !act.empty() || reader.inputs().size() != 2) return {};
        ir::Value* other = reader.input(0) == y ? reader.input(1) : reader.input(0);
        if (!other || other == y || other->dtype() != y->dtype() || !reader.output(0)) return {};
        if (other->isConstant()) {
            if (hasResidual || node.input(2)) return {};
            return biasPlan(node, other);
        }
        if (!hasResidual && sameShape(other->shape(), y->shape()) && sameShape(reader.output(0)->shape(), y->shape()))
            return {Step::kResidual, other, {}};
        return {};
    }

    //! How a constant Add operand becomes the fused node's bias input, if it can.
    Plan biasPlan(const ir::Node& node, ir::Value* c) const {
        const Shape& s = c->constant().shape();
        const auto out = node.output(0)->staticShape();
        const OpKind base = isFused(node.op()) ? node.op() : fusedKind(node.op());
        if (base == OpKind::kFusedGemm) {
            if (!out || out->size() != 2 || s.size() > 2) return {};
            for (size_t i = 0; i < s.size(); ++i) {
                const int64_t d = (*out)[out->size() - s.size() + i];
                if (s[i] != 1 && s[i] != d) return {};
            }
            return {Step::kBias, c, s};
        }
        // MatMul by a constant [.., K, N] weight: a 1-D bias of N values runs along the last dim whatever the (often
        // unknown: dynamic exports) shape of the output.
        const ir::Value* w = node.input(1);
        if (base == OpKind::kFusedMatMul && !out && s.size() == 1 && w && w->isConstant() &&
            w->constant().rank() >= 2 && w->constant().dim(-1) == s[0]) {
            return {Step::kBias, c, s};
        }
        // Conv: per output channel, [M, 1, ..., 1] aligned at dim 1 of the output. MatMul: [1, ..., N].
        if (!out || s.size() > out->size()) return {};
        const size_t offset = out->size() - s.size();
        const size_t axis = base == OpKind::kFusedConv ? 1 : out->size() - 1;
        for (size_t i = 0; i < s.size(); ++i) {
            const size_t dim = offset + i;
            if (s[i] != 1 && (dim != axis || s[i] != (*out)[dim])) return {};
        }
        if (axis < offset) return {};  // a bias that does not span the channel (last) dim is left as an Add
        return {Step::kBias, c, Shape{(*out)[axis]}};
    }

    ir::Node* toFused(ir::Graph& graph, ir::Node* base) {
        ir::Node* f = ir::insertNodeAfter(graph, base, fusedKind(base->op()), base->name(), base->opset());
        f->setSourceIndex(base->sourceIndex());
        f->attrs() = base->attrs();
        for (ir::Value* in : base->inputs()) f->addInput(in);
        ir::Value* out = base->output(0);
        graph.removeNode(base);
        f->setOutput(0, out);
        return f;
    }

    static void setActivation(ir::Node& fused, const ir::Node& act) {
        std::vector<float> params;
        switch (act.op()) {
            case OpKind::kLeakyRelu: params = {act.attrs().getFloat("alpha", 0.01f)}; break;
            case OpKind::kHardSigmoid:
                params = {act.attrs().getFloat("alpha", 0.2f), act.attrs().getFloat("beta", 0.5f)};
                break;
            case OpKind::kClip: {
                bool ok = true;
                params = {scalarInput(act, 1, ok).value_or(-std::numeric_limits<float>::infinity()),
                          scalarInput(act, 2, ok).value_or(std::numeric_limits<float>::infinity())};
                break;
            }
            default: break;
        }
        const bool geluTanh = act.op() == OpKind::kGelu && act.attrs().getString("approximate", "none") == "tanh";
        fused.attrs().set("activation", geluTanh ? std::string("GeluTanh") : std::string(act.opType()));
        if (!params.empty()) fused.attrs().set("activation_params", params);
    }

    int64_t mAbsorbed = 0;
    std::unordered_set<const ir::Value*> mSubgraphRefs;
};

}  // namespace

std::unique_ptr<Pass> createBiasActivationFusion() { return std::make_unique<BiasActivationFusion>(); }

}  // namespace kiln::passes
