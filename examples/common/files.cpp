#include "files.h"

#include <cctype>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <sstream>

namespace kiln::examples {

namespace {

struct NpyType {
    DataType dtype;
    const char* descr;  // little-endian NumPy descr
};

constexpr NpyType kNpyTypes[] = {
    {DataType::kFloat32, "<f4"}, {DataType::kFloat64, "<f8"}, {DataType::kFloat16, "<f2"}, {DataType::kInt8, "|i1"},
    {DataType::kInt16, "<i2"},   {DataType::kInt32, "<i4"},   {DataType::kInt64, "<i8"},   {DataType::kUInt8, "|u1"},
    {DataType::kUInt16, "<u2"},  {DataType::kUInt32, "<u4"},  {DataType::kUInt64, "<u8"},  {DataType::kBool, "|b1"},
};

//! The value of `key` in the header dict: "'descr': '<f4'" → "<f4"; "(1, 3)" for the shape.
std::string headerField(const std::string& header, const std::string& key) {
    const size_t k = header.find("'" + key + "'");
    if (k == std::string::npos) return {};
    size_t v = header.find(':', k);
    if (v == std::string::npos) return {};
    ++v;
    while (v < header.size() && header[v] == ' ') ++v;
    if (v >= header.size()) return {};
    if (header[v] == '\'') {
        const size_t end = header.find('\'', v + 1);
        return end == std::string::npos ? std::string{} : header.substr(v + 1, end - v - 1);
    }
    if (header[v] == '(') {
        const size_t end = header.find(')', v);
        return end == std::string::npos ? std::string{} : header.substr(v, end - v + 1);
    }
    const size_t end = header.find_first_of(",}", v);
    return header.substr(v, end == std::string::npos ? std::string::npos : end - v);
}

Result<Shape> parseTupleShape(const std::string& tuple, const std::string& path) {
    Shape shape;
    std::string inner = tuple.size() >= 2 ? tuple.substr(1, tuple.size() - 2) : "";
    std::stringstream ss(inner);
    std::string item;
    while (std::getline(ss, item, ',')) {
        if (item.find_first_not_of(' ') == std::string::npos) continue;
        try {
            const long long d = std::stoll(item);
            if (d < 0) throw std::out_of_range("negative");
            shape.push_back(d);
        } catch (...) {
            return invalidArgument("'" + path + "': malformed .npy shape " + tuple);
        }
    }
    return shape;
}

}  // namespace

Result<Tensor> readNpy(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    if (!in) return notFound("cannot read '" + path + "': " + std::strerror(errno));
    std::ostringstream ss;
    ss << in.rdbuf();
    const std::string bytes = ss.str();
    if (bytes.size() < 10 || bytes.compare(0, 6, "\x93NUMPY") != 0) {
        return invalidArgument("'" + path + "' is not a .npy file (no \\x93NUMPY magic)");
    }
    const int major = static_cast<unsigned char>(bytes[6]);
    size_t headerLen = 0;
    size_t offset = 0;
    if (major == 1) {
        headerLen = static_cast<unsigned char>(bytes[8]) | static_cast<size_t>(static_cast<unsigned char>(bytes[9]))
                                                               << 8;
        offset = 10;
    } else if ((major == 2 || major == 3) && bytes.size() >= 12) {
        for (int i = 0; i < 4; ++i)
            headerLen |= static_cast<size_t>(static_cast<unsigned char>(bytes[8 + i])) << (8 * i);
        offset = 12;
    } else {
        return invalidArgument("'" + path + "': unsupported .npy format version " + std::to_string(major));
    }
    if (offset + headerLen > bytes.size()) return invalidArgument("'" + path + "': truncated .npy header");
    const std::string header = bytes.substr(offset, headerLen);
    const std::string descr = headerField(header, "descr");
    if (headerField(header, "fortran_order") == "True") {
        return invalidArgument("'" + path + "' is in Fortran order; save it with np.ascontiguousarray");
    }
    DataType dtype = DataType::kUndefined;
    for (const NpyType& t : kNpyTypes) {
        // "<f4", "|u1" or the byte-order-free "u1" for one-byte types.
        if (descr == t.descr || (descr.size() == 2 && descr == t.descr + 1 && t.descr[0] == '|')) dtype = t.dtype;
    }
    if (dtype == DataType::kUndefined) {
        return invalidArgument("'" + path + "': .npy dtype '" + descr +
                               "' is not supported (little-endian float16/32/64, int8-64, uint8-64 or bool)");
    }
    KILN_ASSIGN_OR_RETURN(Shape shape, parseTupleShape(headerField(header, "shape"), path));
    KILN_ASSIGN_OR_RETURN(Tensor t, Tensor::allocate(dtype, shape));
    const size_t dataStart = offset + headerLen;
    if (bytes.size() - dataStart != t.byteSize()) {
        return invalidArgument("'" + path + "': " + t.describe() + " needs " + std::to_string(t.byteSize()) +
                               " bytes of data, the file holds " + std::to_string(bytes.size() - dataStart));
    }
    if (t.byteSize() > 0) std::memcpy(t.raw(), bytes.data() + dataStart, t.byteSize());
    return t;
}

Status writeNpy(const std::string& path, const Tensor& tensor) {
    Tensor t = tensor;
    if (t.dtype() == DataType::kBFloat16) {
        t = Tensor(DataType::kFloat32, tensor.shape());
        for (int64_t i = 0; i < t.numel(); ++i) t.data<float>()[i] = static_cast<float>(tensor.getDouble(i));
    }
    const char* descr = nullptr;
    for (const NpyType& n : kNpyTypes) {
        if (n.dtype == t.dtype()) descr = n.descr;
    }
    if (descr == nullptr)
        return unsupported(std::string("cannot save a ") + dataTypeName(t.dtype()) + " tensor as .npy");
    std::string shape = "(";
    for (size_t i = 0; i < t.shape().size(); ++i) shape += (i ? ", " : "") + std::to_string(t.shape()[i]);
    shape += t.rank() == 1 ? ",)" : ")";  // NumPy writes (5,) for a 1-d shape
    std::string header = "{'descr': '" + std::string(descr) + "', 'fortran_order': False, 'shape': " + shape + ", }";
    // Data starts on a 64-byte boundary; the header ends with a newline.
    const size_t total = 10 + header.size() + 1;
    header.append((64 - total % 64) % 64, ' ');
    header += '\n';
    std::string prefix("\x93NUMPY\x01\x00", 8);
    prefix += static_cast<char>(header.size() & 0xff);
    prefix += static_cast<char>(header.size() >> 8);
    std::ofstream out(path, std::ios::binary | std::ios::trunc);
    if (!out) return ioError("cannot write '" + path + "': " + std::strerror(errno));
    out << prefix << header;
    out.write(static_cast<const char*>(t.raw()), static_cast<std::streamsize>(t.byteSize()));
    if (!out) return ioError("cannot write '" + path + "': " + std::strerror(errno));
    return Status::ok();
}

Result<std::vector<std::string>> readLabels(const std::string& path) {
    std::ifstream in(path);
    if (!in) return notFound("label file '" + path + "' cannot be read");
    std::vector<std::string> labels;
    for (std::string line; std::getline(in, line);) {
        if (!line.empty() && line.back() == '\r') line.pop_back();
        labels.push_back(line);
    }
    return labels;
}

std::string fileSafeName(const std::string& name) {
    std::string s = name;
    for (char& c : s) {
        if (!std::isalnum(static_cast<unsigned char>(c)) && c != '.' && c != '-' && c != '_') c = '_';
    }
    return s;
}

Tensor batchRow(const Tensor& t, int64_t row) {
    Shape shape = t.shape();
    const size_t rowBytes = shape[0] > 0 ? t.byteSize() / static_cast<size_t>(shape[0]) : 0;
    shape[0] = 1;
    auto* base = static_cast<uint8_t*>(const_cast<void*>(t.raw()));
    return Tensor::wrap(t.dtype(), shape, base + rowBytes * static_cast<size_t>(row));
}

}  // namespace kiln::examples
