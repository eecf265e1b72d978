// Helpers shared by the indexing kernels (gather/scatter, top-k, resize, detection).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "backends/cpu/broadcast.h"  // stridesOf
#include "backends/cpu/kernel.h"

namespace kiln::cpu {

//! Product of shape[begin, end).
int64_t dimProduct(const Shape& shape, size_t begin, size_t end);

//! Reads an index tensor that must be int32 or int64 (`what` names it, e.g. "input 1 'indices'").
Result<std::vector<int64_t>> readIndexTensor(const Tensor& t, const std::string& what);

//! Maps index `i` in [-dim, dim) to [0, dim); fails naming `what` (the index tensor) and the axis.
Result<int64_t> wrapIndex(int64_t i, int64_t dim, const std::string& what, int64_t axis);

//! Fails unless the tensor's dtype is a fixed-size element type (everything but string/undefined).
Status requireFixedSizeDtype(const Tensor& t, const std::string& what);

//! Reads a scalar or single-element tensor as int64 (any integer dtype).
Result<int64_t> readScalarInt(const Tensor& t, const std::string& what);

}  // namespace kiln::cpu
