// The passes that hand the graph to the backend's hooks (elementwise claims, layout, precision).
#include "passes/backend_hooks.h"
#include "passes/passes.h"

namespace kiln::passes {

namespace {

class ElementwiseClaim : public Pass {
public:
    std::string_view name() const override { return "elementwise-claim"; }
    Result<PassResult> run(ir::Graph& graph, PassContext& ctx) override {
        PassResult r;
        int64_t group = 0;
        for (const FusionClaim& claim : ctx.backend->claimElementwiseChains(graph)) {
            bool fresh = false;
            for (ir::Node* n : claim.nodes) {
                if (n->attrs().has("kiln_fusion_group")) continue;
                n->attrs().set("kiln_fusion_group", group);
                fresh = true;
            }
            if (fresh) ++r.changes;
            ++group;
        }
        r.summary = "claimed " + std::to_string(r.changes) + " elementwise chains for " + ctx.backend->name();
        return r;
    }
};

class LayoutAssignment : public Pass {
public:
    std::string_view name() const override { return "layout-assignment"; }
    Result<PassResult> run(ir::Graph& graph, PassContext& ctx) override {
        KILN_ASSIGN_OR_RETURN(int64_t n, ctx.backend->assignLayouts(graph, ctx));
        return PassResult{n, "changed the layout of " + std::to_string(n) + " values"};
    }
};

class PrecisionAssignment : public Pass {
public:
    explicit PrecisionAssignment(PrecisionPolicy policy) : mPolicy(policy) {}
    std::string_view name() const override { return "precision-assignment"; }
    Result<PassResult> run(ir::Graph& graph, PassContext& ctx) override {
        KILN_ASSIGN_OR_RETURN(int64_t n, ctx.backend->assignPrecisions(graph, mPolicy, ctx));
        return PassResult{n, "lowered the precision of " + std::to_string(n) + " nodes"};
    }

private:
    PrecisionPolicy mPolicy;
};

}  // namespace

std::unique_ptr<Pass> createElementwiseClaim() { return std::make_unique<ElementwiseClaim>(); }
std::unique_ptr<Pass> createLayoutAssignment() { return std::make_unique<LayoutAssignment>(); }
std::unique_ptr<Pass> createPrecisionAssignment(PrecisionPolicy policy) {
    return std::make_unique<PrecisionAssignment>(policy);
}

}  // namespace kiln::passes
