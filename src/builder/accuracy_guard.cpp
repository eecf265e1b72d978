// The accuracy guard in the build (BuilderConfig::setAccuracyTarget): an FP32 engine and a fully lowered one, both
// with every tensor marked, give each value's error; precision_guard.h ranks the lowered layers by the error they
// add and searches how many of them to keep in FP32, each candidate a real build judged on the calibration inputs
// against the FP32 engine's outputs.
#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <set>

#include "builder/builder_internal.h"
#include "builder/guard_samples.h"
#include "builder/precision_guard.h"
#include "ir/graph_edit.h"
#include "passes/layer_precision.h"

namespace kiln::builder {
namespace {

using runtime::logLine;
using Severity = ILogger::Severity;

//! The guard's own builds log at kVerbose with a prefix (errors stay errors): a dozen builds would bury the one
//! summary line, and their phase lines ("optimized: ...") are not the engine's.
class QuietLogger final : public ILogger {
public:
    explicit QuietLogger(ILogger& inner) : mInner(inner) {}
    void log(Severity severity, const char* msg) noexcept override {
        if (severity == Severity::kError) {
            mInner.log(severity, msg);
            return;
        }
        try {
            mInner.log(Severity::kVerbose, ("accuracy guard build: " + std::string(msg)).c_str());
        } catch (...) {  // log() must not throw: a line lost to a failed allocation is acceptable
        }
    }

private:
    ILogger& mInner;
};

std::string sci(double v) {
    if (std::isinf(v)) return "inf";
    char buf[32];
    std::snprintf(buf, sizeof buf, "%.2g", v);
    return buf;
}

//! Under TF32 alone nothing is cast: the layers TF32 changes are the FP32 matrix ops.
bool tf32Op(const ir::Node& node) {
    switch (node.op()) {
        case ir::OpKind::kConv:
        case ir::OpKind::kConvTranspose:
        case ir::OpKind::kFusedConv:
        case ir::OpKind::kFusedConvNhwc:
        case ir::OpKind::kConvTransposeNhwc:
        case ir::OpKind::kMatMul:
        case ir::OpKind::kGemm:
        case ir::OpKind::kFusedGemm:
        case ir::OpKind::kFusedMatMul: return true;
        default: return false;
    }
}

//! Whether `node` of the lowered graph computes in reduced precision: an FP16/BF16 output, or (TF32 on) an FP32
//! matrix op.
bool reduced(const ir::Node& node, bool tf32) {
    bool fp32Out = false;
    for (const ir::Value* v : node.outputs()) {
        if (v == nullptr) continue;
        if (v->dtype() == DataType::kFloat16 || v->dtype() == DataType::kBFloat16) return true;
        fp32Out |= v->dtype() == DataType::kFloat32;
    }
    return tf32 && fp32Out && tf32Op(node);
}

//! The FP32 reference, or the fully lowered engine, of `network` with every tensor it computes marked as an output.
Result<BuiltNetwork> buildMarked(const NetworkDefinition& network, const BuilderConfig& config, ILogger& logger) {
    std::unique_ptr<NetworkDefinition> marked = copyNetwork(network);
    std::set<std::string> outputs;
    for (int32_t i = 0; i < marked->getNbOutputs(); ++i) {
        KILN_ASSIGN_OR_RETURN(std::string name, marked->getOutputName(i));
        outputs.insert(std::move(name));
    }
    for (const std::string& name : marked->getComputedTensorNames()) {
        if (outputs.count(name)) continue;
        // A tensor markOutput refuses (a weight computed by folding, say) is one the guard does not need.
        if (!marked->markOutput(name)) continue;
    }
    return buildUnguarded(*marked, config, logger);
}

//! Each marked value's error, the worst over the samples; lowered names ("x_fp16") read their float32 copy's.
std::map<std::string, double> valueErrors(const ir::Graph& lowered, const std::vector<Sample>& got,
                                          const std::vector<Sample>& ref) {
    std::map<std::string, double> err;
    for (size_t s = 0; s < ref.size(); ++s) {
        for (const auto& [name, r] : ref[s]) {
            auto g = got[s].find(name);
            const double e = g == got[s].end() ? 0.0 : relativeError(g->second, r);
            err[name] = std::max(err[name], e);
        }
    }
    // The passes put values between a lowered node and the tensor marked: "x_fp16" -> Cast -> "x", and on the GPU
    // "x_nhwc_fp16" -> Cast -> "x_nhwc" -> Transpose -> "x". Such ops move or convert values without changing
    // max|a - b| / max|b|, so their values carry the marked tensor's error: backward from the marked outputs, then
    // forward to the inputs of the lowered nodes.
    auto carries = [](const ir::Node& n) {
        switch (n.op()) {
            case ir::OpKind::kCast:
            case ir::OpKind::kTransposeCast:
            case ir::OpKind::kTranspose:
            case ir::OpKind::kReshape:
            case ir::OpKind::kIdentity:
            case ir::OpKind::kSqueeze:
            case ir::OpKind::kUnsqueeze:
            case ir::OpKind::kFlatten: return n.input(0) != nullptr && n.output(0) != nullptr;
            default: return false;
        }
    };
    const auto& nodes = lowered.nodes();
    for (auto it = nodes.rbegin(); it != nodes.rend(); ++it) {
        if (!carries(**it)) continue;
        auto known = err.find((*it)->output(0)->name());
        // A network input is exact: what its readers round is theirs.
        if (known != err.end() && !ir::isGraphInput((*it)->input(0))) {
            err.emplace((*it)->input(0)->name(), known->second);
        }
    }
    for (const auto& node : nodes) {
        if (!carries(*node)) continue;
        auto known = err.find(node->input(0)->name());
        if (known != err.end()) err.emplace(node->output(0)->name(), known->second);
    }
    return err;
}

//! The worst relative error of `got`'s outputs against `ref`'s, over the samples (only the network's outputs).
double outputError(const std::vector<Sample>& got, const std::vector<Sample>& ref,
                   const std::vector<std::string>& outputs) {
    double worst = 0;
    for (size_t s = 0; s < ref.size(); ++s) {
        for (const std::string& name : outputs) {
            auto g = got[s].find(name);
            auto r = ref[s].find(name);
            if (g == got[s].end() || r == ref[s].end()) return INFINITY;
            worst = std::max(worst, relativeError(g->second, r->second));
            if (std::isnan(worst)) return INFINITY;
        }
    }
    return worst;
}

//! Whether the config's build lowers anything the guard can keep in FP32; why not, otherwise.
std::string nothingToGuard(const BuilderConfig& config, const std::string& backend) {
    bool lowPins = false;
    for (const auto& [pattern, dtype] : config.getLayerPrecisions()) lowPins |= dtype != DataType::kFloat32;
    const bool low = config.getFlag(BuilderFlag::kFP16) || config.getFlag(BuilderFlag::kBF16) || lowPins;
    if (backend == "cuda") return low || config.getFlag(BuilderFlag::kTF32) ? "" : "the build is FP32 (TF32 off)";
    if (!config.getFlag(BuilderFlag::kEMULATE_REDUCED_PRECISION)) {
        return "the CPU backend computes in FP32 (kEMULATE_REDUCED_PRECISION, --emulate-precision, emulates FP16/BF16)";
    }
    return low ? "" : "the CPU emulates FP16/BF16 only, and neither is allowed";
}

}  // namespace

Result<BuiltNetwork> buildGuarded(NetworkDefinition& network, const BuilderConfig& config, ILogger& logger) {
    const auto start = std::chrono::steady_clock::now();
    const double target = config.getAccuracyTarget();
    KILN_ASSIGN_OR_RETURN(const std::string backend, backendNameOf(config));
    if (const std::string why = nothingToGuard(config, backend); !why.empty()) {
        logLine(logger, Severity::kInfo, "accuracy guard: nothing to guard: " + why);
        return buildUnguarded(network, config, logger);
    }
    const ir::Graph* model = graphOf(network);
    if (model == nullptr) return buildUnguarded(network, config, logger);  // reports the empty network
    QuietLogger quiet(logger);
    int builds = 0;

    // 1. The FP32 reference (TF32 off, no pins) and the samples it judges on.
    std::unique_ptr<BuilderConfig> fp32 = copyConfig(config);
    for (BuilderFlag f : {BuilderFlag::kFP16, BuilderFlag::kBF16, BuilderFlag::kTF32}) fp32->clearFlag(f);
    fp32->clearLayerPrecisions();
    // The reference and the search's trial engines time no tactics (level 0): timing is the final build's, and a
    // CUDA build that times every cuDNN engine config per trial made the search minutes long.
    KILN_RETURN_IF_ERROR(fp32->setOptimizationLevel(0));
    KILN_ASSIGN_OR_RETURN(BuiltNetwork ref, buildMarked(network, *fp32, quiet));
    ++builds;
    std::vector<Sample> samples = config.getCalibrationInputs();
    if (samples.empty()) {
        KILN_ASSIGN_OR_RETURN(Sample random, randomSample(*ref.engine));
        samples.push_back(std::move(random));
        logLine(logger, Severity::kWarning,
                "accuracy guard: no calibration inputs given, judging on random ones (floats uniform in [-1, 1], "
                "integers 0): real samples (setCalibrationInputs, --calib-inputs) judge what the engine will see");
    } else {
        KILN_RETURN_IF_ERROR(checkSamples(*ref.engine, samples));
    }
    KILN_ASSIGN_OR_RETURN(std::vector<Sample> refValues, runSamples(*ref.engine, samples, "the FP32 engine"));
    ref = {};

    // 2. The fully lowered engine, every value compared: the ranking of the lowered layers.
    std::vector<std::string> ranked;
    size_t loweredCount = 0;
    {
        KILN_ASSIGN_OR_RETURN(BuiltNetwork low, buildMarked(network, config, quiet));
        ++builds;
        KILN_ASSIGN_OR_RETURN(std::vector<Sample> lowValues, runSamples(*low.engine, samples, "the lowered engine"));
        const bool tf32 = backend == "cuda" && config.getFlag(BuilderFlag::kTF32);
        // Candidates: lowered layers the config does not pin, named as in the model (so a pin can name them).
        std::set<std::string> modelNames;
        for (const auto& node : model->nodes()) modelNames.insert(node->name());
        std::set<std::string> candidates;
        for (const auto& node : low.graph->nodes()) {
            const bool converts = node->op() == ir::OpKind::kCast || node->op() == ir::OpKind::kTransposeCast;
            if (converts || !reduced(*node, tf32) || passes::pinnedPrecision(*node)) continue;
            ++loweredCount;
            if (modelNames.count(node->name()) && !node->name().empty()) candidates.insert(node->name());
        }
        for (std::string& name : rankBySensitivity(*low.graph, valueErrors(*low.graph, lowValues, refValues))) {
            if (candidates.count(name)) ranked.push_back(std::move(name));
        }
    }
    std::vector<std::string> outputs;
    for (int32_t i = 0; i < network.getNbOutputs(); ++i) {
        KILN_ASSIGN_OR_RETURN(std::string name, network.getOutputName(i));
        outputs.push_back(std::move(name));
    }
    for (Sample& values : refValues) {
        for (auto it = values.begin(); it != values.end();) {
            it = std::find(outputs.begin(), outputs.end(), it->first) == outputs.end() ? values.erase(it) : ++it;
        }
    }

    // 3. The search: each evaluation a build with the first k ranked layers pinned to FP32.
    auto pinned = [&](const std::vector<std::string>& keep) -> Result<std::unique_ptr<BuilderConfig>> {
        std::unique_ptr<BuilderConfig> c = copyConfig(config);
        for (const std::string& name : keep) KILN_RETURN_IF_ERROR(c->setLayerPrecision(name, DataType::kFloat32));
        return c;
    };
    auto evaluate = [&](const std::vector<std::string>& keep) -> Result<double> {
        KILN_ASSIGN_OR_RETURN(std::unique_ptr<BuilderConfig> c, pinned(keep));
        KILN_RETURN_IF_ERROR(c->setOptimizationLevel(0));
        KILN_ASSIGN_OR_RETURN(BuiltNetwork b, buildUnguarded(network, *c, quiet));
        ++builds;
        KILN_ASSIGN_OR_RETURN(std::vector<Sample> got, runSamples(*b.engine, samples, "a candidate engine"));
        const double err = outputError(got, refValues, outputs);
        logLine(logger, Severity::kInfo,
                "accuracy guard: " + std::to_string(keep.size()) + " of " + std::to_string(loweredCount) +
                    " lowered layers in FP32: error " + sci(err));
        return err;
    };
    KILN_ASSIGN_OR_RETURN(GuardResult result, searchFp32Layers(ranked, target, evaluate));

    // 4. The engine, built with the result's pins and the full log; its options are the config's plus the result.
    KILN_ASSIGN_OR_RETURN(std::unique_ptr<BuilderConfig> finalConfig, pinned(result.keptFp32));
    KILN_ASSIGN_OR_RETURN(BuiltNetwork built, buildUnguarded(network, *finalConfig, logger));
    KILN_ASSIGN_OR_RETURN(auto options, buildOptionsOf(config));
    for (const auto& [key, value] : built.metadata.buildOptions) {
        if (key.rfind("cuda.", 0) == 0) options[key] = value;
    }
    std::string names;
    for (const std::string& n : result.keptFp32) names += (names.empty() ? "" : ",") + n;
    options["accuracy.kept_fp32"] = std::to_string(result.keptFp32.size());
    options["accuracy.lowered"] = std::to_string(loweredCount);
    options["accuracy.fp32_layers"] = names;
    options["accuracy.error"] = sci(result.error);
    options["accuracy.met"] = result.met ? "1" : "0";
    options["accuracy.calibration"] = config.getCalibrationInputs().empty() ? std::string("random")
                                      : samples.size() == 1                 ? std::string("1 given sample")
                                                            : std::to_string(samples.size()) + " given samples";
    built.metadata.buildOptions = std::move(options);

    const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    char tail[64];
    std::snprintf(tail, sizeof tail, " (%d builds, %.1f s)", builds, seconds);
    const std::string kept = "kept " + std::to_string(result.keptFp32.size()) + " of " + std::to_string(loweredCount) +
                             " lowered layers in FP32";
    if (result.met) {
        logLine(logger, Severity::kInfo,
                "accuracy guard: " + kept + "; error " + sci(result.error) + " <= " + sci(target) + tail);
        return built;
    }
    const std::string missed = "accuracy guard: target " + sci(target) + " not met: error " + sci(result.error) +
                               " with every layer that adds error in FP32 (" + kept + ")" + tail;
    if (config.getAccuracyStrict()) {
        const Status s = unsupported(missed + "; the inputs' own rounding may set a floor (docs/cuda.md, Accuracy)");
        logLine(logger, Severity::kError, s.message());
        return s;
    }
    logLine(logger, Severity::kWarning, missed + "; the engine keeps them in FP32 (strict mode would fail)");
    return built;
}

}  // namespace kiln::builder
