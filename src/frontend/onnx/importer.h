// ONNX → Kiln IR.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include <onnx/onnx_pb.h>

#include "ir/graph.h"
#include "kiln/status.h"

namespace kiln::onnx_frontend {

//! Hard limit against hostile models (onnx-tensorrt caps subgraph nesting the same way): the main graph is depth 0.
inline constexpr int kMaxSubgraphDepth = 24;

//! One node Kiln cannot import, as `kiln check` lists it.
struct UnsupportedNode {
    std::string graph;   //!< "main" or the subgraph's name.
    int64_t index = -1;  //!< Index in its graph's node list.
    std::string name;
    std::string opType;
    std::string domain;
    int64_t opset = 0;
    std::string reason;
    //! "node 4 (Foo 'n4') in graph 'then': op Foo of domain 'ai.onnx' (opset 13) is not supported"; just the reason
    //! (with its graph) for things that are not nodes (index -1), such as a graph input of a sequence type.
    std::string describe() const;
};

struct ImportedModel {
    std::unique_ptr<ir::Graph> graph;
    std::string path;
    int64_t irVersion = 0;
    std::string producer;
};

//! Reads and parses a .onnx file. Errors name the file: missing, empty, truncated, not ONNX, too large.
Result<onnx::ModelProto> loadModelProto(const std::string& path);

//! Every node of the model (subgraphs included) that Kiln cannot import, all at once; empty means supported.
//! Fails instead when the model is malformed (a cycle, an undefined input, a weight whose data is missing or
//! short, ...). Reads no weights: their sizes and external files (resolved from `baseDir`) are only checked.
Result<std::vector<UnsupportedNode>> checkModel(const onnx::ModelProto& model, const std::string& baseDir);

//! Imports a parsed model. `baseDir` resolves external data. Fails listing every unsupported node.
Result<ImportedModel> importModel(const onnx::ModelProto& model, const std::string& baseDir);

//! loadModelProto + checkModel; errors are prefixed with the file name.
Result<std::vector<UnsupportedNode>> checkOnnxFile(const std::string& path);

//! loadModelProto + importModel; errors are prefixed with the file name.
Result<ImportedModel> importOnnxFile(const std::string& path);

}  // namespace kiln::onnx_frontend
