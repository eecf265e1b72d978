#include "frontend/onnx/function_inliner.h"

#include <map>
#include <unordered_map>

#include <onnx/defs/schema.h>

#include "ir/op.h"

namespace kiln::onnx_frontend {

namespace {

constexpr int kMaxInlineRounds = 8;

struct Context {
    std::unordered_map<std::string, int64_t> opsets;
    std::map<std::pair<std::string, std::string>, const onnx::FunctionProto*> local;
    std::unordered_map<std::string, const onnx::TypeProto*> types;
    int counter = 0;
};

std::string normDomain(const std::string& d) { return d == "ai.onnx" ? "" : d; }

//! The function body for `node`, or false when it has none. `schemaOut` is set for ONNX-defined functions (their
//! attribute defaults live in the schema, not in the FunctionProto).
bool findBody(const onnx::NodeProto& node, Context& ctx, onnx::FunctionProto& body, const onnx::OpSchema** schemaOut) {
    *schemaOut = nullptr;
    const std::string domain = normDomain(node.domain());
    if (auto it = ctx.local.find({node.domain(), node.op_type()}); it != ctx.local.end()) {
        body = *it->second;
        return true;
    }
    auto opset = ctx.opsets.find(domain);
    if (opset == ctx.opsets.end()) return false;
    const auto* schema = onnx::OpSchemaRegistry::Schema(node.op_type(), static_cast<int>(opset->second), domain);
    if (schema == nullptr) return false;
    *schemaOut = schema;
    if (schema->HasFunction() && schema->GetFunction() != nullptr) {
        body = *schema->GetFunction();
        return true;
    }
    if (schema->HasContextDependentFunction()) {
        std::vector<onnx::TypeProto> inputTypes;
        for (const auto& in : node.input()) {
            auto it = ctx.types.find(in);
            inputTypes.push_back(it == ctx.types.end() ? onnx::TypeProto() : *it->second);
        }
        onnx::FunctionBodyBuildContextImpl buildCtx(node, inputTypes);
        try {
            return schema->BuildContextDependentFunction(buildCtx, body);
        } catch (const std::exception&) {
            return false;
        }
    }
    return false;
}

//! Substitutes attribute references (ref_attr_name) in a body node with the caller's attributes, or with the
//! schema's default when the caller omits one.
void bindAttributes(onnx::NodeProto& n, const onnx::NodeProto& caller, const onnx::OpSchema* schema) {
    std::unordered_map<std::string, const onnx::AttributeProto*> given;
    if (schema != nullptr) {
        for (const auto& [name, attr] : schema->attributes()) {
            if (attr.default_value.type() != onnx::AttributeProto::UNDEFINED) given[name] = &attr.default_value;
        }
    }
    for (const auto& a : caller.attribute()) given[a.name()] = &a;
    google::protobuf::RepeatedPtrField<onnx::AttributeProto> bound;
    for (const auto& a : n.attribute()) {
        if (a.ref_attr_name().empty()) {
            *bound.Add() = a;
            continue;
        }
        auto it = given.find(a.ref_attr_name());
        if (it == given.end()) continue;  // optional attribute not given: the op's default applies
        onnx::AttributeProto copy = *it->second;
        copy.set_name(a.name());
        *bound.Add() = copy;
    }
    *n.mutable_attribute() = bound;
}

void renameInSubgraph(onnx::GraphProto& g, const std::unordered_map<std::string, std::string>& rename) {
    for (auto& n : *g.mutable_node()) {
        for (auto& in : *n.mutable_input()) {
            if (auto it = rename.find(in); it != rename.end()) in = it->second;
        }
        for (auto& a : *n.mutable_attribute()) {
            if (a.has_g()) renameInSubgraph(*a.mutable_g(), rename);
            for (auto& sg : *a.mutable_graphs()) renameInSubgraph(sg, rename);
        }
    }
    for (auto& o : *g.mutable_output()) {
        if (auto it = rename.find(o.name()); it != rename.end()) o.set_name(it->second);
    }
}

//! Expands one node; appends the body's nodes to `out`.
void expand(const onnx::NodeProto& caller, const onnx::FunctionProto& body, const onnx::OpSchema* schema, Context& ctx,
            google::protobuf::RepeatedPtrField<onnx::NodeProto>& out) {
    const std::string prefix =
        (caller.name().empty() ? caller.op_type() : caller.name()) + "/fn" + std::to_string(ctx.counter++) + "/";
    std::unordered_map<std::string, std::string> rename;
    for (int i = 0; i < body.input_size(); ++i) {
        rename[body.input(i)] = i < caller.input_size() ? caller.input(i) : std::string();
    }
    for (int i = 0; i < body.output_size(); ++i) {
        rename[body.output(i)] = i < caller.output_size() ? caller.output(i) : prefix + body.output(i);
    }
    for (const auto& bn : body.node()) {
        onnx::NodeProto n = bn;
        for (auto& in : *n.mutable_input()) {
            if (in.empty()) continue;
            auto it = rename.find(in);
            in = it != rename.end() ? it->second : prefix + in;
        }
        for (auto& o : *n.mutable_output()) {
            if (o.empty()) continue;
            auto it = rename.find(o);
            if (it != rename.end()) {
                o = it->second;
            } else {
                rename[o] = prefix + o;
                o = prefix + o;
            }
        }
        for (auto& a : *n.mutable_attribute()) {
            if (a.has_g()) renameInSubgraph(*a.mutable_g(), rename);
            for (auto& sg : *a.mutable_graphs()) renameInSubgraph(sg, rename);
        }
        bindAttributes(n, caller, schema);
        n.set_name(prefix + n.name());
        *out.Add() = std::move(n);
    }
}

bool inlineGraph(onnx::GraphProto& g, Context& ctx) {
    for (const auto& vi : g.value_info()) ctx.types[vi.name()] = &vi.type();
    for (const auto& vi : g.input()) ctx.types[vi.name()] = &vi.type();
    bool changed = false;
    google::protobuf::RepeatedPtrField<onnx::NodeProto> nodes;
    for (auto& node : *g.mutable_node()) {
        for (auto& a : *node.mutable_attribute()) {
            if (a.has_g()) changed |= inlineGraph(*a.mutable_g(), ctx);
            for (auto& sg : *a.mutable_graphs()) changed |= inlineGraph(sg, ctx);
        }
        const bool supported = ir::findOp(normDomain(node.domain()), node.op_type()).has_value() ||
                               (normDomain(node.domain()).empty() && node.op_type() == "Constant");
        onnx::FunctionProto body;
        const onnx::OpSchema* schema = nullptr;
        if (!supported && findBody(node, ctx, body, &schema)) {
            expand(node, body, schema, ctx, nodes);
            changed = true;
        } else {
            *nodes.Add() = node;
        }
    }
    *g.mutable_node() = nodes;
    return changed;
}

}  // namespace

Status inlineFunctions(onnx::ModelProto& model) {
    Context ctx;
    for (const auto& op : model.opset_import()) ctx.opsets[normDomain(op.domain())] = op.version();
    for (const auto& f : model.functions()) ctx.local[{f.domain(), f.name()}] = &f;
    for (int round = 0; round < kMaxInlineRounds; ++round) {
        ctx.types.clear();
        if (!inlineGraph(*model.mutable_graph(), ctx)) return Status::ok();
    }
    return invalidModel("functions nest deeper than " + std::to_string(kMaxInlineRounds) + " levels");
}

}  // namespace kiln::onnx_frontend
