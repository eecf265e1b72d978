// Launchers of the data-movement kernels (data_movement.cu, tensor_fill.cu). They move elements as 1/2/4/8-byte
// words (wider where the layout allows) without looking at values, so one launcher serves every dtype. Sizes and
// offsets are in elements; every launch goes on `stream`; an empty problem launches nothing.
#pragma once

#include <cuda_runtime.h>

#include <cstdint>
#include <vector>

#include "kiln/dtype.h"

namespace kiln::cuda {

//! How one output dim of a strided gather maps its coordinate to a source coordinate.
enum class DimMap : int32_t {
    kLinear = 0,       //!< The output coordinate itself (starts and steps are folded into base and stride).
    kPadConstant = 1,  //!< coordinate - padBegin; outside [0, srcDim) the element is the fill value.
    kPadEdge = 2,      //!< coordinate - padBegin clamped into [0, srcDim).
    kPadReflect = 3,   //!< coordinate - padBegin reflected into [0, srcDim) without repeating the edge.
};

struct GatherDim {
    int64_t outDim = 1;
    int64_t stride = 0;  //!< Source elements per unit of the source coordinate (0 broadcasts, < 0 walks back).
    DimMap map = DimMap::kLinear;
    int64_t srcDim = 0;    //!< Pad maps only.
    int64_t padBegin = 0;  //!< Pad maps only.
};

//! dst[o] = src[base + sum_d srcCoord_d(o_d) * stride_d] for every output coordinate o (row-major, dims[0]
//! outermost), or `fill` (one element; null for zeros) where a kPadConstant dim falls outside its source. Merges
//! dims, widens elements to 16-byte words where the layout allows, and uses a shared-memory tiled kernel when the
//! copy is a transpose that moves the innermost dim. Any rank (past 8 merged dims it loops on the host).
cudaError_t launchStridedGather(const void* src, void* dst, size_t elemBytes, int64_t base, std::vector<GatherDim> dims,
                                const void* fill, cudaStream_t stream);

//! `rows` rows of `rowElems` elements copied from a layout with row pitch `srcPitch` to one with `dstPitch`.
struct CopyPart {
    const void* src = nullptr;
    void* dst = nullptr;
    int64_t rows = 0;
    int64_t rowElems = 0;
    int64_t srcPitch = 0;
    int64_t dstPitch = 0;
};
//! Copies every part (Concat's inputs, Split's outputs, Compress's runs), up to 32 parts per launch.
cudaError_t launchBatchedCopy(const std::vector<CopyPart>& parts, size_t elemBytes, cudaStream_t stream);

//! One input of launchConcat: its rows of `rowElems` contiguous elements (0: the input is empty).
struct ConcatInput {
    const void* src = nullptr;
    int64_t rowElems = 0;
};
//! Concat as `rows` output rows, each the inputs' rows side by side in order (dst's rows hold the sum of rowElems;
//! the concatenation axis and the dims after it make a row, the dims before it count the rows). In one launch over
//! 16-byte words in output order where concatVectorized says so, else launchBatchedCopy input by input.
cudaError_t launchConcat(const std::vector<ConcatInput>& inputs, void* dst, int64_t rows, size_t elemBytes,
                         cudaStream_t stream);
//! Whether launchConcat takes the output-ordered kernel: at most 32 non-empty inputs, each row a multiple of 16
//! bytes, every non-empty input and dst 16-byte aligned.
bool concatVectorized(const std::vector<ConcatInput>& inputs, const void* dst, size_t elemBytes);

//! Fills `count` elements with the `elemBytes`-byte `value` (null: zeros).
cudaError_t launchFill(void* dst, int64_t count, const void* value, size_t elemBytes, cudaStream_t stream);

//! Trilu over `matrices` row-major rows x cols matrices: keeps columns j >= i + k (upper) or j <= i + k (lower) of
//! row i and zeros the rest.
cudaError_t launchTrilu(const void* src, void* dst, int64_t matrices, int64_t rows, int64_t cols, int64_t k, bool upper,
                        size_t elemBytes, cudaStream_t stream);

//! EyeLike: a rows x cols matrix of zeros with the `one` element (elemBytes bytes) at (i, i + k).
cudaError_t launchEyeLike(void* dst, int64_t rows, int64_t cols, int64_t k, const void* one, size_t elemBytes,
                          cudaStream_t stream);

//! Range: value i is start + i * delta, in double for float32/float64 and in int64 for int16/int32/int64.
cudaError_t launchRange(void* dst, DataType type, int64_t count, double startF, double deltaF, int64_t startI,
                        int64_t deltaI, cudaStream_t stream);

//! OneHot: numeric indices [outer, inner] of `indexType` → dst [outer, depth, inner], `on` where the (wrapped,
//! truncated) index equals the depth coordinate and `off` elsewhere; out-of-range indices give an all-off row.
cudaError_t launchOneHot(const void* indices, DataType indexType, void* dst, int64_t outer, int64_t depth,
                         int64_t inner, const void* off, const void* on, size_t elemBytes, cudaStream_t stream);

}  // namespace kiln::cuda
