// "transpose-cast-fusion": Cast → Transpose and Transpose → Cast, where nothing else reads the value between them,
// → one kiln TransposeCast (issue 7). A channels-last FP16 engine's input edge is the precision pass's Cast of the
// float32 input followed by the layout pass's to-NHWC Transpose; its output edge the to-NCHW Transpose followed by
// the Cast back to float32. Two kernels and an intermediate tensor become one pass over memory: ResNet-50's float32
// input at batch 256 is 154 MB read and 77 MB written instead of 154 + 77 + 77 + 77 MB (0.32 ms of 7.34 ms).
//
// Matches only what the CUDA kernel converts in one pass: a Cast between float32, float16 and bfloat16 (either
// direction, the Transpose on either side), not pinned apart from the Transpose, its intermediate read once and not
// a graph output. The backend asks for it (BackendHooks::fusesTransposeCast: the CUDA backend does); the CPU backend
// keeps the two nodes, which its reference kernels run as fast. It runs after precision-assignment, which makes the
// Casts, and after layout-assignment, which makes the Transposes.
#include <optional>
#include <unordered_set>

#include "passes/backend_hooks.h"
#include "passes/layer_precision.h"
#include "passes/passes.h"
#include "passes/pattern_util.h"

namespace kiln::passes {

namespace {

using ir::OpKind;

bool convertible(DataType t) { return t == DataType::kFloat32 || t == DataType::kFloat16 || t == DataType::kBFloat16; }

//! The Transpose a Cast fuses with, and which of the two comes first.
struct Pairing {
    ir::Node* transpose = nullptr;
    bool transposeFirst = false;
};

class TransposeCastFusion : public RewriteRule {
public:
    std::string_view name() const override { return "transpose-cast-fusion"; }
    std::string describe(int64_t n) const override {
        return "fused " + std::to_string(n) + " Cast and Transpose pairs into TransposeCast";
    }

    bool shouldRun(const ir::Graph& graph) const override {
        bool cast = false, transpose = false;
        for (const auto& n : graph.nodes()) {
            cast |= n->op() == OpKind::kCast;
            transpose |= n->op() == OpKind::kTranspose;
        }
        return cast && transpose;
    }

    Result<PassResult> run(ir::Graph& graph, PassContext& ctx) override {
        if (!ctx.backend->fusesTransposeCast()) return PassResult{0, describe(0) + " (not for this backend)"};
        mRefs = ir::subgraphOutputRefs(graph);
        return RewriteRule::run(graph, ctx);
    }

    bool match(const ir::Node& cast) const override { return pairingOf(cast).has_value(); }

    Result<bool> apply(ir::Graph& graph, ir::Node& cast, PassContext& ctx) override {
        const std::optional<Pairing> p = pairingOf(cast);
        if (!p) return false;
        ir::Node* t = p->transpose;
        ir::Node* first = p->transposeFirst ? t : &cast;
        ir::Node* second = p->transposeFirst ? &cast : t;
        // Named after the Transpose: the layout pass's names ("input_nhwc") say which edge it is.
        ir::Node* fused = ir::insertNodeAfter(graph, second, OpKind::kTransposeCast, t->name(), 1);
        fused->setSourceIndex(second->sourceIndex());
        if (auto perm = t->attrs().getInts("perm")) fused->attrs().set("perm", *perm);
        fused->attrs().set("to", cast.attrs().getInt("to", 0));
        fused->addInput(first->input(0));
        ir::Value* y = second->output(0);
        ir::Value* mid = first->output(0);
        ctx.verbose("transpose-cast-fusion: " + first->describe() + " and " + second->describe() +
                    " → one TransposeCast");
        graph.removeNode(second);
        graph.removeNode(first);
        fused->addOutput(y);
        KILN_RETURN_IF_ERROR(graph.removeValue(mid));
        return true;
    }

private:
    std::optional<Pairing> pairingOf(const ir::Node& cast) const {
        if (cast.op() != OpKind::kCast || cast.inputs().size() != 1 || cast.outputs().size() != 1) return std::nullopt;
        const ir::Value* x = cast.input(0);
        const ir::Value* y = cast.output(0);
        if (!x || !y || !cast.attrs().has("to")) return std::nullopt;
        const auto to = static_cast<DataType>(cast.attrs().getInt("to", 0));
        if (!convertible(x->dtype()) || !convertible(to) || y->dtype() != to) return std::nullopt;
        Pairing p;
        if (ir::Node* t = producerOf(x, OpKind::kTranspose); t && onlyReadOnce(x, mRefs)) {
            p = {t, true};
        } else if (ir::Node* r = soleReader(y, OpKind::kTranspose, mRefs)) {
            p = {r, false};
        } else {
            return std::nullopt;
        }
        const ir::Node& t = *p.transpose;
        if (t.inputs().size() != 1 || t.outputs().size() != 1 || !t.input(0) || !t.output(0)) return std::nullopt;
        if (!pinsAllowMerge(cast, t)) return std::nullopt;
        return p;
    }

    std::unordered_set<const ir::Value*> mRefs;
};

}  // namespace

std::unique_ptr<Pass> createTransposeCastFusion() { return std::make_unique<TransposeCastFusion>(); }

}  // namespace kiln::passes
