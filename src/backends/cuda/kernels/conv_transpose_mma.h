// Kiln's own kernel for a ConvTranspose whose taps do not overlap (kernel == stride, conv_transpose_gemm.h's
// conditions), on channels-last data, in one pass that reads x once (issue 7: cuBLASLt needs one GEMM per tap when
// the result goes into a Concat's slot, so x was read kH * kW times; UNet's up.3 at batch 16 spent 0.67 ms there).
//
// It is one GEMM whose rows are the input pixels (N * H * W), K = C and columns (i, j, m) = kH * kW * M: the
// weights [C, kH, kW, M] as stored are exactly the row-major B matrix C x (kH * kW * M). The epilogue adds the bias,
// rounds to the dtype and scatters each (pixel, tap) run of M channels to its output position:
//   y[n, h*kH + i, w*kW + j, offset + m] = sum_c x[n, h, w, c] * W[c, i, j, m] + bias[m]
// in rows of `outChannels` elements (M for the ConvTranspose alone, the Concat's total for its slot), never touching
// the channels outside [offset, offset + M). float16 and bfloat16 on tensor cores (mma.sync, float32 accumulation).
// Plain C++17 for nvcc and the host code alike.
#pragma once

#include <cuda_runtime.h>

#include <cstdint>

#include "backends/cuda/kernels/aligned.h"
#include "kiln/dtype.h"

namespace kiln::cuda {

//! One problem. Sizes are the ConvTranspose's: input [batch, h, w, c], weights [c, kH, kW, m], out [batch, h * kH,
//! w * kW, outChannels] of which channels [offset, offset + m) are written.
struct ConvTransposeMmaParams {
    const void* input = nullptr;    //!< x
    const void* weights = nullptr;  //!< W
    const void* bias = nullptr;     //!< m values of the dtype, or null.
    void* out = nullptr;            //!< The output's first element (channel 0 of pixel 0, not of the slot).
    int64_t batch = 0, h = 0, w = 0, c = 0, m = 0, kH = 1, kW = 1, outChannels = 0, offset = 0;
};

//! Rows (input pixels) and columns ((i, j, m) triples) of one CTA's tile.
inline constexpr int64_t kConvTransposeMmaTileRows = 128;
inline constexpr int64_t kConvTransposeMmaTileCols = 128;

//! Whether the kernel takes `p`: float16 or bfloat16; c, m, outChannels and offset multiples of 8 (16-byte rows of
//! x, W and the slot) with c, m > 0 and offset + m <= outChannels; x, w and out 16-byte aligned; kH, kW >= 1; sizes
//! whose grid and column count fit the kernel's int indices. Host only.
inline bool convTransposeMmaSupports(DataType dtype, const ConvTransposeMmaParams& p) {
    if (dtype != DataType::kFloat16 && dtype != DataType::kBFloat16) return false;
    if (!aligned16(p.input) || !aligned16(p.weights) || !aligned16(p.out)) return false;
    if (p.c <= 0 || p.m <= 0 || p.c % 8 || p.m % 8 || p.outChannels % 8 || p.offset % 8) return false;
    if (p.offset < 0 || p.offset + p.m > p.outChannels || p.kH < 1 || p.kW < 1) return false;
    if (p.batch < 0 || p.h < 0 || p.w < 0 || p.c > INT32_MAX || p.kH * p.kW > INT32_MAX / p.m) return false;
    const int64_t cols = p.kH * p.kW * p.m;
    const int64_t colTiles = (cols + kConvTransposeMmaTileCols - 1) / kConvTransposeMmaTileCols;
    if (p.h > 0 && p.w > INT64_MAX / p.h / (p.batch > 0 ? p.batch : 1)) return false;
    const int64_t rowTiles = (p.batch * p.h * p.w + kConvTransposeMmaTileRows - 1) / kConvTransposeMmaTileRows;
    return rowTiles <= INT32_MAX / colTiles;
}

//! Enqueues the kernel on `stream` (nothing for zero rows). cudaErrorInvalidValue when convTransposeMmaSupports
//! refuses `p`.
cudaError_t launchConvTransposeMma(DataType dtype, const ConvTransposeMmaParams& p, cudaStream_t stream);

}  // namespace kiln::cuda
