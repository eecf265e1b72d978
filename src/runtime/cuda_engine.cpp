// kiln::Engine / ExecutionContext for the CUDA backend: the optimized graph runs on the GPU through
// cuda::Executor; tensors are bound as device pointers (as in TensorRT), infer() moves host tensors for you.
#include <cuda_runtime.h>

#include <cstring>

#include "backends/cuda/check.h"
#include "backends/cuda/resources.h"
#include "runtime/cuda_graphs.h"
#include "runtime/engine_base.h"
#include "runtime/engine_impl.h"

namespace kiln::runtime {
namespace {

using cuda::DeviceTensor;

int32_t optionInt(const std::map<std::string, std::string>& o, const std::string& key, int32_t fallback) {
    auto it = o.find(key);
    if (it == o.end()) return fallback;
    try {
        return std::stoi(it->second);
    } catch (...) {
        return fallback;
    }
}

size_t optionSize(const std::map<std::string, std::string>& o, const std::string& key) {
    auto it = o.find(key);
    if (it == o.end()) return 0;
    try {
        return static_cast<size_t>(std::stoull(it->second));
    } catch (...) {
        return 0;
    }
}

//! Where an address lives; host memory given to a CUDA engine is a mistake worth a clear message.
bool isDevicePointer(const void* p) {
    cudaPointerAttributes attrs{};
    if (cudaPointerGetAttributes(&attrs, p) != cudaSuccess) {
        (void)cudaGetLastError();
        return false;
    }
    return attrs.type == cudaMemoryTypeDevice || attrs.type == cudaMemoryTypeManaged;
}

std::string shapesText(const std::vector<Shape>& shapes) {
    std::string s;
    for (const Shape& shape : shapes) s += (s.empty() ? "" : ", ") + shapeToString(shape);
    return s;
}

class CudaEngine final : public EngineBase {
public:
    CudaEngine(std::shared_ptr<const ir::Graph> graph, std::vector<ProfileShapes> profiles,
               std::shared_ptr<const cuda::ExecutionPlan> plan, int32_t device, cuda::RunOptions options)
        : EngineBase(std::move(graph), std::move(profiles)),
          mPlan(std::move(plan)),
          mDevice(device),
          mOptions(options) {}

    size_t getActivationMemorySize() const noexcept override { return mArenaBytes; }
    Result<std::unique_ptr<ExecutionContext>> createExecutionContext() const override;

    const cuda::ExecutionPlan& plan() const { return *mPlan; }
    int32_t device() const { return mDevice; }
    const cuda::RunOptions& options() const { return mOptions; }
    void setArenaBytes(size_t bytes) { mArenaBytes = bytes; }

private:
    std::shared_ptr<const cuda::ExecutionPlan> mPlan;
    int32_t mDevice;
    cuda::RunOptions mOptions;
    size_t mArenaBytes = 0;
};

class CudaContext final : public ContextBase {
public:
    CudaContext(const CudaEngine& engine, std::unique_ptr<cuda::ContextResources> resources)
        : ContextBase(engine), mCuda(engine), mResources(std::move(resources)) {}
    Status enqueue(void* stream) override;
    Result<std::map<std::string, Tensor>> infer(const std::map<std::string, Tensor>& inputs) override;

private:
    //! The bound inputs as device tensors (shapes and bindings checked), and every I/O address.
    Status gatherInputs(std::vector<cuda::RunValue>& inputs, std::vector<Shape>& shapes, IoAddresses& addresses);
    //! One enqueue as kernel launches: the executor, then the copies into the output bindings.
    Status runPlain(cudaStream_t stream, const std::vector<cuda::RunValue>& inputs, SignatureState& sig);
    //! Why this enqueue cannot use a graph (empty: it can).
    std::string whyPlain(cudaStream_t stream, const SignatureState& sig) const;
    //! The node timer for a new run while a profiler is set (created on first use), else nullptr.
    cuda::NodeTimer* timer();
    //! After a synchronized run: each timed layer's time to the profiler.
    Status reportLayers();

    const CudaEngine& mCuda;
    std::unique_ptr<cuda::ContextResources> mResources;
    std::unique_ptr<cuda::NodeTimer> mTimer;
    // After mResources: graphs and shape-value buffers go first.
    SignatureCache mSignatures;
    const void* mArenaBase = nullptr;
    size_t mArenaBytes = 0;
};

cuda::NodeTimer* CudaContext::timer() {
    if (mProfiler == nullptr) return nullptr;
    if (!mTimer) mTimer = std::make_unique<cuda::NodeTimer>();
    mTimer->reset();
    return mTimer.get();
}

Status CudaContext::reportLayers() {
    if (mProfiler == nullptr || !mTimer) return Status::ok();
    KILN_ASSIGN_OR_RETURN(auto times, mTimer->collect());
    const auto& nodes = mEngine.graph().nodes();
    for (const auto& [index, ms] : times) mProfiler->reportLayerTime(nodes[index]->name().c_str(), ms);
    return Status::ok();
}

Result<std::unique_ptr<ExecutionContext>> CudaEngine::createExecutionContext() const {
    KILN_ASSIGN_OR_RETURN(auto resources, cuda::ContextResources::create(mDevice, mArenaBytes));
    return std::unique_ptr<ExecutionContext>(std::make_unique<CudaContext>(*this, std::move(resources)));
}

Status CudaContext::gatherInputs(std::vector<cuda::RunValue>& inputs, std::vector<Shape>& shapes,
                                 IoAddresses& addresses) {
    for (const ir::Value* in : mEngine.graph().inputs()) {
        if (in->dtype() == DataType::kString) {
            return unsupported("input '" + in->name() + "' is a string tensor: string inputs go through infer()");
        }
        KILN_ASSIGN_OR_RETURN(Shape shape, resolvedInputShape(*in));
        KILN_ASSIGN_OR_RETURN(Binding b, bindingOf(in->name(), "input"));
        DeviceTensor t{in->dtype(), shape, b.data, nullptr};
        if (t.byteSize() > b.capacity) {
            return outOfRange("input '" + in->name() + "' needs " + std::to_string(t.byteSize()) +
                              " bytes, its buffer holds " + std::to_string(b.capacity));
        }
        if (t.byteSize() > 0 && !isDevicePointer(b.data)) {
            return invalidArgument("input '" + in->name() +
                                   "' is bound to host memory: a CUDA engine takes device pointers "
                                   "(cudaMalloc), or use infer() for host tensors");
        }
        cuda::RunValue v;
        v.device = std::move(t);
        inputs.push_back(std::move(v));
        shapes.push_back(std::move(shape));
        addresses.emplace_back(b.data, b.capacity);
    }
    for (const ir::Value* out : mEngine.graph().outputs()) {
        KILN_ASSIGN_OR_RETURN(Binding b, bindingOf(out->name(), "output"));
        if (!isDevicePointer(b.data)) {
            return invalidArgument("output '" + out->name() +
                                   "' is bound to host memory: a CUDA engine takes device pointers (cudaMalloc), "
                                   "or use infer() for host tensors");
        }
        addresses.emplace_back(b.data, b.capacity);
    }
    return Status::ok();
}

Status CudaContext::runPlain(cudaStream_t stream, const std::vector<cuda::RunValue>& inputs, SignatureState& sig) {
    KILN_ASSIGN_OR_RETURN(cuda::RunState st, mResources->runState(mCuda.plan(), stream, mCuda.options()));
    st.timer = timer();
    KILN_ASSIGN_OR_RETURN(std::vector<cuda::RunValue> outputs,
                          cuda::Executor(mCuda.plan()).run(st, inputs, &sig.values));
    sig.outputShapes.clear();
    for (size_t i = 0; i < outputs.size(); ++i) {
        const ir::Value* out = mEngine.graph().outputs()[i];
        const cuda::RunValue& r = outputs[i];
        if (r.dtype() == DataType::kString) {
            return unsupported("output '" + out->name() + "' is a string tensor: use infer()");
        }
        KILN_ASSIGN_OR_RETURN(Binding b, bindingOf(out->name(), "output"));
        recordShape(out->name(), r.shape());
        sig.outputShapes.push_back(r.shape());
        const size_t bytes = static_cast<size_t>(shapeNumel(r.shape())) * dataTypeSize(r.dtype());
        if (bytes > b.capacity) {
            return outOfRange("output '" + out->name() + "' of shape " + shapeToString(r.shape()) + " needs " +
                              std::to_string(bytes) + " bytes, its buffer holds " + std::to_string(b.capacity));
        }
        if (bytes == 0) continue;
        if (r.onHost) {
            // Pageable source: the copy is staged before this returns, so the host tensor may go.
            KILN_CUDA_CHECK(cudaMemcpyAsync(b.data, r.host.raw(), bytes, cudaMemcpyHostToDevice, stream));
        } else if (r.device.data != b.data) {
            KILN_CUDA_CHECK(cudaMemcpyAsync(b.data, r.device.data, bytes, cudaMemcpyDeviceToDevice, stream));
        }
    }
    if (st.timer) {
        KILN_CUDA_CHECK(cudaStreamSynchronize(stream));
        KILN_RETURN_IF_ERROR(reportLayers());
    }
    return Status::ok();
}

std::string CudaContext::whyPlain(cudaStream_t stream, const SignatureState& sig) const {
    if (!getCudaGraphs()) return "CUDA graphs are turned off (setCudaGraphs(false), --no-cuda-graph)";
    if (const cuda::CaptureVerdict& v = mCuda.plan().captureVerdict(); !v.capturable) {
        return "not capturable: " + v.reason;
    }
    if (getProfiler() != nullptr) {
        return "a profiler is set: every layer is timed by its own events and enqueue synchronizes to read them";
    }
    if (stream == nullptr || stream == cudaStreamLegacy) {
        return "the legacy default stream cannot be captured: enqueue on a stream of your own";
    }
    if (streamIsCapturing(stream)) return "the stream is capturing already: the caller's graph records this enqueue";
    if (!sig.notCapturable.empty()) return "capture failed at these shapes: " + sig.notCapturable;
    return {};
}

Status CudaContext::enqueue(void* streamHandle) {
    auto stream = static_cast<cudaStream_t>(streamHandle);
    std::vector<cuda::RunValue> inputs;
    std::vector<Shape> shapes;
    IoAddresses addresses;
    KILN_RETURN_IF_ERROR(gatherInputs(inputs, shapes, addresses));
    cuda::DeviceArena& arena = mResources->arena();
    KILN_RETURN_IF_ERROR(arena.growToPeak());
    if (arena.base() != mArenaBase || arena.capacity() != mArenaBytes) {
        // The arena moved: every graph refers to the old block.
        mSignatures.dropGraphs();
        mArenaBase = arena.base();
        mArenaBytes = arena.capacity();
    }
    SignatureState& sig = mSignatures.at(shapes);
    if (!sig.values.ready()) {
        // The recording run uploads the shape values with pageable copies, which capture does not allow.
        if (mCuda.plan().shapeOnly().any() && stream != nullptr && streamIsCapturing(stream)) {
            return invalidArgument("the first enqueue at input shapes " + shapesText(shapes) +
                                   " is being captured by the caller: run one enqueue at these shapes before "
                                   "capturing (it computes the values that depend on the shapes)");
        }
        KILN_RETURN_IF_ERROR(runPlain(stream, inputs, sig));
        setLastEnqueue(EnqueuePath::kPlain, "first enqueue at these input shapes: shape values computed and cached");
        return Status::ok();
    }
    if (std::string why = whyPlain(stream, sig); !why.empty()) {
        KILN_RETURN_IF_ERROR(runPlain(stream, inputs, sig));
        setLastEnqueue(EnqueuePath::kPlain, std::move(why));
        return Status::ok();
    }
    EnqueuePath path = EnqueuePath::kGraphReplayed;
    if (sig.exec == nullptr || sig.addresses != addresses) {
        const size_t overflows = arena.overflowCount();
        bool updated = false;
        const Status captured = captureGraph(
            stream, [&] { return runPlain(stream, inputs, sig); }, sig.exec, updated);
        if (!captured) {
            sig.dropGraph();
            KILN_RETURN_IF_ERROR(runPlain(stream, inputs, sig));
            // Outgrowing the arena (a cudaMalloc, refused while capturing) is fixed by the next enqueue's growth;
            // any other reason stays for these shapes.
            if (arena.overflowCount() == overflows && arena.peak() <= arena.capacity()) {
                sig.notCapturable = captured.message();
            }
            setLastEnqueue(EnqueuePath::kPlain, "capture failed: " + captured.message());
            return Status::ok();
        }
        sig.addresses = addresses;
        path = updated ? EnqueuePath::kGraphUpdated : EnqueuePath::kGraphCaptured;
    }
    KILN_CUDA_CHECK(cudaGraphLaunch(sig.exec, stream));
    for (size_t i = 0; i < sig.outputShapes.size(); ++i) {
        recordShape(mEngine.graph().outputs()[i]->name(), sig.outputShapes[i]);
    }
    setLastEnqueue(path, path == EnqueuePath::kGraphReplayed  ? "replayed the CUDA graph of these shapes and addresses"
                         : path == EnqueuePath::kGraphUpdated ? "new tensor addresses: recaptured, graph updated"
                                                              : "captured a CUDA graph of these shapes");
    return Status::ok();
}

Result<std::map<std::string, Tensor>> CudaContext::infer(const std::map<std::string, Tensor>& inputs) {
    KILN_RETURN_IF_ERROR(setInferInputs(inputs));
    std::vector<Tensor> ordered;
    for (const ir::Value* in : mEngine.graph().inputs()) {
        auto it = inputs.find(in->name());
        if (it == inputs.end()) return invalidArgument("missing input '" + in->name() + "'");
        if (in->dtype() != DataType::kUndefined && it->second.dtype() != in->dtype()) {
            return invalidArgument("input '" + in->name() + "' expects " + dataTypeName(in->dtype()) + ", got " +
                                   dataTypeName(it->second.dtype()));
        }
        ordered.push_back(it->second);
    }
    KILN_ASSIGN_OR_RETURN(std::vector<Tensor> outs,
                          cuda::runOnHostTensors(mCuda.plan(), *mResources, ordered, mCuda.options(), timer()));
    KILN_RETURN_IF_ERROR(reportLayers());
    std::map<std::string, Tensor> result;
    for (size_t i = 0; i < outs.size(); ++i) {
        const std::string& name = mEngine.graph().outputs()[i]->name();
        recordShape(name, outs[i].shape());
        result.emplace(name, std::move(outs[i]));
    }
    return result;
}

//! Zero-filled inputs at the largest shapes the engine accepts (the profiles' max, else the static shapes).
Result<std::vector<Tensor>> maxShapeInputs(const EngineBase& engine) {
    std::vector<Tensor> feeds;
    for (const ir::Value* in : engine.graph().inputs()) {
        Shape shape = symbolicToShape(in->shape());
        for (const ProfileShapes& p : engine.profiles()) {
            auto it = p.find(in->name());
            if (it == p.end()) continue;
            if (shapeNumel(it->second[2]) >= shapeNumel(shape) || shape.empty()) shape = it->second[2];
        }
        for (int64_t d : shape) {
            if (d < 0) return unsupported("input '" + in->name() + "' has no max shape");
        }
        KILN_ASSIGN_OR_RETURN(Tensor t, Tensor::allocate(in->dtype(), shape));
        feeds.push_back(std::move(t));
    }
    return feeds;
}

}  // namespace

bool cudaBackendAvailable() noexcept { return cuda::gpuAvailable(); }

std::string cudaUnavailableReason() {
    int count = 0;
    const cudaError_t err = cudaGetDeviceCount(&count);
    if (err != cudaSuccess) {
        (void)cudaGetLastError();
        return std::string("no usable CUDA GPU (") + cudaGetErrorString(err) + ")";
    }
    return count > 0 ? std::string() : std::string("no CUDA GPU on this machine");
}

Result<plan::EngineMetadata> cudaEngineMetadata(int32_t device) {
    int count = 0;
    KILN_CUDA_CHECK(cudaGetDeviceCount(&count));
    if (device >= count) {
        return outOfRange("device " + std::to_string(device) + " does not exist (" + std::to_string(count) +
                          " CUDA GPU(s) present)");
    }
    cudaDeviceProp prop{};
    KILN_CUDA_CHECK(cudaGetDeviceProperties(&prop, device));
    plan::EngineMetadata meta = plan::EngineMetadata::current("cuda", prop.name, prop.major, prop.minor);
    int runtimeVersion = 0;
    KILN_CUDA_CHECK(cudaRuntimeGetVersion(&runtimeVersion));
    meta.buildOptions["cuda.runtime_version"] = std::to_string(runtimeVersion);
    meta.buildOptions["cuda.cudnn_version"] = std::to_string(cudnnGetVersion());
    meta.buildOptions["cuda.cublaslt_version"] = std::to_string(cublasLtGetVersion());
    meta.buildOptions["device"] = std::to_string(device);
    return meta;
}

Status checkCudaDevice(const plan::EngineMetadata& meta, const std::string& engineName) {
    const std::string rebuild = "rebuild it with: kiln build " + (meta.modelPath.empty() ? "<model>" : meta.modelPath) +
                                " -o " + engineName + " --backend cuda";
    const std::string why = cudaUnavailableReason();
    if (!why.empty()) {
        return unsupported(engineName + ": built for the CUDA backend (" + meta.deviceName + "), but " + why +
                           "; build a CPU engine instead with: kiln build " +
                           (meta.modelPath.empty() ? "<model>" : meta.modelPath) + " -o " + engineName +
                           " --backend cpu");
    }
    const int32_t device = optionInt(meta.buildOptions, "device", 0);
    KILN_ASSIGN_OR_RETURN(plan::EngineMetadata here, cudaEngineMetadata(device));
    if (here.deviceName != meta.deviceName || here.computeMajor != meta.computeMajor ||
        here.computeMinor != meta.computeMinor) {
        return invalidArgument(engineName + ": built for " + meta.deviceName + " (sm_" +
                               std::to_string(meta.computeMajor) + std::to_string(meta.computeMinor) + "), this is " +
                               here.deviceName + " (sm_" + std::to_string(here.computeMajor) +
                               std::to_string(here.computeMinor) + "); " + rebuild);
    }
    if (const std::string why = cudnnMismatch(meta); !why.empty()) {
        return invalidArgument(engineName + ": " + why + "; " + rebuild);
    }
    return Status::ok();
}

std::string cudnnMismatch(const plan::EngineMetadata& meta) {
    // cuDNN picks other algorithms across minor versions: an engine is tied to major.minor, as TensorRT's.
    const int built = optionInt(meta.buildOptions, "cuda.cudnn_version", 0);
    const int here = static_cast<int>(cudnnGetVersion());
    if (built / 100 == here / 100) return {};
    return "built with cuDNN " + std::to_string(built) + ", this is cuDNN " + std::to_string(here);
}

Result<std::unique_ptr<Engine>> makeCudaEngine(std::shared_ptr<const ir::Graph> graph,
                                               std::vector<ProfileShapes> profiles,
                                               const std::map<std::string, std::string>& buildOptions,
                                               ILogger& logger) {
    const int32_t device = optionInt(buildOptions, "device", 0);
    KILN_CUDA_CHECK(cudaSetDevice(device));
    KILN_ASSIGN_OR_RETURN(auto plan, cuda::ExecutionPlan::create(*graph));
    cuda::RunOptions options;
    options.allowTf32 = optionInt(buildOptions, "tf32", 1) != 0;
    options.workspaceLimit = optionSize(buildOptions, "workspace");
    auto engine = std::make_unique<CudaEngine>(std::move(graph), std::move(profiles), std::move(plan), device, options);
    if (buildOptions.count("cuda.arena_bytes")) {
        engine->setArenaBytes(optionSize(buildOptions, "cuda.arena_bytes"));
    } else {
        // The arena a context reserves is what a run at the largest accepted shapes needed.
        auto feeds = maxShapeInputs(*engine);
        auto resources = cuda::ContextResources::create(device, 0);
        if (!resources) return resources.status();
        if (feeds) {
            auto run = cuda::runOnHostTensors(engine->plan(), **resources, *feeds, options);
            if (run) {
                engine->setArenaBytes((*resources)->arena().peak());
            } else {
                logLine(logger, ILogger::Severity::kWarning,
                        "could not size the activation arena by a run at the max shapes (" + run.status().message() +
                            "); contexts size it on their first run");
            }
        }
    }
    size_t hostNodes = 0;
    for (size_t i = 0; i < engine->graph().nodes().size(); ++i) {
        if (engine->plan().placement(i) != cuda::Placement::kHost) continue;
        ++hostNodes;
        logLine(
            logger, ILogger::Severity::kVerbose,
            "runs on the host: " + engine->graph().nodes()[i]->describe() + " (" + engine->plan().hostReason(i) + ")");
    }
    logLine(logger, ILogger::Severity::kInfo,
            "CUDA engine on device " + std::to_string(device) + ": " + std::to_string(engine->graph().nodes().size()) +
                " nodes (" + std::to_string(hostNodes) + " on the host), weights " +
                std::to_string(engine->plan().deviceConstantBytes()) + " bytes on the device, activation arena " +
                std::to_string(engine->getActivationMemorySize()) + " bytes");
    const cuda::CaptureVerdict& verdict = engine->plan().captureVerdict();
    logLine(logger, ILogger::Severity::kInfo,
            verdict.capturable ? "CUDA graph: capturable (enqueue replays a graph per input-shape signature)"
                               : "CUDA graph: not capturable, enqueue launches every kernel: " + verdict.reason);
    return std::unique_ptr<Engine>(std::move(engine));
}

}  // namespace kiln::runtime
