// What an engine file holds, beyond the public API: `kiln inspect` and the build summary read the engine file's
// header and optimized graph directly (src/plan/engine_file.h), because kiln.h deliberately exposes only what an
// application needs to run an engine, not its layers.
#pragma once

#include <array>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "ir/graph.h"
#include "kiln/kiln.h"
#include "plan/engine_file.h"

namespace kiln::cli {

//! One layer (node) of the optimized graph.
struct LayerInfo {
    size_t index = 0;
    std::string name;
    std::string op;                  //!< "FusedConv", "Add", ...
    std::vector<std::string> fused;  //!< The ONNX ops a fused layer stands for: {"Conv", "Add (bias)", "Relu"}.
    std::string kernel;              //!< The backend's kernel: "cpu:FusedConv".
    std::string tactic;              //!< A CUDA build's timed choice, "[cudnn.fwd algo 1 ...]"; "" when none.
    std::string precision;           //!< Of its (first) output: "fp32", "fp16", "int64", ...
    std::string pinned;              //!< The precision a layer precision override pinned it to; "" when none.
    std::vector<std::string> outputs;
    std::string outputShape;   //!< Of the first output, symbolic dims by name ("Nx64x112x112").
    int64_t outputBytes = -1;  //!< Sum over its outputs (dynamic dims at the bound sizes); -1 when unknown.
    int64_t weightBytes = 0;   //!< Its constant inputs.
};

//! Loads an engine file for inspection: any backend and Kiln version (the header says which). `verifyBody`
//! checks the body checksum (slow for large engines; Runtime::loadEngineFile does it anyway).
Result<plan::EngineFile> readEngineFile(const std::string& path, bool verifyBody);

//! Sizes of symbolic dims ("batch" → 8), used for the memory of layers with dynamic shapes.
using DimBindings = std::map<std::string, int64_t>;

//! The symbolic dims of the graph's inputs bound to a profile's opt shapes (the profile as decoded from the
//! engine's build options); dims named by no input stay unknown.
DimBindings optBindings(const ir::Graph& graph, const std::map<std::string, std::array<Shape, 3>>& profile);

//! The layers of an optimized graph, in execution order; output memory uses `bindings` for symbolic dims.
std::vector<LayerInfo> describeLayers(const ir::Graph& graph, const std::string& backend,
                                      const DimBindings& bindings = {});

//! Precisions the engine was built to allow (from its recorded build options; pinned layers' included).
std::set<BuilderFlag> precisionFlagsOf(const plan::EngineMetadata& meta);

//! The layer precision overrides the engine was built with, in order ("*Softmax*", kFloat32).
std::vector<std::pair<std::string, DataType>> layerPrecisionsOf(const plan::EngineMetadata& meta);
//! "*Softmax*:fp32,op:Resize:fp32": overrides as --layer-precisions takes them.
std::string layerPrecisionsText(const std::vector<std::pair<std::string, DataType>>& pins);

//! Layer counts by op, e.g. {"FusedConv": 53, "MaxPool": 1}.
std::map<std::string, int> countOps(const std::vector<LayerInfo>& layers);

}  // namespace kiln::cli
