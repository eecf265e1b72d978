// Launcher of kiln TransposeCast's kernels (transpose_cast.cu): a batched 2-D transpose that converts the element
// type on the way, in one pass over memory. Covers the channels-last edges: NCHW → NHWC is [N, C, H·W] →
// [N, H·W, C], NHWC → NCHW is [N, H·W, C] → [N, C, H·W]. Pointers are device memory; every launch goes on `stream`;
// an empty problem launches nothing.
#pragma once

#include <cuda_runtime.h>

#include <cstdint>

#include "kiln/dtype.h"

namespace kiln::cuda {

//! Whether launchTransposeCast converts `from` → `to`: float32, float16 and bfloat16, any pair.
bool transposeCastConverts(DataType from, DataType to);

//! dst[b, s, r] = convert(src[b, r, s]) for b < batches, r < rows, s < cols (src [batches, rows, cols], dst
//! [batches, cols, rows], both contiguous), with Cast's rounding (to nearest even). Few rows (channels going last) or
//! few columns (channels coming first) take a vectorized kernel that moves whole pixels per thread; other shapes
//! 32x32 tiles through shared memory. cudaErrorInvalidValue for dtypes transposeCastConverts refuses.
cudaError_t launchTransposeCast(const void* src, DataType from, void* dst, DataType to, int64_t batches, int64_t rows,
                                int64_t cols, cudaStream_t stream);

}  // namespace kiln::cuda
