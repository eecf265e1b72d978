// LayerNormalization over contiguous rows, with an optional residual added first (kiln FusedAddLayerNorm): the
// fast path of the normalization family's LayerNormalization for float32/float16/bfloat16 rows whose Scale and B
// have the data's dtype. Plain C++17 launcher declaration (kernels in layer_norm_rows.cu).
#pragma once

#include <cuda_runtime.h>

#include <cstdint>

#include "kiln/dtype.h"

namespace kiln::cuda {

//! y[r, i] = (v[r, i] - mean_r) / sqrt(var_r + epsilon) * scale[i] + bias[i], where v = x + residual (residual
//! optional) and mean_r / var_r are the population statistics of row r, all accumulated in float. Every pointer
//! holds `dtype` data; x, residual and y are rows x cols, packed.
struct RowLayerNormArgs {
    const void* x = nullptr;
    const void* residual = nullptr;  //!< Optional.
    const void* scale = nullptr;     //!< cols elements.
    const void* bias = nullptr;      //!< Optional, cols elements.
    void* y = nullptr;
    int64_t rows = 0;
    int64_t cols = 0;
    float epsilon = 1e-5f;
};

//! Whether launchRowLayerNorm takes `dtype` (float32, float16, bfloat16).
bool rowLayerNormSupports(DataType dtype);

//! One warp per row. Rows of up to 1024 elements stay in registers (one read of each input, one write; 8-byte
//! loads of four 16-bit values where cols % 4 == 0 and the pointers allow); longer rows are read three times.
//! Enqueued on `stream`; nothing for rows == 0 or cols == 0.
cudaError_t launchRowLayerNorm(DataType dtype, const RowLayerNormArgs& args, cudaStream_t stream);

}  // namespace kiln::cuda
