// Launchers of kiln Attention on the GPU (C++17 declarations; kernels in attention.cu and attention_flash.cu).
// Pointers are device pointers; strides are in elements, the head dim (D, Dv) is contiguous.
#pragma once

#include <cuda_runtime.h>

#include <cstdint>

#include "kiln/dtype.h"

namespace kiln::cuda {

struct AttentionParams {
    const void* q = nullptr;
    const void* k = nullptr;
    const void* v = nullptr;
    const void* mask = nullptr;  //!< Additive, Q's dtype or float32 (maskIsFloat32); null for none.
    void* out = nullptr;
    bool maskIsFloat32 = false;
    bool causal = false;
    float scale = 1.0f;
    int64_t batch = 0, heads = 0, sq = 0, sk = 0, d = 0, dv = 0;
    int64_t qStride[3] = {0, 0, 0};  //!< batch, head, sequence
    int64_t kStride[3] = {0, 0, 0};
    int64_t vStride[3] = {0, 0, 0};
    int64_t outStride[3] = {0, 0, 0};
    int64_t maskStride[4] = {0, 0, 0, 0};  //!< batch, head, query, key (0 where broadcast)
};

//! Largest D and Dv launchAttention takes (cpu::kAttentionMaxHeadSize).
constexpr int64_t kCudaAttentionMaxHeadSize = 256;

//! Longest Sq and Sk the pipelined kernel takes (it indexes positions in 32 bits); longer ones take kFlash.
constexpr int64_t kPipelinedMaxSequence = int64_t{1} << 30;

//! Which kernel launchAttention picks.
enum class AttentionPath { kFlashPipelined, kFlash, kSimple };

//! For float16/bfloat16 with D == Dv and 16-byte aligned pointers: kFlashPipelined (tensor cores, FP32
//! accumulation, pipelined K/V loads) for D in {32, 64}, kFlash (tensor cores, one K/V tile at a time) for
//! D = 128; kSimple (a warp per query row, FP32 or FP64 math) for everything else.
AttentionPath chooseAttentionPath(DataType type, const AttentionParams& p);

//! out = softmax(scale · Q·Kᵀ + mask) · V for float32, float64, float16 and bfloat16 (else cudaErrorInvalidValue);
//! requires sk > 0 and batch · heads · sq > 0 (the caller handles empty problems) and D, Dv <=
//! kCudaAttentionMaxHeadSize.
cudaError_t launchAttention(DataType type, const AttentionParams& p, cudaStream_t stream);

//! The tensor-core kernel alone (attention_flash.cu): float16/bfloat16, D == Dv in {32, 64, 128}.
cudaError_t launchAttentionFlash(DataType type, const AttentionParams& p, cudaStream_t stream);

//! The pipelined tensor-core kernel alone (attention_flash_pipelined.cu): float16/bfloat16, D == Dv in {32, 64},
//! 16-byte aligned pointers, Sq and Sk ≤ kPipelinedMaxSequence. `warps` is the CTA size (4: 64 queries per CTA, 8: 128
//! queries per CTA, K and V read once per 128 queries), or 0 to choose by shape and SM count; anything else is
//! cudaErrorInvalidValue.
cudaError_t launchAttentionFlashPipelined(DataType type, const AttentionParams& p, cudaStream_t stream, int warps = 0);
//! The pipelined kernel's CTA size for `p` on the current device: 8 warps (K/V read once per 128 queries) where the
//! sequence has more than 64 queries and a 4-warp grid would fill the GPU at least twice over, else 4.
int attentionPipelinedWarps(const AttentionParams& p);

}  // namespace kiln::cuda
