// Dtype-agnostic element copying for the shape and data-movement kernels (Transpose, Slice, Pad, Tile, ...).
//
// These ops never look at values, so they are written once over element storage: fixed-size dtypes move as
// 1/2/4/8-byte words, strings as std::string copies. Most of them are a gather where each output coordinate
// along each dim maps independently to a source offset; `gatherByDimOffsets` runs that pattern.
#pragma once

#include <cstdint>
#include <vector>

#include "kiln/status.h"
#include "kiln/tensor.h"

namespace kiln::cpu {

//! Fails unless the dtype can be copied element-wise (any defined dtype; strings included).
Status requireCopyable(const Tensor& t, const char* what);

//! Copies `count` elements src[srcIndex...] → dst[dstIndex...]; same dtype.
void copyElements(const Tensor& src, int64_t srcIndex, Tensor& dst, int64_t dstIndex, int64_t count);

//! Per-output-dim source offsets: offsets[d][i] is the source offset (in elements) contributed by output
//! coordinate i along dim d; kFillOffset marks coordinates that take the fill value instead (padding).
using DimOffsets = std::vector<std::vector<int64_t>>;
inline constexpr int64_t kFillOffset = INT64_MIN;

//! dst[o] = src[base + sum_d offsets[d][o_d]] for every output coordinate o, or fill[0] where any offsets[d][o_d]
//! is kFillOffset (fill may be null: zero / empty string). dst must be allocated with dims offsets[d].size().
void gatherByDimOffsets(const Tensor& src, int64_t base, const DimOffsets& offsets, Tensor& dst,
                        const Tensor* fill = nullptr);

//! Offsets that read `src` (of `srcShape`) permuted: output dim d walks source dim perm[d].
DimOffsets transposeOffsets(const Shape& srcShape, const std::vector<int64_t>& perm);

//! `t` permuted (a new tensor): output dim d is t's dim perm[d]. `perm` must be a permutation of t's dims.
Result<Tensor> transposed(const Tensor& t, const std::vector<int64_t>& perm);

//! Fails unless `t` is a 1-D (or scalar) int32/int64 tensor, naming `what`; reads only its dtype and shape.
Status checkIndexVector(const Tensor& t, const char* what);
//! Reads a 1-D (or scalar) int32/int64 tensor as int64 values; fails naming `what`.
Result<std::vector<int64_t>> readIndexVector(const Tensor& t, const char* what);
//! Reads a scalar or 1-element int32/int64 tensor.
Result<int64_t> readIndexScalar(const Tensor& t, const char* what);

}  // namespace kiln::cpu
