// Kiln's public C++ API: ONNX model → optimized engine → inference, shaped like TensorRT's.
//
// Worked example (errors are Status/Result values; nothing here throws):
//
//   #include <kiln/kiln.h>
//
//   class Logger : public kiln::ILogger {
//       void log(Severity s, const char* msg) noexcept override {
//           if (s <= Severity::kInfo) std::fprintf(stderr, "%s\n", msg);
//       }
//   } logger;
//
//   // Build: parse the ONNX file into a network, configure, build a serialized engine and save it.
//   kiln::Builder builder(logger);
//   std::unique_ptr<kiln::NetworkDefinition> network = builder.createNetwork();
//   kiln::OnnxParser parser(*network, logger);
//   if (kiln::Status s = parser.parseFromFile("resnet50.onnx"); !s) return fail(s.message());
//   std::unique_ptr<kiln::BuilderConfig> config = builder.createBuilderConfig();
//   config->setFlag(kiln::BuilderFlag::kFP16);              // allows FP16 where the backend has a kernel
//   std::unique_ptr<kiln::OptimizationProfile> profile = builder.createOptimizationProfile();
//   profile->setDimensions("data", kiln::OptProfileSelector::kMIN, {1, 3, 224, 224});
//   profile->setDimensions("data", kiln::OptProfileSelector::kOPT, {8, 3, 224, 224});
//   profile->setDimensions("data", kiln::OptProfileSelector::kMAX, {32, 3, 224, 224});
//   config->addOptimizationProfile(*profile);               // needed only for inputs with dynamic dims
//   auto blob = builder.buildSerializedNetwork(*network, *config);   // Result<std::unique_ptr<HostMemory>>
//   if (!blob) return fail(blob.status().message());
//   std::ofstream("resnet50.engine", std::ios::binary).write(static_cast<const char*>((*blob)->data()),
//                                                             static_cast<std::streamsize>((*blob)->size()));
//
//   // Run: load the engine, create one execution context per thread, bind tensors by name, enqueue.
//   kiln::Runtime runtime(logger);
//   auto engine = runtime.loadEngineFile("resnet50.engine");      // or runtime.deserializeEngine(data, size)
//   auto context = (*engine)->createExecutionContext();
//   std::vector<float> input(8 * 3 * 224 * 224), output(8 * 1000);
//   (*context)->setInputShape("data", {8, 3, 224, 224});
//   (*context)->setTensorAddress("data", input.data());
//   (*context)->setTensorAddress("resnetv17_dense0_fwd", output.data(), output.size() * sizeof(float));
//   if (kiln::Status s = (*context)->enqueue(); !s) return fail(s.message());
//
// Ownership: every object is non-copyable and non-movable; objects that Kiln creates are returned as
// std::unique_ptr and owned by the caller. The ILogger is owned by the application and must outlive every object
// given it (and everything those create). An Engine does not depend on the Builder, Runtime or NetworkDefinition
// it came from; an ExecutionContext must not outlive its Engine.
//
// Thread safety: an Engine is immutable after creation and may be shared by any number of threads; each
// ExecutionContext is used by one thread at a time (contexts of one Engine share no mutable state, so one context
// per thread runs concurrently). Builder, NetworkDefinition, BuilderConfig, OptimizationProfile, OnnxParser and
// Runtime are not synchronized: use each from one thread at a time. The ILogger may be called from any thread
// that uses an object given it.
#pragma once

#include <cstddef>
#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "kiln/dtype.h"
#include "kiln/status.h"
#include "kiln/tensor.h"

namespace kiln {

//! Receives Kiln's diagnostics; implemented by the application.
class ILogger {
public:
    //! Lower values are more severe.
    enum class Severity { kError = 0, kWarning = 1, kInfo = 2, kVerbose = 3 };
    virtual ~ILogger() = default;
    //! One line, without a trailing newline; `msg` is valid only during the call. Must not throw.
    virtual void log(Severity severity, const char* msg) noexcept = 0;
};

//! Precisions a BuilderConfig allows. As in TensorRT, a flag allows a precision where the backend has a faster
//! kernel for it; it never forces one. FP32 is always allowed.
//! kOBEY_PRECISION_CONSTRAINTS / kPREFER_PRECISION_CONSTRAINTS say what happens when a layer precision override
//! (BuilderConfig::setLayerPrecision) asks for a precision the layer has no kernel for: the build fails (obey, also
//! Kiln's behaviour when neither is set) or the layer stays FP32 with a warning (prefer; obey wins when both are
//! set). They do not change layers without an override.
//! kEMULATE_REDUCED_PRECISION makes the CPU backend lower layers under kFP16/kBF16 (and fp16/bf16 pins) exactly as the
//! CUDA backend does (channels-last layout included) and run them on its FP16/BF16 reference kernels (FP32
//! accumulation, as on the GPU), instead of computing everything in FP32: a preview of an FP16/BF16 engine's accuracy
//! without a GPU, and what lets the accuracy guard (BuilderConfig::setAccuracyTarget) work on the CPU. It is slow and
//! does not emulate TF32 (CPU matmuls stay IEEE FP32). The CUDA backend ignores it.
enum class BuilderFlag {
    kFP16,
    kBF16,
    kINT8,
    kTF32,
    kOBEY_PRECISION_CONSTRAINTS,
    kPREFER_PRECISION_CONSTRAINTS,
    kEMULATE_REDUCED_PRECISION,
};

//! Which of an optimization profile's three shapes.
enum class OptProfileSelector { kMIN = 0, kOPT = 1, kMAX = 2 };

//! The backend an engine is built for.
enum class Backend {
    kAuto,  //!< CUDA when this Kiln has its CUDA backend and a usable GPU is present, else CPU.
    kCpu,   //!< The CPU reference backend: runs anywhere, computes in FP32 (or the model's dtypes).
    kCuda,  //!< NVIDIA GPUs (sm_90 today). Without a GPU, or in a Kiln built without CUDA, building fails with
            //!< kUnsupported saying why.
};

enum class TensorIOMode { kNONE = 0, kINPUT = 1, kOUTPUT = 2 };

//! Bytes owned by Kiln, e.g. a serialized engine. Immutable; read from any thread.
class HostMemory {
public:
    virtual ~HostMemory() = default;
    HostMemory(const HostMemory&) = delete;
    HostMemory& operator=(const HostMemory&) = delete;
    //! Start of the bytes (64-byte aligned); valid while this object lives.
    virtual const void* data() const noexcept = 0;
    virtual size_t size() const noexcept = 0;

protected:
    HostMemory() = default;
};

//! The network to build: what an OnnxParser parsed. Describes its I/O tensors; created by Builder::createNetwork.
class NetworkDefinition {
public:
    virtual ~NetworkDefinition() = default;
    NetworkDefinition(const NetworkDefinition&) = delete;
    NetworkDefinition& operator=(const NetworkDefinition&) = delete;
    //! Graph inputs that are not weights (0 before a parser filled the network).
    virtual int32_t getNbInputs() const noexcept = 0;
    virtual int32_t getNbOutputs() const noexcept = 0;
    //! Name of input / output `index`; kOutOfRange for an index outside [0, count).
    virtual Result<std::string> getInputName(int32_t index) const = 0;
    virtual Result<std::string> getOutputName(int32_t index) const = 0;
    //! Dtype and dims of an input or output by name; dynamic dims are -1. kNotFound for an unknown name,
    //! kUnsupported for a tensor of unknown rank.
    virtual Result<DataType> getTensorDataType(const std::string& name) const = 0;
    virtual Result<Shape> getTensorShape(const std::string& name) const = 0;
    //! Makes a tensor the network computes an extra output of the engines built from it (TensorRT's
    //! markOutput), after the model's outputs in the order marked. The optimizing passes keep a marked tensor as
    //! it is in the model: a fusion never absorbs the node that produces it (a Conv whose output is marked is not
    //! fused with the Relu after it, and the output holds the value before the Relu), so marking may change
    //! which kernels run. Under FP16/BF16 a marked tensor keeps its dtype, as the model's outputs do. Fails naming
    //! the tensor (kNotFound) when the network computes no such tensor (names inside If/Loop/Scan bodies included),
    //! and (kInvalidArgument) when it is a network input, a weight, or already an output.
    virtual Status markOutput(const std::string& tensorName) = 0;
    //! Every tensor the network computes (each node output of the main graph that is not a weight), in
    //! topological order, the outputs included: the names markOutput accepts (Polygraphy's `--mark all`).
    virtual std::vector<std::string> getComputedTensorNames() const = 0;

protected:
    NetworkDefinition() = default;
};

//! Min/opt/max shapes for each dynamic input. Created by Builder::createOptimizationProfile; copied into a
//! BuilderConfig by addOptimizationProfile.
class OptimizationProfile {
public:
    virtual ~OptimizationProfile() = default;
    OptimizationProfile(const OptimizationProfile&) = delete;
    OptimizationProfile& operator=(const OptimizationProfile&) = delete;
    //! Sets one of the input's shapes. Fails (kInvalidArgument) for a negative dim or a rank that differs from the
    //! input's other shapes in this profile. min ≤ opt ≤ max is checked by BuilderConfig::addOptimizationProfile
    //! and against the network by the build.
    virtual Status setDimensions(const std::string& inputName, OptProfileSelector selector, const Shape& dims) = 0;
    //! The shape set for the input; kNotFound when none was.
    virtual Result<Shape> getDimensions(const std::string& inputName, OptProfileSelector selector) const = 0;

protected:
    OptimizationProfile() = default;
};

//! How to build an engine. Created by Builder::createBuilderConfig.
class BuilderConfig {
public:
    virtual ~BuilderConfig() = default;
    BuilderConfig(const BuilderConfig&) = delete;
    BuilderConfig& operator=(const BuilderConfig&) = delete;
    //! Allows a precision (see BuilderFlag). kTF32 is set by default (as in TensorRT): clear it for IEEE FP32
    //! matmuls and convolutions. With kFP16 or kBF16 the CUDA backend runs tensors in that dtype where the op has a
    //! low-precision kernel; I/O tensors keep the model's dtypes. The CPU backend computes in FP32 and says so at
    //! kInfo. kINT8 needs calibration data or a model with Q/DQ nodes; without them the build fails.
    virtual void setFlag(BuilderFlag flag) noexcept = 0;
    virtual void clearFlag(BuilderFlag flag) noexcept = 0;
    virtual bool getFlag(BuilderFlag flag) const noexcept = 0;
    //! Upper bound on the scratch (workspace) memory the backend's kernels may use; 0 (default) means no limit.
    virtual void setMemoryPoolLimit(size_t bytes) noexcept = 0;
    virtual size_t getMemoryPoolLimit() const noexcept = 0;
    //! Copies a profile into the config; the engine's profile indices follow the order of these calls. Fails
    //! (kInvalidArgument) when a profile's input lacks one of min/opt/max, ranks differ, or min ≤ opt ≤ max does
    //! not hold in every dim; the message names the input.
    virtual Status addOptimizationProfile(const OptimizationProfile& profile) = 0;
    virtual int32_t getNbOptimizationProfiles() const noexcept = 0;
    //! How much a CUDA build times (docs/cuda.md, "Tactic timing"): per cuDNN / cuBLASLt layer, the candidates of
    //! the libraries' heuristics are timed at the opt shapes of profile 0 and the fastest within the memory-pool
    //! limit is recorded in the engine. 0: no timing (the heuristics' first choice); 1, 2, 3, 4: the best 2, 4, 8,
    //! 16 candidates; 5: all of them, with more repetitions. Default 3. kOutOfRange outside 0..5. The CPU backend
    //! has no tactics: the level is only recorded there.
    virtual Status setOptimizationLevel(int32_t level) = 0;
    virtual int32_t getOptimizationLevel() const noexcept = 0;
    //! Timing cache file (trtexec's --timingCacheFile): CUDA builds at level >= 1 read it first (layers it knows are
    //! not timed again) and write it back atomically, merged with what the file holds by then, when they timed
    //! something new. A cache of another GPU, compute capability or cuDNN / cuBLASLt version is ignored with an
    //! info line and replaced; a corrupt one is ignored with a warning naming it and replaced (as TensorRT does). A
    //! cache that cannot be written fails the build. Unused by the CPU backend; the path is recorded in the engine.
    virtual void setTimingCachePath(const std::string& path) = 0;
    //! Target backend; default kAuto.
    virtual void setBackend(Backend backend) noexcept = 0;
    virtual Backend getBackend() const noexcept = 0;
    //! CUDA device index (ignored by the CPU backend); kOutOfRange when negative. A device that does not exist
    //! fails the build, naming how many GPUs there are.
    virtual Status setDevice(int32_t device) = 0;
    virtual int32_t getDevice() const noexcept = 0;
    //! Pins the layers (the network's nodes) that `nodeNameOrGlob` matches to `precision` (TensorRT's
    //! ILayer::setPrecision with kOBEY_PRECISION_CONSTRAINTS; trtexec's --layerPrecisions): kFloat32 keeps them in
    //! FP32 under kFP16/kBF16 (casts are inserted where they meet lowered layers), kFloat16/kBFloat16 lower them
    //! even without the flag. The pattern matches node names as in the ONNX model (`*` any run of characters, `?`
    //! one; an unnamed node by its first output's name), or op types when written "op:Softmax". Later calls win
    //! where patterns overlap (as trtexec reads --layerPrecisions left to right). A fusion does not absorb a node
    //! into one pinned otherwise. The CPU backend computes in FP32 whatever is pinned. Pins are recorded in the
    //! engine's build options, so Builder::buildEngineFile rebuilds an engine whose pins changed. Fails
    //! (kInvalidArgument) for an empty pattern or a precision other than kFloat32, kFloat16 or kBFloat16; a pattern
    //! that matches no node fails the build, naming the pattern.
    virtual Status setLayerPrecision(const std::string& nodeNameOrGlob, DataType precision) = 0;
    //! The pins in the order set.
    virtual std::vector<std::pair<std::string, DataType>> getLayerPrecisions() const = 0;
    virtual void clearLayerPrecisions() noexcept = 0;
    //! The accuracy guard (polygraphy debug precision, at build time). With a target > 0 and a reduced precision in
    //! use (kFP16/kBF16/kTF32 on the CUDA backend; kFP16/kBF16 on the CPU with kEMULATE_REDUCED_PRECISION), the
    //! build keeps the layers that amplify rounding in FP32 until the engine's outputs are within
    //! `maxRelativeError` of an FP32 engine (TF32 off) of the same backend on the calibration inputs: the error is
    //! max over the floating-point outputs and the samples of max|engine - fp32| / max|fp32|, and a NaN or Inf
    //! fails. The build makes the
    //! FP32 engine and a fully lowered one with every tensor marked as an output, ranks the lowered layers by the
    //! relative error each adds, then keeps the k most sensitive in FP32 (as setLayerPrecision(name, kFloat32)
    //! would; under TF32 a layer kept in FP32 runs IEEE FP32 math) for the smallest k its search finds that meets
    //! the target (k = 0, 1, 2, 4, ... then bisection: about 2 log2(layers) builds and runs). Layers pinned by
    //! setLayerPrecision are left as pinned. One kInfo line sums it up ("accuracy guard: kept 114 of 393 lowered
    //! layers in FP32; error 5.9e-3 <= 1e-2 (12 builds, 3.1 s)"). When even every ranked layer in FP32 misses the
    //! target (the error floor of the inputs' own rounding, say), the engine keeps them all in FP32 and a kWarning
    //! gives the error reached; with `strict` the build fails instead (kUnsupported, with the error reached).
    //! The engine's build options record the target (an engine file built for another target is stale) and the
    //! result (keys "accuracy.*": layers kept, their names, the error, whether it was met). 0 (the default) turns
    //! the guard off; with no reduced precision in use it has nothing to do and says so at kInfo. kInvalidArgument
    //! for a negative, NaN or infinite target.
    virtual Status setAccuracyTarget(double maxRelativeError, bool strict = false) = 0;
    virtual double getAccuracyTarget() const noexcept = 0;
    virtual bool getAccuracyStrict() const noexcept = 0;
    //! Inputs the accuracy guard judges engines on: each sample maps every network input to a host tensor of its
    //! dtype and a shape profile 0 (or the static shape) accepts; the error is the worst over the samples. Copied
    //! into the config; checked by the build, which fails naming the sample and the input that is missing, unknown
    //! or of another dtype or shape. Without samples (the default, or an empty vector) the guard uses one sample of
    //! random inputs at profile 0's opt shapes (static shapes otherwise), fixed seed: floats uniform in [-1, 1],
    //! integers 0 and bools false (always a valid index, but token ids of 0 exercise little of a model), and it
    //! says so at kWarning: real samples judge what the engine will see in use.
    virtual void setCalibrationInputs(std::vector<std::map<std::string, Tensor>> samples) = 0;
    virtual const std::vector<std::map<std::string, Tensor>>& getCalibrationInputs() const noexcept = 0;

protected:
    BuilderConfig() = default;
};

class ExecutionContext;

//! An optimized network ready to run. Immutable; share it across threads and create one ExecutionContext per
//! thread. I/O tensors are the network's inputs followed by its outputs.
class Engine {
public:
    virtual ~Engine() = default;
    Engine(const Engine&) = delete;
    Engine& operator=(const Engine&) = delete;
    virtual int32_t getNbIOTensors() const noexcept = 0;
    //! kOutOfRange for an index outside [0, getNbIOTensors()).
    virtual Result<std::string> getIOTensorName(int32_t index) const = 0;
    //! kINPUT or kOUTPUT; kNotFound (naming it) for a name that is not an I/O tensor.
    virtual Result<TensorIOMode> getTensorIOMode(const std::string& name) const = 0;
    virtual Result<DataType> getTensorDataType(const std::string& name) const = 0;
    //! Shape as built; dynamic dims are -1.
    virtual Result<Shape> getTensorShape(const std::string& name) const = 0;
    //! Profiles the engine was built with (0 for a network without dynamic inputs).
    virtual int32_t getNbOptimizationProfiles() const noexcept = 0;
    //! An input's shape in a profile; kNotFound for an input the profile does not cover, kOutOfRange for a bad index.
    virtual Result<Shape> getProfileShape(const std::string& name, int32_t profileIndex,
                                          OptProfileSelector selector) const = 0;
    //! Bytes of the activation arena of one context: all intermediate tensors, placed by the liveness-based memory
    //! planner (values whose lifetimes do not overlap share memory). Computed from the static shapes when every
    //! shape is static; each context then allocates this arena when it is created and never grows it. 0 for an
    //! engine with dynamic (or data-dependent) shapes: its arena size depends on the shapes given at run time. The
    //! CPU backend then runs a context's first enqueue with given input shapes on the heap, plans the arena from
    //! the shapes that run had, and runs the next enqueues with those input shapes in it (an activation whose size
    //! differs from the plan, e.g. a data-dependent one, is allocated apart).
    virtual size_t getActivationMemorySize() const noexcept = 0;
    //! A new context with profile 0 active. The context refers to this Engine, which must outlive it.
    virtual Result<std::unique_ptr<ExecutionContext>> createExecutionContext() const = 0;

protected:
    Engine() = default;
};

//! How an enqueue of a CUDA engine ran (ExecutionContext::getLastEnqueuePath).
enum class EnqueuePath : int32_t {
    kNone,           //!< No enqueue yet, or a CPU engine.
    kPlain,          //!< Kernel launches from the host, one per node (the reason says why not a graph).
    kGraphCaptured,  //!< Captured into a new CUDA graph, then launched.
    kGraphUpdated,   //!< The bound addresses changed: recaptured and the existing graph updated in place.
    kGraphReplayed,  //!< One launch of the graph captured earlier for these shapes and addresses.
};

//! Receives per-layer times from a context (TensorRT's IProfiler); set with ExecutionContext::setProfiler.
class Profiler {
public:
    virtual ~Profiler() = default;
    //! Called once per layer for each enqueue/infer, in execution order, from the thread that called it, after
    //! the run's work finished. `layerName` is the node's name in the optimized graph (as `kiln inspect` lists
    //! the layers); `ms` is its time: on the CPU the kernel's wall time; on CUDA the time between two CUDA events
    //! recorded on the stream before and after the layer's launches, so a layer that the GPU waits on the host for
    //! (shape arithmetic, host-only ops and their copies) shows that wait.
    virtual void reportLayerTime(const char* layerName, float ms) noexcept = 0;

protected:
    Profiler() = default;
};

//! Per-inference state on an Engine: input shapes, tensor addresses, output shapes. Use from one thread at a time.
class ExecutionContext {
public:
    virtual ~ExecutionContext() = default;
    ExecutionContext(const ExecutionContext&) = delete;
    ExecutionContext& operator=(const ExecutionContext&) = delete;
    //! Selects the profile that input shapes are checked against; kOutOfRange for a bad index.
    virtual Status setOptimizationProfile(int32_t index) = 0;
    virtual int32_t getOptimizationProfile() const noexcept = 0;
    //! Sets an input's shape for the next enqueue. Fails naming the input, the shape and the allowed range when the
    //! shape's rank differs or a dim lies outside the active profile's [min, max] (or differs from a static dim).
    //! Inputs with static shapes need no call.
    virtual Status setInputShape(const std::string& name, const Shape& dims) = 0;
    //! Binds memory to an I/O tensor by name: host memory for a CPU engine, device memory (cudaMalloc) for a CUDA
    //! engine. The memory is the caller's and must stay valid through enqueue. With `capacityBytes`, enqueue checks
    //! the tensor fits and fails naming it otherwise (for an output, getTensorShape then gives the shape it needed,
    //! data-dependent ones included, so the caller can grow the buffer and enqueue again); without, the caller
    //! guarantees it fits. A null
    //! address unbinds.
    virtual Status setTensorAddress(const std::string& name, void* data) = 0;
    virtual Status setTensorAddress(const std::string& name, void* data, size_t capacityBytes) = 0;
    //! An I/O tensor's shape: for inputs the one set (or static); for outputs the static shape before the first
    //! enqueue (-1 for dims not yet known) and the actual shape after an enqueue, data-dependent outputs included.
    virtual Result<Shape> getTensorShape(const std::string& name) const = 0;
    //! Runs the network on the bound inputs and writes the outputs to the bound addresses. Every input needs a
    //! shape (when dynamic) and an address, every output an address; a missing one fails naming the tensor.
    //! A CUDA engine enqueues on `stream` (a cudaStream_t; nullptr: the legacy default stream) and returns before
    //! the work is done: synchronize the stream before reading outputs. The CPU backend runs synchronously and
    //! ignores `stream`: the outputs are ready on return.
    virtual Status enqueue(void* stream = nullptr) = 0;
    //! Convenience for host tensors: runs on `inputs` (by name; shapes checked as by setInputShape) and returns
    //! every output by name, in tensors it allocates. Does not use the bound addresses.
    virtual Result<std::map<std::string, Tensor>> infer(const std::map<std::string, Tensor>& inputs) = 0;
    //! Reports every layer's time to `profiler` (not owned; nullptr: none, the default) on each later enqueue or
    //! infer. While one is set, a CUDA context's enqueue records an event pair per layer and synchronizes the stream
    //! before it returns (to read them), so profiled runs are slower than unprofiled ones.
    virtual void setProfiler(Profiler* profiler) noexcept = 0;
    virtual Profiler* getProfiler() const noexcept = 0;

    //! CUDA engines: whether enqueue captures itself into a CUDA graph and replays it (on by default; no effect on
    //! the CPU backend). With it on, the first enqueue at new input shapes runs plainly and caches the values that
    //! depend on the input shapes alone (Shape → Gather → Concat chains and the like); the next enqueue with those
    //! shapes is captured on the caller's stream (thread-local capture mode) and launched; later ones with the same
    //! shapes and tensor addresses replay the graph (one cudaGraphLaunch); new addresses update it in place
    //! (cudaGraphExecUpdate). Enqueue falls back to plain launches, never to an error, when the engine is not
    //! capturable (a host node reads device data: `kiln inspect` names it), while a profiler is set, on the legacy
    //! default stream (nullptr), or when `stream` is already capturing (the caller's own graph then records the plain
    //! enqueue; run one enqueue at those shapes before such a capture, as with TensorRT). getLastEnqueuePath() says
    //! which path ran. The graphs refer to this context's activation memory and the bound addresses: keep the bound
    //! memory alive while the context may replay. Not thread-safe, like the rest of the context.
    virtual void setCudaGraphs(bool enabled) noexcept = 0;
    virtual bool getCudaGraphs() const noexcept = 0;
    //! How the last enqueue ran (kNone before the first one, and on the CPU backend).
    virtual EnqueuePath getLastEnqueuePath() const noexcept = 0;
    //! Why the last enqueue took its path, in one line (e.g. "the legacy default stream cannot be captured").
    virtual std::string getLastEnqueueReason() const = 0;

protected:
    ExecutionContext() = default;
};

//! What Builder::buildEngineFile did with the engine path.
enum class EngineFileAction {
    kLoaded,   //!< The file held an engine matching the model, options, backend, device and Kiln version.
    kBuilt,    //!< There was no engine file (or `force` was set): built and saved.
    kRebuilt,  //!< The file held a stale engine (other Kiln version, device, options or a changed model): rebuilt.
};

//! Options of Builder::buildEngineFile.
struct EngineFileOptions {
    bool force = false;        //!< Build and overwrite even when the file holds a matching engine.
    bool rebuildStale = true;  //!< false: a stale engine is an error naming both sides and the rebuild command.
};

//! The engine and what buildEngineFile did to get it.
struct EngineFileResult {
    std::unique_ptr<Engine> engine;
    EngineFileAction action = EngineFileAction::kBuilt;
    //! One line: why it was loaded, built or rebuilt (e.g. "model changed: sha256 1a2b3c4d5e6f... -> 3c4d5e6f7a8b...").
    std::string reason;
};

//! Builds engines. Keeps no state between builds apart from the logger.
class Builder {
public:
    explicit Builder(ILogger& logger);
    ~Builder();
    Builder(const Builder&) = delete;
    Builder& operator=(const Builder&) = delete;

    //! An empty network, to be filled by an OnnxParser.
    std::unique_ptr<NetworkDefinition> createNetwork();
    //! A config with defaults: kTF32 allowed (FP32 otherwise), no workspace limit, no profiles, optimization level
    //! 3, backend kAuto, device 0.
    std::unique_ptr<BuilderConfig> createBuilderConfig();
    std::unique_ptr<OptimizationProfile> createOptimizationProfile();
    //! Optimizes the network (the pass pipeline, each pass logged at kVerbose, changes at kInfo) into an Engine in
    //! memory. The network is left unchanged and may be built again. Fails when an input with dynamic dims has no
    //! profile (naming it), a profile names an unknown input or disagrees with it, kINT8 is set without calibration
    //! data or Q/DQ nodes, or the backend is not available.
    Result<std::unique_ptr<Engine>> buildEngine(NetworkDefinition& network, const BuilderConfig& config);
    //! As buildEngine, but returns the engine file's bytes (save them; load with Runtime). Loading them gives an
    //! engine whose outputs are bit-identical to buildEngine's.
    Result<std::unique_ptr<HostMemory>> buildSerializedNetwork(NetworkDefinition& network, const BuilderConfig& config);
    //! Build-or-load, the seed's way: when `enginePath` holds an engine built from the same model file (SHA-256),
    //! with the same options, backend, device, Kiln version and engine format, loads it (memory-mapped, checksum
    //! verified) instead of building; otherwise parses `onnxPath`, builds, and writes the engine atomically (temp
    //! file + rename: a crash leaves the old file or none). A stale engine is rebuilt from `onnxPath`, or with an
    //! empty `onnxPath` from the model it records when that is reachable (kRebuilt, `reason` naming both sides);
    //! with options.rebuildStale = false it is an error naming both sides and the command that rebuilds it. A
    //! damaged engine file is rebuilt and the damage logged at kWarning; a file that is not a Kiln engine is an
    //! error and is not overwritten. What was done is logged at kInfo. The model is not hashed again while its
    //! file keeps the size and timestamps recorded with the hash. docs/engine-files.md has the details.
    Result<EngineFileResult> buildEngineFile(const std::string& onnxPath, const BuilderConfig& config,
                                             const std::string& enginePath, const EngineFileOptions& options = {});

private:
    ILogger& mLogger;
};

//! Fills a NetworkDefinition from an ONNX file.
class OnnxParser {
public:
    //! `network` must come from Builder::createNetwork and outlive the parser.
    OnnxParser(NetworkDefinition& network, ILogger& logger);
    ~OnnxParser();
    OnnxParser(const OnnxParser&) = delete;
    OnnxParser& operator=(const OnnxParser&) = delete;
    //! Parses the model (external data resolved next to it). Fails naming the file when it is missing or malformed;
    //! when some nodes are unsupported, logs each at kError and fails listing them all. Replaces what the network
    //! held before.
    Status parseFromFile(const std::string& path);

private:
    NetworkDefinition& mNetwork;
    ILogger& mLogger;
};

//! Loads serialized engines.
class Runtime {
public:
    explicit Runtime(ILogger& logger);
    ~Runtime();
    Runtime(const Runtime&) = delete;
    Runtime& operator=(const Runtime&) = delete;
    //! Loads an engine from bytes made by Builder::buildSerializedNetwork (copied; the caller keeps ownership).
    //! Fails with a one-line message for damaged data or an engine built by another Kiln version or for another
    //! backend (naming both and the command that rebuilds it).
    Result<std::unique_ptr<Engine>> deserializeEngine(const void* data, size_t size);
    //! Memory-maps and loads an engine file (weights are not copied). Errors as deserializeEngine, naming the file.
    Result<std::unique_ptr<Engine>> loadEngineFile(const std::string& path);

private:
    ILogger& mLogger;
};

}  // namespace kiln
