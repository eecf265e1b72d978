// The accuracy guard of reduced-precision builds: which layers to keep in FP32 so that an FP16/BF16/TF32 engine
// stays within a tolerance of the FP32 engine on sample inputs.
//
// Lowering every layer is fastest, but some models amplify rounding (docs/cuda.md, "Accuracy"). The guard ranks the
// layers by how much error each one adds when lowered (the growth of the relative error from its inputs to its
// outputs, measured once on a fully lowered run with every tensor compared), then keeps the top k of that ranking in
// FP32 for the smallest k that meets the tolerance: k doubles until the tolerance holds, then bisects. The error is
// not strictly monotone in k, so the result is the smallest k the search saw meet the tolerance, not a global
// optimum; each evaluation is one build and one run.
#pragma once

#include <cstddef>
#include <functional>
#include <map>
#include <string>
#include <vector>

#include "ir/graph.h"
#include "kiln/status.h"

namespace kiln::builder {

//! One evaluation of the search: the k most sensitive layers kept in FP32 gave this error.
struct GuardStep {
    size_t keptFp32 = 0;
    double error = 0;
};

struct GuardResult {
    std::vector<std::string> keptFp32;  //!< Node names to keep in FP32 (a prefix of the ranking).
    double error = 0;                   //!< The engine's error with them kept.
    bool met = false;                   //!< False: even everything in FP32 that the ranking holds missed it.
    std::vector<GuardStep> steps;       //!< Every evaluation, in order (for the build log).
};

//! The error of an engine built with `keptFp32` in FP32 and every other eligible layer lowered.
using GuardEvaluate = std::function<Result<double>(const std::vector<std::string>& keptFp32)>;

//! Finds the smallest prefix of `ranked` (most sensitive first) whose layers, kept in FP32, bring the error to at
//! most `tolerance`. Evaluates nothing kept, then prefixes of 1, 2, 4, ... layers up to the whole ranking until one
//! passes (met = false and the whole ranking when none does), then bisects below it while evaluations remain
//! (`maxEvaluations` counts them all; the doubling always completes).
Result<GuardResult> searchFp32Layers(const std::vector<std::string>& ranked, double tolerance,
                                     const GuardEvaluate& evaluate, int maxEvaluations = 24);

//! Ranks the nodes of the lowered `graph` by the relative error they add: for each named node, the largest error
//! among its outputs minus the largest among its inputs, inputs read through Casts (the rounding a Cast down adds
//! is charged to the lowered node that needed it; Casts themselves are not ranked). A value absent from
//! `valueError` counts as exact. After the nodes that add error come the ones that only pass it on, by their
//! output's error; exact nodes are left out. `valueError` maps value names to max|lowered - fp32| / max|fp32|.
std::vector<std::string> rankBySensitivity(const ir::Graph& graph, const std::map<std::string, double>& valueError);

}  // namespace kiln::builder
