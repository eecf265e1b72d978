// Rewrites legacy opset forms of an op to the newest form, so each reference kernel handles one form.
// Keyed by (op, opset range) as ONNX Runtime keys its versioned kernels.
#pragma once

#include "ir/graph.h"
#include "kiln/status.h"

namespace kiln::onnx_frontend {

//! Applies the adapter registered for (node.op(), node.opset()), if any.
Status adaptToLatestOpset(ir::Graph& graph, ir::Node& node);

}  // namespace kiln::onnx_frontend
