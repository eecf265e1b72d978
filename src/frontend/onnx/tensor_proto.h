// onnx::TensorProto <-> kiln::Tensor.
#pragma once

#include <string>

#include <onnx/onnx_pb.h>

#include "kiln/tensor.h"

namespace kiln::onnx_frontend {

//! A TensorProto's dtype and shape.
struct TensorProtoInfo {
    DataType dtype = DataType::kUndefined;
    Shape shape;
};

//! Checks a TensorProto as tensorFromProto does (dtype, dims, data size, external file and range) without
//! reading or copying its data; `kiln check` uses it to vet weights cheaply.
Result<TensorProtoInfo> inspectTensorProto(const onnx::TensorProto& proto, const std::string& baseDir);

//! Converts a TensorProto. `baseDir` resolves external data (relative to the model file); external paths must
//! stay inside it. Element counts are checked against the bytes present before anything is allocated.
Result<Tensor> tensorFromProto(const onnx::TensorProto& proto, const std::string& baseDir);

//! Reads a file holding one serialized TensorProto (the ONNX test-data format).
Result<Tensor> readTensorProtoFile(const std::string& path, std::string* name = nullptr);

//! Fills `proto` from a tensor (raw_data for numeric types).
void tensorToProto(const Tensor& tensor, const std::string& name, onnx::TensorProto& proto);

//! DataType from an ONNX elem type, kUndefined for types Kiln does not know (complex, float8...).
DataType dataTypeFromOnnx(int32_t elemType);

}  // namespace kiln::onnx_frontend
