// Small matching helpers for the pattern-rewriting passes (gelu_fusion.cpp, add_layer_norm_fusion.cpp,
// matmul_merge.cpp, the channels-last Concat passes): constant scalars, operands of binary nodes, "only read here"
// checks, channel counts, and a RewriteRule base that keeps the values subgraphs capture.
#pragma once

#include <cmath>
#include <optional>
#include <unordered_set>

#include "ir/graph.h"
#include "ir/graph_edit.h"
#include "passes/pass.h"

namespace kiln::passes {

//! The value of a one-element floating-point constant; nullopt for anything else.
inline std::optional<double> scalarConstant(const ir::Value* v) {
    if (!v || !v->isConstant() || v->constant().numel() != 1 || !isFloatingPoint(v->constant().dtype())) {
        return std::nullopt;
    }
    return v->constant().getDouble(0);
}

//! `v` is a scalar constant within a relative 1e-4 of `want` (exporters write these constants in float32).
inline bool isScalarNear(const ir::Value* v, double want) {
    const std::optional<double> c = scalarConstant(v);
    return c && std::fabs(*c - want) <= 1e-4 * std::fabs(want);
}

//! For a two-input node with one operand a scalar constant near `want`, the other operand; else null.
inline ir::Value* operandBesideScalar(const ir::Node& n, double want) {
    if (n.inputs().size() != 2) return nullptr;
    if (isScalarNear(n.input(1), want)) return n.input(0);
    if (isScalarNear(n.input(0), want)) return n.input(1);
    return nullptr;
}

//! The node producing `v` when it is of `op`; else null.
inline ir::Node* producerOf(const ir::Value* v, ir::OpKind op) {
    ir::Node* p = v ? v->producer() : nullptr;
    return p && p->op() == op ? p : nullptr;
}

//! `v` is an intermediate a fusion may swallow: read by exactly one node, not a graph output, not captured by a
//! subgraph (`subgraphRefs`: ir::subgraphOutputRefs of the graph).
inline bool onlyReadOnce(const ir::Value* v, const std::unordered_set<const ir::Value*>& subgraphRefs) {
    return v && v->consumers().size() == 1 && !ir::isGraphOutput(v) && !subgraphRefs.count(v);
}

//! The one node reading `v` when it is of `op` and `v` may be swallowed; else null.
inline ir::Node* soleReader(const ir::Value* v, ir::OpKind op, const std::unordered_set<const ir::Value*>& refs) {
    if (!onlyReadOnce(v, refs)) return nullptr;
    ir::Node* r = v->consumers().front();
    return r->op() == op ? r : nullptr;
}

//! The static channel count (last dim) of a 4-D channels-last value; -1 when unknown.
inline int64_t channelsOf(const ir::Value* v) {
    if (!v || !v->shape() || v->shape()->size() != 4 || !(*v->shape())[3].isStatic()) return -1;
    return (*v->shape())[3].size;
}

//! Both shapes known and equal: static dims by size, symbolic ones by (non-empty) symbol.
inline bool sameShape(const ir::SymbolicShape& a, const ir::SymbolicShape& b) {
    if (!a || !b || a->size() != b->size()) return false;
    for (size_t i = 0; i < a->size(); ++i) {
        const ir::Dim& x = (*a)[i];
        const ir::Dim& y = (*b)[i];
        const bool equal =
            x.isStatic() ? (y.isStatic() && x.size == y.size) : (!x.symbol.empty() && x.symbol == y.symbol);
        if (!equal) return false;
    }
    return true;
}

//! Whether `graph` has a node of `op`: the shouldRun of rules that start from one op.
inline bool hasNodeOf(const ir::Graph& graph, ir::OpKind op) {
    for (const auto& n : graph.nodes()) {
        if (n->op() == op) return true;
    }
    return false;
}

//! A RewriteRule whose matches check "only read here" (onlyReadOnce, soleReader): `mRefs` holds the values the
//! graph's subgraphs capture, taken afresh at the start of each run.
class SubgraphAwareRule : public RewriteRule {
public:
    Result<PassResult> run(ir::Graph& graph, PassContext& ctx) override {
        mRefs = ir::subgraphOutputRefs(graph);
        return RewriteRule::run(graph, ctx);
    }

protected:
    std::unordered_set<const ir::Value*> mRefs;
};

}  // namespace kiln::passes
