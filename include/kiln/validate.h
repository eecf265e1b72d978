// Checks an engine against Kiln's reference: the CPU executor running the ONNX model as imported, before any
// optimizing pass. Both run on the same inputs; the report gives each output's error and whether it is within
// the tolerances that the engine's precision allows.
//
//   kiln::Tolerances tol = kiln::Tolerances::forFlags({kiln::BuilderFlag::kFP16});   // rtol 1e-2
//   auto report = kiln::validateEngine(*engine, "resnet50.onnx", {{"input", input}}, tol);
//   if (!report) return fail(report.status());           // could not run one side (bad input, missing file)
//   for (const kiln::OutputComparison& o : report->outputs)
//       std::printf("%s max abs %g max rel %g %s\n", o.name.c_str(), o.maxAbsError, o.maxRelError,
//                   o.passed ? "ok" : "FAIL");
//
// What is compared, per output: shapes and dtypes must be equal; then for floating-point outputs
//   maxAbsError = max |engine - reference|,   maxRelError = maxAbsError / max |reference|
// and the output passes when maxAbsError <= atol + rtol * max |reference| (and NaNs sit at the same places).
// The relative error is measured against the output's largest magnitude, as Kiln's model tests do, because the
// per-element ratio |e - r| / |r| is meaningless where the reference is near zero. Integer and bool outputs must
// match exactly.
//
// Tensor by tensor (Polygraphy's `--mark all`): mark the network's intermediate tensors as outputs before building
// (NetworkDefinition::markOutput, or markAllTensors below); validateEngine then compares every output of the engine,
// marked ones included, in topological order, and ValidationReport::firstFailure names the first tensor outside
// tolerance and the node that computed it: where an error starts, since everything after it inherits it.
//
//   auto network = builder.createNetwork();
//   kiln::OnnxParser(*network, logger).parseFromFile("det.onnx");
//   kiln::markAllTensors(*network);
//   auto engine = builder.buildEngine(*network, *config);          // with kFP16, say
//   auto report = kiln::validateEngine(**engine, "det.onnx", inputs, tol);
//   if (const kiln::OutputComparison* first = report->firstFailure())
//       std::printf("%s from %s %s\n", first->name.c_str(), first->producerOp.c_str(), first->producerName.c_str());
//
// Thread safety: the functions are reentrant; `engine` is only read (a context is created for the run).
#pragma once

#include <cstdint>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "kiln/kiln.h"
#include "kiln/status.h"
#include "kiln/tensor.h"

namespace kiln {

//! Pass criterion of one floating-point output: max|engine - reference| <= atol + rtol * max|reference|.
struct Tolerances {
    double rtol = 1e-4;
    double atol = 1e-6;
    //! The defaults for the lowest precision the flags allow: FP32 rtol 1e-4, TF32 2e-3, FP16/BF16 1e-2 (atol is
    //! rtol / 100, so an all-zero reference still allows rounding noise). kINT8 is treated as FP16: an INT8 engine
    //! needs task-level accuracy checks, not element-wise ones.
    static Tolerances forFlags(const std::set<BuilderFlag>& allowed);
    //! "rtol 0.0001, atol 1e-06".
    std::string describe() const;
};

//! One output of the comparison.
struct OutputComparison {
    std::string name;
    DataType dtype = DataType::kUndefined;  //!< The reference's dtype.
    Shape shape;                            //!< The reference's shape.
    double maxAbsError = 0;                 //!< max |engine - reference| (0 for exact matches).
    double maxRelError = 0;                 //!< maxAbsError / max |reference| (0 when both are all zero).
    double maxReference = 0;                //!< max |reference|.
    int64_t worstIndex = -1;                //!< Flat index of the largest error (-1 when none).
    int64_t mismatches = 0;  //!< Elements with |e - r| > atol + rtol * |r| (informational, element-wise).
    bool passed = false;
    std::string problem;  //!< Why it failed when it is not the error size: "shape 1x10 vs 1x12", "missing", ...
    DataType engineDtype = DataType::kUndefined;  //!< The engine's (kUndefined when it has no such output).
    //! An intermediate tensor marked as an engine output, not one of the model's outputs. Its engine dtype may be
    //! float16/bfloat16 where the reference computed float32: the two compare in float64 instead of failing on
    //! the dtype (a model output must keep its dtype).
    bool marked = false;
    //! The node of the imported model that computed it ("" and -1 for an output that is an input or a weight):
    //! its op type, its name, and its position in the model's topological order.
    std::string producerOp;
    std::string producerName;
    int64_t producerIndex = -1;
};

struct ValidationReport {
    Tolerances tolerances;
    //! In the reference model's output order; with marked tensors, every tensor in topological order (by
    //! producerIndex; the model's outputs among them where they are computed).
    std::vector<OutputComparison> outputs;
    bool passed() const;
    //! The failed tensor computed first (smallest producerIndex; outputs without a producer count as first), or
    //! nullptr when every tensor passed.
    const OutputComparison* firstFailure() const;
};

//! Compares outputs by name. Every reference output must be in `actual`; extra entries of `actual` are ignored.
//! Names in `marked` are intermediate tensors (OutputComparison::marked): for them a floating-point engine tensor of
//! another floating-point dtype than the reference compares in float64 instead of failing on the dtype.
ValidationReport compareOutputs(const std::vector<std::pair<std::string, Tensor>>& reference,
                                const std::map<std::string, Tensor>& actual, const Tolerances& tolerances,
                                const std::set<std::string>& marked = {});

//! Runs the ONNX model at `onnxPath` on the reference executor (imported, not optimized) and returns its outputs in
//! model order, then the tensors named in `extraOutputs` in that order (intermediate tensors, computed on the way).
//! Fails naming the file, the input, or an extra tensor the model does not compute.
Result<std::vector<std::pair<std::string, Tensor>>> runReference(const std::string& onnxPath,
                                                                 const std::map<std::string, Tensor>& inputs,
                                                                 const std::vector<std::string>& extraOutputs = {});

//! Runs `engine` (in a new ExecutionContext, on the first optimization profile that holds the inputs' shapes) and
//! the reference on `inputs`, and compares every output of the model, and every other output of the engine (a
//! marked tensor) against the reference's tensor of that name. A failed comparison is a report with passed() false,
//! not an error; errors are for runs that could not happen (unreadable model, an input the engine or the model
//! rejects). An engine output the model does not compute is a failed entry saying so.
Result<ValidationReport> validateEngine(const Engine& engine, const std::string& onnxPath,
                                        const std::map<std::string, Tensor>& inputs, const Tolerances& tolerances);

//! Marks every tensor `network` computes that is not already an output (NetworkDefinition::markOutput), for a
//! tensor-by-tensor validateEngine; returns how many were marked.
Result<int32_t> markAllTensors(NetworkDefinition& network);

}  // namespace kiln
