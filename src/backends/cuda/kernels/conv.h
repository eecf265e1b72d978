// Kiln's own convolution kernels, for what cuDNN does not cover: the shifted copy that pads a Conv input for
// asymmetric pads (and crops a ConvTranspose result), and direct convolutions for float64 and as the fallback when
// cuDNN has no algorithm for a problem. Plain C++17 for nvcc and the host code alike.
#pragma once

#include <cuda_runtime.h>

#include <cstdint>

#include "kiln/dtype.h"

namespace kiln::cuda {

//! A convolution window over 3 spatial dims (1-D and 2-D problems have leading dims of size 1, kernel 1, stride 1).
struct ConvWindow3 {
    int64_t in[3] = {1, 1, 1};      //!< Spatial dims of the op's input X.
    int64_t out[3] = {1, 1, 1};     //!< Spatial dims of the op's output Y.
    int64_t kernel[3] = {1, 1, 1};  //!< W's spatial dims.
    int64_t stride[3] = {1, 1, 1};
    int64_t dilation[3] = {1, 1, 1};
    int64_t padBegin[3] = {0, 0, 0};
};

//! For `planes` planes of dims `in`: y[p][o] = x[p][o - offset] where that is inside `in`, else 0; y has dims
//! `out`. A positive offset pads at the start, a negative one crops.
cudaError_t launchShiftCopy(DataType dtype, const void* x, int64_t planes, const int64_t in[3], const int64_t offset[3],
                            const int64_t out[3], void* y, cudaStream_t stream);

//! Direct convolution without bias, x [N, C, in] → y [N, M, out] (positions outside x read 0):
//!   Conv:          w [M, C/group, kernel], y[o] = sum x[o * stride - padBegin + k * dilation] * w[k];
//!   ConvTranspose: w [C, M/group, kernel], y[i * stride - padBegin + k * dilation] += x[i] * w[k].
cudaError_t launchDirectConv(DataType dtype, bool transposed, const void* x, const void* w, void* y, int64_t batch,
                             int64_t inC, int64_t outC, int64_t group, const ConvWindow3& win, cudaStream_t stream);

}  // namespace kiln::cuda
