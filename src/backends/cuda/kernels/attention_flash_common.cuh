// Device helpers shared by the tensor-core attention kernels (attention_flash.cu, attention_flash_pipelined.cu):
// cp.async tile loads, the mask read, online softmax and P·V (the mma.sync / ldmatrix / cp.async primitives are
// mma_common.cuh's). C++17, device code only.
#pragma once

#include <cuda_bf16.h>
#include <cuda_fp16.h>

#include <cstdint>
#include <type_traits>

#include "backends/cuda/kernels/attention.h"
#include "backends/cuda/kernels/common.cuh"
#include "backends/cuda/kernels/mma_common.cuh"

namespace kiln::cuda::flash {

using mma::cpAsync16;
using mma::cpAsyncCommit;
using mma::cpAsyncWait;
using mma::ldmatrixX4;
using mma::ldmatrixX4Trans;
using mma::lds32;
using mma::mma16816;
using mma::pack2;

constexpr float kLog2e = 1.4426950408889634f;

//! rows [r0, r0 + kRows) of a [n, kD] slice with row stride `stride` → shared [kRows][kD + 8]; rows past n are 0.
//! Every thread of the CTA (kThreads of them) takes part.
template <typename T, int kD, int kRows, int kThreads>
__device__ __forceinline__ void loadTile(T* s, const T* g, int64_t stride, int64_t r0, int64_t n) {
    constexpr int kChunks = kD / 8;  // 16-byte pieces per row
    for (int c = threadIdx.x; c < kRows * kChunks; c += kThreads) {
        const int r = c / kChunks;
        const int col = (c % kChunks) * 8;
        const bool valid = r0 + r < n;
        const T* src = valid ? g + (r0 + r) * stride + col : g;
        cpAsync16(s + r * (kD + 8) + col, src, valid);
    }
}

template <typename T>
__device__ __forceinline__ float maskValue(const AttentionParams& p, int64_t offset) {
    return p.maskIsFloat32 ? static_cast<const float*>(p.mask)[offset] : loadAcc(static_cast<const T*>(p.mask)[offset]);
}

//! The (batch, head) slices and query tile that CTA blockIdx.x owns, tiles fastest (so the CTAs that share a
//! (batch, head)'s K and V run side by side and meet them in L2).
template <typename T>
struct HeadSlices {
    const T* q;
    const T* k;
    const T* v;
    T* out;
    int64_t maskBase;  //!< offset of the (batch, head) in the mask
    int64_t tile;      //!< query tile index
};

template <typename T>
__device__ __forceinline__ HeadSlices<T> headSlices(const AttentionParams& p, int64_t queryTiles) {
    const int64_t bh = static_cast<int64_t>(blockIdx.x) / queryTiles;
    const int64_t b = bh / p.heads;
    const int64_t h = bh % p.heads;
    return {static_cast<const T*>(p.q) + b * p.qStride[0] + h * p.qStride[1],
            static_cast<const T*>(p.k) + b * p.kStride[0] + h * p.kStride[1],
            static_cast<const T*>(p.v) + b * p.vStride[0] + h * p.vStride[1],
            static_cast<T*>(p.out) + b * p.outStride[0] + h * p.outStride[1],
            b * p.maskStride[0] + h * p.maskStride[1],
            static_cast<int64_t>(blockIdx.x) % queryTiles};
}

//! Scale, mask, causal and tail keys for a thread's scores of one key tile (kNt n-tiles of 8 keys from key0; the
//! thread's rows are row0 and row0 + 8), then into the log2 domain for exp2f: s · scale · log2e + mask · log2e.
//! A full tile with no mask and no causal masking only scales (uniform across the CTA, so no divergence). I indexes
//! rows and keys: int where the launcher has checked that sequences fit it (fewer registers), else int64_t.
template <typename T, int kNt, typename I>
__device__ __forceinline__ void scaleAndMask(float (&s)[kNt][4], const AttentionParams& p, I row0, I key0, int t,
                                             int64_t maskBase) {
    const float scaleLog2 = p.scale * kLog2e;
    if (!p.causal && p.mask == nullptr && key0 + kNt * 8 <= p.sk) {
#pragma unroll
        for (int nt = 0; nt < kNt; ++nt) {
#pragma unroll
            for (int e = 0; e < 4; ++e) s[nt][e] *= scaleLog2;
        }
        return;
    }
#pragma unroll
    for (int nt = 0; nt < kNt; ++nt) {
#pragma unroll
        for (int e = 0; e < 4; ++e) {
            const I row = row0 + (e >= 2 ? 8 : 0);
            const I key = key0 + nt * 8 + 2 * t + (e & 1);
            float x = s[nt][e] * scaleLog2;
            if (key >= p.sk || (p.causal && key > row)) {
                x = -INFINITY;
            } else if (p.mask != nullptr && row < p.sq) {
                const int64_t offset = maskBase + static_cast<int64_t>(row) * p.maskStride[2] + key * p.maskStride[3];
                x += maskValue<T>(p, offset) * kLog2e;
            }
            s[nt][e] = x;
        }
    }
}

//! Online softmax over one key tile for the thread's two rows; a quad (4 lanes) shares a row. s holds the scores
//! in the log2 domain and becomes P = exp2(s − m); the running max m, the thread's partial sum l and the output
//! accumulators o are rescaled by exp2(m_old − m_new).
template <int kNt, int kDt>
__device__ __forceinline__ void onlineSoftmax(float (&s)[kNt][4], float (&m)[2], float (&l)[2], float (&o)[kDt][4]) {
#pragma unroll
    for (int r = 0; r < 2; ++r) {
        float mx = -INFINITY;
#pragma unroll
        for (int nt = 0; nt < kNt; ++nt) mx = fmaxf(mx, fmaxf(s[nt][2 * r], s[nt][2 * r + 1]));
        mx = fmaxf(mx, __shfl_xor_sync(0xffffffffu, mx, 1));
        mx = fmaxf(mx, __shfl_xor_sync(0xffffffffu, mx, 2));
        const float mNew = fmaxf(m[r], mx);
        const float mUse = mNew == -INFINITY ? 0.0f : mNew;  // all -inf so far: keep exp2 at 0, not NaN
        const float alpha = exp2f(m[r] - mUse);
        float sum = 0.0f;
#pragma unroll
        for (int nt = 0; nt < kNt; ++nt) {
            s[nt][2 * r] = exp2f(s[nt][2 * r] - mUse);
            s[nt][2 * r + 1] = exp2f(s[nt][2 * r + 1] - mUse);
            sum += s[nt][2 * r] + s[nt][2 * r + 1];
        }
        l[r] = l[r] * alpha + sum;  // per-thread partial; the quad's partials are summed at the end
        m[r] = mNew;
#pragma unroll
        for (int dt = 0; dt < kDt; ++dt) {
            o[dt][2 * r] *= alpha;
            o[dt][2 * r + 1] *= alpha;
        }
    }
}

//! O += P·V for one tile of kBN keys: P's accumulator fragments (s) are the A fragments of the next mma, rounded to
//! T; V's B fragments come from ldmatrix.trans of sV ([kBN][kD + 8]).
template <typename T, int kBN, int kD>
__device__ __forceinline__ void accumulatePV(float (&o)[kD / 8][4], const float (&s)[kBN / 8][4], const T* sV,
                                             int lane) {
    constexpr int kPad = kD + 8;
#pragma unroll
    for (int kk = 0; kk < kBN / 16; ++kk) {
        const uint32_t a[4] = {pack2<T>(s[2 * kk][0], s[2 * kk][1]), pack2<T>(s[2 * kk][2], s[2 * kk][3]),
                               pack2<T>(s[2 * kk + 1][0], s[2 * kk + 1][1]),
                               pack2<T>(s[2 * kk + 1][2], s[2 * kk + 1][3])};
        const int mat = lane / 8;
        const T* vr = sV + (kk * 16 + (mat & 1) * 8 + lane % 8) * kPad + (mat >> 1) * 8;
#pragma unroll
        for (int dt2 = 0; dt2 < kD / 16; ++dt2) {
            uint32_t bv[4];
            ldmatrixX4Trans(bv, vr + dt2 * 16);
            mma16816<T>(o[2 * dt2], a, bv[0], bv[1]);
            mma16816<T>(o[2 * dt2 + 1], a, bv[2], bv[3]);
        }
    }
}

}  // namespace kiln::cuda::flash
