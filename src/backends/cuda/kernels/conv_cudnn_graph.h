// The channels-last fused convolution (y = relu?(conv(x, w) + bias [+ z]), FP16/BF16, NHWC data, KRSC filters)
// through cuDNN's backend (graph) API, as extra tactic candidates of cudnnConvBiasActivationForward (conv_cudnn.h).
//
// The legacy API offers about one tensor-op algorithm per such problem; the graph API's heuristics (mode A, then the
// fallback list) rank many engine configurations (engine × knobs: tiles, split-K, and on Hopper the runtime-fused
// conv + bias + add + ReLU kernels). In a build's tactic timing run (tactics.h) those configs are timed after the
// legacy algorithms, the legacy first choice staying unless a config beats it by the timer's margin; a winner is
// recorded as "graph engine=<global index> knobs=<type:value,...> workspace=<bytes>", which names the config
// reproducibly. At run time a recorded graph tactic rebuilds its plan once; a tactic cuDNN refuses (or garbage) makes
// the caller take the legacy path, as a refused legacy tactic does. Without tactics nothing here runs.
//
// Caching: per problem (device, dtype, shapes, pads, strides, dilations, residual, ReLU) the operation graph, the
// ranked configs and every plan built (or refused) are kept for the life of the process, in a bounded cache
// (conv_gemm_common.h's AlgoCache); building a plan takes milliseconds (seconds for runtime-compiled engines),
// running one builds nothing but its variant pack (host-only, microseconds).
//
// Thread safety: any thread may call these. Graphs and plans are built on, and run through, a cuDNN handle of this
// file's own per device (plans keep a reference to the handle they were built on, and the handles of engines'
// contexts come and go): one mutex per device serializes its use, the stream being set for each run.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "backends/cuda/kernels/conv_cudnn.h"
#include "backends/cuda/tactics.h"

namespace kiln::cuda {

//! Device operands of one fused call; `z` null without a residual. Every pointer must be 16-byte aligned for the
//! graph path (it refuses others).
struct FusedConvOperands {
    const void* in = nullptr;
    const void* filter = nullptr;
    const void* bias = nullptr;
    const void* z = nullptr;
    void* out = nullptr;
};

//! One call of the fused convolution as the graph path sees it.
struct GraphConvCall {
    CudnnConvProblem p;
    FusedConvOperands ops;
    bool relu = false;
    size_t budget = SIZE_MAX;  //!< Workspace bytes a plan may use.
};

//! Configs offered per problem at most (heuristic order): bounds level 5's build time, runtime-compiled engines
//! taking long to finalize.
inline constexpr size_t kMaxGraphConfigs = 24;

//! Whether the graph path takes the problem at all: 2-D, ungrouped, channels-last FP16/BF16 (what the nhwc-layout
//! pass makes for ResNet-style networks). Other problems stay on the legacy API alone.
bool graphConvServes(const CudnnConvProblem& p);

//! Whether the call can take graph candidates: graphConvServes, a bias, and 16-byte aligned operands.
bool graphConvApplies(const GraphConvCall& call);

//! The call's graph configs as tactic candidates (in heuristic order; plans built when first timed, refused ones
//! reported kUnsupported by `run`). Zero candidates when cuDNN has no graph for the problem.
Result<TacticCandidates> graphConvCandidates(CudaKernelContext& ctx, const GraphConvCall& call);

//! Runs the call with the graph config `tactic` names: true when it ran; false when `tactic` is not a valid graph
//! tactic, cuDNN refuses the config, or its workspace exceeds the budget (the caller then runs the legacy path).
Result<bool> runGraphConvTactic(CudaKernelContext& ctx, const GraphConvCall& call, const std::string& tactic);

//! Whether `text` claims to be a graph tactic (it may still fail to decode).
bool isGraphTactic(const std::string& text);

//! Tests and benchmarks: the tactics of the first `max` configs cuDNN builds a plan for, for the problem with or
//! without a residual and ReLU, within `budget` bytes of workspace.
Result<std::vector<std::string>> graphConvTactics(const CudnnConvProblem& p, bool hasZ, bool relu, size_t budget,
                                                  size_t max);

//! Benchmarks: the configs one knob away from `tactic`'s (same engine; each knob cuDNN lists for it set to each other
//! value of its range, at most `perKnob` values spread over the range), as tactics. Empty when `tactic` is not a
//! graph tactic or its engine does not apply. Some of them cuDNN refuses when a plan is built.
Result<std::vector<std::string>> graphConvKnobNeighbours(const CudnnConvProblem& p, bool hasZ, bool relu,
                                                         const std::string& tactic, size_t perKnob);

//! How many fused convolutions ran through a graph plan since the process started (tests check the path taken).
uint64_t cudnnGraphConvRuns();

}  // namespace kiln::cuda
