// Builder, NetworkDefinition, OnnxParser, BuilderConfig, OptimizationProfile and HostMemory for Python, with
// TensorRT's Python names (create_network, set_flag, set_shape, build_serialized_network, ...).
#include <pybind11/stl.h>

#include <array>
#include <cstring>
#include <vector>

#include "arrays.h"
#include "bindings.h"
#include "errors.h"
#include "logger.h"

namespace kiln::python {
namespace py = pybind11;

namespace {

//! TensorRT's MemoryPoolType: Kiln has one pool, the workspace.
enum class MemoryPoolType { kWorkspace = 0 };
//! TensorRT's NetworkDefinitionCreationFlag: Kiln networks are always explicit-batch, so the flag changes nothing.
enum class NetworkCreationFlag { kExplicitBatch = 0 };

//! An input or output of a NetworkDefinition.
struct NetworkTensor {
    std::string name;
    Shape shape;
    DataType dtype;
};

NetworkTensor networkTensor(const NetworkDefinition& net, const std::string& name) {
    return {name, unwrap(net.getTensorShape(name)), unwrap(net.getTensorDataType(name))};
}

//! What Builder.build_engine_file returns (EngineFileResult in C++, with the engine as a Python object).
struct PyEngineFileResult {
    py::object engine;
    EngineFileAction action;
    std::string reason;
};

PyEngineFileResult buildEngineFile(py::object self, Builder& builder, const std::string& onnxPath,
                                   const BuilderConfig& config, const std::string& enginePath, bool force,
                                   bool rebuildStale) {
    EngineFileResult result = [&] {
        py::gil_scoped_release release;
        return unwrap(builder.buildEngineFile(onnxPath, config, enginePath, EngineFileOptions{force, rebuildStale}));
    }();
    py::object engine = py::cast(std::move(result.engine));
    py::detail::keep_alive_impl(engine, self);  // the engine keeps the builder, and so its logger, alive
    return {engine, result.action, result.reason};
}

std::string layerPrecisionName(DataType t) {
    return t == DataType::kFloat16 ? "fp16" : t == DataType::kBFloat16 ? "bf16" : "fp32";
}

//! 'fp32' / 'float32' / numpy.float32 and the 16-bit ones → the DataType; anything else is an InvalidArgumentError
//! (through setLayerPrecision for dtypes Kiln has, here for the rest).
DataType layerPrecisionArg(const py::object& precision) {
    if (py::isinstance<py::str>(precision)) {
        const std::string name = precision.cast<std::string>();
        for (DataType t : {DataType::kFloat32, DataType::kFloat16, DataType::kBFloat16}) {
            if (name == layerPrecisionName(t) || name == dataTypeName(t)) return t;
        }
        check(invalidArgument("layer precision '" + name + "' is not fp32, fp16 or bf16"));
    }
    const DataType t = kilnDtype(py::dtype::from_args(precision));
    if (t == DataType::kUndefined) {
        check(invalidArgument("layer precision " + py::repr(precision).cast<std::string>() +
                              " is not fp32, fp16 or bf16"));
    }
    return t;
}

void bindEnums(py::module_& m) {
    py::enum_<BuilderFlag>(m, "BuilderFlag",
                           "Precisions a BuilderConfig allows (where the backend has a faster kernel; never forced). "
                           "FP32 is always allowed; the CPU backend computes in FP32.")
        .value("FP16", BuilderFlag::kFP16)
        .value("BF16", BuilderFlag::kBF16)
        .value("INT8", BuilderFlag::kINT8)
        .value("TF32", BuilderFlag::kTF32)
        .value("OBEY_PRECISION_CONSTRAINTS", BuilderFlag::kOBEY_PRECISION_CONSTRAINTS,
               "A layer pinned by set_layer_precision to a precision it has no kernel for fails the build (also "
               "the behaviour when neither constraint flag is set).")
        .value("PREFER_PRECISION_CONSTRAINTS", BuilderFlag::kPREFER_PRECISION_CONSTRAINTS,
               "Such a layer stays FP32 with a warning instead (OBEY wins when both are set).")
        .value("EMULATE_REDUCED_PRECISION", BuilderFlag::kEMULATE_REDUCED_PRECISION,
               "CPU backend: lower FP16/BF16 layers as the CUDA backend does and run them on FP16/BF16 reference "
               "kernels (slow; previews GPU accuracy, and lets the accuracy guard work on the CPU).");
    py::enum_<Backend>(m, "Backend", "The backend an engine is built for.")
        .value("AUTO", Backend::kAuto)
        .value("CPU", Backend::kCpu)
        .value("CUDA", Backend::kCuda);
    py::enum_<MemoryPoolType>(m, "MemoryPoolType", "Memory pools of BuilderConfig.set_memory_pool_limit.")
        .value("WORKSPACE", MemoryPoolType::kWorkspace);
    py::enum_<NetworkCreationFlag>(m, "NetworkDefinitionCreationFlag",
                                   "Accepted for TensorRT compatibility; Kiln networks are always explicit-batch.")
        .value("EXPLICIT_BATCH", NetworkCreationFlag::kExplicitBatch);
    py::enum_<EngineFileAction>(m, "EngineFileAction", "What Builder.build_engine_file did with the engine path.")
        .value("LOADED", EngineFileAction::kLoaded, "The file held an engine matching the model and options.")
        .value("BUILT", EngineFileAction::kBuilt, "There was no engine file, or force was set: built and saved.")
        .value("REBUILT", EngineFileAction::kRebuilt, "The file held a stale or damaged engine: rebuilt.");
}

void bindNetwork(py::module_& m) {
    py::class_<NetworkTensor>(m, "NetworkTensor", "An input or output of a NetworkDefinition.")
        .def_readonly("name", &NetworkTensor::name)
        .def_property_readonly(
            "shape", [](const NetworkTensor& t) { return shapeToTuple(t.shape); },
            "Dims as a tuple; dynamic dims are -1.")
        .def_property_readonly(
            "dtype", [](const NetworkTensor& t) { return numpyDtype(t.dtype, "'" + t.name + "'"); }, "numpy dtype.")
        .def("__repr__", [](const NetworkTensor& t) {
            return "<kiln.NetworkTensor '" + t.name + "' " + dataTypeName(t.dtype) + "[" + shapeToString(t.shape) +
                   "]>";
        });

    py::class_<NetworkDefinition>(m, "NetworkDefinition",
                                  "The network to build, filled by an OnnxParser (Builder.create_network).")
        .def_property_readonly("num_inputs", &NetworkDefinition::getNbInputs)
        .def_property_readonly("num_outputs", &NetworkDefinition::getNbOutputs)
        .def(
            "get_input",
            [](const NetworkDefinition& n, int32_t i) { return networkTensor(n, unwrap(n.getInputName(i))); },
            py::arg("index"), "Input `index` (OutOfRangeError outside [0, num_inputs)).")
        .def(
            "get_output",
            [](const NetworkDefinition& n, int32_t i) { return networkTensor(n, unwrap(n.getOutputName(i))); },
            py::arg("index"), "Output `index` (OutOfRangeError outside [0, num_outputs)).")
        .def(
            "mark_output", [](NetworkDefinition& n, const std::string& name) { check(n.markOutput(name)); },
            py::arg("name"),
            "Makes a tensor the network computes an extra output of the engines built from it (after the model's "
            "outputs; it keeps its dtype under FP16/BF16, and no fusion absorbs the node producing it). Raises "
            "NotFoundError for a name the network does not compute, InvalidArgumentError for an input, a weight or "
            "a tensor that is already an output.")
        .def_property_readonly("computed_tensor_names", &NetworkDefinition::getComputedTensorNames,
                               "Every tensor the network computes, in topological order (what mark_output takes).");

    py::class_<OnnxParser>(m, "OnnxParser", "Fills a NetworkDefinition from an ONNX file.")
        .def(py::init([](NetworkDefinition& network, ILogger* logger) {
                 return std::make_unique<OnnxParser>(network, loggerOr(logger));
             }),
             py::arg("network"), py::arg("logger") = nullptr, py::keep_alive<1, 2>(), py::keep_alive<1, 3>(),
             "The parser keeps the network and the logger alive.")
        .def(
            "parse_from_file",
            [](OnnxParser& p, py::handle path) {
                const std::string file = pathArg(path);
                py::gil_scoped_release release;
                check(p.parseFromFile(file));
                return true;
            },
            py::arg("path"),
            "Parses the model (external data next to it) into the network, replacing what it held. Returns True; "
            "raises KilnError naming the file when it is missing or malformed, and listing every unsupported node.");
}

void bindConfig(py::module_& m) {
    py::class_<OptimizationProfile>(m, "OptimizationProfile",
                                    "Min/opt/max shapes for each dynamic input (Builder.create_optimization_profile).")
        .def(
            "set_shape",
            [](OptimizationProfile& p, const std::string& input, const Shape& min, const Shape& opt, const Shape& max) {
                check(p.setDimensions(input, OptProfileSelector::kMIN, min));
                check(p.setDimensions(input, OptProfileSelector::kOPT, opt));
                check(p.setDimensions(input, OptProfileSelector::kMAX, max));
            },
            py::arg("input"), py::arg("min"), py::arg("opt"), py::arg("max"),
            "Sets an input's three shapes (sequences of ints). min <= opt <= max is checked by "
            "BuilderConfig.add_optimization_profile.")
        .def(
            "get_shape",
            [](const OptimizationProfile& p, const std::string& input) {
                py::list shapes;
                for (auto sel : {OptProfileSelector::kMIN, OptProfileSelector::kOPT, OptProfileSelector::kMAX}) {
                    shapes.append(shapeToTuple(unwrap(p.getDimensions(input, sel))));
                }
                return shapes;
            },
            py::arg("input"), "[min, opt, max] for the input (NotFoundError when unset).");

    py::class_<BuilderConfig>(m, "BuilderConfig", "How to build an engine (Builder.create_builder_config).")
        .def("set_flag", &BuilderConfig::setFlag, py::arg("flag"), "Allows a precision (kiln.BuilderFlag).")
        .def("clear_flag", &BuilderConfig::clearFlag, py::arg("flag"))
        .def("get_flag", &BuilderConfig::getFlag, py::arg("flag"))
        .def(
            "set_memory_pool_limit",
            [](BuilderConfig& c, MemoryPoolType, size_t bytes) { c.setMemoryPoolLimit(bytes); }, py::arg("pool"),
            py::arg("pool_size"), "TensorRT's form: set_memory_pool_limit(MemoryPoolType.WORKSPACE, n).")
        .def("set_memory_pool_limit", &BuilderConfig::setMemoryPoolLimit, py::arg("pool_size"),
             "Upper bound on the kernels' scratch memory in bytes; 0 (default) means no limit.")
        .def(
            "get_memory_pool_limit", [](const BuilderConfig& c, MemoryPoolType) { return c.getMemoryPoolLimit(); },
            py::arg("pool") = MemoryPoolType::kWorkspace)
        .def(
            "add_optimization_profile",
            [](BuilderConfig& c, const OptimizationProfile& p) {
                check(c.addOptimizationProfile(p));
                return c.getNbOptimizationProfiles() - 1;
            },
            py::arg("profile"),
            "Copies the profile into the config and returns its index. Raises InvalidArgumentError when an input "
            "lacks one of min/opt/max, ranks differ, or min <= opt <= max does not hold.")
        .def_property_readonly("num_optimization_profiles", &BuilderConfig::getNbOptimizationProfiles)
        .def_property(
            "builder_optimization_level", &BuilderConfig::getOptimizationLevel,
            [](BuilderConfig& c, int32_t level) { check(c.setOptimizationLevel(level)); },
            "0 (fastest build) to 5 (most optimization); default 3.")
        .def(
            "set_timing_cache_path", [](BuilderConfig& c, py::handle path) { c.setTimingCachePath(pathArg(path)); },
            py::arg("path"), "File where kernel timings are cached across builds (recorded; unused on the CPU).")
        .def_property("backend", &BuilderConfig::getBackend, &BuilderConfig::setBackend,
                      "kiln.Backend to build for; default AUTO.")
        .def_property(
            "device", &BuilderConfig::getDevice, [](BuilderConfig& c, int32_t d) { check(c.setDevice(d)); },
            "GPU index for GPU backends (ignored by the CPU backend).")
        .def(
            "set_layer_precision",
            [](BuilderConfig& c, const std::string& pattern, const py::object& precision) {
                check(c.setLayerPrecision(pattern, layerPrecisionArg(precision)));
            },
            py::arg("pattern"), py::arg("precision"),
            "Pins the layers whose node name matches `pattern` (* and ? wildcards; 'op:Softmax' matches op types) "
            "to `precision`: 'fp32', 'fp16' or 'bf16' (or numpy.float32 / numpy.float16). Later calls win where "
            "patterns overlap. A pattern matching no node fails the build; InvalidArgumentError for another "
            "precision or an empty pattern.")
        .def(
            "get_layer_precisions",
            [](const BuilderConfig& c) {
                py::list pins;
                for (const auto& [pattern, dtype] : c.getLayerPrecisions()) {
                    pins.append(py::make_tuple(pattern, layerPrecisionName(dtype)));
                }
                return pins;
            },
            "The pins in the order set, as (pattern, 'fp32' | 'fp16' | 'bf16') tuples.")
        .def("clear_layer_precisions", &BuilderConfig::clearLayerPrecisions)
        .def(
            "set_accuracy_target",
            [](BuilderConfig& c, double maxRelativeError, bool strict) {
                check(c.setAccuracyTarget(maxRelativeError, strict));
            },
            py::arg("max_relative_error"), py::arg("strict") = false,
            "Accuracy guard (0 = off): under FP16/BF16/TF32 keep the layers that amplify rounding in FP32 until the "
            "engine is within max|engine - fp32| / max|fp32| <= max_relative_error of an FP32 engine on the "
            "calibration inputs. A missed target warns, or with strict=True fails the build. InvalidArgumentError "
            "for a negative or non-finite value.")
        .def_property_readonly("accuracy_target", &BuilderConfig::getAccuracyTarget)
        .def(
            "set_calibration_inputs",
            [](BuilderConfig& c, const py::list& samples) {
                std::vector<std::map<std::string, Tensor>> copies;
                for (const py::handle& sample : samples) {
                    std::map<std::string, Tensor> tensors;
                    for (const auto& [key, value] : sample.cast<py::dict>()) {
                        const std::string name = key.cast<std::string>();
                        // The config keeps its own copy: the arrays may be gone by the time the build runs.
                        const py::array a = py::array::ensure(value, py::array::c_style);
                        const DataType dtype = a ? kilnDtype(a.dtype()) : DataType::kUndefined;
                        if (dtype == DataType::kUndefined) {
                            throw StatusError(invalidArgument("calibration input '" + name +
                                                              "' is not an array of a dtype Kiln has"));
                        }
                        Shape shape(a.shape(), a.shape() + a.ndim());
                        Tensor t(dtype, std::move(shape));
                        std::memcpy(t.raw(), a.data(), t.byteSize());
                        tensors.emplace(name, std::move(t));
                    }
                    copies.push_back(std::move(tensors));
                }
                c.setCalibrationInputs(std::move(copies));
            },
            py::arg("samples"),
            "Samples the accuracy guard judges on: a list of {input name: numpy array} dicts (copied). Without "
            "them the guard uses random inputs and says so.");
}

void bindBuilderClass(py::module_& m) {
    py::class_<HostMemory>(m, "HostMemory", py::buffer_protocol(),
                           "Bytes owned by Kiln (a serialized engine). Read-only buffer: bytes(mem), "
                           "memoryview(mem), numpy.frombuffer(mem, numpy.uint8) and file.write(mem) use it in place.")
        .def_buffer([](const HostMemory& mem) {
            return py::buffer_info(const_cast<void*>(mem.data()), 1, py::format_descriptor<uint8_t>::format(), 1,
                                   {static_cast<py::ssize_t>(mem.size())}, {py::ssize_t{1}}, /*readonly=*/true);
        })
        .def_property_readonly("nbytes", &HostMemory::size)
        .def("__len__", &HostMemory::size);

    py::class_<PyEngineFileResult>(m, "EngineFileResult", "What Builder.build_engine_file returns.")
        .def_readonly("engine", &PyEngineFileResult::engine, "The kiln.Engine.")
        .def_readonly("action", &PyEngineFileResult::action, "kiln.EngineFileAction: LOADED, BUILT or REBUILT.")
        .def_readonly("reason", &PyEngineFileResult::reason, "One line: why it was loaded, built or rebuilt.");

    py::class_<Builder>(m, "Builder", "Builds engines. Keeps the logger alive; keeps no state between builds.")
        .def(py::init([](ILogger* logger) { return std::make_unique<Builder>(loggerOr(logger)); }),
             py::arg("logger") = nullptr, py::keep_alive<1, 2>(),
             "Without a logger, warnings and errors go to sys.stderr.")
        .def(
            "create_network", [](Builder& b, int) { return b.createNetwork(); }, py::arg("flags") = 0,
            "An empty network for an OnnxParser. `flags` is accepted for TensorRT compatibility and ignored.")
        .def("create_builder_config", &Builder::createBuilderConfig,
             "A config with the C++ defaults: TF32 allowed (as in TensorRT), no workspace limit, no profiles, "
             "optimization level 3, backend AUTO (CUDA when this build has it and a GPU is present, else CPU).")
        .def("create_optimization_profile", &Builder::createOptimizationProfile)
        .def(
            "build_serialized_network",
            [](Builder& b, NetworkDefinition& network, const BuilderConfig& config) {
                py::gil_scoped_release release;
                return unwrap(b.buildSerializedNetwork(network, config));
            },
            py::arg("network"), py::arg("config"),
            "Optimizes the network into engine file bytes (a HostMemory; save them, load with Runtime). Raises "
            "KilnError when an input with dynamic dims has no profile (naming it), a profile disagrees with the "
            "network, or the backend is unavailable. The network is unchanged and may be built again.")
        .def(
            "build_engine",
            [](Builder& b, NetworkDefinition& network, const BuilderConfig& config) {
                py::gil_scoped_release release;
                return unwrap(b.buildEngine(network, config));
            },
            py::arg("network"), py::arg("config"), py::keep_alive<0, 1>(),
            "As build_serialized_network, but returns the Engine in memory.")
        .def(
            "build_engine_file",
            [](py::object self, const py::object& onnxPath, const BuilderConfig& config, const py::object& enginePath,
               bool force, bool rebuildStale) {
                return buildEngineFile(self, self.cast<Builder&>(), pathArg(onnxPath), config, pathArg(enginePath),
                                       force, rebuildStale);
            },
            py::arg("onnx_path"), py::arg("config"), py::arg("engine_path"), py::arg("force") = false,
            py::arg("rebuild_stale") = true,
            "Build-or-load: loads engine_path when it holds an engine built from the same model file (SHA-256), "
            "options, backend, device and Kiln version; otherwise parses onnx_path, builds and writes the engine "
            "atomically. force=True always rebuilds; rebuild_stale=False makes a stale engine an error. Returns an "
            "EngineFileResult (engine, action, reason).");
}

}  // namespace

void bindBuilder(py::module_& m) {
    bindEnums(m);
    bindNetwork(m);
    bindConfig(m);
    bindBuilderClass(m);
}

}  // namespace kiln::python
