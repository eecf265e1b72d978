#include "engine_info.h"

#include "build_flags.h"
#include "passes/layer_precision.h"

namespace kiln::cli {

Result<plan::EngineFile> readEngineFile(const std::string& path, bool verifyBody) {
    plan::EngineExpectation any;
    any.kilnVersion.clear();
    any.backend.clear();
    any.verifyBodyChecksum = verifyBody;
    return plan::loadEngineFile(path, any);
}

namespace {

std::string precisionName(DataType t) {
    switch (t) {
        case DataType::kFloat32: return "fp32";
        case DataType::kFloat16: return "fp16";
        case DataType::kBFloat16: return "bf16";
        case DataType::kFloat64: return "fp64";
        default: return dataTypeName(t);
    }
}

//! What a FusedConv/FusedGemm/FusedMatMul absorbed, read back from its inputs and attributes
//! (src/passes/bias_activation_fusion.cpp): input 2 is the bias, input 3 the residual, "activation" the activation.
std::vector<std::string> fusedOps(const ir::Node& node) {
    const std::string op(node.opType());
    if (op.rfind("Fused", 0) != 0) return {};
    std::vector<std::string> ops{op.substr(5)};
    if (node.input(2) != nullptr) ops.emplace_back(op.rfind("FusedConv", 0) == 0 ? "bias" : "Add (bias)");
    if (node.input(3) != nullptr) ops.emplace_back("Add (residual)");
    const std::string act = node.attrs().getString("activation");
    if (!act.empty()) ops.push_back(act);
    return ops;
}

}  // namespace

DimBindings optBindings(const ir::Graph& graph, const std::map<std::string, std::array<Shape, 3>>& profile) {
    DimBindings bindings;
    for (const ir::Value* in : graph.inputs()) {
        auto it = profile.find(in->name());
        if (it == profile.end() || !in->shape()) continue;
        const Shape& opt = it->second[1];
        for (size_t i = 0; i < in->shape()->size() && i < opt.size(); ++i) {
            const ir::Dim& d = (*in->shape())[i];
            if (!d.isStatic() && !d.symbol.empty()) bindings[d.symbol] = opt[i];
        }
    }
    return bindings;
}

namespace {

//! Bytes of a value with its symbolic dims bound; -1 when a dim stays unknown.
int64_t boundBytes(const ir::Value& v, const DimBindings& bindings) {
    if (!v.shape()) return -1;
    int64_t n = 1;
    for (const ir::Dim& d : *v.shape()) {
        auto it = d.isStatic() ? bindings.end() : bindings.find(d.symbol);
        if (!d.isStatic() && it == bindings.end()) return -1;
        n *= d.isStatic() ? d.size : it->second;
    }
    return n * static_cast<int64_t>(dataTypeSize(v.dtype()));
}

}  // namespace

std::vector<LayerInfo> describeLayers(const ir::Graph& graph, const std::string& backend, const DimBindings& bindings) {
    std::vector<LayerInfo> layers;
    for (const auto& n : graph.nodes()) {
        LayerInfo l;
        l.index = layers.size();
        l.name = n->name();
        l.op = std::string(n->opType());
        l.fused = fusedOps(*n);
        l.kernel = backend + ":" + l.op;
        l.pinned = n->attrs().getString(passes::kPrecisionAttr);
        if (n->attrs().has("kiln_fusion_group")) {
            l.kernel += " (fusion group " + std::to_string(n->attrs().getInt("kiln_fusion_group", -1)) + ")";
        }
        // The CUDA build's timed choice ([signature, tactic], docs/cuda.md): the library call and its algorithm,
        // a cuBLASLt algorithm's opaque bytes shortened.
        if (auto tactic = n->attrs().getStrings("kiln_tactic"); tactic && tactic->size() == 2) {
            const std::string& text = (*tactic)[1];
            const size_t space = text.rfind(' ');
            const std::string tail = space == std::string::npos ? std::string() : text.substr(space);
            l.tactic = "[" + (*tactic)[0].substr(0, (*tactic)[0].find('|')) + " " +
                       (text.size() > 48 ? text.substr(0, 24) + "..." + tail : text) + "]";
            l.kernel += " " + l.tactic;
        }
        int64_t bytes = 0;
        for (const ir::Value* out : n->outputs()) {
            if (out == nullptr) continue;
            l.outputs.push_back(out->name());
            if (l.precision.empty()) {
                l.precision = precisionName(out->dtype());
                l.outputShape = ir::symbolicShapeToString(out->shape());
            }
            const int64_t b = boundBytes(*out, bindings);
            bytes = b < 0 || bytes < 0 ? -1 : bytes + b;
        }
        l.outputBytes = bytes;
        for (const ir::Value* in : n->inputs()) {
            if (in != nullptr && in->isConstant()) l.weightBytes += static_cast<int64_t>(in->constant().byteSize());
        }
        layers.push_back(std::move(l));
    }
    return layers;
}

std::set<BuilderFlag> precisionFlagsOf(const plan::EngineMetadata& meta) {
    std::set<BuilderFlag> flags;
    auto on = [&](const char* key) {
        auto it = meta.buildOptions.find(key);
        return it != meta.buildOptions.end() && it->second == "1";
    };
    if (on("fp16")) flags.insert(BuilderFlag::kFP16);
    if (on("bf16")) flags.insert(BuilderFlag::kBF16);
    if (on("tf32")) flags.insert(BuilderFlag::kTF32);
    if (on("int8")) flags.insert(BuilderFlag::kINT8);
    addPinnedPrecisions(layerPrecisionsOf(meta), flags);
    return flags;
}

std::vector<std::pair<std::string, DataType>> layerPrecisionsOf(const plan::EngineMetadata& meta) {
    std::vector<std::pair<std::string, DataType>> pins;
    for (const passes::LayerPrecision& p : passes::decodeLayerPrecisions(meta.buildOptions))
        pins.emplace_back(p.pattern, p.dtype);
    return pins;
}

std::string layerPrecisionsText(const std::vector<std::pair<std::string, DataType>>& pins) {
    std::string text;
    for (const auto& [pattern, dtype] : pins)
        text += (text.empty() ? "" : ",") + pattern + ":" + passes::precisionName(dtype);
    return text;
}

std::map<std::string, int> countOps(const std::vector<LayerInfo>& layers) {
    std::map<std::string, int> counts;
    for (const LayerInfo& l : layers) ++counts[l.op];
    return counts;
}

}  // namespace kiln::cli
