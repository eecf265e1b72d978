#include "backends/cuda/kernels/reduction_plan.h"

#include <string>

#include "backends/cpu/reduce_plan.h"

namespace kiln::cuda {

Result<ReduceGeometry> planReduction(const Shape& shape, const std::vector<bool>& reduced) {
    if (reduced.size() != shape.size()) return internalError("reduction plan: axis flags do not match the rank");
    const std::vector<int64_t> strides = cpu::rowMajorStrides(shape);
    ReduceGeometry g;
    g.outCount = 1;
    g.reduceCount = 1;
    int lastGroup = -1;  // 0: kept, 1: reduced, -1: none yet
    for (size_t i = 0; i < shape.size(); ++i) {
        const bool isReduced = reduced[i];
        (isReduced ? g.reduceCount : g.outCount) *= shape[i];
        if (shape[i] == 1) continue;
        DimIndexer& idx = isReduced ? g.reduced : g.kept;
        if (lastGroup == static_cast<int>(isReduced)) {
            // Row-major: the previous dim of this run has stride shape[i] * strides[i] (size-1 dims between do
            // not change that), so the two merge into one dim of the innermost stride.
            idx.sizes[idx.rank - 1] *= shape[i];
            idx.strides[idx.rank - 1] = strides[i];
            continue;
        }
        if (idx.rank == kMaxReduceDims) {
            return unsupported("reducing " + shapeToString(shape) + ": more than " + std::to_string(kMaxReduceDims) +
                               " separate runs of " + (isReduced ? "reduced" : "kept") +
                               " dims is not supported on the CUDA backend");
        }
        idx.sizes[idx.rank] = shape[i];
        idx.strides[idx.rank] = strides[i];
        ++idx.rank;
        lastGroup = static_cast<int>(isReduced);
    }
    g.reducedInnermost = lastGroup != 0;
    return g;
}

Shape reducedShape(const Shape& shape, const std::vector<bool>& reduced, bool keepdims) {
    Shape out;
    for (size_t i = 0; i < shape.size(); ++i) {
        if (!reduced[i]) out.push_back(shape[i]);
        else if (keepdims) out.push_back(1);
    }
    return out;
}

}  // namespace kiln::cuda
