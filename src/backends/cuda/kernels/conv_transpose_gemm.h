// ConvTranspose whose taps do not overlap, on channels-last data, as GEMMs whose output layout does the scatter
// (issue 7: UNet's 2x2 stride-2 up-sampling was 18% of the network through cuDNN's backward data).
//
// With kernel == stride, no crop at the start, an output of exactly in * stride (no output_padding left over),
// dilation 1 and one group, every input pixel (n, h, w) writes its own kH x kW block of outputs:
//   y[n, h*kH + i, w*kW + j, m] = sum_c x[n, h, w, c] * W[c, i, j, m] + bias[m].
// Two engines compute it:
// - Kiln's own kernel (conv_transpose_mma.h): one GEMM of rows = input pixels, K = C, columns = (i, j, m), whose
//   epilogue scatters each tap's M values into place; x is read once. It runs first for a Concat's slot where it
//   applies (float16 / bfloat16, channels in multiples of 8, 16-byte aligned operands) and C <=
//   kConvTransposeMmaMaxChannels: cuBLASLt needs one call per tap there (x read kH * kW times). Measured on the H100
//   at batch 16 (tests/cuda/conv_transpose_gemm_speed_test.cpp): UNet's up.3 slot (C = 128) 0.47 ms against
//   cuBLASLt's 0.65 ms; up.2 (C = 256) 0.33 against 0.31 ms; alone, cuBLASLt's two calls win at every level (up.3
//   0.39 against 0.46 ms), so the ConvTranspose alone always runs on cuBLASLt.
// - cuBLASLt otherwise. For tap row i it is, per batch b = (n, h), the row-major product D = A · B_i with
//     A   = x[n, h, :, :]            W x C,        lda = C,  batch stride W*C;
//     B_i = W[:, i, :, :]            C x (kW*M),   ldb = kH*kW*M (the [C, kH, kW, M] weights as they are stored);
//     D   = y[n, h*kH + i, :, :]     W x (kW*M),   ldd = kW*M, batch stride kH*OW*M,
//   so the op is kH strided-batched cuBLASLt calls (one when kH == 1: the batches then fold into the rows), with the
//   bias replicated kW times as cuBLASLt's BIAS epilogue. The taps cannot share one call: along b*kH + i, D's
//   offsets are a progression but A's and B's are not. Each call reads x once, so x is read kH times (kH * kW times
//   into a Concat's slot, below) and y written once.
#pragma once

#include <cstdint>

#include "backends/cuda/kernels/conv_shape.h"

namespace kiln::cuda {

//! The deepest input (C) for which convTransposeGemmSlice tries Kiln's kernel first: UNet's up.3 (C = 128), where
//! it beats cuBLASLt's per-tap calls by 1.4x; not up.2 (256), where it loses by 6% (H100, batch 16).
inline constexpr int64_t kConvTransposeMmaMaxChannels = 128;

//! Which engine convTransposeGemmSlice uses: kAuto as described above; kCublasLt skips Kiln's kernel (tests and
//! benchmarks compare the two with it; convTransposeMma below forces Kiln's).
enum class ConvTransposeEngine { kAuto, kCublasLt };

//! Whether the ConvTransposeNhwc `s` has non-overlapping taps and a dtype cuBLASLt multiplies (float32 in TF32
//! when the run allows it, float16, bfloat16): the conditions above. Host only.
bool convTransposeIsGemm(const ConvShape& s);

//! y [N, OH, OW, M] = ConvTranspose(x [N, H, W, C], w [C, kH, kW, M]) + bias (optional, M values) for a problem
//! convTransposeIsGemm accepts, with non-empty x and w, through cuBLASLt. kUnsupported when it cannot: the caller then
//! computes y another way (whatever was written to y is overwritten).
Status convTransposeGemm(CudaKernelContext& ctx, const ConvShape& s, const DeviceTensor& x, const DeviceTensor& w,
                         const DeviceTensor* bias, DeviceTensor& y);

//! Whether a slot of channels [offset, offset + m) in rows of `outChannels` keeps every row of the slot 16-byte
//! aligned (cuBLASLt's fast kernels want that of D's pointer and leading dimension). Host only.
bool convTransposeSliceAligned(DataType dtype, int64_t m, int64_t outChannels, int64_t offset);

//! The same product written into channels [offset, offset + M) of `out` [N, OH, OW, outChannels] (a Concat's slot:
//! the other channels are left as they are). Kiln's kernel first, as described above. In cuBLASLt the slot's M
//! columns of a row are no longer next to the row's other taps, so each tap (i, j) is its own call: kH * kW
//! strided-batched GEMMs with ldd = kW * outChannels, batch stride kH * OW * outChannels and the M bias values in the
//! epilogue. kUnsupported when convTransposeIsGemm refuses, the slot is not aligned (convTransposeSliceAligned and
//! the pointer), or cuBLASLt has no algorithm (with its bias epilogue): the caller then computes the slot another way
//! (whatever was written to it is overwritten).
Status convTransposeGemmSlice(CudaKernelContext& ctx, const ConvShape& s, const DeviceTensor& x, const DeviceTensor& w,
                              const DeviceTensor* bias, void* out, int64_t outChannels, int64_t offset,
                              ConvTransposeEngine engine = ConvTransposeEngine::kAuto);

//! Kiln's one-pass kernel alone, whatever C (tests and benchmarks force it with this): channels [offset, offset + M)
//! of `out` [N, OH, OW, outChannels], outChannels = M and offset 0 for the ConvTranspose alone. kUnsupported when
//! convTransposeIsGemm or convTransposeMmaSupports (conv_transpose_mma.h) refuses.
Status convTransposeMma(CudaKernelContext& ctx, const ConvShape& s, const DeviceTensor& x, const DeviceTensor& w,
                        const DeviceTensor* bias, void* out, int64_t outChannels, int64_t offset);

//! ConvTransposes computed by convTransposeGemm or convTransposeGemmSlice in this process, by either engine (tests
//! check which path ran); the second counts convTransposeGemmSlice's alone; the third counts Kiln's kernel's runs
//! (through those two or convTransposeMma).
uint64_t convTransposeGemmRuns();
uint64_t convTransposeGemmSliceRuns();
uint64_t convTransposeMmaRuns();

}  // namespace kiln::cuda
