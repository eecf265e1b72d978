#include "passes/backend_hooks.h"
#include "passes/pass.h"

namespace kiln::passes {

bool RewriteRule::shouldRun(const ir::Graph& graph) const {
    for (const auto& node : graph.nodes()) {
        if (match(*node)) return true;
    }
    return false;
}

Result<PassResult> RewriteRule::run(ir::Graph& graph, PassContext& ctx) {
    // A snapshot: rewrites insert and remove nodes; removed nodes stay valid (Node::removed) until garbage
    // collection, which the PassManager does between passes.
    std::vector<ir::Node*> nodes;
    nodes.reserve(graph.nodes().size());
    for (const auto& n : graph.nodes()) nodes.push_back(n.get());
    PassResult result;
    for (ir::Node* node : nodes) {
        if (node->removed() || !match(*node)) continue;
        KILN_ASSIGN_OR_RETURN(bool changed, apply(graph, *node, ctx));
        if (changed) ++result.changes;
    }
    result.summary = describe(result.changes);
    return result;
}

PassManager::PassManager(std::vector<std::unique_ptr<Pass>> pipeline, LogFn log, const BackendHooks* backend)
    : mPipeline(std::move(pipeline)), mLog(std::move(log)), mBackend(backend) {}

Result<PipelineReport> PassManager::run(ir::Graph& graph) {
    static const BackendHooks kDefaultHooks;
    PassContext ctx{mLog, mBackend ? mBackend : &kDefaultHooks};
    PipelineReport report;
    report.nodesBefore = graph.nodes().size();
    auto info = [&](const std::string& line) {
        report.lines.push_back(line);
        if (mLog) mLog(LogLevel::kInfo, line);
    };
    bool changed = true;
    while (changed && report.iterations < mMaxIterations) {
        changed = false;
        ++report.iterations;
        ctx.verbose("pipeline iteration " + std::to_string(report.iterations) + " (" +
                    std::to_string(graph.nodes().size()) + " nodes)");
        for (const auto& pass : mPipeline) {
            const std::string name(pass->name());
            if (!pass->shouldRun(graph)) {
                ctx.verbose(name + ": nothing to do");
                continue;
            }
            auto result = pass->run(graph, ctx);
            if (!result.isOk()) return result.status().withContext("pass " + name);
            graph.collectGarbage();
            if (result->changes == 0) {
                ctx.verbose(name + ": no change");
                continue;
            }
            KILN_RETURN_IF_ERROR(graph.verify().withContext("graph after pass " + name));
            changed = true;
            report.changesByPass[name] += result->changes;
            info(name + ": " + result->summary);
        }
    }
    report.nodesAfter = graph.nodes().size();
    info("pipeline: " + std::to_string(report.nodesBefore) + " -> " + std::to_string(report.nodesAfter) + " nodes in " +
         std::to_string(report.iterations) + " iteration(s)");
    return report;
}

}  // namespace kiln::passes
