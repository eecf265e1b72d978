// kiln::Builder, NetworkDefinition, BuilderConfig, OptimizationProfile and OnnxParser: ONNX → optimized graph →
// engine (in memory) or engine file bytes.
#include <algorithm>
#include <array>
#include <cstdio>
#include <filesystem>
#include <set>

#include "builder/builder_internal.h"
#include "builder/config_impl.h"
#include "frontend/onnx/importer.h"
#include "ir/graph_edit.h"
#include "kiln/kiln.h"
#include "passes/layer_precision.h"
#include "passes/pass.h"
#include "passes/passes.h"
#include "passes/precision_lowering.h"
#include "plan/engine_file.h"
#include "runtime/engine_impl.h"

namespace kiln {
namespace {

using builder::ConfigImpl;
using builder::ProfileImpl;
using runtime::logLine;
using runtime::ProfileShapes;
using Severity = ILogger::Severity;

Shape toShape(const ir::SymbolicShape& s) {
    Shape out;
    if (s) {
        for (const ir::Dim& d : *s) out.push_back(d.isStatic() ? d.size : -1);
    }
    return out;
}

class NetworkImpl final : public NetworkDefinition {
public:
    int32_t getNbInputs() const noexcept override { return graph ? static_cast<int32_t>(graph->inputs().size()) : 0; }
    int32_t getNbOutputs() const noexcept override { return graph ? static_cast<int32_t>(graph->outputs().size()) : 0; }
    Result<std::string> getInputName(int32_t index) const override {
        if (index < 0 || index >= getNbInputs())
            return outOfRange("input index " + std::to_string(index) + " out of range");
        return graph->inputs()[static_cast<size_t>(index)]->name();
    }
    Result<std::string> getOutputName(int32_t index) const override {
        if (index < 0 || index >= getNbOutputs()) {
            return outOfRange("output index " + std::to_string(index) + " out of range");
        }
        return graph->outputs()[static_cast<size_t>(index)]->name();
    }
    Result<DataType> getTensorDataType(const std::string& name) const override {
        KILN_ASSIGN_OR_RETURN(const ir::Value* v, find(name));
        return v->dtype();
    }
    Result<Shape> getTensorShape(const std::string& name) const override {
        KILN_ASSIGN_OR_RETURN(const ir::Value* v, find(name));
        if (!v->shape()) return unsupported("tensor '" + name + "' has unknown rank");
        return toShape(v->shape());
    }
    Result<const ir::Value*> find(const std::string& name) const {
        if (graph) {
            for (const ir::Value* v : graph->inputs()) {
                if (v->name() == name) return v;
            }
            for (const ir::Value* v : graph->outputs()) {
                if (v->name() == name) return v;
            }
        }
        return notFound("'" + name + "' is not an input or output of the network");
    }
    Status markOutput(const std::string& tensorName) override {
        if (!graph)
            return invalidArgument("the network is empty: parse a model into it before marking '" + tensorName +
                                   "' as an output");
        ir::Value* v = graph->findValue(tensorName);
        if (v == nullptr) {
            return notFound("cannot mark '" + tensorName +
                            "' as an output: the network computes no tensor of that name (tensors inside "
                            "If/Loop/Scan bodies cannot be marked)");
        }
        if (ir::isGraphInput(v)) {
            return invalidArgument("cannot mark '" + tensorName + "' as an output: it is a network input");
        }
        if (v->isConstant()) {
            return invalidArgument("cannot mark '" + tensorName + "' as an output: it is a weight (constant)");
        }
        if (v->producer() == nullptr) {
            return invalidArgument("cannot mark '" + tensorName + "' as an output: no node of the network computes it");
        }
        if (ir::isGraphOutput(v)) {
            return invalidArgument("cannot mark '" + tensorName + "' as an output: it is already an output");
        }
        graph->addOutput(v);
        marked.push_back(tensorName);
        return Status::ok();
    }
    std::vector<std::string> getComputedTensorNames() const override {
        std::vector<std::string> names;
        if (!graph) return names;
        for (const auto& node : graph->nodes()) {
            for (const ir::Value* out : node->outputs()) {
                if (out != nullptr && !out->isConstant()) names.push_back(out->name());
            }
        }
        return names;
    }

    std::unique_ptr<ir::Graph> graph;
    std::vector<std::string> marked;  // by markOutput, in order (recorded in engines: they are not the model's)
    std::string path;
    std::string sha256;
    std::string stamp;  // plan::fileStamp of the model under which sha256 was taken
};

class HostMemoryImpl final : public HostMemory {
public:
    explicit HostMemoryImpl(std::string bytes) : mBytes(std::move(bytes)) {}
    const void* data() const noexcept override { return mBytes.data(); }
    size_t size() const noexcept override { return mBytes.size(); }

private:
    std::string mBytes;
};

bool hasQuantizeNodes(const ir::Graph& g) {
    for (const auto& n : g.nodes()) {
        switch (n->op()) {
            case ir::OpKind::kQuantizeLinear:
            case ir::OpKind::kDequantizeLinear:
            case ir::OpKind::kQLinearConv:
            case ir::OpKind::kQLinearMatMul: return true;
            default: break;
        }
    }
    return false;
}

//! The CUDA backend's choices in the pass pipeline: FP16/BF16 lowering where the flags allow it or a layer is pinned,
//! and the channels-last layout that cuDNN's tensor-core convolutions read and write, for FP16, BF16 and TF32
//! engines. Strict FP32 engines (TF32 off) keep NCHW: on the H100 their FMA kernels ran ResNet-50 slower in NHWC
//! (batch 256: 4.07k → 2.94k img/s), while TF32 ran 2.4x faster in NHWC (7.3k → 17.8k img/s; bench/NOTES.md).
class GpuHooks final : public passes::BackendHooks {
public:
    explicit GpuHooks(const passes::PrecisionPolicy& policy) : mPolicy(policy) {}
    std::string name() const override { return "cuda"; }
    Result<int64_t> assignLayouts(ir::Graph& graph, passes::PassContext& ctx) const override {
        if (!mPolicy.fp16 && !mPolicy.bf16 && !mPolicy.tf32) return int64_t{0};
        return passes::convertToNhwc(graph, ctx);
    }
    Result<int64_t> assignPrecisions(ir::Graph& graph, const passes::PrecisionPolicy& policy,
                                     passes::PassContext& ctx) const override {
        return passes::assignGpuPrecisions(graph, policy, ctx);
    }
    //! The CUDA TransposeCast kernel converts the channels-last engine's input and output edges in one pass.
    bool fusesTransposeCast() const override { return true; }

private:
    passes::PrecisionPolicy mPolicy;
};

//! The backend a config builds for: kAuto is CUDA when this build has it and a GPU is present, else CPU.
Result<Backend> resolveBackend(const ConfigImpl& config) {
#if KILN_HAVE_CUDA
    if (config.backend == Backend::kCuda) {
        if (const std::string why = runtime::cudaUnavailableReason(); !why.empty()) {
            return unsupported("backend kCuda: " + why + "; build for Backend::kCpu instead");
        }
        return Backend::kCuda;
    }
    if (config.backend == Backend::kAuto && runtime::cudaBackendAvailable()) return Backend::kCuda;
#else
    if (config.backend == Backend::kCuda) {
        return unsupported(
            "backend kCuda: this Kiln was built without its CUDA backend (no CUDA toolkit at build "
            "time); use Backend::kCpu or kAuto");
    }
#endif
    return Backend::kCpu;
}

//! Checks the config against the network; the profiles every engine of it carries.
Status validate(const NetworkImpl& net, const ConfigImpl& config, Backend backend, ILogger& logger) {
    if (config.getFlag(BuilderFlag::kINT8) && !hasQuantizeNodes(*net.graph)) {
        return invalidArgument(
            "kINT8 is set but the network has no Q/DQ nodes and no calibration data was given; "
            "clear kINT8 or quantize the model");
    }
    const bool emulate = backend == Backend::kCpu && config.getFlag(BuilderFlag::kEMULATE_REDUCED_PRECISION);
    if (emulate) {
        logLine(logger, Severity::kInfo,
                "the CPU backend emulates FP16/BF16 lowering on its reference kernels (kEMULATE_REDUCED_PRECISION): "
                "slow, for accuracy previews; TF32 is not emulated");
    }
    for (BuilderFlag f : {BuilderFlag::kFP16, BuilderFlag::kBF16, BuilderFlag::kINT8}) {
        if (backend == Backend::kCpu && !emulate && config.getFlag(f)) {
            logLine(logger, Severity::kInfo,
                    "the CPU backend computes in FP32: precision flags allow lower precisions, none is used");
            break;
        }
    }
    if (backend == Backend::kCpu && !emulate) {
        for (const passes::LayerPrecision& o : config.layerPrecisions) {
            if (o.dtype == DataType::kFloat32) continue;
            logLine(logger, Severity::kInfo,
                    "the CPU backend computes in FP32: layer precision override '" + o.pattern + ":" +
                        passes::precisionName(o.dtype) + "' is recorded but has no effect");
        }
    }
    for (const ir::Value* in : net.graph->inputs()) {
        const Shape shape = toShape(in->shape());
        const bool dynamic = !in->shape() || std::any_of(shape.begin(), shape.end(), [](int64_t d) { return d < 0; });
        if (dynamic && config.profiles.empty()) {
            return invalidArgument("input '" + in->name() + "' has dynamic shape " +
                                   ir::symbolicShapeToString(in->shape()) +
                                   ": add an optimization profile with its min/opt/max shapes");
        }
        for (size_t p = 0; p < config.profiles.size(); ++p) {
            auto it = config.profiles[p].find(in->name());
            if (it == config.profiles[p].end()) {
                if (dynamic) {
                    return invalidArgument("input '" + in->name() + "' has dynamic shape " +
                                           ir::symbolicShapeToString(in->shape()) + " but optimization profile " +
                                           std::to_string(p) + " gives no shapes for it");
                }
                continue;
            }
            for (const Shape& s : it->second) {
                if (in->shape() && s.size() != shape.size()) {
                    return invalidArgument("optimization profile " + std::to_string(p) + ": shape " + shapeToString(s) +
                                           " for input '" + in->name() + "' has rank " + std::to_string(s.size()) +
                                           ", the input has rank " + std::to_string(shape.size()));
                }
                for (size_t i = 0; i < shape.size(); ++i) {
                    if (shape[i] >= 0 && s[i] != shape[i]) {
                        return invalidArgument("optimization profile " + std::to_string(p) + ": shape " +
                                               shapeToString(s) + " for input '" + in->name() +
                                               "' contradicts its static dim " + std::to_string(i) + " = " +
                                               std::to_string(shape[i]));
                    }
                }
            }
        }
    }
    for (size_t p = 0; p < config.profiles.size(); ++p) {
        for (const auto& [name, s] : config.profiles[p]) {
            bool known = false;
            for (const ir::Value* in : net.graph->inputs()) known |= in->name() == name;
            if (!known) {
                return notFound("optimization profile " + std::to_string(p) + " names '" + name +
                                "', which is not an input of the network");
            }
        }
    }
    return Status::ok();
}

//! The build options an engine of `config` records (precision flags, workspace, optimization level, timing cache,
//! profiles, layer precision pins and their constraints; for CUDA the device).
std::map<std::string, std::string> optionsOf(const ConfigImpl& config, Backend backend) {
    std::map<std::string, std::string> o;
    o["fp16"] = config.getFlag(BuilderFlag::kFP16) ? "1" : "0";
    o["bf16"] = config.getFlag(BuilderFlag::kBF16) ? "1" : "0";
    o["tf32"] = config.getFlag(BuilderFlag::kTF32) ? "1" : "0";
    o["int8"] = config.getFlag(BuilderFlag::kINT8) ? "1" : "0";
    o["workspace"] = std::to_string(config.workspace);
    o["opt_level"] = std::to_string(config.optLevel);
    if (!config.timingCache.empty()) o["timing_cache"] = config.timingCache;
    runtime::encodeProfiles(config.profiles, o);
    passes::encodeLayerPrecisions(config.layerPrecisions, o);
    if (!config.layerPrecisions.empty()) o["precision_constraints"] = config.preferPins() ? "prefer" : "obey";
    if (backend == Backend::kCuda) o["device"] = std::to_string(config.device);
    // Only when set, so that engines built before these options existed stay current.
    if (backend == Backend::kCpu && config.getFlag(BuilderFlag::kEMULATE_REDUCED_PRECISION))
        o["emulate_precision"] = "1";
    if (config.accuracyTarget > 0) {
        char target[32];
        std::snprintf(target, sizeof target, "%g", config.accuracyTarget);
        o["accuracy_target"] = std::string(target) + (config.accuracyStrict ? " strict" : "");
    }
    return o;
}

Result<plan::EngineMetadata> metadataFor(const NetworkImpl& net, const ConfigImpl& config, Backend backend) {
    plan::EngineMetadata meta = plan::EngineMetadata::current("cpu");
#if KILN_HAVE_CUDA
    if (backend == Backend::kCuda) {
        KILN_ASSIGN_OR_RETURN(meta, runtime::cudaEngineMetadata(config.device));
    }
#endif
    meta.modelPath = net.path;
    meta.modelSha256 = net.sha256;
    meta.modelStamp = net.stamp;
    for (auto& [k, v] : optionsOf(config, backend)) meta.buildOptions[k] = v;
    // Marked outputs come from the network, not the config: an engine with them is not what buildEngineFile would
    // build from the model, so reuse sees it as stale (buildEngineFile never marks; this key is never wanted).
    std::string marked;
    for (const std::string& name : net.marked) marked += (marked.empty() ? "" : ", ") + name;
    if (!marked.empty()) meta.buildOptions["marked_outputs"] = marked;
    return meta;
}

//! Validates, copies the network's graph (the network stays reusable) and runs the pass pipeline on the copy.
Result<std::unique_ptr<ir::Graph>> optimize(NetworkDefinition& network, const BuilderConfig& config, ILogger& logger,
                                            const NetworkImpl** netOut, const ConfigImpl** cfgOut,
                                            Backend* backendOut) {
    const auto* net = dynamic_cast<const NetworkImpl*>(&network);
    const auto* cfg = dynamic_cast<const ConfigImpl*>(&config);
    if (net == nullptr || cfg == nullptr) return invalidArgument("network and config must come from a kiln::Builder");
    if (!net->graph) return invalidArgument("the network is empty: parse a model into it first (OnnxParser)");
    KILN_ASSIGN_OR_RETURN(*backendOut, resolveBackend(*cfg));
    KILN_RETURN_IF_ERROR(validate(*net, *cfg, *backendOut, logger));
    // The serializer is the graph copy: the passes then rewrite the copy, never the user's network.
    KILN_ASSIGN_OR_RETURN(std::string bytes, plan::serializeEngine(*net->graph, plan::EngineMetadata::current("cpu")));
    KILN_ASSIGN_OR_RETURN(plan::EngineFile copy,
                          plan::loadEngineFromMemory(bytes.data(), bytes.size(), nullptr, {}, nullptr, "<network>"));
    KILN_ASSIGN_OR_RETURN(const int64_t pinned, passes::applyLayerPrecisions(*copy.graph, cfg->layerPrecisions));
    if (pinned > 0) {
        logLine(logger, Severity::kInfo,
                "layer precision overrides pin " + std::to_string(pinned) + " of " +
                    std::to_string(copy.graph->nodes().size()) + " nodes (" + (cfg->preferPins() ? "prefer" : "obey") +
                    ")");
    }
    passes::PrecisionPolicy precision;
    precision.preferPins = cfg->preferPins();
    precision.fp16 = cfg->getFlag(BuilderFlag::kFP16);
    precision.bf16 = cfg->getFlag(BuilderFlag::kBF16);
    precision.tf32 = cfg->getFlag(BuilderFlag::kTF32);
    precision.int8 = cfg->getFlag(BuilderFlag::kINT8);
    const GpuHooks gpuHooks(precision);
    static const passes::BackendHooks kCpuHooks;
    const bool emulate = cfg->getFlag(BuilderFlag::kEMULATE_REDUCED_PRECISION);
    passes::PassManager pm(
        passes::defaultPipeline(precision),
        [&logger](passes::LogLevel level, std::string_view line) {
            const Severity s = level == passes::LogLevel::kWarning ? Severity::kWarning
                               : level == passes::LogLevel::kInfo  ? Severity::kInfo
                                                                   : Severity::kVerbose;
            logLine(logger, s, std::string(line));
        },
        // kEMULATE_REDUCED_PRECISION: the CPU reference kernels run the graph the CUDA backend would (lowered, NHWC).
        *backendOut == Backend::kCuda || emulate ? static_cast<const passes::BackendHooks*>(&gpuHooks) : &kCpuHooks);
    KILN_ASSIGN_OR_RETURN(passes::PipelineReport report, pm.run(*copy.graph));
    logLine(logger, Severity::kInfo,
            "optimized: " + std::to_string(report.nodesBefore) + " -> " + std::to_string(report.nodesAfter) +
                " nodes in " + std::to_string(report.iterations) + " pipeline iterations");
    *netOut = net;
    *cfgOut = cfg;
    return std::move(copy.graph);
}

template <typename T>
Result<T> logged(Result<T> r, ILogger& logger) {
    if (!r) logLine(logger, Severity::kError, r.status().message());
    return r;
}

}  // namespace

Builder::Builder(ILogger& logger) : mLogger(logger) {}
Builder::~Builder() = default;

std::unique_ptr<NetworkDefinition> Builder::createNetwork() { return std::make_unique<NetworkImpl>(); }
std::unique_ptr<BuilderConfig> Builder::createBuilderConfig() { return std::make_unique<ConfigImpl>(); }
std::unique_ptr<OptimizationProfile> Builder::createOptimizationProfile() { return std::make_unique<ProfileImpl>(); }

namespace builder {

Result<BuiltNetwork> buildNetwork(NetworkDefinition& network, const BuilderConfig& config, ILogger& logger) {
    if (config.getAccuracyTarget() > 0) return buildGuarded(network, config, logger);
    return buildUnguarded(network, config, logger);
}

Result<BuiltNetwork> buildUnguarded(NetworkDefinition& network, const BuilderConfig& config, ILogger& logger) {
    const NetworkImpl* net = nullptr;
    const ConfigImpl* cfg = nullptr;
    Backend backend = Backend::kCpu;
    auto optimized = logged(optimize(network, config, logger, &net, &cfg, &backend), logger);
    if (!optimized) return optimized.status();
    BuiltNetwork b;
    auto meta = logged(metadataFor(*net, *cfg, backend), logger);
    if (!meta) return meta.status();
    b.metadata = std::move(meta).value();
#if KILN_HAVE_CUDA
    if (backend == Backend::kCuda) {
        // The graph is final: its layers' tactics are timed on it and recorded in its nodes.
        Status tuned = runtime::tuneCudaGraph(**optimized, cfg->profiles, b.metadata.buildOptions, logger);
        if (!tuned) {
            logLine(logger, Severity::kError, tuned.message());
            return tuned;
        }
    }
#endif
    b.graph = std::shared_ptr<const ir::Graph>(std::move(optimized).value());
#if KILN_HAVE_CUDA
    if (backend == Backend::kCuda) {
        auto engine = logged(runtime::makeCudaEngine(b.graph, cfg->profiles, b.metadata.buildOptions, logger), logger);
        if (!engine) return engine.status();
        b.engine = std::move(engine).value();
        b.metadata.buildOptions["cuda.arena_bytes"] = std::to_string(b.engine->getActivationMemorySize());
        return b;
    }
#endif
    if (!cfg->timingCache.empty() || cfg->optLevel != 3) {
        logLine(logger, Severity::kVerbose,
                "the CPU backend has no tactics to time: the optimization level and timing cache are recorded only");
    }
    KILN_ASSIGN_OR_RETURN(b.engine, runtime::makeCpuEngine(b.graph, cfg->profiles, logger));
    return b;
}

Result<std::map<std::string, std::string>> buildOptionsOf(const BuilderConfig& config) {
    const auto* cfg = dynamic_cast<const ConfigImpl*>(&config);
    if (cfg == nullptr) return invalidArgument("the config was not created by Builder::createBuilderConfig");
    KILN_ASSIGN_OR_RETURN(Backend backend, resolveBackend(*cfg));
    return optionsOf(*cfg, backend);
}

std::unique_ptr<NetworkDefinition> copyNetwork(const NetworkDefinition& network) {
    auto copy = std::make_unique<NetworkImpl>();
    const auto* net = dynamic_cast<const NetworkImpl*>(&network);
    if (net == nullptr || !net->graph) return copy;
    // The engine serializer is the graph copier (as in optimize); a graph it cannot copy leaves the copy empty,
    // which the build then reports.
    auto bytes = plan::serializeEngine(*net->graph, plan::EngineMetadata::current("cpu"));
    if (!bytes) return copy;
    auto file = plan::loadEngineFromMemory(bytes->data(), bytes->size(), nullptr, {}, nullptr, "<network>");
    if (!file) return copy;
    copy->graph = std::move(file->graph);
    copy->marked = net->marked;
    copy->path = net->path;
    copy->sha256 = net->sha256;
    copy->stamp = net->stamp;
    return copy;
}

const ir::Graph* graphOf(const NetworkDefinition& network) {
    const auto* net = dynamic_cast<const NetworkImpl*>(&network);
    return net != nullptr ? net->graph.get() : nullptr;
}

std::unique_ptr<BuilderConfig> copyConfig(const BuilderConfig& config) {
    const auto* cfg = dynamic_cast<const ConfigImpl*>(&config);
    return cfg != nullptr ? cfg->copyWithoutGuard() : std::make_unique<ConfigImpl>();
}

Result<std::string> backendNameOf(const BuilderConfig& config) {
    const auto* cfg = dynamic_cast<const ConfigImpl*>(&config);
    if (cfg == nullptr) return invalidArgument("the config was not created by Builder::createBuilderConfig");
    KILN_ASSIGN_OR_RETURN(Backend backend, resolveBackend(*cfg));
    return std::string(backend == Backend::kCuda ? "cuda" : "cpu");
}

}  // namespace builder

Result<std::unique_ptr<Engine>> Builder::buildEngine(NetworkDefinition& network, const BuilderConfig& config) {
    KILN_ASSIGN_OR_RETURN(builder::BuiltNetwork built, builder::buildNetwork(network, config, mLogger));
    return std::move(built.engine);
}

Result<std::unique_ptr<HostMemory>> Builder::buildSerializedNetwork(NetworkDefinition& network,
                                                                    const BuilderConfig& config) {
    KILN_ASSIGN_OR_RETURN(builder::BuiltNetwork built, builder::buildNetwork(network, config, mLogger));
    auto bytes = logged(plan::serializeEngine(*built.graph, built.metadata), mLogger);
    if (!bytes) return bytes.status();
    return std::unique_ptr<HostMemory>(std::make_unique<HostMemoryImpl>(std::move(bytes).value()));
}

OnnxParser::OnnxParser(NetworkDefinition& network, ILogger& logger) : mNetwork(network), mLogger(logger) {}
OnnxParser::~OnnxParser() = default;

Status OnnxParser::parseFromFile(const std::string& path) {
    auto* net = dynamic_cast<NetworkImpl*>(&mNetwork);
    if (net == nullptr) return invalidArgument("the network was not created by Builder::createNetwork");
    auto fail = [&](const Status& s) {
        logLine(mLogger, Severity::kError, s.message());
        return s;
    };
    auto proto = onnx_frontend::loadModelProto(path);
    if (!proto) return fail(proto.status());
    const std::string baseDir = std::filesystem::path(path).parent_path().string();
    auto unsupportedNodes = onnx_frontend::checkModel(*proto, baseDir);
    if (!unsupportedNodes) return fail(unsupportedNodes.status().withContext(path));
    if (!unsupportedNodes->empty()) {
        std::string all;
        for (const auto& u : *unsupportedNodes) {
            logLine(mLogger, Severity::kError, path + ": " + u.describe());
            all += (all.empty() ? "" : "; ") + u.describe();
        }
        return unsupported(path + ": " + std::to_string(unsupportedNodes->size()) + " unsupported node(s): " + all);
    }
    auto imported = onnx_frontend::importModel(*proto, baseDir);
    if (!imported) return fail(imported.status().withContext(path));
    // The stamp taken before hashing is kept only if the file still has it afterwards: then the hash is of it.
    const std::string stamp = plan::fileStamp(path);
    auto sha = plan::sha256File(path);
    if (!sha) return fail(sha.status());
    net->graph = std::move(imported->graph);
    net->marked.clear();
    net->path = path;
    net->sha256 = *sha;
    net->stamp = stamp == plan::fileStamp(path) ? stamp : std::string();
    logLine(mLogger, Severity::kInfo,
            "parsed " + path + ": " + std::to_string(net->graph->nodes().size()) + " nodes, " +
                std::to_string(net->getNbInputs()) + " inputs, " + std::to_string(net->getNbOutputs()) + " outputs");
    return Status::ok();
}

}  // namespace kiln
