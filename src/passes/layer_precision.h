// Layer precision overrides (BuilderConfig::setLayerPrecision, TensorRT's ILayer::setPrecision): which nodes are
// pinned to which precision. The builder resolves the overrides against the imported graph before any pass runs
// (so they name the model's nodes, not the fused ones) and records each pin on its node as the string attribute
// kPrecisionAttr; the fusions carry it (and refuse to merge a node into one pinned otherwise), and the precision
// lowering (precision_lowering.h) obeys it. The attribute travels in the engine file, so `kiln inspect` shows it.
#pragma once

#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "ir/graph.h"
#include "kiln/status.h"

namespace kiln::passes {

//! Node attribute holding a pinned precision: "fp32", "fp16" or "bf16".
inline constexpr const char* kPrecisionAttr = "kiln_precision";
//! Set by the lowering on a node pinned to a precision it has no kernel for under "prefer" (it stays fp32).
inline constexpr const char* kPrecisionUnmetAttr = "kiln_precision_unmet";

//! One override: nodes matching `pattern` compute in `dtype`.
struct LayerPrecision {
    std::string pattern;  //!< A node name with `*` (any run of characters) and `?` (one character); "op:Softmax"
                          //!< matches by op type instead. Unnamed nodes match by their first output's name.
    DataType dtype = DataType::kFloat32;
};

//! Shell-style match of the whole `text`: `*` matches any run of characters (empty too), `?` exactly one.
bool globMatch(std::string_view pattern, std::string_view text);

//! Whether `pattern` (as in LayerPrecision) selects `node`.
bool matchesNode(std::string_view pattern, const ir::Node& node);

//! "fp32", "fp16", "bf16" (and "float32", "float16", "bfloat16") → the dtype; nullopt for anything else.
std::optional<DataType> parsePrecisionName(std::string_view name);
//! "fp32", "fp16", "bf16"; the dtype's own name for others.
std::string precisionName(DataType dtype);

//! Pins the main graph's nodes: for each node the last override that matches it wins (as trtexec's
//! --layerPrecisions reads left to right). Returns the number of pinned nodes. Fails (kNotFound) naming the
//! pattern when an override matches no node, and (kInvalidArgument) for a dtype other than fp32/fp16/bf16.
Result<int64_t> applyLayerPrecisions(ir::Graph& graph, const std::vector<LayerPrecision>& overrides);

//! The precision `node` is pinned to, if any.
std::optional<DataType> pinnedPrecision(const ir::Node& node);

//! Whether a fusion may fold `absorbed` into `into` (whose pin the fused node keeps): true unless `absorbed` is
//! pinned to another precision than `into`.
bool pinsAllowMerge(const ir::Node& into, const ir::Node& absorbed);

//! The overrides as engine build options, "layer_precision.<i>" = "<pattern>:<fp32|fp16|bf16>" in order (a
//! changed override makes an engine stale), and back.
void encodeLayerPrecisions(const std::vector<LayerPrecision>& overrides, std::map<std::string, std::string>& options);
std::vector<LayerPrecision> decodeLayerPrecisions(const std::map<std::string, std::string>& options);

}  // namespace kiln::passes
