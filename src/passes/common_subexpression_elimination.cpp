// Common-subexpression elimination: small constants with equal contents merge into one value, then nodes with
// the same op, opset, inputs and attributes merge into the first of them. Random ops and nodes with subgraphs
// never merge; a node whose outputs are graph outputs is kept (the output names are the model's interface).
#include <cstring>
#include <unordered_map>
#include <variant>

#include "ir/graph_edit.h"
#include "passes/passes.h"

namespace kiln::passes {

namespace {

//! Constants up to this many bytes are compared by content (larger ones are weights: hashing them costs more than
//! the rare duplicate saves).
constexpr size_t kMaxCompareBytes = 4096;

void appendBytes(std::string& key, const void* p, size_t n) { key.append(static_cast<const char*>(p), n); }

template <typename T>
void appendPod(std::string& key, const T& v) {
    appendBytes(key, &v, sizeof(T));
}

void appendTensor(std::string& key, const Tensor& t) {
    appendPod(key, t.dtype());
    appendPod(key, t.rank());
    for (int64_t d : t.shape()) appendPod(key, d);
    if (t.dtype() == DataType::kString) {
        for (int64_t i = 0; i < t.numel(); ++i) {
            appendPod(key, t.strings()[i].size());
            key += t.strings()[i];
        }
    } else {
        appendBytes(key, t.raw(), t.byteSize());
    }
}

//! Appends a byte-exact encoding of an attribute; false for subgraphs (never equal).
bool appendAttribute(std::string& key, const ir::AttributeValue& a) {
    appendPod(key, a.index());
    return std::visit(
        [&](const auto& v) -> bool {
            using V = std::decay_t<decltype(v)>;
            if constexpr (std::is_same_v<V, int64_t> || std::is_same_v<V, float>) {
                appendPod(key, v);
            } else if constexpr (std::is_same_v<V, std::string>) {
                appendPod(key, v.size());
                key += v;
            } else if constexpr (std::is_same_v<V, Tensor>) {
                appendTensor(key, v);
            } else if constexpr (std::is_same_v<V, std::vector<int64_t>> || std::is_same_v<V, std::vector<float>>) {
                appendPod(key, v.size());
                appendBytes(key, v.data(), v.size() * sizeof(typename V::value_type));
            } else if constexpr (std::is_same_v<V, std::vector<std::string>>) {
                appendPod(key, v.size());
                for (const auto& s : v) {
                    appendPod(key, s.size());
                    key += s;
                }
            } else if constexpr (std::is_same_v<V, std::vector<Tensor>>) {
                appendPod(key, v.size());
                for (const auto& t : v) appendTensor(key, t);
            } else {
                return false;  // subgraphs
            }
            return true;
        },
        a);
}

bool isRandom(ir::OpKind op) {
    using K = ir::OpKind;
    return op == K::kRandomUniform || op == K::kRandomNormal || op == K::kRandomUniformLike ||
           op == K::kRandomNormalLike || op == K::kBernoulli || op == K::kMultinomial;
}

class CommonSubexpressionElimination : public Pass {
public:
    std::string_view name() const override { return "cse"; }

    Result<PassResult> run(ir::Graph& graph, PassContext& ctx) override {
        int64_t constants = 0, nodes = 0;
        // Small constants by content.
        std::unordered_map<std::string, ir::Value*> constantByKey;
        std::vector<ir::Value*> values;
        for (const auto& v : graph.values()) values.push_back(v.get());
        for (ir::Value* v : values) {
            if (!v->isConstant() || v->constant().byteSize() > kMaxCompareBytes || v->consumers().empty() ||
                ir::isGraphInput(v))
                continue;
            std::string key;
            appendTensor(key, v->constant());
            auto [it, inserted] = constantByKey.emplace(std::move(key), v);
            if (inserted) continue;
            if (ir::replaceAllUsesWith(v, it->second) > 0) ++constants;
        }
        // Nodes by (op, opset, inputs, attributes), in topological order so merged inputs are seen first.
        std::unordered_map<std::string, ir::Node*> nodeByKey;
        std::vector<ir::Node*> order;
        for (const auto& n : graph.nodes()) order.push_back(n.get());
        for (ir::Node* node : order) {
            if (isRandom(node->op()) || node->outputs().empty()) continue;
            std::string key;
            appendPod(key, node->op());
            appendPod(key, node->opset());
            appendPod(key, node->inputs().size());
            for (const ir::Value* in : node->inputs()) appendPod(key, in);
            appendPod(key, node->outputs().size());
            for (const ir::Value* out : node->outputs()) appendPod(key, out != nullptr);
            bool comparable = true;
            for (const auto& [name, attr] : node->attrs().all()) {
                appendPod(key, name.size());
                key += name;
                comparable = comparable && appendAttribute(key, attr);
            }
            if (!comparable) continue;
            auto [it, inserted] = nodeByKey.emplace(std::move(key), node);
            if (inserted) continue;
            bool outputIsInterface = false;
            for (const ir::Value* out : node->outputs()) outputIsInterface |= out && ir::isGraphOutput(out);
            if (outputIsInterface) continue;
            ir::Node* keep = it->second;
            for (size_t i = 0; i < node->outputs().size(); ++i) {
                if (node->output(i)) ir::replaceAllUsesWith(node->output(i), keep->output(i));
            }
            ctx.verbose("cse: " + node->describe() + " merged into " + keep->describe());
            graph.removeNode(node);
            ++nodes;
        }
        if (constants + nodes > 0) ir::pruneUnusedValues(graph);
        return PassResult{constants + nodes, "merged " + std::to_string(nodes) + " duplicate nodes and " +
                                                 std::to_string(constants) + " duplicate constants"};
    }
};

}  // namespace

std::unique_ptr<Pass> createCommonSubexpressionElimination() {
    return std::make_unique<CommonSubexpressionElimination>();
}

}  // namespace kiln::passes
