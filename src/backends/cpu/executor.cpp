#include "backends/cpu/executor.h"

#include <chrono>

#include "backends/cpu/kernel.h"

namespace kiln::cpu {

const Tensor* Scope::find(const ir::Value* v) const {
    for (const Scope* s = this; s != nullptr; s = s->parent) {
        auto it = s->values.find(v);
        if (it != s->values.end()) return &it->second;
    }
    return nullptr;
}

namespace {

Status checkInput(const ir::Value& v, const Tensor& t) {
    if (v.dtype() != DataType::kUndefined && v.dtype() != t.dtype()) {
        return invalidArgument("input '" + v.name() + "' expects " + dataTypeName(v.dtype()) + ", got " +
                               dataTypeName(t.dtype()));
    }
    if (v.shape()) {
        const auto& dims = *v.shape();
        if (dims.size() != t.shape().size()) {
            return invalidArgument("input '" + v.name() + "' expects shape " + ir::symbolicShapeToString(v.shape()) +
                                   ", got " + shapeToString(t.shape()));
        }
        for (size_t i = 0; i < dims.size(); ++i) {
            if (dims[i].isStatic() && dims[i].size != t.shape()[i]) {
                return invalidArgument("input '" + v.name() + "' expects shape " +
                                       ir::symbolicShapeToString(v.shape()) + ", got " + shapeToString(t.shape()));
            }
        }
    }
    return Status::ok();
}

}  // namespace

void collectCaptures(const ir::Graph& g, std::vector<const ir::Value*>& out) {
    for (const auto& node : g.nodes()) {
        for (const ir::Value* in : node->inputs()) {
            if (in == nullptr || in->isConstant()) continue;
            bool inside = false;
            for (const ir::Graph* s = in->graph(); s != nullptr; s = s->parent()) inside |= s == &g;
            if (!inside) out.push_back(in);
        }
        for (const ir::Value* v : nodeCaptures(*node)) out.push_back(v);
    }
    for (const ir::Value* o : g.outputs()) {
        if (o->graph() != &g && !o->isConstant()) out.push_back(o);
    }
}

std::vector<const ir::Value*> nodeCaptures(const ir::Node& node) {
    std::vector<const ir::Value*> captures;
    for (const auto& [name, attr] : node.attrs().all()) {
        if (const auto* sub = std::get_if<std::shared_ptr<ir::Graph>>(&attr)) collectCaptures(**sub, captures);
        if (const auto* subs = std::get_if<std::vector<std::shared_ptr<ir::Graph>>>(&attr)) {
            for (const auto& sg : *subs) collectCaptures(*sg, captures);
        }
    }
    return captures;
}

Result<std::vector<Tensor>> Executor::run(const ir::Graph& graph, const std::vector<Tensor>& inputs,
                                          const Scope* outer) const {
    return runGraph(graph, inputs, outer, outer == nullptr ? mAllocator : nullptr);
}

Result<std::vector<Tensor>> Executor::runGraph(const ir::Graph& graph, const std::vector<Tensor>& inputs,
                                               const Scope* outer, ActivationAllocator* allocator) const {
    if (inputs.size() != graph.inputs().size()) {
        return invalidArgument("graph '" + graph.name() + "' takes " + std::to_string(graph.inputs().size()) +
                               " inputs, got " + std::to_string(inputs.size()));
    }
    Scope scope;
    scope.parent = outer;
    for (size_t i = 0; i < inputs.size(); ++i) scope.values[graph.inputs()[i]] = inputs[i];

    // Last node that reads each value of this graph, so intermediate tensors are released early. A node with
    // subgraphs also reads whatever its subgraphs capture from this graph.
    std::unordered_map<const ir::Value*, size_t> lastUse;
    const auto& nodes = graph.nodes();
    for (size_t i = 0; i < nodes.size(); ++i) {
        for (const ir::Value* in : nodes[i]->inputs()) {
            if (in) lastUse[in] = i;
        }
        for (const ir::Value* v : nodeCaptures(*nodes[i])) lastUse[v] = i;
    }
    for (const ir::Value* out : graph.outputs()) lastUse[out] = SIZE_MAX;

    for (size_t i = 0; i < nodes.size(); ++i) {
        const ir::Node& node = *nodes[i];
        KernelContext ctx{node, {}, {}, {}, allocator};
        ctx.inputs.reserve(node.inputs().size());
        for (const ir::Value* in : node.inputs()) {
            if (in == nullptr) {
                ctx.inputs.push_back(nullptr);
            } else if (in->isConstant()) {
                ctx.inputs.push_back(&in->constant());
            } else if (const Tensor* t = scope.find(in)) {
                ctx.inputs.push_back(t);
            } else {
                return internalError(node.describe() + ": input '" + in->name() + "' has no value");
            }
        }
        ctx.outputs.resize(node.outputs().size());
        ctx.runSubgraph = [this, &scope](const ir::Graph& g, const std::vector<Tensor>& in) {
            return runGraph(g, in, &scope, nullptr);
        };
        Status s;
        const auto start = mObserver ? std::chrono::steady_clock::now() : std::chrono::steady_clock::time_point{};
        try {
            s = cpuKernel(node.op())(ctx);
        } catch (const std::bad_alloc&) {
            s = outOfRange("out of host memory");
        } catch (const std::exception& e) {
            s = internalError(std::string("unexpected exception: ") + e.what());
        }
        if (!s.isOk()) return s.withContext(node.describe());
        if (mObserver) mObserver(node, std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count());
        for (size_t o = 0; o < node.outputs().size(); ++o) {
            const ir::Value* out = node.outputs()[o];
            if (out == nullptr) continue;
            Tensor& t = ctx.outputs[o];
            if (!t.defined())
                return internalError(node.describe() + ": kernel did not produce output " + std::to_string(o));
            if (out->dtype() != DataType::kUndefined && out->dtype() != t.dtype()) {
                return internalError(node.describe() + ": kernel produced " + dataTypeName(t.dtype()) +
                                     " for output '" + out->name() + "', the model declares " +
                                     dataTypeName(out->dtype()));
            }
            if (allocator != nullptr) allocator->produced(*out, t);
            scope.values[out] = std::move(t);
        }
        for (const ir::Value* in : node.inputs()) {
            if (in && in->graph() == &graph) {
                auto it = lastUse.find(in);
                if (it != lastUse.end() && it->second == i) scope.values.erase(in);
            }
        }
    }

    std::vector<Tensor> outputs;
    for (const ir::Value* out : graph.outputs()) {
        if (out->isConstant()) {
            outputs.push_back(out->constant());
        } else if (const Tensor* t = scope.find(out)) {
            outputs.push_back(*t);
        } else {
            return internalError("graph '" + graph.name() + "' output '" + out->name() + "' was not computed");
        }
    }
    return outputs;
}

Result<std::unordered_map<std::string, Tensor>> Executor::runNamed(
    const ir::Graph& graph, const std::unordered_map<std::string, Tensor>& inputs) const {
    std::vector<Tensor> ordered;
    for (const ir::Value* in : graph.inputs()) {
        auto it = inputs.find(in->name());
        if (it == inputs.end()) return invalidArgument("missing input '" + in->name() + "'");
        KILN_RETURN_IF_ERROR(checkInput(*in, it->second));
        ordered.push_back(it->second);
    }
    for (const auto& [name, t] : inputs) {
        bool known = false;
        for (const ir::Value* in : graph.inputs()) known |= in->name() == name;
        if (!known) return invalidArgument("'" + name + "' is not an input of the model");
    }
    KILN_ASSIGN_OR_RETURN(std::vector<Tensor> outs, run(graph, ordered));
    std::unordered_map<std::string, Tensor> named;
    for (size_t i = 0; i < outs.size(); ++i) named[graph.outputs()[i]->name()] = std::move(outs[i]);
    return named;
}

}  // namespace kiln::cpu
