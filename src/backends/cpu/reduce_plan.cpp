#include "backends/cpu/reduce_plan.h"

#include <string>

namespace kiln::cpu {

namespace {

//! All offsets sum(idx[i] * strides[i]) over the index space of `dims`, row-major.
std::vector<int64_t> enumerateOffsets(const std::vector<int64_t>& dims, const std::vector<int64_t>& strides) {
    int64_t count = 1;
    for (int64_t d : dims) count *= d;
    std::vector<int64_t> offsets;
    offsets.reserve(static_cast<size_t>(count));
    if (count == 0) return offsets;
    std::vector<int64_t> idx(dims.size(), 0);
    int64_t offset = 0;
    for (int64_t n = 0; n < count; ++n) {
        offsets.push_back(offset);
        for (size_t k = dims.size(); k-- > 0;) {
            if (++idx[k] < dims[k]) {
                offset += strides[k];
                break;
            }
            offset -= strides[k] * (dims[k] - 1);
            idx[k] = 0;
        }
    }
    return offsets;
}

}  // namespace

std::vector<int64_t> rowMajorStrides(const Shape& shape) {
    std::vector<int64_t> strides(shape.size(), 1);
    for (size_t i = shape.size(); i-- > 1;) strides[i - 1] = strides[i] * shape[i];
    return strides;
}

int64_t dimProduct(const Shape& shape, int64_t begin, int64_t end) {
    int64_t p = 1;
    for (int64_t i = begin; i < end; ++i) p *= shape[static_cast<size_t>(i)];
    return p;
}

Result<std::vector<int64_t>> reduceAxes(const Tensor* axesInput, const ir::Attributes& attrs) {
    if (axesInput != nullptr) {
        const Tensor& axes = *axesInput;
        if (axes.dtype() != DataType::kInt64 && axes.dtype() != DataType::kInt32) {
            return invalidArgument(std::string("input 1 'axes' must be int64, got ") + dataTypeName(axes.dtype()));
        }
        if (axes.rank() > 1)
            return invalidArgument("input 1 'axes' must be 1-D, got shape " + shapeToString(axes.shape()));
        return axes.toInt64Vector();
    }
    return attrs.getInts("axes").value_or(std::vector<int64_t>{});
}

Result<std::vector<bool>> axesToFlags(const std::vector<int64_t>& axes, int64_t rank, const char* what) {
    std::vector<bool> flags(static_cast<size_t>(rank), false);
    for (int64_t a : axes) {
        if (a < -rank || a >= rank) {
            return invalidArgument(std::string(what) + " value " + std::to_string(a) + " is out of range for rank " +
                                   std::to_string(rank));
        }
        const auto k = static_cast<size_t>(a < 0 ? a + rank : a);
        if (flags[k]) return invalidArgument(std::string(what) + " repeats axis " + std::to_string(k));
        flags[k] = true;
    }
    return flags;
}

Result<ReducePlan> makeReducePlan(const Shape& shape, const std::vector<bool>& reduced, bool keepdims) {
    if (reduced.size() != shape.size()) return internalError("reduce plan: axis flags do not match the rank");
    const std::vector<int64_t> strides = rowMajorStrides(shape);
    std::vector<int64_t> keptDims, keptStrides, redDims, redStrides;
    ReducePlan plan;
    for (size_t i = 0; i < shape.size(); ++i) {
        if (reduced[i]) {
            redDims.push_back(shape[i]);
            redStrides.push_back(strides[i]);
            if (keepdims) plan.outShape.push_back(1);
        } else {
            keptDims.push_back(shape[i]);
            keptStrides.push_back(strides[i]);
            plan.outShape.push_back(shape[i]);
        }
    }
    plan.outerOffsets = enumerateOffsets(keptDims, keptStrides);
    plan.innerOffsets = enumerateOffsets(redDims, redStrides);
    return plan;
}

}  // namespace kiln::cpu
