// kiln::validateEngine: an engine against the reference executor on the imported (un-optimized) model.
#include "kiln/validate.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <unordered_map>

#include "backends/cpu/executor.h"
#include "frontend/onnx/importer.h"

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
                                const std::map<std::string, Tensor>& actual, const Tolerances& tolerances) {
    ValidationReport report;
    report.tolerances = tolerances;
    for (const auto& [name, ref] : reference) {
        OutputComparison c;
        c.name = name;
        c.dtype = ref.dtype();
        c.shape = ref.shape();
        auto it = actual.find(name);
        if (it == actual.end()) {
            c.problem = "the engine has no output '" + name + "'";
        } else if (it->second.dtype() != ref.dtype()) {
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

Result<std::vector<std::pair<std::string, Tensor>>> runReference(const std::string& onnxPath,
                                                                 const std::map<std::string, Tensor>& inputs) {
    KILN_ASSIGN_OR_RETURN(onnx_frontend::ImportedModel model, onnx_frontend::importOnnxFile(onnxPath));
    const std::unordered_map<std::string, Tensor> named(inputs.begin(), inputs.end());
    auto outputs = cpu::Executor().runNamed(*model.graph, named);
    if (!outputs) return outputs.status().withContext(onnxPath + " (reference)");
    std::vector<std::pair<std::string, Tensor>> ordered;
    for (const ir::Value* out : model.graph->outputs()) ordered.emplace_back(out->name(), outputs->at(out->name()));
    return ordered;
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
    KILN_ASSIGN_OR_RETURN(auto reference, runReference(onnxPath, inputs));
    return compareOutputs(reference, actual, tolerances);
}

}  // namespace kiln
