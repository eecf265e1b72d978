// Removes Identity and inference-mode Dropout (both copy their input to their first output).
//
// Graph outputs keep their names: when the removed node produces a graph output, the output's value takes over
// from the node's input instead (its producer now writes it directly), unless the input is itself a graph input,
// graph output or constant, in which case the node stays.
#include "ir/graph_edit.h"
#include "passes/passes.h"

namespace kiln::passes {

namespace {

class IdentityElimination : public RewriteRule {
public:
    std::string_view name() const override { return "identity-elimination"; }
    std::string describe(int64_t n) const override {
        return "removed " + std::to_string(n) + " Identity/Dropout nodes";
    }

    bool match(const ir::Node& node) const override {
        if (node.op() != ir::OpKind::kIdentity && node.op() != ir::OpKind::kDropout) return false;
        if (!node.input(0) || !node.output(0)) return false;
        if (node.op() == ir::OpKind::kDropout) {
            // The mask output must be unused, and training_mode absent or a constant false.
            if (const ir::Value* mask = node.output(1); mask && (!mask->consumers().empty() || ir::isGraphOutput(mask)))
                return false;
            if (const ir::Value* training = node.input(2)) {
                if (!training->isConstant() || training->constant().numel() != 1 ||
                    training->constant().getDouble(0) != 0.0)
                    return false;
            }
        }
        return node.input(0)->dtype() == node.output(0)->dtype();
    }

    Result<bool> apply(ir::Graph& graph, ir::Node& node, PassContext& ctx) override {
        ir::Value* in = node.input(0);
        ir::Value* out = node.output(0);
        if (!ir::isGraphOutput(out)) {
            ir::replaceAllUsesWith(out, in);
        } else {
            ir::Node* producer = in->producer();
            if (!producer || in->graph() != &graph || ir::isGraphOutput(in) || ir::isGraphInput(in) || in->isConstant())
                return false;
            // `in`'s producer writes the graph output directly; `in`'s readers read it under its new name.
            size_t slot = 0;
            while (producer->output(slot) != in) ++slot;
            node.setOutput(0, nullptr);
            producer->setOutput(slot, out);
            ir::replaceAllUsesWith(in, out);
            if (out->dtype() == DataType::kUndefined) out->setDtype(in->dtype());
            if (!out->shape()) out->setShape(in->shape());
        }
        ctx.verbose("identity-elimination: removed " + node.describe());
        graph.removeNode(&node);
        return true;
    }
};

}  // namespace

std::unique_ptr<Pass> createIdentityElimination() { return std::make_unique<IdentityElimination>(); }

}  // namespace kiln::passes
