#include "arrays.h"

#include <cstring>

#include "errors.h"

namespace kiln::python {
namespace py = pybind11;

namespace {

// DLPack's DLDeviceType values for memory the CPU can address directly (dlpack.h).
constexpr int kDLCPU = 1;

py::module_ numpy() { return py::module_::import("numpy"); }

Shape shapeOf(const py::array& a) {
    Shape s;
    for (py::ssize_t i = 0; i < a.ndim(); ++i) s.push_back(static_cast<int64_t>(a.shape(i)));
    return s;
}

std::string dtypeText(const py::dtype& d) { return d.attr("name").cast<std::string>(); }

//! A host numpy array for `name`: checked against `expected`, copied only when Kiln cannot read it in place.
ArrayArg hostArray(py::array a, std::string protocol, const std::string& name, DataType expected) {
    const DataType type = kilnDtype(a.dtype());
    const std::string what = "input '" + name + "'";
    const std::string wants = std::string("the engine expects ") + dataTypeName(expected);
    if (type == DataType::kUndefined) {
        throw StatusError(invalidArgument(what + " has numpy dtype " + dtypeText(a.dtype()) +
                                          ", which Kiln has no type for; " + wants));
    }
    if (type != expected) {
        throw StatusError(invalidArgument(what + " is " + dataTypeName(type) + ", " + wants +
                                          ": convert it first, e.g. x.astype(numpy." + dataTypeName(expected) + ")"));
    }
    std::string because;
    if (!a.dtype().attr("isnative").cast<bool>()) {
        because = "its byte order is not native";
    } else if (!(a.flags() & py::array::c_style)) {
        because = "it is not C-contiguous";
    } else if (!(a.flags() & py::detail::npy_api::NPY_ARRAY_ALIGNED_)) {
        because = "it is not aligned";
    }
    if (!because.empty()) {
        py::dtype native = numpyDtype(expected, what);
        a = numpy().attr("require")(a, native, py::make_tuple("C", "A")).cast<py::array>();
    }
    ArrayArg arg;
    arg.kind = MemoryKind::kHost;
    arg.data = const_cast<void*>(a.data());  // Kiln never writes its inputs
    arg.dtype = type;
    arg.shape = shapeOf(a);
    arg.protocol = std::move(protocol);
    arg.copiedBecause = std::move(because);
    arg.owner = std::move(a);
    return arg;
}

//! A device array described by __cuda_array_interface__ (version 2 or 3): its pointer, dtype and shape.
ArrayArg cudaArray(py::handle obj) {
    const py::dict cai = obj.attr("__cuda_array_interface__").cast<py::dict>();
    ArrayArg arg;
    arg.kind = MemoryKind::kDevice;
    arg.protocol = "__cuda_array_interface__";
    arg.owner = py::reinterpret_borrow<py::object>(obj);
    arg.data = reinterpret_cast<void*>(cai["data"].cast<py::tuple>()[0].cast<uintptr_t>());
    arg.dtype = kilnDtype(numpy().attr("dtype")(cai["typestr"]).cast<py::dtype>());
    for (py::handle d : cai["shape"].cast<py::tuple>()) arg.shape.push_back(d.cast<int64_t>());
    if (cai.contains("strides") && !cai["strides"].is_none()) {
        // C-contiguous strides are allowed to be spelled out; anything else needs a copy on the device first.
        const auto strides = cai["strides"].cast<py::tuple>();
        int64_t expect = static_cast<int64_t>(dataTypeSize(arg.dtype));
        for (size_t i = arg.shape.size(); i-- > 0;) {
            if (arg.shape[i] != 1 && strides[i].cast<int64_t>() != expect) {
                arg.copiedBecause = "it is not C-contiguous";
                break;
            }
            expect *= arg.shape[i];
        }
    }
    return arg;
}

bool isPlainPython(py::handle obj) {
    return py::isinstance<py::list>(obj) || py::isinstance<py::tuple>(obj) || py::isinstance<py::bool_>(obj) ||
           py::isinstance<py::int_>(obj) || py::isinstance<py::float_>(obj);
}

}  // namespace

DataType kilnDtype(const py::dtype& dtype) {
    const auto size = dtype.itemsize();
    switch (dtype.kind()) {
        case 'f':
            return size == 2   ? DataType::kFloat16
                   : size == 4 ? DataType::kFloat32
                   : size == 8 ? DataType::kFloat64
                               : DataType::kUndefined;
        case 'i':
            return size == 1   ? DataType::kInt8
                   : size == 2 ? DataType::kInt16
                   : size == 4 ? DataType::kInt32
                   : size == 8 ? DataType::kInt64
                               : DataType::kUndefined;
        case 'u':
            return size == 1   ? DataType::kUInt8
                   : size == 2 ? DataType::kUInt16
                   : size == 4 ? DataType::kUInt32
                   : size == 8 ? DataType::kUInt64
                               : DataType::kUndefined;
        case 'b': return size == 1 ? DataType::kBool : DataType::kUndefined;
        default: return DataType::kUndefined;
    }
}

py::dtype numpyDtype(DataType type, const std::string& what) {
    switch (type) {
        case DataType::kFloat32: return py::dtype::of<float>();
        case DataType::kFloat16: return py::dtype("float16");
        case DataType::kFloat64: return py::dtype::of<double>();
        case DataType::kInt8: return py::dtype::of<int8_t>();
        case DataType::kInt16: return py::dtype::of<int16_t>();
        case DataType::kInt32: return py::dtype::of<int32_t>();
        case DataType::kInt64: return py::dtype::of<int64_t>();
        case DataType::kUInt8: return py::dtype::of<uint8_t>();
        case DataType::kUInt16: return py::dtype::of<uint16_t>();
        case DataType::kUInt32: return py::dtype::of<uint32_t>();
        case DataType::kUInt64: return py::dtype::of<uint64_t>();
        case DataType::kBool: return py::dtype::of<bool>();
        default: throw StatusError(unsupported(what + " is " + dataTypeName(type) + ", which numpy has no dtype for"));
    }
}

ArrayArg importArray(py::handle obj, const std::string& name, DataType expected) {
    if (py::isinstance<py::array>(obj))
        return hostArray(py::reinterpret_borrow<py::array>(obj), "numpy", name, expected);
    if (py::hasattr(obj, "__cuda_array_interface__")) return cudaArray(obj);
    if (py::hasattr(obj, "__dlpack_device__")) {
        const py::tuple device = obj.attr("__dlpack_device__")().cast<py::tuple>();
        if (device[0].cast<int>() == kDLCPU) {
            return hostArray(numpy().attr("from_dlpack")(obj).cast<py::array>(), "DLPack", name, expected);
        }
        // Reading a GPU tensor's address means consuming its DLPack capsule; that waits for an engine that can use
        // it (the CUDA backend), so only the kind and the device are recorded here.
        ArrayArg arg;
        arg.kind = MemoryKind::kDevice;
        arg.protocol = "DLPack";
        arg.device = device[1].cast<int>();
        arg.owner = py::reinterpret_borrow<py::object>(obj);
        return arg;
    }
    if (isPlainPython(obj)) {
        ArrayArg arg = hostArray(numpy().attr("asarray")(obj, numpyDtype(expected, "input '" + name + "'")),
                                 "Python sequence", name, expected);
        arg.copiedBecause = "a Python list or scalar has no buffer to share";
        return arg;
    }
    const std::string protocol = py::hasattr(obj, "__array_interface__") ? "__array_interface__"
                                 : PyObject_CheckBuffer(obj.ptr())       ? "buffer"
                                                                         : "__array__";
    return hostArray(numpy().attr("asarray")(obj).cast<py::array>(), protocol, name, expected);
}

py::array toNumpy(const Tensor& tensor, const std::string& name) {
    const std::vector<py::ssize_t> shape(tensor.shape().begin(), tensor.shape().end());
    py::array out(numpyDtype(tensor.dtype(), "output '" + name + "'"), shape);
    if (tensor.byteSize() > 0) std::memcpy(out.mutable_data(), tensor.raw(), tensor.byteSize());
    return out;
}

py::tuple shapeToTuple(const Shape& shape) {
    py::tuple t(shape.size());
    for (size_t i = 0; i < shape.size(); ++i) t[i] = py::int_(shape[i]);
    return t;
}

void bindArrays(py::module_& m) {
    m.def(
        "_import_array",
        [](py::handle obj, const std::string& name, const py::dtype& expected) {
            const ArrayArg a = importArray(obj, name, kilnDtype(expected));
            py::dict d;
            d["kind"] = a.kind == MemoryKind::kHost ? "host" : "device";
            d["data"] = reinterpret_cast<uintptr_t>(a.data);
            d["protocol"] = a.protocol;
            d["copied_because"] = a.copiedBecause.empty() ? py::object(py::none()) : py::str(a.copiedBecause);
            d["shape"] = shapeToTuple(a.shape);
            d["device"] = a.device;
            return d;
        },
        py::arg("obj"), py::arg("name"), py::arg("dtype"),
        "How ExecutionContext.infer sees an input (diagnostics): kind, data address, protocol, copied_because.");
}

}  // namespace kiln::python
