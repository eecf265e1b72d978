// Models shared by the CUDA graph tests: the CPU analysis tests (tests/unit/capture_analysis_test.cpp) and the GPU
// replay tests (tests/cuda/cuda_graph_test.cpp).
#pragma once

#include "model_builder.h"

namespace kiln::testing {

//! y = Reshape(Relu(x), shp) with x float32[2, 6] and `shp` an int64[2] graph input: Reshape reads its shape on the
//! host from device memory, so every enqueue downloads it and no CUDA graph can hold it.
inline onnx::ModelProto reshapeByInputModel() {
    onnx::ModelProto m = makeModel(13);
    auto& g = *m.mutable_graph();
    addInput(g, "x", onnx::TensorProto::FLOAT, {2, 6});
    addInput(g, "shp", onnx::TensorProto::INT64, {2});
    addNode(g, "Relu", {"x"}, {"r"}, "relu");
    addNode(g, "Reshape", {"r", "shp"}, {"y"}, "reshape");
    addTypedOutput(g, "y", onnx::TensorProto::FLOAT);
    return m;
}

}  // namespace kiln::testing
