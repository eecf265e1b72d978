#include "frontend/onnx/tensor_proto.h"

#include <cstring>
#include <filesystem>
#include <fstream>
#include <limits>
#include <optional>

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

std::string tensorLabel(const onnx::TensorProto& proto) { return "tensor '" + proto.name() + "'"; }

//! Where a tensor's external bytes are, checked against the file's size (nothing read yet).
struct ExternalRange {
    fs::path path;
    int64_t offset = 0;
    int64_t length = 0;
};

//! True when `location` is a relative path that cannot leave the model's folder.
bool staysInside(const fs::path& location) {
    if (location.empty() || location.is_absolute() || location.has_root_name() || location.has_root_directory()) {
        return false;
    }
    for (const auto& part : location) {
        if (part == "..") return false;
    }
    return true;
}

Result<ExternalRange> locateExternalData(const onnx::TensorProto& proto, const std::string& baseDir, size_t expected) {
    std::string location;
    int64_t offset = 0;
    int64_t length = -1;
    auto parseInt = [](const std::string& text, int64_t& out) {
        try {
            size_t used = 0;
            out = std::stoll(text, &used);
            return used == text.size();
        } catch (const std::exception&) {
            return false;
        }
    };
    for (const auto& kv : proto.external_data()) {
        bool ok = true;
        if (kv.key() == "location") location = kv.value();
        else if (kv.key() == "offset") ok = parseInt(kv.value(), offset);
        else if (kv.key() == "length") ok = parseInt(kv.value(), length);
        if (!ok) return invalidModel(tensorLabel(proto) + ": bad external_data " + kv.key() + " '" + kv.value() + "'");
    }
    if (location.empty()) return invalidModel(tensorLabel(proto) + ": external data has no location");
    if (!staysInside(fs::path(location))) {
        return invalidModel(tensorLabel(proto) + ": external data path '" + location +
                            "' must be relative and stay inside the model's folder");
    }
    ExternalRange range;
    range.path = fs::path(baseDir) / location;
    std::error_code ec;
    if (!fs::is_regular_file(range.path, ec)) {
        return notFound(tensorLabel(proto) + ": external data file '" + range.path.string() + "' not found");
    }
    const auto fileSize = fs::file_size(range.path, ec);
    if (ec) return ioError(tensorLabel(proto) + ": cannot read '" + range.path.string() + "': " + ec.message());
    if (length < 0) length = static_cast<int64_t>(expected);
    if (offset < 0 || static_cast<uint64_t>(offset) + static_cast<uint64_t>(length) > fileSize) {
        return invalidModel(tensorLabel(proto) + ": external data range [" + std::to_string(offset) + ", +" +
                            std::to_string(length) + ") is past the end of '" + range.path.string() + "' (" +
                            std::to_string(fileSize) + " bytes)");
    }
    if (static_cast<size_t>(length) != expected) {
        return invalidModel(tensorLabel(proto) + ": external data holds " + std::to_string(length) +
                            " bytes, shape needs " + std::to_string(expected));
    }
    range.offset = offset;
    range.length = length;
    return range;
}

Status readExternalData(const onnx::TensorProto& proto, const ExternalRange& range, void* out) {
    std::ifstream in(range.path, std::ios::binary);
    if (!in) return ioError(tensorLabel(proto) + ": cannot open external data file '" + range.path.string() + "'");
    in.seekg(range.offset);
    in.read(static_cast<char*>(out), static_cast<std::streamsize>(range.length));
    if (!in) return ioError(tensorLabel(proto) + ": short read from '" + range.path.string() + "'");
    return Status::ok();
}

//! Elements present in the typed field that holds `type` (ONNX stores small types widened in int32_data).
int64_t typedFieldSize(const onnx::TensorProto& proto, DataType type) {
    switch (type) {
        case DataType::kFloat32: return proto.float_data_size();
        case DataType::kFloat64: return proto.double_data_size();
        case DataType::kInt64: return proto.int64_data_size();
        case DataType::kUInt32:
        case DataType::kUInt64: return proto.uint64_data_size();
        case DataType::kString: return proto.string_data_size();
        default: return proto.int32_data_size();
    }
}

template <typename Field, typename T, typename Convert>
void copyTyped(const Field& field, int64_t numel, T* out, Convert convert) {
    for (int64_t i = 0; i < numel; ++i) out[i] = convert(field.Get(static_cast<int>(i)));
}

//! The checked facts about a TensorProto that decoding needs.
struct Layout {
    TensorProtoInfo info;
    int64_t numel = 0;
    size_t bytes = 0;  //!< numel * element size (0 for strings).
    std::optional<ExternalRange> external;
};

Result<Layout> inspect(const onnx::TensorProto& proto, const std::string& baseDir) {
    Layout layout;
    const DataType type = dataTypeFromOnnx(proto.data_type());
    if (type == DataType::kUndefined) {
        return unsupported(tensorLabel(proto) + ": element type " + std::to_string(proto.data_type()) +
                           " is not supported");
    }
    int64_t numel = 1;
    for (int64_t d : proto.dims()) {
        if (d < 0) return invalidModel(tensorLabel(proto) + ": negative dimension " + std::to_string(d));
        if (d != 0 && numel > std::numeric_limits<int64_t>::max() / 16 / d) {
            return invalidModel(tensorLabel(proto) + ": dims overflow");
        }
        numel *= d;
        layout.info.shape.push_back(d);
    }
    layout.info.dtype = type;
    layout.numel = numel;
    if (proto.has_segment()) return unsupported(tensorLabel(proto) + ": segmented tensors are not supported");

    const Shape& shape = layout.info.shape;
    if (type != DataType::kString) layout.bytes = static_cast<size_t>(numel) * dataTypeSize(type);
    if (proto.data_location() == onnx::TensorProto::EXTERNAL) {
        if (type == DataType::kString) {
            return unsupported(tensorLabel(proto) + ": external data for string tensors is not supported");
        }
        KILN_ASSIGN_OR_RETURN(layout.external, locateExternalData(proto, baseDir, layout.bytes));
    } else if (proto.has_raw_data() && type != DataType::kString) {
        if (proto.raw_data().size() != layout.bytes) {
            return invalidModel(tensorLabel(proto) + ": shape " + shapeToString(shape) + " of " + dataTypeName(type) +
                                " needs " + std::to_string(layout.bytes) + " bytes but raw_data holds " +
                                std::to_string(proto.raw_data().size()));
        }
    } else if (const int64_t present = typedFieldSize(proto, type); present != numel) {
        // Checked before anything is allocated, so a huge claimed shape with little data fails cleanly.
        return invalidModel(tensorLabel(proto) + ": shape " + shapeToString(shape) + " has " + std::to_string(numel) +
                            " elements but the tensor holds " + std::to_string(present));
    }
    return layout;
}

}  // namespace

Result<TensorProtoInfo> inspectTensorProto(const onnx::TensorProto& proto, const std::string& baseDir) {
    KILN_ASSIGN_OR_RETURN(Layout layout, inspect(proto, baseDir));
    return std::move(layout.info);
}

Result<Tensor> tensorFromProto(const onnx::TensorProto& proto, const std::string& baseDir) {
    KILN_ASSIGN_OR_RETURN(Layout layout, inspect(proto, baseDir));
    const DataType type = layout.info.dtype;
    const int64_t numel = layout.numel;
    KILN_ASSIGN_OR_RETURN(Tensor t, Tensor::allocate(type, layout.info.shape));
    if (type == DataType::kString) {
        for (int64_t i = 0; i < numel; ++i) t.strings()[i] = proto.string_data(static_cast<int>(i));
        return t;
    }
    if (layout.external) {
        if (layout.bytes > 0) KILN_RETURN_IF_ERROR(readExternalData(proto, *layout.external, t.raw()));
        return t;
    }
    if (proto.has_raw_data()) {
        if (layout.bytes > 0) std::memcpy(t.raw(), proto.raw_data().data(), layout.bytes);
        return t;
    }
    auto asIs = [](auto v) { return v; };
    switch (type) {
        case DataType::kFloat32: copyTyped(proto.float_data(), numel, t.data<float>(), asIs); break;
        case DataType::kFloat64: copyTyped(proto.double_data(), numel, t.data<double>(), asIs); break;
        case DataType::kInt64: copyTyped(proto.int64_data(), numel, t.data<int64_t>(), asIs); break;
        case DataType::kUInt32:
            copyTyped(proto.uint64_data(), numel, t.data<uint32_t>(),
                      [](uint64_t v) { return static_cast<uint32_t>(v); });
            break;
        case DataType::kUInt64: copyTyped(proto.uint64_data(), numel, t.data<uint64_t>(), asIs); break;
        case DataType::kFloat16:
        case DataType::kBFloat16:
        case DataType::kUInt16:
        case DataType::kInt16:
            copyTyped(proto.int32_data(), numel, t.data<uint16_t>(),
                      [](int32_t v) { return static_cast<uint16_t>(v); });
            break;
        case DataType::kInt32: copyTyped(proto.int32_data(), numel, t.data<int32_t>(), asIs); break;
        case DataType::kInt8:
        case DataType::kUInt8:
        case DataType::kBool:
            copyTyped(proto.int32_data(), numel, t.data<uint8_t>(), [](int32_t v) { return static_cast<uint8_t>(v); });
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
