// ConvTransposeNhwc fused into the channels-last Concat that read it (attribute `kiln_concat_slot`, made by
// src/passes/convtranspose_concat_fusion.cpp; semantics in backends/cpu/kernels/layout.cpp): the output
// [N, OH, OW, Ctot] is allocated once, the Concat's other inputs are copied into their channel slices (one batched
// strided copy), and the ConvTranspose's GEMMs write its result straight into its own slice
// (conv_transpose_gemm.h's convTransposeGemmSlice). Issue 7: UNet's Concat re-read and re-wrote every up-sampled
// tensor. When the slice path cannot run (taps that overlap, an unaligned slot, no cuBLASLt algorithm), the
// ConvTranspose is computed alone into workspace and copied into its slice: the unfused cost, never a wrong answer.
#pragma once

#include <cstdint>
#include <functional>

#include "backends/cuda/kernels/conv_shape.h"

namespace kiln::cuda {

//! Computes the ConvTranspose alone into a [N, OH, OW, M] tensor (the unfused kernel's paths).
using UnfusedConvTranspose = std::function<Status(DeviceTensor& y)>;

//! Output 0 = Concat(inputs 3..., with the ConvTranspose `s` (x, w, bias) inserted at position `slot`, axis = 3).
//! Checks the concatenated inputs (4-D, the result's dtype, N, OH and OW) and the slot with the CPU reference's
//! messages.
Status convTransposeConcat(CudaKernelContext& ctx, const ConvShape& s, const DeviceTensor& x, const DeviceTensor& w,
                           const DeviceTensor* bias, int64_t slot, const UnfusedConvTranspose& unfused);

//! Fused nodes in this process whose ConvTranspose took the workspace-and-copy fallback (tests check which path ran).
uint64_t convTransposeConcatFallbacks();

}  // namespace kiln::cuda
