// Graph surgery helpers for the optimizing passes (src/passes/): rewiring uses, removing nodes and unused values,
// creating nodes and constants at a chosen place in the topological order.
//
// The helpers keep Value producer/consumer links consistent; they do not re-run shape inference, so a rewrite
// must produce values whose dtype and shape are the ones it replaces.
#pragma once

#include <string>
#include <unordered_set>

#include "ir/graph.h"

namespace kiln::ir {

//! True when `v` is one of its graph's outputs.
bool isGraphOutput(const Value* v);
//! True when `v` is one of its graph's inputs.
bool isGraphInput(const Value* v);

//! Points every node input that reads `from` (nested subgraphs' captures and outputs included) at `to`; the
//! graph's own outputs are left alone (their names are the model's interface). Returns the number of uses rewired.
size_t replaceAllUsesWith(Value* from, Value* to);

//! Creates a node just after `anchor` (at the front for nullptr), which keeps topological order when the new
//! node reads only values available at `anchor`.
Node* insertNodeAfter(Graph& graph, const Node* anchor, OpKind op, std::string name, int64_t opset);

//! A value name not yet used in `graph` or its enclosing graphs, derived from `base`.
std::string uniqueValueName(const Graph& graph, const std::string& base);

//! Creates a constant value named after `base` (made unique) holding `t`.
Result<Value*> addConstant(Graph& graph, const std::string& base, Tensor t);

//! Values that nested subgraphs name directly as their outputs (outer-scope values a subgraph returns): they
//! have no consumer link but are still used.
std::unordered_set<const Value*> subgraphOutputRefs(const Graph& graph);

//! Removes values with no producer and no consumers that are not graph inputs or outputs (orphans left by
//! rewrites, e.g. BatchNormalization parameters after folding). Returns how many were removed.
size_t pruneUnusedValues(Graph& graph);

//! True when a node holds subgraph attributes (If/Loop/Scan).
bool hasSubgraphs(const Node& node);

}  // namespace kiln::ir
