#include "passes/layer_precision.h"

#include <algorithm>

namespace kiln::passes {

bool globMatch(std::string_view pattern, std::string_view text) {
    // Greedy with one backtrack point (the last `*`): linear in practice, never exponential.
    size_t p = 0, t = 0;
    size_t star = std::string_view::npos, resume = 0;
    while (t < text.size()) {
        if (p < pattern.size() && (pattern[p] == '?' || pattern[p] == text[t])) {
            ++p;
            ++t;
        } else if (p < pattern.size() && pattern[p] == '*') {
            star = p++;
            resume = t;
        } else if (star != std::string_view::npos) {
            p = star + 1;
            t = ++resume;
        } else {
            return false;
        }
    }
    while (p < pattern.size() && pattern[p] == '*') ++p;
    return p == pattern.size();
}

bool matchesNode(std::string_view pattern, const ir::Node& node) {
    constexpr std::string_view kOpPrefix = "op:";
    if (pattern.substr(0, kOpPrefix.size()) == kOpPrefix) {
        return globMatch(pattern.substr(kOpPrefix.size()), node.opType());
    }
    if (!node.name().empty()) return globMatch(pattern, node.name());
    const ir::Value* first = node.output(0);
    return first != nullptr && globMatch(pattern, first->name());
}

std::optional<DataType> parsePrecisionName(std::string_view name) {
    if (name == "fp32" || name == "float32") return DataType::kFloat32;
    if (name == "fp16" || name == "float16") return DataType::kFloat16;
    if (name == "bf16" || name == "bfloat16") return DataType::kBFloat16;
    return std::nullopt;
}

std::string precisionName(DataType dtype) {
    switch (dtype) {
        case DataType::kFloat32: return "fp32";
        case DataType::kFloat16: return "fp16";
        case DataType::kBFloat16: return "bf16";
        default: return dataTypeName(dtype);
    }
}

Result<int64_t> applyLayerPrecisions(ir::Graph& graph, const std::vector<LayerPrecision>& overrides) {
    std::vector<int64_t> matched(overrides.size(), 0);
    for (const LayerPrecision& o : overrides) {
        if (o.dtype != DataType::kFloat32 && o.dtype != DataType::kFloat16 && o.dtype != DataType::kBFloat16) {
            return invalidArgument("layer precision override '" + o.pattern + "': " + dataTypeName(o.dtype) +
                                   " is not a layer precision (fp32, fp16 or bf16)");
        }
    }
    int64_t pinned = 0;
    for (const auto& node : graph.nodes()) {
        std::optional<size_t> last;
        for (size_t i = 0; i < overrides.size(); ++i) {
            if (matchesNode(overrides[i].pattern, *node)) {
                ++matched[i];
                last = i;
            }
        }
        if (!last) continue;
        node->attrs().set(kPrecisionAttr, precisionName(overrides[*last].dtype));
        ++pinned;
    }
    for (size_t i = 0; i < overrides.size(); ++i) {
        if (matched[i] == 0) {
            return notFound("layer precision override '" + overrides[i].pattern +
                            "' matches no node of the network (patterns match the model's node names, with * and ?, "
                            "or op types as op:Softmax)");
        }
    }
    return pinned;
}

std::optional<DataType> pinnedPrecision(const ir::Node& node) {
    if (!node.attrs().has(kPrecisionAttr)) return std::nullopt;
    return parsePrecisionName(node.attrs().getString(kPrecisionAttr));
}

bool pinsAllowMerge(const ir::Node& into, const ir::Node& absorbed) {
    const auto pin = pinnedPrecision(absorbed);
    return !pin || pin == pinnedPrecision(into);
}

void encodeLayerPrecisions(const std::vector<LayerPrecision>& overrides, std::map<std::string, std::string>& options) {
    for (size_t i = 0; i < overrides.size(); ++i) {
        options["layer_precision." + std::to_string(i)] =
            overrides[i].pattern + ":" + precisionName(overrides[i].dtype);
    }
}

std::vector<LayerPrecision> decodeLayerPrecisions(const std::map<std::string, std::string>& options) {
    constexpr std::string_view kPrefix = "layer_precision.";
    std::vector<std::pair<size_t, LayerPrecision>> indexed;
    for (const auto& [key, value] : options) {
        if (key.compare(0, kPrefix.size(), kPrefix) != 0) continue;
        const size_t colon = value.rfind(':');
        const auto dtype = colon == std::string::npos ? std::nullopt : parsePrecisionName(value.substr(colon + 1));
        size_t index = 0;
        try {
            index = std::stoul(key.substr(kPrefix.size()));
        } catch (...) {
            continue;  // not written by encodeLayerPrecisions: shown as a plain option, not as an override
        }
        if (dtype) indexed.push_back({index, LayerPrecision{value.substr(0, colon), *dtype}});
    }
    std::sort(indexed.begin(), indexed.end(), [](const auto& a, const auto& b) { return a.first < b.first; });
    std::vector<LayerPrecision> out;
    for (auto& [i, o] : indexed) out.push_back(std::move(o));
    return out;
}

}  // namespace kiln::passes
