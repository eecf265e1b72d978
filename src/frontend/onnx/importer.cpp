#include "frontend/onnx/importer.h"

#include <filesystem>
#include <fstream>
#include <limits>
#include <optional>
#include <queue>
#include <set>
#include <unordered_map>
#include <unordered_set>

#include <google/protobuf/io/coded_stream.h>
#include <google/protobuf/io/zero_copy_stream_impl_lite.h>
#include <onnx/defs/schema.h>
#include <onnx/shape_inference/implementation.h>

#include "frontend/onnx/function_inliner.h"
#include "frontend/onnx/opset_adapters.h"
#include "frontend/onnx/tensor_proto.h"

namespace kiln::onnx_frontend {

namespace fs = std::filesystem;

//! Newest ai.onnx opset whose semantics Kiln's kernels follow (the opset of Debian's libonnx 1.12).
inline constexpr int64_t kMaxOnnxOpset = 17;

std::string UnsupportedNode::describe() const {
    std::string s;
    if (index >= 0) {
        s = "node " + std::to_string(index) + " (" + opType;
        if (!name.empty()) s += " '" + name + "'";
        s += ")";
        if (graph != "main") s += " in graph '" + graph + "'";
    } else if (graph != "main") {
        s = "graph '" + graph + "'";
    }
    return escapeControlChars(s.empty() ? reason : s + ": " + reason);
}

namespace {

//! Runs `fn`, turning any exception (protobuf and ONNX throw; allocation can fail) into a Status, so none escapes
//! the importer's entry points.
template <typename Fn>
auto noThrow(const std::string& what, Fn&& fn) -> decltype(fn()) {
    try {
        return fn();
    } catch (const std::bad_alloc&) {
        return outOfRange("out of memory while " + what);
    } catch (const std::exception& e) {
        return internalError("unexpected exception while " + what + ": " + e.what());
    }
}

Result<onnx::ModelProto> parseModelFile(const std::string& path) {
    std::error_code ec;
    if (!fs::exists(path, ec)) return notFound("model file '" + path + "' does not exist");
    if (fs::is_directory(path, ec)) return invalidArgument("'" + path + "' is a directory, not an ONNX model file");
    const auto size = fs::file_size(path, ec);
    if (ec) return ioError("cannot read '" + path + "': " + ec.message());
    if (size == 0) return invalidModel("'" + path + "' is empty, not an ONNX model");
    if (size > static_cast<uintmax_t>(std::numeric_limits<int>::max())) {
        return unsupported("'" + path + "' is " + std::to_string(size) +
                           " bytes; ONNX files over 2 GiB must keep their weights as external data");
    }
    std::ifstream in(path, std::ios::binary);
    if (!in) return ioError("cannot open '" + path + "'");
    std::string bytes(static_cast<size_t>(size), '\0');
    in.read(bytes.data(), static_cast<std::streamsize>(size));
    if (!in) return ioError("short read from '" + path + "'");

    onnx::ModelProto model;
    google::protobuf::io::ArrayInputStream raw(bytes.data(), static_cast<int>(bytes.size()));
    google::protobuf::io::CodedInputStream coded(&raw);
    coded.SetTotalBytesLimit(std::numeric_limits<int>::max());
    coded.SetRecursionLimit(256);
    if (!model.ParseFromCodedStream(&coded) || !coded.ConsumedEntireMessage()) {
        return invalidModel("'" + path + "' is not a valid ONNX model (protobuf parse failed: truncated or not ONNX)");
    }
    if (!model.has_graph() || model.ir_version() <= 0) {
        return invalidModel("'" + path + "' is not an ONNX model (no graph or ir_version)");
    }
    return model;
}

}  // namespace

Result<onnx::ModelProto> loadModelProto(const std::string& path) {
    return noThrow("reading '" + path + "'", [&] { return parseModelFile(path); });
}

namespace {

std::string domainLabel(const std::string& domain) { return domain.empty() ? "ai.onnx" : domain; }

std::string normDomain(const std::string& domain) { return domain == "ai.onnx" ? "" : domain; }

Status applyTypeProto(ir::Value* value, const onnx::TypeProto& type) {
    if (!type.has_tensor_type()) return Status::ok();
    const auto& tt = type.tensor_type();
    if (tt.elem_type() != 0) {
        const DataType dt = dataTypeFromOnnx(tt.elem_type());
        if (dt == DataType::kUndefined) {
            return unsupported("value '" + value->name() + "' has element type " + std::to_string(tt.elem_type()) +
                               ", which Kiln does not support");
        }
        value->setDtype(dt);
    }
    if (tt.has_shape()) {
        std::vector<ir::Dim> dims;
        for (const auto& d : tt.shape().dim()) {
            if (d.has_dim_value()) dims.push_back(ir::Dim::known(d.dim_value()));
            else dims.push_back(ir::Dim::symbolic(d.has_dim_param() ? d.dim_param() : std::string()));
        }
        value->setShape(std::move(dims));
    }
    return Status::ok();
}

//! True for a declared type other than a tensor; an absent type (common in subgraphs) is fine.
bool hasNonTensorType(const onnx::ValueInfoProto& vi) {
    return vi.type().value_case() != onnx::TypeProto::VALUE_NOT_SET && !vi.type().has_tensor_type();
}

std::string typeKindName(const onnx::TypeProto& type) {
    if (type.has_sequence_type()) return "a sequence";
    if (type.has_map_type()) return "a map";
    if (type.has_optional_type()) return "an optional";
    if (type.has_sparse_tensor_type()) return "a sparse tensor";
    return "not a tensor";
}

//! Names a subgraph refers to that it does not define itself (its outer-scope captures), recursively.
void collectOuterRefs(const onnx::GraphProto& g, std::unordered_set<std::string>& out) {
    std::unordered_set<std::string> defined;
    for (const auto& i : g.input()) defined.insert(i.name());
    for (const auto& i : g.initializer()) defined.insert(i.name());
    for (const auto& n : g.node()) {
        for (const auto& o : n.output()) defined.insert(o);
    }
    std::unordered_set<std::string> used;
    for (const auto& n : g.node()) {
        for (const auto& i : n.input()) used.insert(i);
        for (const auto& a : n.attribute()) {
            if (a.has_g()) collectOuterRefs(a.g(), used);
            for (const auto& sg : a.graphs()) collectOuterRefs(sg, used);
        }
    }
    for (const auto& o : g.output()) used.insert(o.name());
    for (const auto& u : used) {
        if (!u.empty() && !defined.count(u)) out.insert(u);
    }
}

std::string nodeLabel(const onnx::NodeProto& n, int idx) {
    std::string s = "node " + std::to_string(idx) + " (" + n.op_type();
    if (!n.name().empty()) s += " '" + n.name() + "'";
    return s + ")";
}

//! Fails when subgraphs nest deeper than kMaxSubgraphDepth. Runs before anything else recurses through the model
//! (shape inference, inlining, import), and itself stops one level past the limit.
Status checkNesting(const onnx::GraphProto& g, const std::string& graphName, int depth) {
    for (int i = 0; i < g.node_size(); ++i) {
        const auto& node = g.node(i);
        for (const auto& a : node.attribute()) {
            auto visit = [&](const onnx::GraphProto& sub) {
                if (depth + 1 > kMaxSubgraphDepth) {
                    return invalidModel("subgraphs nest deeper than " + std::to_string(kMaxSubgraphDepth) +
                                        " levels: attribute '" + a.name() + "' of " + nodeLabel(node, i) +
                                        " in graph '" + graphName + "'");
                }
                return checkNesting(sub, sub.name().empty() ? graphName + "/" + a.name() : sub.name(), depth + 1);
            };
            if (a.has_g()) KILN_RETURN_IF_ERROR(visit(a.g()));
            for (const auto& sg : a.graphs()) KILN_RETURN_IF_ERROR(visit(sg));
        }
    }
    return Status::ok();
}

class Importer {
public:
    Importer(std::string baseDir, bool checkOnly) : mBaseDir(std::move(baseDir)), mCheckOnly(checkOnly) {}

    std::vector<UnsupportedNode>& unsupportedNodes() { return mUnsupported; }

    Status setOpsets(const onnx::ModelProto& model) {
        for (const auto& op : model.opset_import()) mOpsets[normDomain(op.domain())] = op.version();
        if (model.opset_import_size() == 0) mOpsets[""] = 1;
        auto it = mOpsets.find("");
        if (it != mOpsets.end() && it->second < 1) {
            return invalidModel("model imports ai.onnx opset " + std::to_string(it->second) + "; opsets start at 1");
        }
        if (it != mOpsets.end() && it->second > kMaxOnnxOpset) {
            return unsupported("model uses ai.onnx opset " + std::to_string(it->second) +
                               "; Kiln supports opsets 1 to " + std::to_string(kMaxOnnxOpset));
        }
        return Status::ok();
    }

    const std::unordered_map<std::string, int64_t>& opsets() const { return mOpsets; }

    Status importGraph(const onnx::GraphProto& proto, ir::Graph& graph, int depth) {
        if (depth > kMaxSubgraphDepth) {
            return invalidModel("graph '" + graph.name() + "' nests subgraphs deeper than " +
                                std::to_string(kMaxSubgraphDepth) + " levels");
        }
        for (const auto& [domain, version] : mOpsets) graph.setOpset(domain, version);

        // Types known from the model and from shape inference.
        std::unordered_map<std::string, const onnx::TypeProto*> types;
        for (const auto& vi : proto.value_info()) types[vi.name()] = &vi.type();
        for (const auto& vi : proto.output()) types[vi.name()] = &vi.type();

        // Initializers are constants.
        std::unordered_set<std::string> initializers;
        for (const auto& init : proto.initializer()) {
            KILN_ASSIGN_OR_RETURN(ir::Value * v, graph.createValue(init.name()));
            initializers.insert(init.name());
            if (mCheckOnly) {
                // `kiln check` reads no weights: their sizes and external files are checked, the data stays put.
                auto info = inspectTensorProto(init, mBaseDir);
                KILN_RETURN_IF_ERROR(noteUnsupported(info.status(), graph));
                if (info) setTypeFromInfo(v, *info);
                continue;
            }
            auto t = tensorFromProto(init, mBaseDir);
            KILN_RETURN_IF_ERROR(noteUnsupported(t.status(), graph));
            if (t) v->setConstant(std::move(t).value());
        }
        if (proto.sparse_initializer_size() > 0) {
            addUnsupported(graph, -1, "", "", "", "sparse initializers are not supported");
        }
        // Graph inputs; an input that has an initializer is a constant (TensorRT treats these as weights).
        for (const auto& in : proto.input()) {
            if (initializers.count(in.name())) continue;
            KILN_ASSIGN_OR_RETURN(ir::Value * v, graph.createValue(in.name()));
            if (hasNonTensorType(in)) {
                addUnsupported(graph, -1, in.name(), "", "",
                               "graph input '" + in.name() + "' is " + typeKindName(in.type()) +
                                   "; Kiln supports tensor inputs only");
            }
            KILN_RETURN_IF_ERROR(noteUnsupported(applyTypeProto(v, in.type()), graph));
            graph.addInput(v);
        }

        std::vector<int> order;
        KILN_RETURN_IF_ERROR(topologicalOrder(proto, graph, order));

        for (int idx : order) KILN_RETURN_IF_ERROR(importNode(proto.node(idx), idx, graph, types, depth));

        for (const auto& out : proto.output()) {
            ir::Value* v = graph.findValueInScope(out.name());
            if (v == nullptr) {
                return invalidModel("graph '" + graph.name() + "' output '" + out.name() + "' is never produced");
            }
            if (hasNonTensorType(out)) {
                addUnsupported(graph, -1, out.name(), "", "",
                               "graph output '" + out.name() + "' is " + typeKindName(out.type()) +
                                   "; Kiln supports tensor outputs only");
            }
            if (v->dtype() == DataType::kUndefined) {
                KILN_RETURN_IF_ERROR(noteUnsupported(applyTypeProto(v, out.type()), graph));
            }
            graph.addOutput(v);
        }
        return Status::ok();
    }

private:
    void addUnsupported(const ir::Graph& graph, int64_t index, const std::string& name, const std::string& opType,
                        const std::string& domain, std::string reason) {
        UnsupportedNode u;
        u.graph = graph.name();
        u.index = index;
        u.name = name;
        u.opType = opType;
        u.domain = domainLabel(domain);
        auto it = mOpsets.find(normDomain(domain));
        u.opset = it == mOpsets.end() ? 0 : it->second;
        u.reason = std::move(reason);
        mUnsupported.push_back(std::move(u));
    }

    //! Records a kUnsupported failure in the report and carries on, so every unsupported thing is listed at once;
    //! any other failure stops the import.
    Status noteUnsupported(const Status& s, const ir::Graph& graph, int64_t index = -1,
                           const onnx::NodeProto* node = nullptr) {
        if (s.code() != ErrorCode::kUnsupported) return s;
        if (node) addUnsupported(graph, index, node->name(), node->op_type(), node->domain(), s.message());
        else addUnsupported(graph, -1, "", "", "", s.message());
        return Status::ok();
    }

    static void setTypeFromInfo(ir::Value* v, const TensorProtoInfo& info) {
        v->setDtype(info.dtype);
        std::vector<ir::Dim> dims;
        for (int64_t d : info.shape) dims.push_back(ir::Dim::known(d));
        v->setShape(std::move(dims));
    }

    //! Orders nodes so each comes after the producers of its inputs (and of its subgraphs' captures); stable.
    Status topologicalOrder(const onnx::GraphProto& proto, const ir::Graph& graph, std::vector<int>& order) {
        const int n = proto.node_size();
        std::unordered_map<std::string, int> producer;
        for (int i = 0; i < n; ++i) {
            for (const auto& o : proto.node(i).output()) {
                if (o.empty()) continue;
                if (producer.count(o) || graph.findValue(o) != nullptr) {
                    return invalidModel(nodeLabel(proto.node(i), i) + ": output '" + o +
                                        "' is already defined in graph '" + graph.name() + "'");
                }
                producer[o] = i;
            }
        }
        std::vector<std::vector<int>> users(static_cast<size_t>(n));
        std::vector<int> pending(static_cast<size_t>(n), 0);
        for (int i = 0; i < n; ++i) {
            const auto& node = proto.node(i);
            std::unordered_set<std::string> needs(node.input().begin(), node.input().end());
            for (const auto& a : node.attribute()) {
                if (a.has_g()) collectOuterRefs(a.g(), needs);
                for (const auto& sg : a.graphs()) collectOuterRefs(sg, needs);
            }
            std::set<int> deps;
            for (const auto& name : needs) {
                if (name.empty()) continue;
                auto it = producer.find(name);
                if (it != producer.end()) {
                    deps.insert(it->second);
                } else if (graph.findValueInScope(name) == nullptr) {
                    return invalidModel(nodeLabel(node, i) + " in graph '" + graph.name() + "': input '" + name +
                                        "' is not defined (not a graph input, initializer or node output)");
                }
            }
            for (int d : deps) {
                users[static_cast<size_t>(d)].push_back(i);
                ++pending[static_cast<size_t>(i)];
            }
        }
        std::priority_queue<int, std::vector<int>, std::greater<>> ready;
        for (int i = 0; i < n; ++i) {
            if (pending[static_cast<size_t>(i)] == 0) ready.push(i);
        }
        while (!ready.empty()) {
            const int i = ready.top();
            ready.pop();
            order.push_back(i);
            for (int u : users[static_cast<size_t>(i)]) {
                if (--pending[static_cast<size_t>(u)] == 0) ready.push(u);
            }
        }
        if (static_cast<int>(order.size()) != n) {
            for (int i = 0; i < n; ++i) {
                if (pending[static_cast<size_t>(i)] > 0) {
                    return invalidModel("graph '" + graph.name() + "' has a cycle through " +
                                        nodeLabel(proto.node(i), i));
                }
            }
        }
        return Status::ok();
    }

    Result<ir::AttributeValue> convertAttribute(const onnx::AttributeProto& a, const ir::Graph& graph, int depth) {
        using onnx::AttributeProto;
        switch (a.type()) {
            case AttributeProto::INT: return ir::AttributeValue(static_cast<int64_t>(a.i()));
            case AttributeProto::FLOAT: return ir::AttributeValue(a.f());
            case AttributeProto::STRING: return ir::AttributeValue(a.s());
            case AttributeProto::TENSOR: {
                KILN_ASSIGN_OR_RETURN(Tensor t, loadAttributeTensor(a.t()));
                return ir::AttributeValue(std::move(t));
            }
            case AttributeProto::INTS:
                return ir::AttributeValue(std::vector<int64_t>(a.ints().begin(), a.ints().end()));
            case AttributeProto::FLOATS:
                return ir::AttributeValue(std::vector<float>(a.floats().begin(), a.floats().end()));
            case AttributeProto::STRINGS:
                return ir::AttributeValue(std::vector<std::string>(a.strings().begin(), a.strings().end()));
            case AttributeProto::TENSORS: {
                std::vector<Tensor> ts;
                for (const auto& tp : a.tensors()) {
                    KILN_ASSIGN_OR_RETURN(Tensor t, loadAttributeTensor(tp));
                    ts.push_back(std::move(t));
                }
                return ir::AttributeValue(std::move(ts));
            }
            case AttributeProto::GRAPH: {
                KILN_ASSIGN_OR_RETURN(auto g, importSubgraph(a.g(), a.name(), graph, depth));
                return ir::AttributeValue(std::move(g));
            }
            case AttributeProto::GRAPHS: {
                std::vector<std::shared_ptr<ir::Graph>> gs;
                for (const auto& gp : a.graphs()) {
                    KILN_ASSIGN_OR_RETURN(auto g, importSubgraph(gp, a.name(), graph, depth));
                    gs.push_back(std::move(g));
                }
                return ir::AttributeValue(std::move(gs));
            }
            default:
                return unsupported("attribute '" + a.name() + "' has type " +
                                   AttributeProto::AttributeType_Name(a.type()) + ", which Kiln does not support");
        }
    }

    //! A tensor attribute; in check mode it is only inspected and an empty (undefined) Tensor stands in for it.
    Result<Tensor> loadAttributeTensor(const onnx::TensorProto& proto) {
        if (!mCheckOnly) return tensorFromProto(proto, mBaseDir);
        KILN_RETURN_IF_ERROR(inspectTensorProto(proto, mBaseDir).status());
        return Tensor();
    }

    Result<std::shared_ptr<ir::Graph>> importSubgraph(const onnx::GraphProto& proto, const std::string& attrName,
                                                      const ir::Graph& parent, int depth) {
        const std::string name = proto.name().empty() ? parent.name() + "/" + attrName : proto.name();
        auto g = std::make_shared<ir::Graph>(name, const_cast<ir::Graph*>(&parent));
        KILN_RETURN_IF_ERROR(importGraph(proto, *g, depth + 1));
        return g;
    }

    //! The value of a Constant node's value_* attribute; nullopt for any other attribute.
    std::optional<Result<Tensor>> constantValue(const onnx::AttributeProto& a) {
        const std::string& name = a.name();
        if (name == "value") return tensorFromProto(a.t(), mBaseDir);
        if (name == "value_float") return Tensor::scalar(a.f());
        if (name == "value_int") return Tensor::scalar(static_cast<int64_t>(a.i()));
        if (name == "value_floats") {
            return Tensor::fromVector(std::vector<float>(a.floats().begin(), a.floats().end()),
                                      {static_cast<int64_t>(a.floats_size())});
        }
        if (name == "value_ints") {
            return Tensor::fromVector(std::vector<int64_t>(a.ints().begin(), a.ints().end()),
                                      {static_cast<int64_t>(a.ints_size())});
        }
        if (name == "value_string" || name == "value_strings") {
            const bool one = name == "value_string";
            Tensor t(DataType::kString, one ? Shape{} : Shape{static_cast<int64_t>(a.strings_size())});
            if (one) t.strings()[0] = a.s();
            for (int i = 0; !one && i < a.strings_size(); ++i) t.strings()[i] = a.strings(i);
            return t;
        }
        if (name == "sparse_value") return unsupported("sparse constants are not supported");
        return std::nullopt;
    }

    //! A Constant node becomes a constant value (no node). Errors are not prefixed with the node.
    Status importConstant(const onnx::NodeProto& node, ir::Graph& graph) {
        if (node.output_size() != 1) return invalidModel("Constant must have one output");
        KILN_ASSIGN_OR_RETURN(ir::Value * v, graph.createValue(node.output(0)));
        for (const auto& a : node.attribute()) {
            if (a.name() == "value" && mCheckOnly) {
                KILN_ASSIGN_OR_RETURN(TensorProtoInfo info, inspectTensorProto(a.t(), mBaseDir));
                setTypeFromInfo(v, info);
                return Status::ok();
            }
            std::optional<Result<Tensor>> value = constantValue(a);
            if (!value) continue;
            if (!*value) return value->status();
            v->setConstant(std::move(*value).value());
            return Status::ok();
        }
        return invalidModel("Constant has no value attribute");
    }

    Status importNode(const onnx::NodeProto& node, int idx, ir::Graph& graph,
                      const std::unordered_map<std::string, const onnx::TypeProto*>& types, int depth) {
        const std::string domain = normDomain(node.domain());
        auto opsetIt = mOpsets.find(domain);
        if (opsetIt == mOpsets.end()) {
            return invalidModel(nodeLabel(node, idx) + ": domain '" + domainLabel(domain) +
                                "' is not in the model's opset_import");
        }
        if (domain.empty() && node.op_type() == "Constant") {
            Status s = importConstant(node, graph);
            return s.code() == ErrorCode::kUnsupported ? noteUnsupported(s, graph, idx, &node)
                                                       : s.withContext(nodeLabel(node, idx));
        }

        // Domain "kiln" holds Kiln's own fused ops, made by the optimizing passes; a file claiming it is refused
        // like any unknown op rather than trusted to carry the passes' attributes.
        const auto kind = domain == "kiln" ? std::nullopt : ir::findOp(domain, node.op_type());
        if (!kind) {
            addUnsupported(graph, idx, node.name(), node.op_type(), domain,
                           "op " + node.op_type() + " of domain '" + domainLabel(domain) + "' (opset " +
                               std::to_string(opsetIt->second) + ") is not supported");
        }
        ir::Node* irNode = kind ? graph.addNode(*kind, node.name(), opsetIt->second) : nullptr;
        if (irNode) {
            irNode->setSourceIndex(idx);
            for (const auto& in : node.input()) {
                if (in.empty()) {
                    irNode->setInput(irNode->inputs().size(), nullptr);
                    continue;
                }
                irNode->addInput(graph.findValueInScope(in));
            }
            for (const auto& a : node.attribute()) {
                auto value = convertAttribute(a, graph, depth);
                if (!value) {
                    if (value.status().code() == ErrorCode::kUnsupported) {
                        KILN_RETURN_IF_ERROR(noteUnsupported(value.status(), graph, idx, &node));
                        continue;
                    }
                    return value.status().withContext(nodeLabel(node, idx));
                }
                irNode->attrs().set(a.name(), std::move(value).value());
            }
        }
        for (const auto& out : node.output()) {
            if (out.empty()) {
                if (irNode) irNode->addOutput(nullptr);
                continue;
            }
            KILN_ASSIGN_OR_RETURN(ir::Value * v, graph.createValue(out));
            if (auto it = types.find(out); it != types.end()) {
                KILN_RETURN_IF_ERROR(noteUnsupported(applyTypeProto(v, *it->second), graph, idx, &node));
            }
            if (irNode) irNode->addOutput(v);
        }
        if (irNode) KILN_RETURN_IF_ERROR(adaptToLatestOpset(graph, *irNode));
        return Status::ok();
    }

    std::string mBaseDir;
    bool mCheckOnly;
    std::unordered_map<std::string, int64_t> mOpsets;
    std::vector<UnsupportedNode> mUnsupported;
};

//! Checks every node that has an ONNX schema against it (attribute names and types, required attributes, input and
//! output counts), as ONNX Runtime does on load. ONNX's shape inference trusts these and can crash on a node that
//! breaks them (Scan-9 without num_scan_inputs dereferences null), so this runs before it.
Status verifyAgainstSchemas(const onnx::GraphProto& g, const std::string& graphName,
                            const std::unordered_map<std::string, int64_t>& opsets) {
    for (int i = 0; i < g.node_size(); ++i) {
        const auto& node = g.node(i);
        const std::string domain = normDomain(node.domain());
        auto version = opsets.find(domain);
        const auto* schema =
            version == opsets.end() || version->second > std::numeric_limits<int>::max()
                ? nullptr
                : onnx::OpSchemaRegistry::Schema(node.op_type(), static_cast<int>(version->second), domain);
        if (schema != nullptr) {
            try {
                schema->Verify(node);
            } catch (const std::exception& e) {
                return invalidModel(nodeLabel(node, i) + " in graph '" + graphName + "': " + e.what());
            }
        }
        for (const auto& a : node.attribute()) {
            auto sub = [&](const onnx::GraphProto& sg) {
                return verifyAgainstSchemas(sg, sg.name().empty() ? graphName + "/" + a.name() : sg.name(), opsets);
            };
            if (a.has_g()) KILN_RETURN_IF_ERROR(sub(a.g()));
            for (const auto& sg : a.graphs()) KILN_RETURN_IF_ERROR(sub(sg));
        }
    }
    return Status::ok();
}

//! Runs ONNX's own shape inference on a copy; failures only cost type annotations.
onnx::ModelProto inferShapes(const onnx::ModelProto& model) {
    onnx::ModelProto copy = model;
    try {
        onnx::ShapeInferenceOptions options(false, 0, true);
        onnx::shape_inference::InferShapes(copy, onnx::OpSchemaRegistry::Instance(), options);
    } catch (const std::exception&) {
        return model;
    }
    return copy;
}

std::string listUnsupported(const std::vector<UnsupportedNode>& nodes) {
    std::string s = std::to_string(nodes.size()) + " unsupported node" + (nodes.size() == 1 ? "" : "s") + ": ";
    for (size_t i = 0; i < nodes.size(); ++i) {
        if (i) s += "; ";
        s += nodes[i].describe();
    }
    return s;
}

}  // namespace

namespace {

//! The shared front half of check and import: limits, opsets, shape inference, function inlining, then the walk
//! over the graph into `graph`; `importer` keeps the report of unsupported nodes.
Status runImporter(const onnx::ModelProto& model, Importer& importer, ir::Graph& graph) {
    KILN_RETURN_IF_ERROR(checkNesting(model.graph(), "main", 0));
    KILN_RETURN_IF_ERROR(importer.setOpsets(model));
    KILN_RETURN_IF_ERROR(verifyAgainstSchemas(model.graph(), "main", importer.opsets()));
    // Infer first: context-dependent function bodies need their inputs' types.
    onnx::ModelProto inferred = inferShapes(model);
    KILN_RETURN_IF_ERROR(inlineFunctions(inferred));
    return importer.importGraph(inferred.graph(), graph, 0);
}

std::string baseDirOf(const std::string& path) {
    const std::string dir = fs::path(path).parent_path().string();
    return dir.empty() ? "." : dir;
}

}  // namespace

Result<std::vector<UnsupportedNode>> checkModel(const onnx::ModelProto& model, const std::string& baseDir) {
    return noThrow("checking the model", [&]() -> Result<std::vector<UnsupportedNode>> {
        Importer importer(baseDir, true);
        ir::Graph graph("main");
        KILN_RETURN_IF_ERROR(runImporter(model, importer, graph));
        return importer.unsupportedNodes();
    });
}

Result<ImportedModel> importModel(const onnx::ModelProto& model, const std::string& baseDir) {
    return noThrow("importing the model", [&]() -> Result<ImportedModel> {
        Importer importer(baseDir, false);
        auto graph = std::make_unique<ir::Graph>("main");
        KILN_RETURN_IF_ERROR(runImporter(model, importer, *graph));
        if (!importer.unsupportedNodes().empty()) return unsupported(listUnsupported(importer.unsupportedNodes()));
        KILN_RETURN_IF_ERROR(graph->verify());
        ImportedModel out;
        out.graph = std::move(graph);
        out.irVersion = model.ir_version();
        out.producer = model.producer_name();
        return out;
    });
}

Result<std::vector<UnsupportedNode>> checkOnnxFile(const std::string& path) {
    KILN_ASSIGN_OR_RETURN(onnx::ModelProto model, loadModelProto(path));
    auto result = checkModel(model, baseDirOf(path));
    if (!result) return result.status().withContext(path);
    return result;
}

Result<ImportedModel> importOnnxFile(const std::string& path) {
    KILN_ASSIGN_OR_RETURN(onnx::ModelProto model, loadModelProto(path));
    auto result = importModel(model, baseDirOf(path));
    if (!result) return result.status().withContext(path);
    result->path = path;
    return result;
}

}  // namespace kiln::onnx_frontend
