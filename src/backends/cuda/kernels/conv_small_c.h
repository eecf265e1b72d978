// Kiln's tensor-core convolution for few input channels (issue 7): the first convolution of image networks reads
// 3 channels, a shape cuDNN's channels-last FP16 kernels serve at a third of the copy bandwidth (UNet's 3->64 3x3
// at 512x512, ResNet-50's 7x7 stride-2 stem). Launcher declarations, plain C++17; kernels in conv_small_c.cu.
//
// y [N, OH, OW, M] = act(conv(x [N, H, W, C], w [M, kH, kW, C]) + bias [+ z]), channels-last, float16 or bfloat16,
// float32 accumulation; bias (optional, M values) and the residual z (optional, y's shape) are added in float32,
// then ReLU (optional), then one rounding to the dtype. An implicit GEMM: rows are output pixels, K = kH * kW * C
// (zero-padded to a multiple of 16), columns the M output channels; the input positions outside x (any padding,
// including a bottom / right padding that differs from the top / left one) read zero.
#pragma once

#include <cuda_runtime.h>

#include <cstdint>

#include "kiln/dtype.h"

namespace kiln::cuda {

//! One problem of launchSmallChannelConv. Dims are plain ints: smallChannelConvSupports checks that every tensor's
//! element count fits 31 bits.
struct SmallChannelConvParams {
    DataType dtype = DataType::kFloat16;  //!< kFloat16 or kBFloat16, every operand.
    const void* x = nullptr;              //!< [batch, inH, inW, channels]
    const void* w = nullptr;              //!< [outChannels, kernelH, kernelW, channels] (KRSC)
    const void* bias = nullptr;           //!< [outChannels] or null
    const void* z = nullptr;              //!< [batch, outH, outW, outChannels] or null (16-byte aligned)
    void* y = nullptr;                    //!< [batch, outH, outW, outChannels] (16-byte aligned)
    int batch = 0, inH = 0, inW = 0, channels = 0, outChannels = 0;
    int kernelH = 1, kernelW = 1, strideH = 1, strideW = 1;
    int padTop = 0, padLeft = 0;  //!< The bottom / right padding is whatever outH / outW imply.
    int outH = 0, outW = 0;
    bool relu = false;
};

//! The most input channels the kernel takes.
inline constexpr int kSmallConvMaxChannels = 4;
//! The most output channels (a multiple of 8).
inline constexpr int kSmallConvMaxOutChannels = 64;
//! The most K = kH * kW * C after padding to a multiple of 16.
inline constexpr int kSmallConvMaxK = 256;

//! Whether the kernel takes the problem's geometry and dtype (pointers aside): float16 / bfloat16, 1 <= channels
//! <= 4, outChannels a multiple of 8 up to 64, K padded <= 256, strides >= 1, pads >= 0, sizes that fit, and a
//! tile whose input patch fits shared memory. Host only.
bool smallChannelConvSupports(const SmallChannelConvParams& p);

//! Enqueues the convolution on `stream`. cudaErrorInvalidValue when smallChannelConvSupports refuses the problem
//! or y / z are not 16-byte aligned; an empty output launches nothing.
cudaError_t launchSmallChannelConv(const SmallChannelConvParams& p, cudaStream_t stream);

}  // namespace kiln::cuda
