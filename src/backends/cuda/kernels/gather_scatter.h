// Launchers of the index-driven kernels (gather_scatter.cu): Gather, GatherElements, GatherND, ScatterElements,
// ScatterND and ReverseSequence. Index tensors are int32 or int64 in device memory; negative indices wrap; an index
// outside [-dim, dim) is flagged in `errors` (device_errors.h) with `tag`, and its element reads as zero (gathers)
// or is skipped (scatters). Sizes in elements; empty problems launch nothing.
#pragma once

#include <cuda_runtime.h>

#include <cstdint>

#include "backends/cuda/kernels/device_errors.h"
#include "kiln/dtype.h"

namespace kiln::cuda {

inline constexpr int kMaxIndexDims = 8;

//! Where index values come from and where their errors go.
struct IndexInput {
    const void* data = nullptr;
    bool is64 = true;  //!< int64, else int32
    DeviceErrorRecord* errors = nullptr;
    uint64_t tag = 0;
};

//! Gather on data viewed as [outer, axisDim, inner]: dst[o, j, i] = src[o, indices[j], i] for `numIndices` indices.
cudaError_t launchGather(const void* src, void* dst, size_t elemBytes, int64_t outer, int64_t axisDim, int64_t inner,
                         const IndexInput& indices, int64_t numIndices, int32_t axis, cudaStream_t stream);

//! GatherElements / ScatterElements: positions of the indices tensor (dims `indexDim`, rank <= kMaxIndexDims after
//! merging) address data element sum_d coord_d * dataStride_d, with the axis coordinate replaced by the index.
struct ElementsGeometry {
    int32_t rank = 0;
    int32_t axis = 0;      //!< In the merged dims.
    int32_t dataAxis = 0;  //!< In the data's own dims (for error messages).
    int64_t indexDim[kMaxIndexDims] = {};
    int64_t dataStride[kMaxIndexDims] = {};
    int64_t axisDim = 0;
};
cudaError_t launchGatherElements(const void* src, void* dst, size_t elemBytes, const ElementsGeometry& g,
                                 const IndexInput& indices, cudaStream_t stream);

//! GatherND / ScatterND: each index tuple of `k` values addresses data dims [firstAxis, firstAxis + k) of one batch
//! slab; a slice of `slice` contiguous elements follows it.
struct TupleGeometry {
    int32_t k = 0;
    int32_t firstAxis = 0;
    int64_t dim[kMaxIndexDims] = {};
    int64_t stride[kMaxIndexDims] = {};  //!< In slices (the data stride of the dim divided by `slice`).
    int64_t slice = 1;
    int64_t perBatch = 1;  //!< Tuples per batch slab (GatherND's batch_dims).
    int64_t slab = 0;      //!< Elements per batch slab.
};
//! Output tuple t reads slab t / perBatch; numTuples tuples.
cudaError_t launchGatherND(const void* src, void* dst, size_t elemBytes, const TupleGeometry& g,
                           const IndexInput& indices, int64_t numTuples, cudaStream_t stream);

enum class ScatterOp : int32_t { kNone, kAdd, kMul, kMax, kMin };

//! out (already a copy of data) combined with updates (shape of indices) at the addressed elements. With kNone and
//! duplicate indices the winner is unspecified (ONNX leaves it undefined); reductions apply atomically in float
//! for float16/bfloat16 and in the type itself otherwise, as the reference does.
cudaError_t launchScatterElements(void* out, const void* updates, DataType type, const ElementsGeometry& g,
                                  const IndexInput& indices, ScatterOp op, cudaStream_t stream);
cudaError_t launchScatterND(void* out, const void* updates, DataType type, const TupleGeometry& g,
                            const IndexInput& indices, int64_t numTuples, ScatterOp op, cudaStream_t stream);

//! ReverseSequence on x viewed as [d0, d1, block] (dims 0 and 1 are batch and time in the order `batchFirst` says):
//! the first lens[b] time steps of batch b reversed, the rest copied. `lens` (int32/int64) are flagged when outside
//! [0, time].
cudaError_t launchReverseSequence(const void* src, void* dst, size_t elemBytes, int64_t d0, int64_t d1, int64_t block,
                                  bool batchFirst, const IndexInput& lens, cudaStream_t stream);

}  // namespace kiln::cuda
