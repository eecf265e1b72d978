#include "frontend/onnx/tensor_proto.h"

#include <cstring>
#include <filesystem>
#include <fstream>
#include <limits>

#include "common/dispatch.h"

namespace kiln::onnx_frontend {

namespace fs = std::filesystem;

DataType dataTypeFromOnnx(int32_t elemType) {
    switch (elemType) {
        case onnx::TensorProto::FLOAT: return DataType::kFloat32;
        case onnx::TensorProto::UINT8: return DataType::kUInt8;
        case onnx::TensorProto::INT8: return DataType::kInt8;
        case onnx::TensorProto::UINT16: return DataType::kUInt16;
        case onnx::TensorProto::INT16: return DataType::kInt16;
        case onnx::TensorProto::INT32: return DataType::kInt32;
        case onnx::TensorProto::INT64: return DataType::kInt64;
        case onnx::TensorProto::STRING: return DataType::kString;
        case onnx::TensorProto::BOOL: return DataType::kBool;
        case onnx::TensorProto::FLOAT16: return DataType::kFloat16;
        case onnx::TensorProto::DOUBLE: return DataType::kFloat64;
        case onnx::TensorProto::UINT32: return DataType::kUInt32;
        case onnx::TensorProto::UINT64: return DataType::kUInt64;
        case onnx::TensorProto::BFLOAT16: return DataType::kBFloat16;
        default: return DataType::kUndefined;
    }
}

namespace {

std::string tensorLabel(const onnx::TensorProto& proto) {
    return "tensor '" + proto.name() + "'";
}

Result<std::string> readExternalData(const onnx::TensorProto& proto, const std::string& baseDir, size_t expected) {
    std::string location;
    int64_t offset = 0;
    int64_t length = -1;
    for (const auto& kv : proto.external_data()) {
        try {
            if (kv.key() == "location") location = kv.value();
            else if (kv.key() == "offset") offset = std::stoll(kv.value());
            else if (kv.key() == "length") length = std::stoll(kv.value());
        } catch (const std::exception&) {
            return invalidModel(tensorLabel(proto) + ": bad external_data " + kv.key() + " '" + kv.value() + "'");
        }
    }
    if (location.empty()) return invalidModel(tensorLabel(proto) + ": external data has no location");
    const fs::path rel(location);
    if (rel.is_absolute() || location.find("..") != std::string::npos) {
        return invalidModel(tensorLabel(proto) + ": external data path '" + location +
                            "' must be relative and stay inside the model's folder");
    }
    const fs::path path = fs::path(baseDir) / rel;
    std::error_code ec;
    const auto fileSize = fs::file_size(path, ec);
    if (ec) return notFound(tensorLabel(proto) + ": external data file '" + path.string() + "' not found");
    if (length < 0) length = static_cast<int64_t>(expected);
    if (offset < 0 || static_cast<uint64_t>(offset) + static_cast<uint64_t>(length) > fileSize) {
        return invalidModel(tensorLabel(proto) + ": external data range [" + std::to_string(offset) + ", +" +
                            std::to_string(length) + ") is past the end of '" + path.string() + "' (" +
                            std::to_string(fileSize) + " bytes)");
    }
    if (static_cast<size_t>(length) != expected) {
        return invalidModel(tensorLabel(proto) + ": external data holds " + std::to_string(length) +
                            " bytes, shape needs " + std::to_string(expected));
    }
    std::ifstream in(path, std::ios::binary);
    if (!in) return ioError(tensorLabel(proto) + ": cannot open external data file '" + path.string() + "'");
    std::string bytes(static_cast<size_t>(length), '\0');
    in.seekg(offset);
    in.read(bytes.data(), length);
    if (!in) return ioError(tensorLabel(proto) + ": short read from '" + path.string() + "'");
    return bytes;
}

template <typename Field, typename T, typename Convert>
Status copyTyped(const Field& field, int64_t numel, T* out, const onnx::TensorProto& proto, const char* fieldName,
                 Convert convert) {
    if (field.size() != numel) {
        return invalidModel(tensorLabel(proto) + ": shape has " + std::to_string(numel) + " elements but " +
                            fieldName + " holds " + std::to_string(field.size()));
    }
    for (int64_t i = 0; i < numel; ++i) out[i] = convert(field.Get(static_cast<int>(i)));
    return Status::ok();
}

}  // namespace

Result<Tensor> tensorFromProto(const onnx::TensorProto& proto, const std::string& baseDir) {
    const DataType type = dataTypeFromOnnx(proto.data_type());
    if (type == DataType::kUndefined) {
        return unsupported(tensorLabel(proto) + ": element type " + std::to_string(proto.data_type()) +
                           " is not supported");
    }
    Shape shape;
    int64_t numel = 1;
    for (int64_t d : proto.dims()) {
        if (d < 0) return invalidModel(tensorLabel(proto) + ": negative dimension " + std::to_string(d));
        if (d != 0 && numel > std::numeric_limits<int64_t>::max() / 16 / d) {
            return invalidModel(tensorLabel(proto) + ": dims overflow");
        }
        numel *= d;
        shape.push_back(d);
    }
    if (proto.has_segment()) return unsupported(tensorLabel(proto) + ": segmented tensors are not supported");

    if (type == DataType::kString) {
        if (proto.string_data_size() != numel) {
            return invalidModel(tensorLabel(proto) + ": shape has " + std::to_string(numel) + " elements but " +
                                "string_data holds " + std::to_string(proto.string_data_size()));
        }
        Tensor t(type, shape);
        for (int64_t i = 0; i < numel; ++i) t.strings()[i] = proto.string_data(static_cast<int>(i));
        return t;
    }

    const size_t expectedBytes = static_cast<size_t>(numel) * dataTypeSize(type);
    const bool external = proto.data_location() == onnx::TensorProto::EXTERNAL;
    std::string externalBytes;
    const std::string* raw = nullptr;
    if (external) {
        KILN_ASSIGN_OR_RETURN(externalBytes, readExternalData(proto, baseDir, expectedBytes));
        raw = &externalBytes;
    } else if (proto.has_raw_data()) {
        raw = &proto.raw_data();
        if (raw->size() != expectedBytes) {
            return invalidModel(tensorLabel(proto) + ": shape " + shapeToString(shape) + " of " +
                                dataTypeName(type) + " needs " + std::to_string(expectedBytes) +
                                " bytes but raw_data holds " + std::to_string(raw->size()));
        }
    }
    // Check the typed fields' counts before allocating, so a huge claimed shape with little data fails cleanly.
    if (raw == nullptr) {
        int64_t present = 0;
        switch (type) {
            case DataType::kFloat32: present = proto.float_data_size(); break;
            case DataType::kFloat64: present = proto.double_data_size(); break;
            case DataType::kInt64: present = proto.int64_data_size(); break;
            case DataType::kUInt32: case DataType::kUInt64: present = proto.uint64_data_size(); break;
            default: present = proto.int32_data_size(); break;
        }
        if (present != numel) {
            return invalidModel(tensorLabel(proto) + ": shape " + shapeToString(shape) + " has " +
                                std::to_string(numel) + " elements but the tensor holds " + std::to_string(present));
        }
    }
    KILN_ASSIGN_OR_RETURN(Tensor t, Tensor::allocate(type, shape));
    if (raw != nullptr) {
        if (expectedBytes > 0) std::memcpy(t.raw(), raw->data(), expectedBytes);
        return t;
    }
    auto asIs = [](auto v) { return v; };
    switch (type) {
        case DataType::kFloat32:
            KILN_RETURN_IF_ERROR(copyTyped(proto.float_data(), numel, t.data<float>(), proto, "float_data", asIs));
            break;
        case DataType::kFloat64:
            KILN_RETURN_IF_ERROR(copyTyped(proto.double_data(), numel, t.data<double>(), proto, "double_data", asIs));
            break;
        case DataType::kInt64:
            KILN_RETURN_IF_ERROR(copyTyped(proto.int64_data(), numel, t.data<int64_t>(), proto, "int64_data", asIs));
            break;
        case DataType::kUInt32:
            KILN_RETURN_IF_ERROR(copyTyped(proto.uint64_data(), numel, t.data<uint32_t>(), proto, "uint64_data",
                                           [](uint64_t v) { return static_cast<uint32_t>(v); }));
            break;
        case DataType::kUInt64:
            KILN_RETURN_IF_ERROR(copyTyped(proto.uint64_data(), numel, t.data<uint64_t>(), proto, "uint64_data", asIs));
            break;
        case DataType::kFloat16: case DataType::kBFloat16: case DataType::kUInt16: case DataType::kInt16:
            KILN_RETURN_IF_ERROR(copyTyped(proto.int32_data(), numel, t.data<uint16_t>(), proto, "int32_data",
                                           [](int32_t v) { return static_cast<uint16_t>(v); }));
            break;
        case DataType::kInt32:
            KILN_RETURN_IF_ERROR(copyTyped(proto.int32_data(), numel, t.data<int32_t>(), proto, "int32_data", asIs));
            break;
        case DataType::kInt8: case DataType::kUInt8: case DataType::kBool:
            KILN_RETURN_IF_ERROR(copyTyped(proto.int32_data(), numel, t.data<uint8_t>(), proto, "int32_data",
                                           [](int32_t v) { return static_cast<uint8_t>(v); }));
            break;
        default: return internalError(tensorLabel(proto) + ": unhandled dtype");
    }
    return t;
}

Result<Tensor> readTensorProtoFile(const std::string& path, std::string* name) {
    std::ifstream in(path, std::ios::binary);
    if (!in) return notFound("cannot open tensor file '" + path + "'");
    std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    onnx::TensorProto proto;
    if (!proto.ParseFromString(bytes)) return invalidModel("'" + path + "' is not a serialized ONNX TensorProto");
    if (name) *name = proto.name();
    return tensorFromProto(proto, fs::path(path).parent_path().string());
}

void tensorToProto(const Tensor& tensor, const std::string& name, onnx::TensorProto& proto) {
    proto.Clear();
    proto.set_name(name);
    proto.set_data_type(static_cast<int32_t>(tensor.dtype()));
    for (int64_t d : tensor.shape()) proto.add_dims(d);
    if (tensor.dtype() == DataType::kString) {
        for (int64_t i = 0; i < tensor.numel(); ++i) proto.add_string_data(tensor.strings()[i]);
        return;
    }
    proto.set_raw_data(tensor.raw(), tensor.byteSize());
}

}  // namespace kiln::onnx_frontend
