// kiln::Engine / ExecutionContext / Runtime for the CPU backend: the optimized graph runs on the reference executor.
#include <cstring>
#include <limits>
#include <sstream>
#include <unordered_map>
#include <unordered_set>

#include "backends/cpu/executor.h"
#include "kiln/kiln.h"
#include "plan/engine_file.h"
#include "plan/memory_plan.h"
#include "runtime/activation_arena.h"
#include "runtime/engine_base.h"
#include "runtime/engine_impl.h"

#if KILN_HAVE_CUDA
#define KILN_HAVE_CUDA_TEXT " and cuda"
#else
#define KILN_HAVE_CUDA_TEXT ""
#endif

namespace kiln::runtime {
namespace {

std::string joinShape(const Shape& s) {
    std::string out;
    for (size_t i = 0; i < s.size(); ++i) out += (i ? "," : "") + std::to_string(s[i]);
    return out;
}

Result<Shape> parseShape(const std::string& text) {
    Shape s;
    std::stringstream ss(text);
    std::string item;
    while (std::getline(ss, item, ',')) {
        try {
            s.push_back(std::stoll(item));
        } catch (...) {
            return invalidModel("malformed profile shape '" + text + "' in engine");
        }
    }
    return s;
}

class CpuEngine final : public EngineBase {
public:
    CpuEngine(std::shared_ptr<const ir::Graph> graph, std::vector<ProfileShapes> profiles)
        : EngineBase(std::move(graph), std::move(profiles)) {
        if (auto mp = plan::planMemory(this->graph()); mp.isOk()) {
            mPlan = std::make_shared<const plan::MemoryPlan>(std::move(mp).value());
            mActivationBytes = mPlan->arenaBytes;
        }
    }
    size_t getActivationMemorySize() const noexcept override { return mActivationBytes; }
    Result<std::unique_ptr<ExecutionContext>> createExecutionContext() const override;
    //! The memory plan when every shape is static (shared by the contexts), else null.
    const std::shared_ptr<const plan::MemoryPlan>& memoryPlan() const { return mPlan; }

private:
    std::shared_ptr<const plan::MemoryPlan> mPlan;
    size_t mActivationBytes = 0;
};

class CpuContext final : public ContextBase {
public:
    explicit CpuContext(const CpuEngine& engine) : ContextBase(engine), mArena(engine.memoryPlan()) {}
    Status enqueue(void* stream) override;
    Result<std::map<std::string, Tensor>> infer(const std::map<std::string, Tensor>& inputs) override;
    Status reserveArena() { return mArena.reserve(); }
    const ArenaStats& arenaStats() const noexcept { return mArena.stats(); }

private:
    //! Runs the graph on `inputs` with the activations in the arena; outputs may live in the arena.
    Result<std::unordered_map<std::string, Tensor>> run(const std::unordered_map<std::string, Tensor>& inputs);
    ActivationArena mArena;
};

Result<std::unique_ptr<ExecutionContext>> CpuEngine::createExecutionContext() const {
    auto context = std::make_unique<CpuContext>(*this);
    KILN_RETURN_IF_ERROR(context->reserveArena());
    return std::unique_ptr<ExecutionContext>(std::move(context));
}

Result<std::unordered_map<std::string, Tensor>> CpuContext::run(const std::unordered_map<std::string, Tensor>& inputs) {
    std::vector<Shape> shapes;
    for (const ir::Value* in : mEngine.graph().inputs()) {
        auto it = inputs.find(in->name());
        shapes.push_back(it == inputs.end() ? Shape{} : it->second.shape());
    }
    mArena.beginRun(shapes);
    cpu::Executor executor(&mArena);
    // Layers are the top-level nodes: the nodes of If/Loop/Scan bodies are timed within their parent.
    std::vector<std::pair<const ir::Node*, double>> times;
    std::unordered_set<const ir::Node*> layers;
    if (mProfiler != nullptr) {
        for (const auto& n : mEngine.graph().nodes()) layers.insert(n.get());
        executor.setNodeObserver([&](const ir::Node& node, double seconds) {
            if (layers.count(&node)) times.emplace_back(&node, seconds * 1000.0);
        });
    }
    KILN_ASSIGN_OR_RETURN(auto outputs, executor.runNamed(mEngine.graph(), inputs));
    mArena.endRun(mEngine.graph());
    for (const auto& [node, ms] : times) mProfiler->reportLayerTime(node->name().c_str(), static_cast<float>(ms));
    return outputs;
}

Status CpuContext::enqueue(void* /*stream*/) {
    std::unordered_map<std::string, Tensor> inputs;
    for (const ir::Value* in : mEngine.graph().inputs()) {
        KILN_ASSIGN_OR_RETURN(Shape shape, resolvedInputShape(*in));
        KILN_ASSIGN_OR_RETURN(Binding b, bindingOf(in->name(), "input"));
        const Tensor t = Tensor::wrap(in->dtype(), shape, b.data);
        if (t.byteSize() > b.capacity) {
            return outOfRange("input '" + in->name() + "' needs " + std::to_string(t.byteSize()) + " bytes, its " +
                              "buffer holds " + std::to_string(b.capacity));
        }
        inputs.emplace(in->name(), t);
    }
    for (const ir::Value* out : mEngine.graph().outputs()) {
        KILN_RETURN_IF_ERROR(bindingOf(out->name(), "output").status());
    }
    KILN_ASSIGN_OR_RETURN(auto outputs, run(inputs));
    for (const ir::Value* out : mEngine.graph().outputs()) {
        const Tensor& t = outputs.at(out->name());
        KILN_ASSIGN_OR_RETURN(Binding b, bindingOf(out->name(), "output"));
        recordShape(out->name(), t.shape());
        if (t.dtype() == DataType::kString) return unsupported("output '" + out->name() + "' is a string tensor");
        if (t.byteSize() > b.capacity) {
            return outOfRange("output '" + out->name() + "' of shape " + shapeToString(t.shape()) + " needs " +
                              std::to_string(t.byteSize()) + " bytes, its buffer holds " + std::to_string(b.capacity));
        }
        if (t.byteSize() > 0) std::memcpy(b.data, t.raw(), t.byteSize());
    }
    return Status::ok();
}

Result<std::map<std::string, Tensor>> CpuContext::infer(const std::map<std::string, Tensor>& inputs) {
    KILN_RETURN_IF_ERROR(setInferInputs(inputs));
    std::unordered_map<std::string, Tensor> named(inputs.begin(), inputs.end());
    KILN_ASSIGN_OR_RETURN(auto outputs, run(named));
    std::map<std::string, Tensor> result;
    for (auto& [name, t] : outputs) {
        recordShape(name, t.shape());
        // The caller owns what infer returns: outputs in the arena would be overwritten by the next run.
        result.emplace(name, mArena.contains(t) ? t.clone() : std::move(t));
    }
    return result;
}

}  // namespace

ArenaStats arenaStatsOf(const ExecutionContext& context) {
    const auto* cpu = dynamic_cast<const CpuContext*>(&context);
    return cpu ? cpu->arenaStats() : ArenaStats{};
}

void encodeProfiles(const std::vector<ProfileShapes>& profiles, std::map<std::string, std::string>& options) {
    for (size_t i = 0; i < profiles.size(); ++i) {
        for (const auto& [name, s] : profiles[i]) {
            options["profile." + std::to_string(i) + "." + name] =
                joinShape(s[0]) + ";" + joinShape(s[1]) + ";" + joinShape(s[2]);
        }
    }
}

Result<std::vector<ProfileShapes>> decodeProfiles(const std::map<std::string, std::string>& options) {
    std::vector<ProfileShapes> profiles;
    for (const auto& [key, value] : options) {
        if (key.rfind("profile.", 0) != 0) continue;
        const size_t dot = key.find('.', 8);
        if (dot == std::string::npos) return invalidModel("malformed profile key '" + key + "' in engine");
        size_t index = 0;
        try {
            index = std::stoul(key.substr(8, dot - 8));
        } catch (...) {
            return invalidModel("malformed profile key '" + key + "' in engine");
        }
        if (index > 4096) return invalidModel("profile index in '" + key + "' out of range");
        if (profiles.size() <= index) profiles.resize(index + 1);
        std::array<Shape, 3> shapes;
        std::stringstream ss(value);
        std::string part;
        for (size_t k = 0; k < 3; ++k) {
            if (!std::getline(ss, part, ';')) return invalidModel("malformed profile '" + value + "' in engine");
            KILN_ASSIGN_OR_RETURN(shapes[k], parseShape(part));
        }
        profiles[index][key.substr(dot + 1)] = std::move(shapes);
    }
    return profiles;
}

Result<std::unique_ptr<Engine>> makeCpuEngine(std::shared_ptr<const ir::Graph> graph,
                                              std::vector<ProfileShapes> profiles, ILogger& logger) {
    auto engine = std::make_unique<CpuEngine>(std::move(graph), std::move(profiles));
    logLine(logger, ILogger::Severity::kVerbose,
            "engine: " + std::to_string(engine->getNbIOTensors()) + " I/O tensors, activation arena " +
                std::to_string(engine->getActivationMemorySize()) + " bytes");
    return std::unique_ptr<Engine>(std::move(engine));
}

Result<std::unique_ptr<Engine>> engineFromFile(plan::EngineFile file, const std::string& name, ILogger& logger) {
    KILN_ASSIGN_OR_RETURN(auto profiles, decodeProfiles(file.metadata.buildOptions));
    std::shared_ptr<const ir::Graph> graph(std::move(file.graph));
    if (file.metadata.backend == "cuda") {
#if KILN_HAVE_CUDA
        KILN_RETURN_IF_ERROR(checkCudaDevice(file.metadata, name));
        return makeCudaEngine(std::move(graph), std::move(profiles), file.metadata.buildOptions, logger);
#else
        return unsupported(name + ": built for the CUDA backend (" + file.metadata.deviceName +
                           "), but this Kiln was built without it; build a CPU engine with: kiln build " +
                           (file.metadata.modelPath.empty() ? "<model>" : file.metadata.modelPath) + " -o " + name +
                           " --backend cpu");
#endif
    }
    if (file.metadata.backend != "cpu") {
        return unsupported(name + ": built for backend '" + file.metadata.backend +
                           "', which this Kiln does not have (it has cpu" + std::string(KILN_HAVE_CUDA_TEXT) + ")");
    }
    return makeCpuEngine(std::move(graph), std::move(profiles), logger);
}

}  // namespace kiln::runtime

namespace kiln {

using runtime::engineFromFile;

namespace {
//! Any backend this build knows; the backend-specific checks (device, library versions) follow in engineFromFile.
plan::EngineExpectation anyBackend() {
    plan::EngineExpectation e;
    e.backend.clear();
    return e;
}

Result<std::unique_ptr<Engine>> logged(Result<std::unique_ptr<Engine>> r, ILogger& logger) {
    if (!r) runtime::logLine(logger, ILogger::Severity::kError, r.status().message());
    return r;
}
}  // namespace

Runtime::Runtime(ILogger& logger) : mLogger(logger) {}
Runtime::~Runtime() = default;

Result<std::unique_ptr<Engine>> Runtime::deserializeEngine(const void* data, size_t size) {
    auto file = plan::loadEngineFromMemory(data, size, nullptr, anyBackend());
    if (!file) return logged(file.status(), mLogger);
    return logged(engineFromFile(std::move(file).value(), "<memory>", mLogger), mLogger);
}

Result<std::unique_ptr<Engine>> Runtime::loadEngineFile(const std::string& path) {
    auto file = plan::loadEngineFile(path, anyBackend());
    if (!file) return logged(file.status(), mLogger);
    return logged(engineFromFile(std::move(file).value(), path, mLogger), mLogger);
}

}  // namespace kiln
