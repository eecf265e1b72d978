// Launchers of the normalization family (C++17 declarations; kernels in normalization.cu). Statistics and
// parameters live in an accumulation type: float, or double (`accDouble`) when any tensor involved is float64.
// Each launcher enqueues on `stream` and returns the launch status; empty problems launch nothing.
#pragma once

#include <cuda_runtime.h>

#include <cstdint>

#include "backends/cuda/kernels/reduction_common.h"
#include "kiln/dtype.h"

namespace kiln::cuda {

//! dst[i] = src[index.offset(i)] for i < count, converted from `srcType` (a float type) to the accumulation
//! type: parameter tensors of any float dtype, broadcast where `index` has zero strides.
cudaError_t launchToAcc(DataType srcType, const void* src, bool accDouble, void* dst, int64_t count,
                        const DimIndexer& index, cudaStream_t stream);

//! dst[i] = src[i] converted from the accumulation type to `dstType` (a float type).
cudaError_t launchFromAcc(bool accDouble, const void* src, DataType dstType, void* dst, int64_t count,
                          cudaStream_t stream);

//! out[i] = a[i] * momentum + b[i] * (1 - momentum), all in the accumulation type (running statistics).
cudaError_t launchBlend(bool accDouble, const void* a, const void* b, void* out, int64_t count, double momentum,
                        cudaStream_t stream);

enum class NormKind {
    kInstance,      //!< y = scale[o % channels] * (x - mean) * invStd + bias[o % channels]
    kLayer,         //!< y = (x - mean) * invStd * scale[r] + bias[r]; optional mean/invStd outputs
    kMeanVariance,  //!< y = (x - mean) / (sqrt(var) + 1e-9)
    kBatchStats,    //!< no y: mean[o] and (population) var[o] only
    kLp1,           //!< y = x / sum|x| (0 where the norm is 0)
    kLp2,           //!< y = x / sqrt(sum x^2) (0 where the norm is 0)
};

//! One normalization over the segments of a ReduceGeometry: segment o is x[kept(o) + reduced(r)], and y has
//! x's layout. Pointers other than x/y are accumulation-type device arrays.
struct NormArgs {
    ReduceGeometry g;
    double epsilon = 0;
    int64_t channels = 1;         //!< kInstance: the parameter index is o % channels.
    const void* scale = nullptr;  //!< kInstance: per channel; kLayer: per position r.
    const void* bias = nullptr;   //!< Likewise.
    void* mean = nullptr;         //!< kLayer (optional), kBatchStats: one per segment.
    void* spread = nullptr;       //!< kLayer (optional): 1 / sqrt(var + epsilon); kBatchStats: var.
};

cudaError_t launchNormalize(NormKind kind, DataType type, bool accDouble, const void* x, void* y, const NormArgs& args,
                            cudaStream_t stream);

//! BatchNormalization's affine map: parameter k = (i / stride) % period of each flat index i;
//! y = scale[k] * (x - mean[k]) / sqrt(var[k] + epsilon) + bias[k].
struct BatchNormArgs {
    int64_t numel = 0;
    int64_t stride = 1;
    int64_t period = 1;
    const void* scale = nullptr;
    const void* bias = nullptr;
    const void* mean = nullptr;
    const void* var = nullptr;
    double epsilon = 0;
};

cudaError_t launchBatchNorm(DataType type, bool accDouble, const void* x, void* y, const BatchNormArgs& args,
                            cudaStream_t stream);

//! LRN over the channels of x [batch, channels, spatial]: y = x / (bias + alpha / size * sum x^2)^beta, the sum
//! over channels [c - floor((size-1)/2), c + ceil((size-1)/2)] clipped to the tensor.
cudaError_t launchLrn(DataType type, const void* x, void* y, int64_t batch, int64_t channels, int64_t spatial,
                      int64_t size, double alpha, double beta, double bias, cudaStream_t stream);

}  // namespace kiln::cuda
