// Optimizing passes over the IR and the PassManager that runs a pipeline of them.
//
// A pass rewrites a Graph in place. Node-local rewrites derive from RewriteRule, which splits a cheap `match`
// (no allocation, no graph edits: "could this node be rewritten?") from `apply` (the rewrite), as ONNX Runtime's
// RewriteRule::SatisfyCondition / Apply do; whole-graph passes (dead-code elimination, CSE) derive from Pass.
// The PassManager runs its pipeline until no pass changes anything (or an iteration cap), verifies the graph
// after every pass, and reports each pass's changes through a logging callback:
//
//   passes::PassManager pm(passes::defaultPipeline(), [](passes::LogLevel, std::string_view line) {
//       std::cerr << line << "\n";   // "conv-bn-fold: folded 53 BatchNormalization into Conv"
//   });
//   KILN_ASSIGN_OR_RETURN(passes::PipelineReport report, pm.run(graph));
//
// Passes transform the main graph; nodes inside If/Loop/Scan bodies are left as they are (their captures of
// main-graph values are kept alive and rewired like any other use).
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "ir/graph.h"
#include "kiln/status.h"

namespace kiln::passes {

class BackendHooks;

enum class LogLevel { kWarning, kInfo, kVerbose };
//! Receives one line per event; kWarning: a request the pass could not meet (a "prefer" layer precision);
//! kInfo: what a pass changed; kVerbose: every pass run, changed or not.
using LogFn = std::function<void(LogLevel, std::string_view)>;

//! What one run of a pass did.
struct PassResult {
    int64_t changes = 0;  //!< Rewrites made; 0 means the graph is unchanged.
    std::string summary;  //!< "folded 42 nodes" (without the pass name).
};

//! State shared by the passes of one pipeline run.
struct PassContext {
    LogFn log;
    const BackendHooks* backend = nullptr;  //!< Never null inside PassManager::run.
    void verbose(const std::string& line) const {
        if (log) log(LogLevel::kVerbose, line);
    }
    void warning(const std::string& line) const {
        if (log) log(LogLevel::kWarning, line);
    }
};

class Pass {
public:
    virtual ~Pass() = default;
    //! Short kebab-case name used in logs: "constant-folding".
    virtual std::string_view name() const = 0;
    //! Cheap whole-graph pre-check: false when the pass certainly has nothing to do.
    virtual bool shouldRun(const ir::Graph& graph) const { return true; }
    virtual Result<PassResult> run(ir::Graph& graph, PassContext& ctx) = 0;
};

//! A node-local rewrite: `run` walks the nodes in order and applies the rule to each node that matches.
class RewriteRule : public Pass {
public:
    //! Cheap test of one node: op type, consumer counts, constness of inputs. Must not edit the graph.
    virtual bool match(const ir::Node& node) const = 0;
    //! Rewrites around a matched node; returns false when a closer look declines it (graph left unchanged).
    virtual Result<bool> apply(ir::Graph& graph, ir::Node& node, PassContext& ctx) = 0;
    //! "folded %d nodes": the summary for `changes` rewrites.
    virtual std::string describe(int64_t changes) const = 0;

    bool shouldRun(const ir::Graph& graph) const override;
    Result<PassResult> run(ir::Graph& graph, PassContext& ctx) override;
};

//! Totals of a pipeline run.
struct PipelineReport {
    int iterations = 0;
    std::map<std::string, int64_t> changesByPass;
    size_t nodesBefore = 0, nodesAfter = 0;
    std::vector<std::string> lines;  //!< Every kInfo line logged, in order.
};

class PassManager {
public:
    explicit PassManager(std::vector<std::unique_ptr<Pass>> pipeline, LogFn log = {},
                         const BackendHooks* backend = nullptr);
    //! Upper bound on pipeline iterations (each runs every pass once); a safety net against rewrite cycles.
    void setMaxIterations(int n) { mMaxIterations = n; }
    //! Runs the pipeline to a fixed point. Fails naming the pass when one fails or leaves the graph malformed.
    Result<PipelineReport> run(ir::Graph& graph);

private:
    std::vector<std::unique_ptr<Pass>> mPipeline;
    LogFn mLog;
    const BackendHooks* mBackend;
    int mMaxIterations = 8;
};

}  // namespace kiln::passes
