// kiln::validateEngine: an engine against the reference executor on the imported (un-optimized) model.
#include "kiln/validate.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <unordered_map>

#include "backends/cpu/executor.h"
#include "frontend/onnx/importer.h"
#include "ir/graph_edit.h"

namespace kiln {

Tolerances Tolerances::forFlags(const std::set<BuilderFlag>& allowed) {
    double rtol = 1e-4;
    if (allowed.count(BuilderFlag::kTF32)) rtol = 2e-3;
    if (allowed.count(BuilderFlag::kFP16) || allowed.count(BuilderFlag::kBF16) || allowed.count(BuilderFlag::kINT8)) {
        rtol = 1e-2;
    }
    return {rtol, rtol / 100};
}

std::string Tolerances::describe() const {
    char buf[64];
    std::snprintf(buf, sizeof buf, "rtol %g, atol %g", rtol, atol);
    return buf;
}

bool ValidationReport::passed() const {
    return std::all_of(outputs.begin(), outputs.end(), [](const OutputComparison& o) { return o.passed; });
}

const OutputComparison* ValidationReport::firstFailure() const {
    const OutputComparison* first = nullptr;
    for (const OutputComparison& o : outputs) {
        if (!o.passed && (first == nullptr || o.producerIndex < first->producerIndex)) first = &o;
    }
    return first;
}

namespace {

//! Fills the error fields of `c` from two tensors of equal dtype and shape.
void measure(const Tensor& ref, const Tensor& got, const Tolerances& tol, OutputComparison& c) {
    const bool exact = !isFloatingPoint(ref.dtype());
    double maxAbs = 0;
    double maxRef = 0;
    for (int64_t i = 0; i < ref.numel(); ++i) {
        const double r = ref.getDouble(i);
        const double g = got.getDouble(i);
        if (std::isnan(r) || std::isnan(g)) {
            if (std::isnan(r) != std::isnan(g) && c.problem.empty()) {
                c.problem = std::string("NaN in the ") + (std::isnan(g) ? "engine" : "reference") +
                            " output at index " + std::to_string(i);
                c.worstIndex = i;
            }
            continue;
        }
        maxRef = std::max(maxRef, std::abs(r));
        const double err = r == g ? 0.0 : std::abs(g - r);  // equal infinities are no error
        if (err > (exact ? 0.0 : tol.atol + tol.rtol * std::abs(r))) ++c.mismatches;
        if (err > maxAbs || (c.worstIndex < 0 && err > 0)) {
            maxAbs = err;
            if (c.problem.empty()) c.worstIndex = i;
        }
    }
    c.maxAbsError = maxAbs;
    c.maxReference = maxRef;
    c.maxRelError = maxRef > 0 ? maxAbs / maxRef : (maxAbs > 0 ? INFINITY : 0.0);
    const double allowed = exact ? 0.0 : tol.atol + tol.rtol * maxRef;
    c.passed = c.problem.empty() && maxAbs <= allowed;
}

}  // namespace

ValidationReport compareOutputs(const std::vector<std::pair<std::string, Tensor>>& reference,
                                const std::map<std::string, Tensor>& actual, const Tolerances& tolerances,
                                const std::set<std::string>& marked) {
    ValidationReport report;
    report.tolerances = tolerances;
    for (const auto& [name, ref] : reference) {
        OutputComparison c;
        c.name = name;
        c.dtype = ref.dtype();
        c.shape = ref.shape();
        c.marked = marked.count(name) != 0;
        auto it = actual.find(name);
        if (it != actual.end()) c.engineDtype = it->second.dtype();
        // A marked tensor may be float16/bfloat16 in the engine: getDouble reads every float dtype exactly.
        const bool floatPair = isFloatingPoint(ref.dtype()) && isFloatingPoint(c.engineDtype);
        if (it == actual.end()) {
            c.problem = "the engine has no output '" + name + "'";
        } else if (it->second.dtype() != ref.dtype() && !(c.marked && floatPair)) {
            c.problem =
                std::string("dtype ") + dataTypeName(it->second.dtype()) + " vs reference " + dataTypeName(ref.dtype());
        } else if (it->second.shape() != ref.shape()) {
            c.problem = "shape " + shapeToString(it->second.shape()) + " vs reference " + shapeToString(ref.shape());
        } else if (ref.dtype() == DataType::kString) {
            c.passed = true;
            for (int64_t i = 0; i < ref.numel() && c.passed; ++i) {
                if (ref.strings()[i] != it->second.strings()[i]) {
                    c.passed = false;
                    c.worstIndex = i;
                    c.mismatches = 1;
                    c.problem = "strings differ at index " + std::to_string(i);
                }
            }
        } else {
            measure(ref, it->second, tolerances, c);
        }
        report.outputs.push_back(std::move(c));
    }
    return report;
}

namespace {

//! The reference run of an imported model with extra tensors kept as outputs, and who computed each tensor.
struct ReferenceRun {
    std::vector<std::pair<std::string, Tensor>> tensors;  //!< The model's outputs, then the extra tensors.
    std::map<std::string, const ir::Node*> producers;
    std::map<const ir::Node*, int64_t> positions;
};

Result<ReferenceRun> runImported(ir::Graph& graph, const std::string& onnxPath,
                                 const std::map<std::string, Tensor>& inputs, const std::vector<std::string>& extra) {
    ReferenceRun run;
    std::vector<std::string> names;
    for (const ir::Value* out : graph.outputs()) names.push_back(out->name());
    for (const std::string& name : extra) {
        ir::Value* v = graph.findValue(name);
        if (v == nullptr) return notFound(onnxPath + " (reference) computes no tensor '" + name + "'");
        if (ir::isGraphOutput(v)) continue;
        graph.addOutput(v);
        names.push_back(name);
    }
    const std::unordered_map<std::string, Tensor> named(inputs.begin(), inputs.end());
    auto outputs = cpu::Executor().runNamed(graph, named);
    if (!outputs) return outputs.status().withContext(onnxPath + " (reference)");
    for (const std::string& name : names) run.tensors.emplace_back(name, outputs->at(name));
    for (size_t i = 0; i < graph.nodes().size(); ++i) {
        const ir::Node* node = graph.nodes()[i].get();
        run.positions[node] = static_cast<int64_t>(i);
        for (const ir::Value* out : node->outputs()) {
            if (out != nullptr) run.producers[out->name()] = node;
        }
    }
    return run;
}

}  // namespace

Result<std::vector<std::pair<std::string, Tensor>>> runReference(const std::string& onnxPath,
                                                                 const std::map<std::string, Tensor>& inputs,
                                                                 const std::vector<std::string>& extraOutputs) {
    KILN_ASSIGN_OR_RETURN(onnx_frontend::ImportedModel model, onnx_frontend::importOnnxFile(onnxPath));
    KILN_ASSIGN_OR_RETURN(ReferenceRun run, runImported(*model.graph, onnxPath, inputs, extraOutputs));
    return std::move(run.tensors);
}

Result<ValidationReport> validateEngine(const Engine& engine, const std::string& onnxPath,
                                        const std::map<std::string, Tensor>& inputs, const Tolerances& tolerances) {
    KILN_ASSIGN_OR_RETURN(std::unique_ptr<ExecutionContext> context, engine.createExecutionContext());
    // The first profile whose ranges hold every input; when none does, profile 0's error names the input.
    Status firstError;
    bool found = false;
    for (int32_t p = 0; p < std::max(engine.getNbOptimizationProfiles(), 1) && !found; ++p) {
        KILN_RETURN_IF_ERROR(context->setOptimizationProfile(p));
        Status fits;
        for (auto it = inputs.begin(); it != inputs.end() && fits; ++it)
            fits = context->setInputShape(it->first, it->second.shape());
        found = fits.isOk();
        if (p == 0) firstError = fits;
    }
    if (!found) return firstError;
    KILN_ASSIGN_OR_RETURN(auto actual, context->infer(inputs));

    KILN_ASSIGN_OR_RETURN(onnx_frontend::ImportedModel model, onnx_frontend::importOnnxFile(onnxPath));
    std::set<std::string> modelOutputs;
    for (const ir::Value* out : model.graph->outputs()) modelOutputs.insert(out->name());
    // The engine's other outputs are marked tensors; the ones the model does not compute fail by name.
    std::vector<std::string> marked;
    std::vector<std::string> unknown;
    for (int32_t i = 0; i < engine.getNbIOTensors(); ++i) {
        KILN_ASSIGN_OR_RETURN(std::string name, engine.getIOTensorName(i));
        KILN_ASSIGN_OR_RETURN(TensorIOMode mode, engine.getTensorIOMode(name));
        if (mode != TensorIOMode::kOUTPUT || modelOutputs.count(name)) continue;
        (model.graph->findValue(name) ? marked : unknown).push_back(name);
    }
    KILN_ASSIGN_OR_RETURN(ReferenceRun run, runImported(*model.graph, onnxPath, inputs, marked));
    ValidationReport report =
        compareOutputs(run.tensors, actual, tolerances, std::set<std::string>(marked.begin(), marked.end()));
    for (OutputComparison& c : report.outputs) {
        auto it = run.producers.find(c.name);
        if (it == run.producers.end()) continue;
        c.producerOp = std::string(it->second->opType());
        c.producerName = it->second->name();
        c.producerIndex = run.positions.at(it->second);
    }
    for (const std::string& name : unknown) {
        OutputComparison c;
        c.name = name;
        c.marked = true;
        c.engineDtype = actual.count(name) ? actual.at(name).dtype() : DataType::kUndefined;
        c.problem = "the reference model computes no tensor '" + name + "'";
        report.outputs.push_back(std::move(c));
    }
    if (!marked.empty() || !unknown.empty()) {
        std::stable_sort(
            report.outputs.begin(), report.outputs.end(),
            [](const OutputComparison& a, const OutputComparison& b) { return a.producerIndex < b.producerIndex; });
    }
    return report;
}

Result<int32_t> markAllTensors(NetworkDefinition& network) {
    std::set<std::string> outputs;
    for (int32_t i = 0; i < network.getNbOutputs(); ++i) {
        KILN_ASSIGN_OR_RETURN(std::string name, network.getOutputName(i));
        outputs.insert(std::move(name));
    }
    int32_t count = 0;
    for (const std::string& name : network.getComputedTensorNames()) {
        if (outputs.count(name)) continue;
        KILN_RETURN_IF_ERROR(network.markOutput(name));
        ++count;
    }
    return count;
}

}  // namespace kiln
