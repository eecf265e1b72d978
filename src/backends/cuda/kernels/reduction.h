// Launchers of the reduction family (C++17 declarations; kernels in reduction*.cu). Each enqueues its work on
// `stream` and returns the launch status; dtypes are validated by the caller (cudaErrorInvalidValue otherwise).
// Pointers are device pointers; empty problems launch nothing.
#pragma once

#include <cuda_runtime.h>

#include <cstddef>
#include <cstdint>

#include "backends/cuda/kernels/reduction_common.h"
#include "kiln/dtype.h"

namespace kiln::cuda {

enum class ReduceOp { kSum, kMean, kMax, kMin, kProd, kL1, kL2, kLogSum, kLogSumExp, kSumSquare };

//! Workspace bytes launchReduce needs (LogSumExp keeps each output's maximum between its two passes).
size_t reduceWorkspaceBytes(ReduceOp op, DataType type, const ReduceGeometry& g);

//! y[o] = op over x[base(o) + offset(r)]; y has x's dtype (any numeric type).
cudaError_t launchReduce(ReduceOp op, DataType type, const void* x, void* y, const ReduceGeometry& g, void* workspace,
                         cudaStream_t stream);

//! y[o] = position r of the largest (isMax) or smallest element; the first NaN wins; ties go to the first
//! position, or the last with selectLast.
cudaError_t launchArgReduce(bool isMax, bool selectLast, DataType type, const void* x, int64_t* y,
                            const ReduceGeometry& g, cudaStream_t stream);

enum class SoftmaxOp { kSoftmax, kLogSoftmax, kHardmax };

//! Normalizes each of the outer * inner rows of n elements (element k of row (o, i) at (o * n + k) * inner + i).
cudaError_t launchSoftmax(SoftmaxOp op, DataType type, const void* x, void* y, int64_t outer, int64_t n, int64_t inner,
                          cudaStream_t stream);

//! Prefix sums along the rows of the same [outer, n, inner] layout, accumulated exactly as the CPU does.
cudaError_t launchCumSum(DataType type, const void* x, void* y, int64_t outer, int64_t n, int64_t inner, bool exclusive,
                         bool reverse, cudaStream_t stream);

//! Rows longer than this are sorted in global memory (workspace) instead of shared memory.
constexpr int64_t kTopKSharedMaxRow = 4096;

//! Workspace bytes launchTopK needs (0 for rows that fit in shared memory).
size_t topKWorkspaceBytes(DataType type, int64_t outer, int64_t n, int64_t inner);

//! The k first elements of each row in sorted order (largest: descending with NaN first; else ascending with
//! NaN last; ties keep the lower index first) and their positions; `indices` may be null when not wanted.
cudaError_t launchTopK(DataType type, const void* x, void* values, int64_t* indices, int64_t outer, int64_t n,
                       int64_t inner, int64_t k, bool largest, void* workspace, cudaStream_t stream);

}  // namespace kiln::cuda
