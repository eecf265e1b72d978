// kiln-npy-run: runs an engine file through the C++ API on .npy inputs and writes each output as <out>/<name>.npy,
// so that tests/python can check that Python and C++ give bit-identical outputs for the same engine and inputs.
//
//   kiln-npy-run --api enqueue|infer ENGINE OUTDIR NAME=INPUT.npy...
//
// enqueue: setInputShape + setTensorAddress + enqueue (output buffers sized from a first infer() when an output
// shape is dynamic); infer: ExecutionContext::infer. Only little-endian, C-order arrays of numeric dtypes.
#include <cstdio>
#include <cstring>
#include <fstream>
#include <map>
#include <regex>
#include <sstream>
#include <string>
#include <vector>

#include "kiln/kiln.h"

using namespace kiln;

namespace {

class QuietLogger : public ILogger {
    void log(Severity severity, const char* msg) noexcept override {
        if (severity == Severity::kError) std::fprintf(stderr, "[kiln] %s\n", msg);
    }
};

struct NpyType {
    const char* descr;
    DataType type;
};
constexpr NpyType kNpyTypes[] = {
    {"<f4", DataType::kFloat32}, {"<f8", DataType::kFloat64}, {"<f2", DataType::kFloat16}, {"<i8", DataType::kInt64},
    {"<i4", DataType::kInt32},   {"<i2", DataType::kInt16},   {"|i1", DataType::kInt8},    {"|u1", DataType::kUInt8},
    {"<u2", DataType::kUInt16},  {"<u4", DataType::kUInt32},  {"<u8", DataType::kUInt64},  {"|b1", DataType::kBool},
};

Result<Tensor> readNpy(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    if (!in) return notFound(path + ": cannot open");
    std::string data((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    if (data.size() < 10 || data.compare(0, 6, "\x93NUMPY") != 0) return invalidArgument(path + ": not a .npy file");
    const int major = static_cast<unsigned char>(data[6]);
    size_t headerLen = 0;
    size_t start = 0;
    if (major == 1) {
        headerLen = static_cast<unsigned char>(data[8]) | (static_cast<unsigned char>(data[9]) << 8);
        start = 10;
    } else {
        if (data.size() < 12) return invalidArgument(path + ": truncated header");
        for (int i = 0; i < 4; ++i)
            headerLen |= static_cast<size_t>(static_cast<unsigned char>(data[8 + i])) << (8 * i);
        start = 12;
    }
    if (start + headerLen > data.size()) return invalidArgument(path + ": truncated header");
    const std::string header = data.substr(start, headerLen);
    std::smatch m;
    if (!std::regex_search(header, m, std::regex("'descr': *'([^']*)'"))) return invalidArgument(path + ": no descr");
    const std::string descr = m[1];
    if (header.find("'fortran_order': False") == std::string::npos) return unsupported(path + ": Fortran order");
    if (!std::regex_search(header, m, std::regex("'shape': *\\(([^)]*)\\)")))
        return invalidArgument(path + ": no shape");
    Shape shape;
    std::stringstream dims(m[1].str());
    for (std::string d; std::getline(dims, d, ',');) {
        if (d.find_first_not_of(' ') != std::string::npos) shape.push_back(std::stoll(d));
    }
    DataType type = DataType::kUndefined;
    for (const NpyType& t : kNpyTypes) {
        if (descr == t.descr) type = t.type;
    }
    if (type == DataType::kUndefined) return unsupported(path + ": dtype " + descr);
    KILN_ASSIGN_OR_RETURN(Tensor t, Tensor::allocate(type, shape));
    if (data.size() - start - headerLen != t.byteSize()) return invalidArgument(path + ": data size mismatch");
    std::memcpy(t.raw(), data.data() + start + headerLen, t.byteSize());
    return t;
}

Status writeNpy(const std::string& path, const Tensor& t) {
    const char* descr = nullptr;
    for (const NpyType& n : kNpyTypes) {
        if (n.type == t.dtype()) descr = n.descr;
    }
    if (descr == nullptr) return unsupported(path + ": dtype " + dataTypeName(t.dtype()));
    std::string dims;
    for (int64_t d : t.shape()) dims += std::to_string(d) + ",";
    if (t.rank() > 1) dims.pop_back();
    std::string header = std::string("{'descr': '") + descr + "', 'fortran_order': False, 'shape': (" + dims + "), }";
    header.append(64 - (10 + header.size() + 1) % 64, ' ');  // data starts 64-byte aligned
    header += '\n';
    std::ofstream out(path, std::ios::binary);
    out << "\x93NUMPY" << '\x01' << '\x00' << static_cast<char>(header.size() & 0xff)
        << static_cast<char>(header.size() >> 8) << header;
    out.write(static_cast<const char*>(t.raw()), static_cast<std::streamsize>(t.byteSize()));
    return out ? Status::ok() : ioError(path + ": write failed");
}

Result<std::map<std::string, Tensor>> runEnqueue(const Engine& engine, ExecutionContext& context,
                                                 const std::map<std::string, Tensor>& inputs) {
    // Output shapes: a first infer() tells them when the engine cannot say before running (dynamic dims).
    KILN_ASSIGN_OR_RETURN(auto sizing, context.infer(inputs));
    std::map<std::string, Tensor> outputs;
    for (int32_t i = 0; i < engine.getNbIOTensors(); ++i) {
        KILN_ASSIGN_OR_RETURN(std::string name, engine.getIOTensorName(i));
        KILN_ASSIGN_OR_RETURN(TensorIOMode mode, engine.getTensorIOMode(name));
        if (mode == TensorIOMode::kINPUT) {
            const Tensor& in = inputs.at(name);
            KILN_RETURN_IF_ERROR(context.setInputShape(name, in.shape()));
            KILN_RETURN_IF_ERROR(context.setTensorAddress(name, const_cast<void*>(in.raw()), in.byteSize()));
        } else {
            const Tensor& like = sizing.at(name);
            KILN_ASSIGN_OR_RETURN(Tensor out, Tensor::allocate(like.dtype(), like.shape()));
            KILN_RETURN_IF_ERROR(context.setTensorAddress(name, out.raw(), out.byteSize()));
            outputs.emplace(name, out);
        }
    }
    KILN_RETURN_IF_ERROR(context.enqueue(nullptr));
    return outputs;
}

Status run(const std::string& api, const std::string& enginePath, const std::string& outDir,
           const std::vector<std::string>& inputArgs) {
    QuietLogger logger;
    Runtime runtime(logger);
    KILN_ASSIGN_OR_RETURN(auto engine, runtime.loadEngineFile(enginePath));
    KILN_ASSIGN_OR_RETURN(auto context, engine->createExecutionContext());
    std::map<std::string, Tensor> inputs;
    for (const std::string& arg : inputArgs) {
        const size_t eq = arg.find('=');
        if (eq == std::string::npos) return invalidArgument("expected NAME=FILE.npy, got '" + arg + "'");
        KILN_ASSIGN_OR_RETURN(Tensor t, readNpy(arg.substr(eq + 1)));
        inputs.emplace(arg.substr(0, eq), t);
    }
    std::map<std::string, Tensor> outputs;
    if (api == "infer") {
        KILN_ASSIGN_OR_RETURN(outputs, context->infer(inputs));
    } else if (api == "enqueue") {
        KILN_ASSIGN_OR_RETURN(outputs, runEnqueue(*engine, *context, inputs));
    } else {
        return invalidArgument("--api must be enqueue or infer, got '" + api + "'");
    }
    for (const auto& [name, t] : outputs) KILN_RETURN_IF_ERROR(writeNpy(outDir + "/" + name + ".npy", t));
    return Status::ok();
}

}  // namespace

int main(int argc, char** argv) {
    if (argc < 5 || std::string(argv[1]) != "--api") {
        std::fprintf(stderr, "usage: %s --api enqueue|infer ENGINE OUTDIR NAME=INPUT.npy...\n", argv[0]);
        return 2;
    }
    const Status s = run(argv[2], argv[3], argv[4], std::vector<std::string>(argv + 5, argv + argc));
    if (!s) {
        std::fprintf(stderr, "kiln-npy-run: %s\n", s.message().c_str());
        return 1;
    }
    return 0;
}
