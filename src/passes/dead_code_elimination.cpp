// Removes nodes that no graph output depends on, then values nothing references any more.
#include "ir/graph_edit.h"
#include "passes/passes.h"

namespace kiln::passes {

namespace {

class DeadCodeElimination : public Pass {
public:
    std::string_view name() const override { return "dead-code-elimination"; }
    Result<PassResult> run(ir::Graph& graph, PassContext& ctx) override {
        const auto refs = ir::subgraphOutputRefs(graph);
        std::vector<ir::Node*> nodes;
        for (const auto& n : graph.nodes()) nodes.push_back(n.get());
        int64_t removedNodes = 0;
        // Reverse order: removing a node frees its inputs' producers in the same sweep.
        for (auto it = nodes.rbegin(); it != nodes.rend(); ++it) {
            ir::Node* node = *it;
            bool used = false;
            for (const ir::Value* out : node->outputs()) {
                used |= out && (!out->consumers().empty() || ir::isGraphOutput(out) || refs.count(out));
            }
            if (used) continue;
            ctx.verbose("dead-code-elimination: removed " + node->describe());
            graph.removeNode(node);
            ++removedNodes;
        }
        const size_t removedValues = ir::pruneUnusedValues(graph);
        return PassResult{removedNodes + static_cast<int64_t>(removedValues),
                          "removed " + std::to_string(removedNodes) + " nodes and " + std::to_string(removedValues) +
                              " unused values"};
    }
};

}  // namespace

std::unique_ptr<Pass> createDeadCodeElimination() { return std::make_unique<DeadCodeElimination>(); }

}  // namespace kiln::passes
