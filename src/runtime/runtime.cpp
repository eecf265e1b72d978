// kiln::Engine / ExecutionContext / Runtime for the CPU backend: the optimized graph runs on the reference executor.
#include <cstring>
#include <limits>
#include <sstream>
#include <unordered_map>

#include "backends/cpu/executor.h"
#include "kiln/kiln.h"
#include "plan/engine_file.h"
#include "plan/memory_plan.h"
#include "runtime/activation_arena.h"
#include "runtime/engine_impl.h"

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

Shape symbolicToShape(const ir::SymbolicShape& s) {
    Shape out;
    if (!s) return out;
    for (const ir::Dim& d : *s) out.push_back(d.isStatic() ? d.size : -1);
    return out;
}

std::string rangeText(const Shape& lo, const Shape& hi) {
    return "[" + shapeToString(lo) + ", " + shapeToString(hi) + "]";
}

class CpuEngine;

class CpuContext final : public ExecutionContext {
public:
    explicit CpuContext(const CpuEngine& engine);
    Status setOptimizationProfile(int32_t index) override;
    int32_t getOptimizationProfile() const noexcept override { return mProfile; }
    Status setInputShape(const std::string& name, const Shape& dims) override;
    Status setTensorAddress(const std::string& name, void* data) override {
        return bind(name, data, std::numeric_limits<size_t>::max());
    }
    Status setTensorAddress(const std::string& name, void* data, size_t capacityBytes) override {
        return bind(name, data, capacityBytes);
    }
    Result<Shape> getTensorShape(const std::string& name) const override;
    Status enqueue(void* stream) override;
    Result<std::map<std::string, Tensor>> infer(const std::map<std::string, Tensor>& inputs) override;
    Status reserveArena() { return mArena.reserve(); }
    const ArenaStats& arenaStats() const noexcept { return mArena.stats(); }

private:
    struct Binding {
        void* data = nullptr;
        size_t capacity = 0;
    };
    Status bind(const std::string& name, void* data, size_t capacity);
    //! Runs the graph on `inputs` with the activations in the arena; outputs may live in the arena.
    Result<std::unordered_map<std::string, Tensor>> run(const std::unordered_map<std::string, Tensor>& inputs);
    const CpuEngine& mEngine;
    int32_t mProfile = 0;
    std::unordered_map<std::string, Shape> mShapes;  // inputs set by setInputShape; outputs after a run
    std::unordered_map<std::string, Binding> mBindings;
    ActivationArena mArena;
};

class CpuEngine final : public Engine {
public:
    struct Io {
        const ir::Value* value;
        TensorIOMode mode;
    };

    CpuEngine(std::shared_ptr<const ir::Graph> graph, std::vector<ProfileShapes> profiles)
        : mGraph(std::move(graph)), mProfiles(std::move(profiles)) {
        for (const ir::Value* v : mGraph->inputs()) add(v, TensorIOMode::kINPUT);
        for (const ir::Value* v : mGraph->outputs()) add(v, TensorIOMode::kOUTPUT);
        if (auto mp = plan::planMemory(*mGraph); mp.isOk()) {
            mPlan = std::make_shared<const plan::MemoryPlan>(std::move(mp).value());
            mActivationBytes = mPlan->arenaBytes;
        }
    }

    int32_t getNbIOTensors() const noexcept override { return static_cast<int32_t>(mOrder.size()); }
    Result<std::string> getIOTensorName(int32_t index) const override {
        if (index < 0 || index >= getNbIOTensors()) {
            return outOfRange("I/O tensor index " + std::to_string(index) + " is outside [0, " +
                              std::to_string(getNbIOTensors()) + ")");
        }
        return mOrder[static_cast<size_t>(index)];
    }
    Result<TensorIOMode> getTensorIOMode(const std::string& name) const override {
        KILN_ASSIGN_OR_RETURN(const Io* io, find(name));
        return io->mode;
    }
    Result<DataType> getTensorDataType(const std::string& name) const override {
        KILN_ASSIGN_OR_RETURN(const Io* io, find(name));
        return io->value->dtype();
    }
    Result<Shape> getTensorShape(const std::string& name) const override {
        KILN_ASSIGN_OR_RETURN(const Io* io, find(name));
        if (!io->value->shape()) return unsupported("tensor '" + name + "' has unknown rank");
        return symbolicToShape(io->value->shape());
    }
    int32_t getNbOptimizationProfiles() const noexcept override { return static_cast<int32_t>(mProfiles.size()); }
    Result<Shape> getProfileShape(const std::string& name, int32_t profileIndex,
                                  OptProfileSelector selector) const override {
        if (profileIndex < 0 || profileIndex >= getNbOptimizationProfiles()) {
            return outOfRange("optimization profile " + std::to_string(profileIndex) + " does not exist (engine has " +
                              std::to_string(mProfiles.size()) + ")");
        }
        const ProfileShapes& p = mProfiles[static_cast<size_t>(profileIndex)];
        auto it = p.find(name);
        if (it == p.end()) {
            return notFound("optimization profile " + std::to_string(profileIndex) + " has no shapes for '" + name +
                            "'");
        }
        return it->second[static_cast<size_t>(selector)];
    }
    size_t getActivationMemorySize() const noexcept override { return mActivationBytes; }
    Result<std::unique_ptr<ExecutionContext>> createExecutionContext() const override {
        auto context = std::make_unique<CpuContext>(*this);
        KILN_RETURN_IF_ERROR(context->reserveArena());
        return std::unique_ptr<ExecutionContext>(std::move(context));
    }

    Result<const Io*> find(const std::string& name) const {
        auto it = mIo.find(name);
        if (it == mIo.end()) return notFound("'" + name + "' is not an input or output of the engine");
        return &it->second;
    }
    const ir::Graph& graph() const { return *mGraph; }
    const std::vector<ProfileShapes>& profiles() const { return mProfiles; }
    //! The memory plan when every shape is static (shared by the contexts), else null.
    const std::shared_ptr<const plan::MemoryPlan>& memoryPlan() const { return mPlan; }

private:
    void add(const ir::Value* v, TensorIOMode mode) {
        mOrder.push_back(v->name());
        mIo.emplace(v->name(), Io{v, mode});
    }
    std::shared_ptr<const ir::Graph> mGraph;
    std::vector<ProfileShapes> mProfiles;
    std::vector<std::string> mOrder;
    std::unordered_map<std::string, Io> mIo;
    std::shared_ptr<const plan::MemoryPlan> mPlan;
    size_t mActivationBytes = 0;
};

CpuContext::CpuContext(const CpuEngine& engine) : mEngine(engine), mArena(engine.memoryPlan()) {}

Result<std::unordered_map<std::string, Tensor>> CpuContext::run(const std::unordered_map<std::string, Tensor>& inputs) {
    std::vector<Shape> shapes;
    for (const ir::Value* in : mEngine.graph().inputs()) {
        auto it = inputs.find(in->name());
        shapes.push_back(it == inputs.end() ? Shape{} : it->second.shape());
    }
    mArena.beginRun(shapes);
    KILN_ASSIGN_OR_RETURN(auto outputs, cpu::Executor(&mArena).runNamed(mEngine.graph(), inputs));
    mArena.endRun(mEngine.graph());
    return outputs;
}

Status CpuContext::setOptimizationProfile(int32_t index) {
    const auto n = mEngine.getNbOptimizationProfiles();
    if (index < 0 || (index >= n && !(n == 0 && index == 0))) {
        return outOfRange("optimization profile " + std::to_string(index) + " does not exist (engine has " +
                          std::to_string(n) + ")");
    }
    mProfile = index;
    return Status::ok();
}

Status CpuContext::setInputShape(const std::string& name, const Shape& dims) {
    KILN_ASSIGN_OR_RETURN(const CpuEngine::Io* io, mEngine.find(name));
    if (io->mode != TensorIOMode::kINPUT) return invalidArgument("'" + name + "' is an output, not an input");
    const Shape built = symbolicToShape(io->value->shape());
    const std::string what = "input '" + name + "' shape " + shapeToString(dims);
    if (io->value->shape() && dims.size() != built.size()) {
        return invalidArgument(what + " has rank " + std::to_string(dims.size()) + ", the engine expects rank " +
                               std::to_string(built.size()) + " (" + shapeToString(built) + ")");
    }
    const ProfileShapes* profile =
        mEngine.profiles().empty() ? nullptr : &mEngine.profiles()[static_cast<size_t>(mProfile)];
    const auto range = profile ? profile->find(name) : ProfileShapes::const_iterator{};
    const bool ranged = profile && range != profile->end();
    for (size_t i = 0; i < dims.size(); ++i) {
        if (dims[i] < 0) return invalidArgument(what + " has a negative dim");
        if (ranged) {
            const Shape& lo = range->second[0];
            const Shape& hi = range->second[2];
            if (lo.size() != dims.size() || dims[i] < lo[i] || dims[i] > hi[i]) {
                return outOfRange(what + " is outside optimization profile " + std::to_string(mProfile) + ": allowed " +
                                  rangeText(lo, hi));
            }
        } else if (i < built.size() && built[i] >= 0 && built[i] != dims[i]) {
            return invalidArgument(what + " differs from the engine's static shape " + shapeToString(built));
        }
    }
    mShapes[name] = dims;
    return Status::ok();
}

Status CpuContext::bind(const std::string& name, void* data, size_t capacity) {
    KILN_RETURN_IF_ERROR(mEngine.find(name).status());
    if (data == nullptr) {
        mBindings.erase(name);
    } else {
        mBindings[name] = Binding{data, capacity};
    }
    return Status::ok();
}

Result<Shape> CpuContext::getTensorShape(const std::string& name) const {
    KILN_ASSIGN_OR_RETURN(const CpuEngine::Io* io, mEngine.find(name));
    if (auto it = mShapes.find(name); it != mShapes.end()) return it->second;
    return mEngine.getTensorShape(io->value->name());
}

Status CpuContext::enqueue(void* /*stream*/) {
    std::unordered_map<std::string, Tensor> inputs;
    for (const ir::Value* in : mEngine.graph().inputs()) {
        KILN_ASSIGN_OR_RETURN(Shape shape, getTensorShape(in->name()));
        for (int64_t d : shape) {
            if (d < 0)
                return invalidArgument("input '" + in->name() + "' has dynamic shape " + shapeToString(shape) +
                                       ": call setInputShape first");
        }
        auto b = mBindings.find(in->name());
        if (b == mBindings.end())
            return invalidArgument("input '" + in->name() + "' has no address (setTensorAddress)");
        const Tensor t = Tensor::wrap(in->dtype(), shape, b->second.data);
        if (t.byteSize() > b->second.capacity) {
            return outOfRange("input '" + in->name() + "' needs " + std::to_string(t.byteSize()) + " bytes, its " +
                              "buffer holds " + std::to_string(b->second.capacity));
        }
        inputs.emplace(in->name(), t);
    }
    for (const ir::Value* out : mEngine.graph().outputs()) {
        if (!mBindings.count(out->name())) {
            return invalidArgument("output '" + out->name() + "' has no address (setTensorAddress)");
        }
    }
    KILN_ASSIGN_OR_RETURN(auto outputs, run(inputs));
    for (const ir::Value* out : mEngine.graph().outputs()) {
        const Tensor& t = outputs.at(out->name());
        const Binding& b = mBindings.at(out->name());
        mShapes[out->name()] = t.shape();
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
    std::unordered_map<std::string, Tensor> named;
    for (const auto& [name, t] : inputs) {
        KILN_ASSIGN_OR_RETURN(const CpuEngine::Io* io, mEngine.find(name));
        if (io->mode != TensorIOMode::kINPUT) return invalidArgument("'" + name + "' is an output, not an input");
        KILN_RETURN_IF_ERROR(setInputShape(name, t.shape()));
        named.emplace(name, t);
    }
    KILN_ASSIGN_OR_RETURN(auto outputs, run(named));
    std::map<std::string, Tensor> result;
    for (auto& [name, t] : outputs) {
        mShapes[name] = t.shape();
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

Result<std::unique_ptr<Engine>> engineFromFile(plan::EngineFile file, ILogger& logger) {
    KILN_ASSIGN_OR_RETURN(auto profiles, decodeProfiles(file.metadata.buildOptions));
    std::shared_ptr<const ir::Graph> graph(std::move(file.graph));
    return makeCpuEngine(std::move(graph), std::move(profiles), logger);
}

}  // namespace kiln::runtime

namespace kiln {

using runtime::engineFromFile;

Runtime::Runtime(ILogger& logger) : mLogger(logger) {}
Runtime::~Runtime() = default;

Result<std::unique_ptr<Engine>> Runtime::deserializeEngine(const void* data, size_t size) {
    auto file = plan::loadEngineFromMemory(data, size, nullptr);
    if (!file) {
        runtime::logLine(mLogger, ILogger::Severity::kError, file.status().message());
        return file.status();
    }
    return engineFromFile(std::move(file).value(), mLogger);
}

Result<std::unique_ptr<Engine>> Runtime::loadEngineFile(const std::string& path) {
    auto file = plan::loadEngineFile(path);
    if (!file) {
        runtime::logLine(mLogger, ILogger::Severity::kError, file.status().message());
        return file.status();
    }
    return engineFromFile(std::move(file).value(), mLogger);
}

}  // namespace kiln
