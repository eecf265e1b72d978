// Lowers float32 compute to float16 or bfloat16 for the nodes a backend runs faster that way (the FP16/BF16
// builder flags), keeping the network's I/O dtypes: graph inputs are cast down where a lowered node reads them,
// lowered results are cast back up where a float32 reader (or a graph output) needs them, and float32 constants
// read by lowered nodes are converted once. A Cast up followed by a Cast down of the same value cancels, so a
// chain of lowered nodes carries the low precision end to end. Graph outputs (marked intermediate tensors too) keep
// float32, as they are written by the Cast back up.
//
// Layer precision overrides (passes/layer_precision.h) decide per node: a node pinned to fp32 stays float32 (its
// readers and writers get casts at the boundary); a node pinned to fp16 or bf16 is lowered to that dtype whatever the
// flags say, as long as `lowerable` accepts it (a pin to a precision the node has no kernel for fails the build
// under "obey" and keeps the node float32 with a warning under "prefer").
#pragma once

#include <functional>
#include <string>

#include "ir/graph.h"
#include "kiln/status.h"
#include "passes/backend_hooks.h"

namespace kiln::passes {

//! Which inputs of a node may be lowered (bit i = input i), 0 when the node stays in float32.
using LowerableInputs = std::function<uint32_t(const ir::Node&)>;

//! The ops Kiln's GPU kernels run in float16/bfloat16 with float32 accumulation, and for each the inputs that
//! carry data (shape-like float inputs such as Resize's scales stay float32).
uint32_t defaultLowerableInputs(const ir::Node& node);

struct LoweringOptions {
    //! What the builder flags allow for every lowerable node: kFloat16 or kBFloat16; kFloat32 lowers pinned nodes
    //! only.
    DataType target = DataType::kFloat32;
    LowerableInputs lowerable = defaultLowerableInputs;
    //! true ("obey"): a node pinned to fp16/bf16 that `lowerable` rejects fails the lowering, naming the node.
    //! false ("prefer"): it stays float32, is marked with kPrecisionUnmetAttr, and `warn` is told once.
    bool obeyPins = true;
    std::function<void(const std::string&)> warn;
};

//! Lowers every node `lowerable` accepts to its pinned precision or else `options.target`; returns the number of
//! nodes lowered. Running it again changes nothing.
Result<int64_t> lowerPrecision(ir::Graph& graph, const LoweringOptions& options);

//! Lowers every node `lowerable` accepts to `target` (kFloat16 or kBFloat16), pins obeyed; returns the number of
//! nodes lowered.
Result<int64_t> lowerPrecision(ir::Graph& graph, DataType target, const LowerableInputs& lowerable);

//! The CUDA backend's precision assignment: FP16 where `policy` allows it (over BF16: same tensor-core speed, three
//! more mantissa bits), else BF16, else float32; pins obeyed or preferred as `policy` says, warnings to `ctx`.
Result<int64_t> assignGpuPrecisions(ir::Graph& graph, const PrecisionPolicy& policy, const PassContext& ctx);

}  // namespace kiln::passes
