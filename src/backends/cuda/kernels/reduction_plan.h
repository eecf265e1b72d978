// Host-side planning of reductions for the CUDA kernels (C++20): axis handling shared by the reduction and
// normalization families, on top of the CPU reference's helpers (axesToFlags, normalizeAxis) so that both
// backends accept the same axes and fail with the same messages.
#pragma once

#include <vector>

#include "backends/cuda/kernel.h"
#include "backends/cuda/kernels/reduction_common.h"

namespace kiln::cuda {

//! Coalesces `shape` with one reduce flag per axis into a ReduceGeometry: size-1 dims are dropped and runs of
//! kept (or reduced) dims merge, so the kernels index at most a few dims. kUnsupported when more than
//! kMaxReduceDims separate kept or reduced runs remain.
//!
//! (The CPU's makeReducePlan lists every offset on the host: fine for a reference, too slow per run here.)
Result<ReduceGeometry> planReduction(const Shape& shape, const std::vector<bool>& reduced);

//! `shape` with the reduced dims removed, or set to 1 with keepdims.
Shape reducedShape(const Shape& shape, const std::vector<bool>& reduced, bool keepdims);

}  // namespace kiln::cuda
