// Runs an IR graph with the CPU reference kernels, node by node in topological order.
#pragma once

#include <functional>
#include <string>
#include <unordered_map>
#include <vector>

#include "backends/cpu/activation_allocator.h"
#include "ir/graph.h"
#include "kiln/status.h"
#include "kiln/tensor.h"

namespace kiln::cpu {

//! Values visible to a graph run; subgraph runs chain to their enclosing run's scope.
struct Scope {
    std::unordered_map<const ir::Value*, Tensor> values;
    const Scope* parent = nullptr;
    const Tensor* find(const ir::Value* v) const;
};

//! Values of enclosing graphs that `g` (or graphs nested in it) reads: its outer-scope captures.
void collectCaptures(const ir::Graph& g, std::vector<const ir::Value*>& out);
//! What the subgraphs of `node` (If/Loop/Scan bodies) read from the graph around the node.
std::vector<const ir::Value*> nodeCaptures(const ir::Node& node);

//! Called after each node's kernel with its wall time in seconds (nodes of If/Loop/Scan bodies included, each time
//! they run; a node with subgraphs is timed with its bodies). For profilers: `kiln inspect --profile`.
using NodeObserver = std::function<void(const ir::Node& node, double seconds)>;

//! Stateless apart from options; safe to use from several threads on different runs (with different allocators;
//! an observer set on a shared executor is called from all of them).
class Executor {
public:
    Executor() = default;
    //! Places the top-level graph's node outputs through `allocator` (not owned; null: the heap). Outputs of a run
    //! may then live in the allocator's memory: copy them out before its next run.
    explicit Executor(ActivationAllocator* allocator) : mAllocator(allocator) {}
    //! Times every node and reports it to `observer`; without one (the default) no clock is read.
    void setNodeObserver(NodeObserver observer) { mObserver = std::move(observer); }

    //! Runs `graph` with inputs in graph-input order; returns outputs in graph-output order.
    Result<std::vector<Tensor>> run(const ir::Graph& graph, const std::vector<Tensor>& inputs,
                                    const Scope* outer = nullptr) const;
    //! Runs with inputs by name; every graph input must be given, with its dtype (and static dims).
    Result<std::unordered_map<std::string, Tensor>> runNamed(
        const ir::Graph& graph, const std::unordered_map<std::string, Tensor>& inputs) const;

private:
    Result<std::vector<Tensor>> runGraph(const ir::Graph& graph, const std::vector<Tensor>& inputs, const Scope* outer,
                                         ActivationAllocator* allocator) const;
    ActivationAllocator* mAllocator = nullptr;
    NodeObserver mObserver;
};

}  // namespace kiln::cpu
