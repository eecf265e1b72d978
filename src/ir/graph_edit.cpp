#include "ir/graph_edit.h"

#include <algorithm>
#include <variant>

namespace kiln::ir {

bool isGraphOutput(const Value* v) {
    const auto& outs = v->graph()->outputs();
    return std::find(outs.begin(), outs.end(), v) != outs.end();
}

bool isGraphInput(const Value* v) {
    const auto& ins = v->graph()->inputs();
    return std::find(ins.begin(), ins.end(), v) != ins.end();
}

namespace {

//! Subgraph outputs that name `from` directly now name `to`.
size_t replaceSubgraphOutputs(const Graph& g, const Value* from, Value* to) {
    size_t count = 0;
    for (const auto& node : g.nodes()) {
        if (!hasSubgraphs(*node)) continue;
        for (const auto& [name, attr] : node->attrs().all()) {
            std::vector<Graph*> subs;
            if (const auto* sub = std::get_if<std::shared_ptr<Graph>>(&attr)) subs.push_back(sub->get());
            if (const auto* many = std::get_if<std::vector<std::shared_ptr<Graph>>>(&attr)) {
                for (const auto& s : *many) subs.push_back(s.get());
            }
            for (Graph* s : subs) {
                for (size_t i = 0; i < s->outputs().size(); ++i) {
                    if (s->outputs()[i] == from) {
                        s->setOutput(i, to);
                        ++count;
                    }
                }
                count += replaceSubgraphOutputs(*s, from, to);
            }
        }
    }
    return count;
}

}  // namespace

size_t replaceAllUsesWith(Value* from, Value* to) {
    if (from == to) return 0;
    size_t count = replaceSubgraphOutputs(*from->graph(), from, to);
    // Copy: setInput edits the consumer list being walked. A node reading `from` twice is listed twice.
    std::vector<Node*> consumers = from->consumers();
    std::sort(consumers.begin(), consumers.end());
    consumers.erase(std::unique(consumers.begin(), consumers.end()), consumers.end());
    for (Node* n : consumers) {
        for (size_t i = 0; i < n->inputs().size(); ++i) {
            if (n->input(i) == from) {
                n->setInput(i, to);
                ++count;
            }
        }
    }
    return count;
}

Node* insertNodeAfter(Graph& graph, const Node* anchor, OpKind op, std::string name, int64_t opset) {
    const int64_t at = anchor ? graph.indexOf(anchor) + 1 : 0;
    return graph.insertNode(static_cast<size_t>(at), op, std::move(name), opset);
}

std::string uniqueValueName(const Graph& graph, const std::string& base) {
    if (!graph.findValueInScope(base)) return base;
    for (int i = 1;; ++i) {
        std::string name = base + "_" + std::to_string(i);
        if (!graph.findValueInScope(name)) return name;
    }
}

Result<Value*> addConstant(Graph& graph, const std::string& base, Tensor t) {
    KILN_ASSIGN_OR_RETURN(Value * v, graph.createValue(uniqueValueName(graph, base)));
    v->setConstant(std::move(t));
    return v;
}

namespace {

void collectOutputRefs(const Graph& g, std::unordered_set<const Value*>& out) {
    for (const auto& node : g.nodes()) {
        for (const auto& [name, attr] : node->attrs().all()) {
            std::vector<const Graph*> subs;
            if (const auto* sub = std::get_if<std::shared_ptr<Graph>>(&attr)) subs.push_back(sub->get());
            if (const auto* many = std::get_if<std::vector<std::shared_ptr<Graph>>>(&attr)) {
                for (const auto& s : *many) subs.push_back(s.get());
            }
            for (const Graph* s : subs) {
                for (const Value* o : s->outputs()) out.insert(o);
                collectOutputRefs(*s, out);
            }
        }
    }
}

}  // namespace

std::unordered_set<const Value*> subgraphOutputRefs(const Graph& graph) {
    std::unordered_set<const Value*> refs;
    collectOutputRefs(graph, refs);
    return refs;
}

size_t pruneUnusedValues(Graph& graph) {
    const auto refs = subgraphOutputRefs(graph);
    std::unordered_set<const Value*> io(graph.inputs().begin(), graph.inputs().end());
    io.insert(graph.outputs().begin(), graph.outputs().end());
    std::vector<Value*> dead;
    for (const auto& v : graph.values()) {
        if (!v->producer() && v->consumers().empty() && !io.count(v.get()) && !refs.count(v.get())) {
            dead.push_back(v.get());
        }
    }
    size_t removed = 0;
    for (Value* v : dead) removed += graph.removeValue(v).isOk() ? 1 : 0;
    return removed;
}

bool hasSubgraphs(const Node& node) {
    if (node.op() != OpKind::kIf && node.op() != OpKind::kLoop && node.op() != OpKind::kScan) return false;
    for (const auto& [name, attr] : node.attrs().all()) {
        if (std::holds_alternative<std::shared_ptr<Graph>>(attr) ||
            std::holds_alternative<std::vector<std::shared_ptr<Graph>>>(attr)) {
            return true;
        }
    }
    return false;
}

}  // namespace kiln::ir
