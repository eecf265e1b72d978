// The geometry of a convolution on the GPU, shared by the NCHW kernels (conv.cpp) and the channels-last ones
// (conv_nhwc.cpp): the CPU reference's window, resolved on data-less views, and cuDNN's form of it.
#pragma once

#include "backends/cpu/nn_common.h"
#include "backends/cuda/kernel.h"
#include "backends/cuda/kernels/conv.h"
#include "backends/cuda/kernels/conv_cudnn.h"

namespace kiln::cuda {

inline constexpr int kConvSpatial = 3;

//! A validated convolution. Spatial arrays are padded at the front to 3 dims (size 1, kernel 1, no pad).
struct ConvShape {
    DataType dtype = DataType::kUndefined;
    int64_t batch = 0, inC = 0, outC = 0, group = 1;
    int64_t rank = 0;                          //!< Real spatial dims: 1 to 3.
    ConvWindow3 win;                           //!< in = X's spatial dims, out = Y's (for ConvTranspose too).
    int64_t padEnd[kConvSpatial] = {0, 0, 0};  //!< Conv only (ConvTranspose crops by padBegin; its end follows).
    Shape outShape;                            //!< [N, M, out...]
};

inline int64_t convSpatialProduct(const int64_t (&d)[kConvSpatial]) { return d[0] * d[1] * d[2]; }

//! `bias` (when present) is 1-D of `channels` values of `dtype`.
Status checkConvBias(const DeviceTensor* bias, int64_t channels, DataType dtype);
//! kUnsupported naming `op` unless `t` is a floating-point dtype.
Status checkConvFloat(DataType t, const char* op);

//! The GPU's view of a CPU reference window: `in` is always X's spatial dims and `out` Y's (the CPU's ConvTranspose
//! window, col2im's view, has them the other way round).
ConvShape convShapeFrom(DataType dtype, const cpu::nn::ConvGeometry& geo);
ConvShape convShapeFrom(DataType dtype, const cpu::nn::ConvTransposeGeometry& geo);

//! cuDNN's form of a forward convolution from `inSpatial` (with symmetric `pad`) to `outSpatial`, channels
//! inC → outC, in NCHW or channels-last storage. 1-D keeps a leading spatial dim of 1 (cuDNN wants 4-D at least).
//! kUnsupported beyond 32-bit sizes.
Result<CudnnConvProblem> cudnnProblem(const ConvShape& s, int64_t convInC, int64_t convOutC,
                                      const int64_t (&inSpatial)[kConvSpatial],
                                      const int64_t (&outSpatial)[kConvSpatial], const int64_t (&pad)[kConvSpatial],
                                      bool channelsLast = false);

//! cuDNN's legacy API pads symmetrically: by `sym` = min(begin, end) per dim; an explicit zero `border` at the start
//! (and the rest at the end) turns the input into one of spatial dims `padded` when the pads differ.
struct SymmetricPads {
    int64_t sym[kConvSpatial] = {0, 0, 0};
    int64_t border[kConvSpatial] = {0, 0, 0};
    int64_t padded[kConvSpatial] = {1, 1, 1};
    bool explicitBorder = false;
};
SymmetricPads planSymmetricPads(const ConvShape& s);

//! How cuDNN's backward data computes a ConvTranspose: `exact` when it writes Y directly (the forward geometry of Y
//! with pad padBegin gives back X); otherwise into a buffer of spatial dims `full` with the symmetric `pad`, whose
//! position o - shift is Y's position o (zeros where output_padding / output_shape reach past it).
struct TransposedConvPlan {
    bool exact = true;
    int64_t pad[kConvSpatial] = {0, 0, 0};
    int64_t full[kConvSpatial] = {1, 1, 1};
    int64_t shift[kConvSpatial] = {0, 0, 0};
};
TransposedConvPlan planTransposedConv(const ConvShape& s);

//! Workspace for the input with the explicit zero border of `pads` (s.batch * s.inC planes of pads.padded);
//! adds its bytes to `used`. kUnsupported beyond the workspace limit.
Result<void*> borderedInputBuffer(CudaKernelContext& ctx, const ConvShape& s, const SymmetricPads& pads, size_t& used);

//! Scratch for `elements` of `dtype` within the workspace limit; kUnsupported when it does not fit (the caller then
//! takes a path that needs less).
Result<void*> scratchBuffer(CudaKernelContext& ctx, DataType dtype, int64_t elements);

}  // namespace kiln::cuda
