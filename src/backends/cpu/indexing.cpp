#include "backends/cpu/indexing.h"

namespace kiln::cpu {

int64_t dimProduct(const Shape& shape, size_t begin, size_t end) {
    int64_t p = 1;
    for (size_t i = begin; i < end && i < shape.size(); ++i) p *= shape[i];
    return p;
}

Result<std::vector<int64_t>> readIndexTensor(const Tensor& t, const std::string& what) {
    if (t.dtype() != DataType::kInt32 && t.dtype() != DataType::kInt64) {
        return invalidArgument(what + " must be int32 or int64, got " + dataTypeName(t.dtype()));
    }
    std::vector<int64_t> out(static_cast<size_t>(t.numel()));
    if (t.dtype() == DataType::kInt64) {
        for (size_t i = 0; i < out.size(); ++i) out[i] = t.data<int64_t>()[i];
    } else {
        for (size_t i = 0; i < out.size(); ++i) out[i] = t.data<int32_t>()[i];
    }
    return out;
}

Result<int64_t> wrapIndex(int64_t i, int64_t dim, const std::string& what, int64_t axis) {
    if (i < -dim || i >= dim) {
        return invalidArgument(what + " holds index " + std::to_string(i) + ", out of range [" + std::to_string(-dim) +
                               ", " + std::to_string(dim - 1) + "] for axis " + std::to_string(axis) + " of size " +
                               std::to_string(dim));
    }
    return i < 0 ? i + dim : i;
}

Status requireFixedSizeDtype(const Tensor& t, const std::string& what) {
    if (t.dtype() == DataType::kString) return unsupported(what + " of dtype string is not supported");
    if (dataTypeSize(t.dtype()) == 0) {
        return invalidArgument(what + " has unsupported dtype " + dataTypeName(t.dtype()));
    }
    return Status::ok();
}

Result<int64_t> readScalarInt(const Tensor& t, const std::string& what) {
    if (!isInteger(t.dtype())) {
        return invalidArgument(what + " must be an integer tensor, got " + dataTypeName(t.dtype()));
    }
    if (t.numel() != 1 || t.rank() > 1) {
        return invalidArgument(what + " must be a scalar or 1-element tensor, got shape " + shapeToString(t.shape()));
    }
    return t.getInt(0);
}

}  // namespace kiln::cpu
