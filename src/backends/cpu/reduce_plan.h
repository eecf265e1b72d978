// Index plans shared by the reduction, softmax and normalization kernels.
//
// A ReducePlan splits an input shape into kept and reduced axes and lists, for every output element, the offset
// of its first input element, and for every position inside one reduction, the offset from that base. A
// reduction is then `for o: for r: in[outer[o] + inner[r]]` whatever axes are reduced.
#pragma once

#include <cstdint>
#include <limits>
#include <type_traits>
#include <vector>

#include "backends/cpu/kernel.h"
#include "common/dispatch.h"

namespace kiln::cpu {

struct ReducePlan {
    Shape outShape;                     //!< With or without the reduced dims, per keepdims.
    std::vector<int64_t> outerOffsets;  //!< One per output element (row-major over the kept axes).
    std::vector<int64_t> innerOffsets;  //!< One per element of a reduction.
    int64_t reduceCount() const { return static_cast<int64_t>(innerOffsets.size()); }
};

//! Plans a reduction of `shape` over `reduced` (flags, one per axis).
Result<ReducePlan> makeReducePlan(const Shape& shape, const std::vector<bool>& reduced, bool keepdims);

//! Normalizes `axes` against `rank` into per-axis flags; rejects out-of-range and repeated axes.
Result<std::vector<bool>> axesToFlags(const std::vector<int64_t>& axes, int64_t rank, const char* what = "axes");

//! The axes a reduction reduces: `axesInput` when given (ReduceSum-13+, the importer's rewrite of older ReduceSum),
//! else the `axes` attribute. Empty means "all axes" unless noop_with_empty_axes. Shared with the CUDA kernels.
Result<std::vector<int64_t>> reduceAxes(const Tensor* axesInput, const ir::Attributes& attrs);

//! Row-major strides of a shape.
std::vector<int64_t> rowMajorStrides(const Shape& shape);

//! Product of shape[begin, end).
int64_t dimProduct(const Shape& shape, int64_t begin, int64_t end);

//! Accumulator type of a reduction over T: double for floating point, 64-bit of the same signedness otherwise.
template <typename T>
using AccumT = std::conditional_t<std::is_integral_v<ComputeT<T>>,
                                  std::conditional_t<std::is_signed_v<ComputeT<T>>, int64_t, uint64_t>, double>;

//! Converts a double result to T; for integer T, NaN becomes 0 and out-of-range values saturate (no UB).
template <typename T>
T castFromDouble(double v) {
    if constexpr (std::is_integral_v<ComputeT<T>>) {
        using C = ComputeT<T>;
        if (v != v) return T(0);
        if (v <= static_cast<double>(std::numeric_limits<C>::lowest())) return std::numeric_limits<C>::lowest();
        if (v >= static_cast<double>(std::numeric_limits<C>::max())) return std::numeric_limits<C>::max();
        return static_cast<T>(v);
    } else {
        return fromCompute<T>(static_cast<ComputeT<T>>(v));
    }
}

}  // namespace kiln::cpu
