// Runtime, Engine and ExecutionContext for Python, with TensorRT's Python names (deserialize_cuda_engine,
// get_tensor_name, set_input_shape, set_tensor_address, execute_async_v3), plus ExecutionContext.infer for numpy.
#include <pybind11/stl.h>

#include <algorithm>
#include <mutex>

#include "arrays.h"
#include "bindings.h"
#include "errors.h"
#include "logger.h"

namespace kiln::python {
namespace py = pybind11;

namespace {

//! kiln.ExecutionContext: the C++ context, its engine, and a lock that serializes Python threads sharing it (the
//! C++ context is one-thread-at-a-time). The lock is only taken with the GIL released, so it cannot deadlock with it.
class PyContext {
public:
    PyContext(std::unique_ptr<ExecutionContext> context, const Engine& engine)
        : mContext(std::move(context)), mEngine(engine) {}

    template <typename F>
    auto locked(F&& f) {
        py::gil_scoped_release release;
        std::lock_guard<std::mutex> lock(mMutex);
        return f(*mContext);
    }

    py::dict infer(const py::dict& inputs) {
        std::map<std::string, Tensor> tensors;
        std::vector<py::object> keepAlive;  // copies made for inputs live until the run is over
        for (const auto& [key, value] : inputs) {
            const std::string name = key.cast<std::string>();
            if (unwrap(mEngine.getTensorIOMode(name)) != TensorIOMode::kINPUT) {
                throw StatusError(invalidArgument("'" + name + "' is an output of the engine, not an input"));
            }
            const DataType dtype = unwrap(mEngine.getTensorDataType(name));
            ArrayArg arg = importArray(value, name, dtype);
            // Every engine's infer() takes host tensors: the CPU backend reads them, the CUDA backend copies them
            // to the device itself. Device arrays reach a CUDA engine without copies through set_tensor_address +
            // execute_async_v3. Once kiln.h can say where an engine wants a tensor (TensorRT's getTensorLocation),
            // infer() can bind device arrays in place (ArrayArg::data) instead of refusing them.
            if (arg.kind == MemoryKind::kDevice) {
                throw StatusError(invalidArgument(
                    "input '" + name + "' is a device array (" + arg.protocol +
                    "): infer() takes host arrays (CPU engines read them, CUDA engines copy them to the device); "
                    "pass a host array (torch: t.cpu(), CuPy: cupy.asnumpy(a)), or give a CUDA engine device "
                    "memory with set_tensor_address + execute_async_v3"));
            }
            tensors.emplace(name, Tensor::wrap(arg.dtype, arg.shape, arg.data));
            keepAlive.push_back(std::move(arg.owner));
        }
        auto outputs = locked([&](ExecutionContext& c) { return unwrap(c.infer(tensors)); });
        py::dict result;
        for (int32_t i = 0; i < mEngine.getNbIOTensors(); ++i) {
            const std::string name = unwrap(mEngine.getIOTensorName(i));
            if (auto it = outputs.find(name); it != outputs.end()) result[toPyStr(name)] = toNumpy(it->second, name);
        }
        return result;
    }

    const Engine& engine() const { return mEngine; }

private:
    std::unique_ptr<ExecutionContext> mContext;
    const Engine& mEngine;
    std::mutex mMutex;
};

py::list profileShapes(const Engine& e, const std::string& name, int32_t profile) {
    py::list shapes;
    for (auto sel : {OptProfileSelector::kMIN, OptProfileSelector::kOPT, OptProfileSelector::kMAX}) {
        shapes.append(shapeToTuple(unwrap(e.getProfileShape(name, profile, sel))));
    }
    return shapes;
}

std::string engineRepr(const Engine& e) {
    constexpr int32_t kShown = 4;  // ISNet has 12 outputs: the repr stays one readable line
    std::string text = "<kiln.Engine";
    for (int32_t i = 0; i < std::min(e.getNbIOTensors(), kShown); ++i) {
        const std::string name = unwrap(e.getIOTensorName(i));
        const bool input = unwrap(e.getTensorIOMode(name)) == TensorIOMode::kINPUT;
        auto shape = e.getTensorShape(name);
        text += std::string(i ? ", " : " ") + (input ? "in " : "out ") + "'" + name + "' " +
                dataTypeName(unwrap(e.getTensorDataType(name))) + "[" + (shape ? shapeToString(*shape) : "?") + "]";
    }
    if (e.getNbIOTensors() > kShown) text += " and " + std::to_string(e.getNbIOTensors() - kShown) + " more";
    return text + ">";
}

void bindEngine(py::module_& m) {
    py::enum_<TensorIOMode>(m, "TensorIOMode")
        .value("NONE", TensorIOMode::kNONE)
        .value("INPUT", TensorIOMode::kINPUT)
        .value("OUTPUT", TensorIOMode::kOUTPUT);

    py::class_<Engine>(m, "Engine", R"doc(
An optimized network ready to run. Immutable: share it across threads and create one ExecutionContext per thread.
I/O tensors are the network's inputs followed by its outputs.)doc")
        .def_property_readonly("num_io_tensors", &Engine::getNbIOTensors)
        .def(
            "get_tensor_name", [](const Engine& e, int32_t i) { return unwrap(e.getIOTensorName(i)); },
            py::arg("index"), "Name of I/O tensor `index` (OutOfRangeError outside [0, num_io_tensors)).")
        .def(
            "get_tensor_mode", [](const Engine& e, const std::string& n) { return unwrap(e.getTensorIOMode(n)); },
            py::arg("name"), "TensorIOMode.INPUT or OUTPUT; NotFoundError for a name that is not an I/O tensor.")
        .def(
            "get_tensor_dtype",
            [](const Engine& e, const std::string& n) {
                return numpyDtype(unwrap(e.getTensorDataType(n)), "tensor '" + n + "'");
            },
            py::arg("name"), "The numpy dtype of an I/O tensor.")
        .def(
            "get_tensor_shape",
            [](const Engine& e, const std::string& n) { return shapeToTuple(unwrap(e.getTensorShape(n))); },
            py::arg("name"), "Shape as built (a tuple); dynamic dims are -1.")
        .def_property_readonly("num_optimization_profiles", &Engine::getNbOptimizationProfiles)
        .def("get_tensor_profile_shape", &profileShapes, py::arg("name"), py::arg("profile_index"),
             "[min, opt, max] of an input in a profile.")
        .def_property_readonly("activation_memory_size", &Engine::getActivationMemorySize,
                               "Bytes of one context's activation arena (liveness-planned); 0 for dynamic shapes.")
        .def_property_readonly("device_memory_size", &Engine::getActivationMemorySize,
                               "TensorRT's name for activation_memory_size.")
        .def(
            "create_execution_context",
            [](const Engine& e) { return std::make_unique<PyContext>(unwrap(e.createExecutionContext()), e); },
            py::keep_alive<0, 1>(), "A new context with profile 0 active; it keeps the engine alive.")
        .def("__repr__", &engineRepr);
}

void bindContext(py::module_& m) {
    py::class_<PyContext>(m, "ExecutionContext", R"doc(
Per-inference state on an Engine: input shapes, tensor addresses, output shapes. Python threads sharing one context
are serialized; create one context per thread to run concurrently.)doc")
        .def(
            "set_optimization_profile",
            [](PyContext& c, int32_t i) { c.locked([&](ExecutionContext& x) { check(x.setOptimizationProfile(i)); }); },
            py::arg("index"), "Selects the profile input shapes are checked against.")
        .def_property_readonly(
            "active_optimization_profile",
            [](PyContext& c) { return c.locked([](ExecutionContext& x) { return x.getOptimizationProfile(); }); })
        .def_property(
            "cuda_graphs", [](PyContext& c) { return c.locked([](ExecutionContext& x) { return x.getCudaGraphs(); }); },
            [](PyContext& c, bool on) { c.locked([&](ExecutionContext& x) { x.setCudaGraphs(on); }); },
            "CUDA engines: whether execute captures a CUDA graph and replays it (default True; kiln.h setCudaGraphs).")
        .def_property_readonly(
            "last_enqueue_path",
            [](PyContext& c) {
                return c.locked([](ExecutionContext& x) {
                    static const char* const kNames[] = {"none", "plain", "graph_captured", "graph_updated",
                                                         "graph_replayed"};
                    return std::make_pair(std::string(kNames[static_cast<int>(x.getLastEnqueuePath())]),
                                          x.getLastEnqueueReason());
                });
            },
            "How the last execute ran and why: ('plain' | 'graph_captured' | 'graph_updated' | 'graph_replayed', "
            "reason); ('none', '') before the first and on CPU engines.")
        .def(
            "set_input_shape",
            [](PyContext& c, const std::string& name, const Shape& shape) {
                c.locked([&](ExecutionContext& x) { check(x.setInputShape(name, shape)); });
                return true;
            },
            py::arg("name"), py::arg("shape"),
            "Sets an input's shape for the next execute. Returns True; raises OutOfRangeError naming the input, the "
            "shape and the allowed range when it lies outside the active profile (InvalidArgumentError for a wrong "
            "rank or a changed static dim).")
        .def(
            "get_tensor_shape",
            [](PyContext& c, const std::string& name) {
                return shapeToTuple(c.locked([&](ExecutionContext& x) { return unwrap(x.getTensorShape(name)); }));
            },
            py::arg("name"),
            "Inputs: the shape set (or static). Outputs: the static shape before the first execute (-1 where not yet "
            "known), the actual shape after one.")
        .def(
            "set_tensor_address",
            [](PyContext& c, const std::string& name, uintptr_t address, std::optional<size_t> nbytes) {
                void* p = reinterpret_cast<void*>(address);
                c.locked([&](ExecutionContext& x) {
                    check(nbytes ? x.setTensorAddress(name, p, *nbytes) : x.setTensorAddress(name, p));
                });
                return true;
            },
            py::arg("name"), py::arg("address"), py::arg("nbytes") = py::none(),
            "Binds memory (an int address, e.g. array.ctypes.data) to an I/O tensor; 0 unbinds. The memory must stay "
            "valid through execute and be where the engine runs: host memory for CPU engines (which cannot check a "
            "raw address), device memory for CUDA engines (checked). With nbytes, execute fails naming the tensor "
            "when it does not fit.")
        .def(
            "execute_async_v3",
            [](PyContext& c, uintptr_t stream) {
                c.locked([&](ExecutionContext& x) { check(x.enqueue(reinterpret_cast<void*>(stream))); });
                return true;
            },
            py::arg("stream_handle") = 0,
            "Runs on the bound addresses. Returns True; raises KilnError naming a tensor without shape or address. "
            "CPU engines run synchronously and ignore the stream; CUDA engines enqueue on the cudaStream_t given "
            "as an int (0: the default stream).")
        .def(
            "execute_async",
            [](PyContext& c, uintptr_t stream) {
                c.locked([&](ExecutionContext& x) { check(x.enqueue(reinterpret_cast<void*>(stream))); });
                return true;
            },
            py::arg("stream") = 0, "Same as execute_async_v3.")
        .def("infer", &PyContext::infer, py::arg("inputs"), R"doc(
Runs on host arrays: ``{"input": array} -> {"output": numpy.ndarray}`` (outputs in engine order).

Each input's shape is set from the array (checked against the active profile). Inputs are read in place, without a
copy, when they are C-contiguous, aligned, native-endian and of the engine's dtype: numpy arrays, objects with
``__array_interface__`` or the buffer protocol, and CPU tensors through DLPack (torch, ...). A copy is made for
non-contiguous views (slices, transposes), unaligned or byte-swapped arrays, and Python lists/scalars (converted to
the engine's dtype). An array of another dtype is an InvalidArgumentError (no silent casts). Device arrays
(``__cuda_array_interface__``, DLPack on a GPU) raise InvalidArgumentError naming the tensor: bind them with
set_tensor_address on a CUDA engine. CUDA engines copy host inputs to the device and outputs back. Outputs are new
numpy arrays owned by the caller. Ignores addresses bound with set_tensor_address.)doc")
        .def_property_readonly(
            "engine", [](PyContext& c) -> const Engine& { return c.engine(); }, py::return_value_policy::reference,
            "The engine this context runs.");
}

}  // namespace

void bindRuntime(py::module_& m) {
    bindEngine(m);
    bindContext(m);
    const auto deserialize = [](Runtime& r, const py::buffer& data) {
        // PyBUF_SIMPLE: one contiguous block of bytes (numpy arrays of any dtype, bytes, HostMemory, mmap, ...).
        Py_buffer view;
        if (PyObject_GetBuffer(data.ptr(), &view, PyBUF_SIMPLE) != 0) throw py::error_already_set();
        const std::unique_ptr<Py_buffer, void (*)(Py_buffer*)> release(&view, PyBuffer_Release);
        py::gil_scoped_release noGil;
        return unwrap(r.deserializeEngine(view.buf, static_cast<size_t>(view.len)));
    };
    py::class_<Runtime>(m, "Runtime", "Loads serialized engines. Keeps the logger alive.")
        .def(py::init([](ILogger* logger) { return std::make_unique<Runtime>(loggerOr(logger)); }),
             py::arg("logger") = nullptr, py::keep_alive<1, 2>(),
             "Without a logger, warnings and errors go to sys.stderr.")
        .def("deserialize_cuda_engine", deserialize, py::arg("serialized_engine"), py::keep_alive<0, 1>(),
             "Loads an engine from bytes (bytes, HostMemory or any contiguous buffer; copied). TensorRT's name: "
             "works for every backend. Raises InvalidModelError for damaged data, and names both versions for an "
             "engine from another Kiln version or backend.")
        .def("deserialize_engine", deserialize, py::arg("serialized_engine"), py::keep_alive<0, 1>(),
             "Same as deserialize_cuda_engine.")
        .def(
            "load_engine_file",
            [](Runtime& r, py::handle path) {
                const std::string file = pathArg(path);
                py::gil_scoped_release release;
                return unwrap(r.loadEngineFile(file));
            },
            py::arg("path"), py::keep_alive<0, 1>(),
            "Memory-maps and loads an engine file (weights not copied); errors name the file.");
}

}  // namespace kiln::python
