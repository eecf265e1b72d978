#include "plan/graph_diff.h"

#include <cstring>

#include "plan/graph_codec.h"

namespace kiln::plan {

namespace {

bool tensorsEqual(const Tensor& a, const Tensor& b) {
    if (a.dtype() != b.dtype() || a.shape() != b.shape()) return false;
    if (!a.defined()) return true;
    if (a.dtype() == DataType::kString) {
        for (int64_t i = 0; i < a.numel(); ++i) {
            if (a.strings()[i] != b.strings()[i]) return false;
        }
        return true;
    }
    return a.byteSize() == 0 || std::memcmp(a.raw(), b.raw(), a.byteSize()) == 0;
}

class GraphDiff {
public:
    std::string diff(const ir::Graph& a, const ir::Graph& b) {
        if (mIndexA.empty()) {
            indexValues(a, mIndexA);
            indexValues(b, mIndexB);
        }
        const std::string where = "graph '" + a.name() + "': ";
        if (a.name() != b.name()) return where + "name differs ('" + b.name() + "')";
        if (a.opsets() != b.opsets()) return where + "opsets differ";
        if (a.values().size() != b.values().size()) return where + "value count differs";
        for (size_t i = 0; i < a.values().size(); ++i) {
            const ir::Value& x = *a.values()[i];
            const ir::Value& y = *b.values()[i];
            const std::string v = where + "value " + std::to_string(i) + " '" + x.name() + "': ";
            if (x.name() != y.name()) return v + "name differs ('" + y.name() + "')";
            if (x.dtype() != y.dtype()) return v + "dtype differs";
            if (ir::symbolicShapeToString(x.shape()) != ir::symbolicShapeToString(y.shape())) {
                return v + "shape differs (" + ir::symbolicShapeToString(x.shape()) + " vs " +
                       ir::symbolicShapeToString(y.shape()) + ")";
            }
            if (x.shape()) {
                for (size_t d = 0; d < x.shape()->size(); ++d) {
                    if ((*x.shape())[d].size != (*y.shape())[d].size ||
                        (*x.shape())[d].symbol != (*y.shape())[d].symbol) {
                        return v + "dim " + std::to_string(d) + " differs";
                    }
                }
            }
            if (x.isConstant() != y.isConstant()) return v + "constness differs";
            if (x.isConstant() && !tensorsEqual(x.constant(), y.constant())) return v + "constant data differs";
        }
        if (!sameRefs(a, a.inputs(), b, b.inputs())) return where + "inputs differ";
        if (!sameRefs(a, a.outputs(), b, b.outputs())) return where + "outputs differ";
        if (a.nodes().size() != b.nodes().size()) return where + "node count differs";
        for (size_t i = 0; i < a.nodes().size(); ++i) {
            const ir::Node& x = *a.nodes()[i];
            const ir::Node& y = *b.nodes()[i];
            const std::string n = where + x.describe() + ": ";
            if (x.op() != y.op() || x.name() != y.name()) return n + "op or name differs";
            if (x.opset() != y.opset() || x.sourceIndex() != y.sourceIndex()) return n + "opset or index differs";
            if (!sameRefs(a, x.inputs(), b, y.inputs())) return n + "inputs differ";
            if (!sameRefs(a, x.outputs(), b, y.outputs())) return n + "outputs differ";
            std::string d = diffAttributes(x.attrs(), y.attrs());
            if (!d.empty()) return n + d;
        }
        return {};
    }

private:
    bool sameRefs(const ir::Graph& ga, const std::vector<ir::Value*>& a, const ir::Graph& gb,
                  const std::vector<ir::Value*>& b) {
        if (a.size() != b.size()) return false;
        for (size_t i = 0; i < a.size(); ++i) {
            if (valueRef(ga, a[i], mIndexA) != valueRef(gb, b[i], mIndexB)) return false;
        }
        return true;
    }

    std::string diffAttributes(const ir::Attributes& a, const ir::Attributes& b) {
        if (a.all().size() != b.all().size()) return "attribute count differs";
        for (const auto& [name, x] : a.all()) {
            auto it = b.all().find(name);
            if (it == b.all().end()) return "attribute '" + name + "' missing";
            const ir::AttributeValue& y = it->second;
            if (x.index() != y.index()) return "attribute '" + name + "' kind differs";
            bool same = true;
            std::string sub;
            std::visit(
                [&](const auto& xv) {
                    using V = std::decay_t<decltype(xv)>;
                    const V& yv = std::get<V>(y);
                    if constexpr (std::is_same_v<V, float>) {
                        same = std::memcmp(&xv, &yv, sizeof xv) == 0;
                    } else if constexpr (std::is_same_v<V, std::vector<float>>) {
                        same = xv.size() == yv.size() &&
                               (xv.empty() || std::memcmp(xv.data(), yv.data(), xv.size() * sizeof(float)) == 0);
                    } else if constexpr (std::is_same_v<V, Tensor>) {
                        same = tensorsEqual(xv, yv);
                    } else if constexpr (std::is_same_v<V, std::vector<Tensor>>) {
                        same = xv.size() == yv.size();
                        for (size_t i = 0; same && i < xv.size(); ++i) same = tensorsEqual(xv[i], yv[i]);
                    } else if constexpr (std::is_same_v<V, std::shared_ptr<ir::Graph>>) {
                        same = (xv == nullptr) == (yv == nullptr);
                        if (same && xv) sub = diff(*xv, *yv);
                    } else if constexpr (std::is_same_v<V, std::vector<std::shared_ptr<ir::Graph>>>) {
                        same = xv.size() == yv.size();
                        for (size_t i = 0; same && sub.empty() && i < xv.size(); ++i) {
                            same = (xv[i] == nullptr) == (yv[i] == nullptr);
                            if (same && xv[i]) sub = diff(*xv[i], *yv[i]);
                        }
                    } else {
                        same = xv == yv;
                    }
                },
                x);
            if (!sub.empty()) return "attribute '" + name + "': " + sub;
            if (!same) return "attribute '" + name + "' differs";
        }
        return {};
    }

    std::unordered_map<const ir::Value*, uint32_t> mIndexA;
    std::unordered_map<const ir::Value*, uint32_t> mIndexB;
};

}  // namespace

std::string diffGraphs(const ir::Graph& a, const ir::Graph& b) { return GraphDiff().diff(a, b); }

}  // namespace kiln::plan
