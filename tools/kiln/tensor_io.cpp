#include "tensor_io.h"

#include <cstring>
#include <fstream>
#include <sstream>

#include "cli.h"
#include "files.h"
#include "frontend/onnx/tensor_proto.h"

namespace kiln::cli {

namespace {

Result<std::string> readAll(const std::string& path, const std::string& what) {
    KILN_RETURN_IF_ERROR(checkReadable(path, what));
    std::ifstream in(path, std::ios::binary);
    std::ostringstream ss;
    ss << in.rdbuf();
    return ss.str();
}

}  // namespace

Result<Tensor> readNpy(const std::string& path) {
    KILN_RETURN_IF_ERROR(checkReadable(path, "input file"));
    return examples::readNpy(path);
}

Status writeNpy(const std::string& path, const Tensor& tensor) { return examples::writeNpy(path, tensor); }

Result<Tensor> readRaw(const std::string& path, DataType dtype, const Shape& shape) {
    KILN_ASSIGN_OR_RETURN(std::string bytes, readAll(path, "input file"));
    KILN_ASSIGN_OR_RETURN(Tensor t, Tensor::allocate(dtype, shape));
    if (bytes.size() != t.byteSize()) {
        return invalidArgument("'" + path + "' holds " + std::to_string(bytes.size()) + " bytes; " + t.describe() +
                               " needs " + std::to_string(t.byteSize()));
    }
    if (!bytes.empty()) std::memcpy(t.raw(), bytes.data(), bytes.size());
    return t;
}

Result<InputFile> parseInputFlag(const std::string& text, const std::string& flag) {
    const size_t colon = text.find(':');
    if (colon == std::string::npos || colon == 0 || colon + 1 == text.size()) {
        return invalidArgument(
            flag + " '" + text +
            "': expected name:file.npy, name:file.pb (ONNX TensorProto) or name:file.bin with --shapes");
    }
    return InputFile{text.substr(0, colon), text.substr(colon + 1)};
}

Result<std::map<std::string, Tensor>> loadInputFiles(const Engine& engine, const std::vector<InputFile>& files,
                                                     const std::map<std::string, Shape>& shapes) {
    std::map<std::string, Tensor> out;
    for (const InputFile& f : files) {
        auto mode = engine.getTensorIOMode(f.name);
        if (!mode || *mode != TensorIOMode::kINPUT) {
            return notFound("--input '" + f.name + ":" + f.path + "': the engine has no input '" + f.name + "'");
        }
        KILN_ASSIGN_OR_RETURN(DataType dtype, engine.getTensorDataType(f.name));
        auto endsWith = [&](const char* ext) {
            const size_t n = std::strlen(ext);
            return f.path.size() > n && f.path.compare(f.path.size() - n, n, ext) == 0;
        };
        Result<Tensor> t = Tensor();
        if (endsWith(".npy")) {
            t = readNpy(f.path);
        } else if (endsWith(".pb")) {
            // An ONNX TensorProto, as in the ONNX test data sets (test_data_set_*/input_N.pb) and Polygraphy.
            KILN_RETURN_IF_ERROR(checkReadable(f.path, "input file"));
            t = onnx_frontend::readTensorProtoFile(f.path);
        } else {
            Shape shape;
            if (auto it = shapes.find(f.name); it != shapes.end()) {
                shape = it->second;
            } else {
                KILN_ASSIGN_OR_RETURN(shape, engine.getTensorShape(f.name));
                for (int64_t d : shape) {
                    if (d < 0) {
                        return invalidArgument("--input '" + f.name + ":" + f.path + "': raw data has no shape and '" +
                                               f.name + "' is dynamic " + shapeToString(shape) + ": add --shapes " +
                                               f.name + ":...");
                    }
                }
            }
            t = readRaw(f.path, dtype, shape);
        }
        if (!t) return t.status();
        if (t->dtype() != dtype) {
            return invalidArgument("'" + f.path + "' holds " + dataTypeName(t->dtype()) + ", input '" + f.name +
                                   "' is " + dataTypeName(dtype));
        }
        out[f.name] = std::move(t).value();
    }
    return out;
}

}  // namespace kiln::cli
