// Expands nodes Kiln has no kernel for into their ONNX function bodies (model-local FunctionProtos first, then
// the function bodies ONNX's schemas define, e.g. Celu or MeanVarianceNormalization), as ONNX Runtime does.
#pragma once

#include <onnx/onnx_pb.h>

#include "kiln/status.h"

namespace kiln::onnx_frontend {

//! Rewrites `model` in place; repeats until no expandable node is left (nesting capped).
Status inlineFunctions(onnx::ModelProto& model);

}  // namespace kiln::onnx_frontend
