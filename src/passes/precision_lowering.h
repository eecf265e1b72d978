// Lowers float32 compute to float16 or bfloat16 for the nodes a backend runs faster that way (the FP16/BF16
// builder flags), keeping the network's I/O dtypes: graph inputs are cast down where a lowered node reads them,
// lowered results are cast back up where a float32 reader (or a graph output) needs them, and float32 constants
// read by lowered nodes are converted once. A Cast up followed by a Cast down of the same value cancels, so a
// chain of lowered nodes carries the low precision end to end.
#pragma once

#include <functional>

#include "ir/graph.h"
#include "kiln/status.h"

namespace kiln::passes {

//! Which inputs of a node may be lowered (bit i = input i), 0 when the node stays in float32.
using LowerableInputs = std::function<uint32_t(const ir::Node&)>;

//! The ops Kiln's GPU kernels run in float16/bfloat16 with float32 accumulation, and for each the inputs that
//! carry data (shape-like float inputs such as Resize's scales stay float32).
uint32_t defaultLowerableInputs(const ir::Node& node);

//! Lowers every node `lowerable` accepts to `target` (kFloat16 or kBFloat16); returns the number of nodes lowered.
Result<int64_t> lowerPrecision(ir::Graph& graph, DataType target, const LowerableInputs& lowerable);

}  // namespace kiln::passes
