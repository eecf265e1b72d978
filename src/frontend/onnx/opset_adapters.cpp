#include "frontend/onnx/opset_adapters.h"

#include <functional>
#include <string>
#include <vector>

namespace kiln::onnx_frontend {

namespace {

using ir::OpKind;

Result<ir::Value*> makeConstant(ir::Graph& graph, const ir::Node& node, const std::string& suffix, Tensor t) {
    std::string base = (node.name().empty() ? std::string(node.opType()) : node.name()) + "::" + suffix;
    std::string name = base;
    for (int i = 1; graph.findValue(name) != nullptr; ++i) name = base + "." + std::to_string(i);
    KILN_ASSIGN_OR_RETURN(ir::Value * v, graph.createValue(name));
    v->setConstant(std::move(t));
    return v;
}

//! Moves an ints attribute to input `index` as an int64 tensor (absent attribute → omitted input).
Status intsAttrToInput(ir::Graph& graph, ir::Node& node, const std::string& attr, size_t index) {
    auto values = node.attrs().getInts(attr);
    node.attrs().erase(attr);
    if (!values) return Status::ok();
    const auto count = static_cast<int64_t>(values->size());
    KILN_ASSIGN_OR_RETURN(ir::Value * v, makeConstant(graph, node, attr, Tensor::fromVector(*values, {count})));
    node.setInput(index, v);
    return Status::ok();
}

Status floatAttrToInput(ir::Graph& graph, ir::Node& node, const std::string& attr, size_t index, DataType dtype) {
    auto value = node.attrs().get<float>(attr);
    node.attrs().erase(attr);
    if (!value) return Status::ok();
    Tensor t(dtype, {});
    switch (dtype) {
        case DataType::kFloat64: *t.data<double>() = *value; break;
        case DataType::kFloat16: *t.data<Half>() = Half(*value); break;
        case DataType::kBFloat16: *t.data<BFloat16>() = BFloat16(*value); break;
        default: *t.data<float>() = *value; break;
    }
    KILN_ASSIGN_OR_RETURN(ir::Value * v, makeConstant(graph, node, attr, std::move(t)));
    node.setInput(index, v);
    return Status::ok();
}

DataType firstInputType(const ir::Node& node) { return node.input(0) ? node.input(0)->dtype() : DataType::kFloat32; }

struct Adapter {
    std::string_view opType;  // ai.onnx domain
    int64_t fromOpset;
    int64_t toOpset;
    std::function<Status(ir::Graph&, ir::Node&)> apply;
};

Status axesToInput1(ir::Graph& g, ir::Node& n) { return intsAttrToInput(g, n, "axes", 1); }

const std::vector<Adapter>& adapters() {
    static const std::vector<Adapter> kAdapters = {
        // axes/split attributes became input 1 in opset 13.
        {"Squeeze", 1, 12, axesToInput1},
        {"Unsqueeze", 1, 12, axesToInput1},
        {"ReduceSum", 1, 12, axesToInput1},
        {"Split", 1, 12, [](ir::Graph& g, ir::Node& n) { return intsAttrToInput(g, n, "split", 1); }},
        // Slice took starts/ends/axes as attributes before opset 10.
        {"Slice", 1, 9,
         [](ir::Graph& g, ir::Node& n) {
             KILN_RETURN_IF_ERROR(intsAttrToInput(g, n, "starts", 1));
             KILN_RETURN_IF_ERROR(intsAttrToInput(g, n, "ends", 2));
             return intsAttrToInput(g, n, "axes", 3);
         }},
        // Pad took pads/value as attributes before opset 11.
        {"Pad", 1, 10,
         [](ir::Graph& g, ir::Node& n) {
             if (auto paddings = n.attrs().getInts("paddings"); paddings && !n.attrs().has("pads")) {
                 n.attrs().set("pads", *paddings);
             }
             n.attrs().erase("paddings");
             KILN_RETURN_IF_ERROR(intsAttrToInput(g, n, "pads", 1));
             return floatAttrToInput(g, n, "value", 2, firstInputType(n));
         }},
        // Clip took min/max as attributes before opset 11.
        {"Clip", 1, 10,
         [](ir::Graph& g, ir::Node& n) {
             KILN_RETURN_IF_ERROR(floatAttrToInput(g, n, "min", 1, firstInputType(n)));
             return floatAttrToInput(g, n, "max", 2, firstInputType(n));
         }},
        // TopK took k as an attribute before opset 10.
        {"TopK", 1, 9,
         [](ir::Graph& g, ir::Node& n) {
             auto k = n.attrs().get<int64_t>("k");
             n.attrs().erase("k");
             if (!k) return invalidModel(n.describe() + ": TopK-1 needs attribute k");
             KILN_ASSIGN_OR_RETURN(ir::Value * v, makeConstant(g, n, "k", Tensor::fromVector<int64_t>({*k}, {1})));
             n.setInput(1, v);
             return Status::ok();
         }},
        // Dropout took ratio as an attribute before opset 12 (inference ignores it; kept for completeness).
        {"Dropout", 1, 11,
         [](ir::Graph& g, ir::Node& n) { return floatAttrToInput(g, n, "ratio", 1, DataType::kFloat32); }},
        // Resize-10 had inputs (X, scales); opset 11 added roi between them.
        {"Resize", 10, 10,
         [](ir::Graph& /*g*/, ir::Node& n) {
             ir::Value* scales = n.input(1);
             n.setInput(1, nullptr);
             n.setInput(2, scales);
             return Status::ok();
         }},
    };
    return kAdapters;
}

}  // namespace

Status adaptToLatestOpset(ir::Graph& graph, ir::Node& node) {
    for (const Adapter& a : adapters()) {
        if (a.opType == node.opType() && node.opset() >= a.fromOpset && node.opset() <= a.toOpset) {
            return a.apply(graph, node).withContext(node.describe());
        }
    }
    return Status::ok();
}

}  // namespace kiln::onnx_frontend
