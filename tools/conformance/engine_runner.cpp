#include "engine_runner.h"

namespace kiln::conformance {

Result<std::unique_ptr<EngineRunner>> EngineRunner::create(const std::string& modelPath, const EngineOptions& options,
                                                           const std::vector<Tensor>& firstInputs) {
    std::unique_ptr<EngineRunner> r(new EngineRunner());
    Builder builder(r->mLogger);
    auto network = builder.createNetwork();
    OnnxParser parser(*network, r->mLogger);
    KILN_RETURN_IF_ERROR(parser.parseFromFile(modelPath));
    auto config = builder.createBuilderConfig();
    if (options.backend == "cuda") {
        config->setBackend(Backend::kCuda);
    } else if (options.backend == "cpu") {
        config->setBackend(Backend::kCpu);
    } else {
        return invalidArgument("unknown backend '" + options.backend + "' (cpu, cuda)");
    }
    config->clearFlag(BuilderFlag::kTF32);
    if (options.precision == "tf32") {
        config->setFlag(BuilderFlag::kTF32);
    } else if (options.precision == "fp16") {
        config->setFlag(BuilderFlag::kFP16);
    } else if (options.precision == "bf16") {
        config->setFlag(BuilderFlag::kBF16);
    } else if (options.precision != "fp32") {
        return invalidArgument("unknown precision '" + options.precision + "' (fp32, tf32, fp16, bf16)");
    }
    // Inputs the model leaves dynamic get a profile fixed at the first data set's shapes.
    auto profile = builder.createOptimizationProfile();
    bool dynamic = false;
    for (int32_t i = 0; i < network->getNbInputs() && static_cast<size_t>(i) < firstInputs.size(); ++i) {
        KILN_ASSIGN_OR_RETURN(std::string name, network->getInputName(i));
        auto declared = network->getTensorShape(name);
        bool isDynamic = !declared;
        if (declared) {
            for (int64_t d : *declared) isDynamic |= d < 0;
        }
        if (!isDynamic) continue;
        dynamic = true;
        const Shape& s = firstInputs[static_cast<size_t>(i)].shape();
        for (auto sel : {OptProfileSelector::kMIN, OptProfileSelector::kOPT, OptProfileSelector::kMAX}) {
            KILN_RETURN_IF_ERROR(profile->setDimensions(name, sel, s));
        }
    }
    if (dynamic) KILN_RETURN_IF_ERROR(config->addOptimizationProfile(*profile));
    if (options.emulate) config->setFlag(BuilderFlag::kEMULATE_REDUCED_PRECISION);
    if (options.accuracy > 0) {
        KILN_RETURN_IF_ERROR(config->setAccuracyTarget(options.accuracy));
        std::vector<std::map<std::string, Tensor>> samples;
        for (const std::vector<Tensor>& inputs : options.calibration) {
            std::map<std::string, Tensor> sample;
            for (int32_t i = 0; i < network->getNbInputs() && static_cast<size_t>(i) < inputs.size(); ++i) {
                KILN_ASSIGN_OR_RETURN(std::string name, network->getInputName(i));
                sample[name] = inputs[static_cast<size_t>(i)];
            }
            samples.push_back(std::move(sample));
        }
        config->setCalibrationInputs(std::move(samples));
    }
    KILN_ASSIGN_OR_RETURN(r->mEngine, builder.buildEngine(*network, *config));
    KILN_ASSIGN_OR_RETURN(r->mContext, r->mEngine->createExecutionContext());
    return r;
}

Result<std::vector<Tensor>> EngineRunner::run(const ir::Graph& graph, const std::vector<Tensor>& inputs) {
    std::map<std::string, Tensor> named;
    for (size_t i = 0; i < inputs.size() && i < graph.inputs().size(); ++i) {
        named.emplace(graph.inputs()[i]->name(), inputs[i]);
    }
    KILN_ASSIGN_OR_RETURN(auto outs, mContext->infer(named));
    std::vector<Tensor> ordered;
    for (const ir::Value* out : graph.outputs()) {
        auto it = outs.find(out->name());
        if (it == outs.end()) return internalError("the engine did not produce output '" + out->name() + "'");
        ordered.push_back(it->second);
    }
    return ordered;
}

}  // namespace kiln::conformance
