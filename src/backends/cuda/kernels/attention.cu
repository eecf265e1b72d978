// kiln Attention on the GPU: the path choice and the simple kernel (any float dtype, any head size up to
// kCudaAttentionMaxHeadSize, any alignment), used where the tensor-core kernel (attention_flash.cu) does not apply.
//
// The simple kernel gives a warp to each query row. Keys come 32 at a time, one per lane: each lane computes its
// key's score from the query row held in shared memory, the warp takes the chunk's maximum and updates the running
// max and sum as in attention_flash.cu, then every lane adds the chunk's 32 weighted V rows into its own columns of
// the output row (columns lane, lane + 32, ...). Math in float (double for float64).
#include <cuda_bf16.h>
#include <cuda_fp16.h>

#include <algorithm>
#include <cstdint>
#include <type_traits>

#include "backends/cuda/kernels/aligned.h"
#include "backends/cuda/kernels/attention.h"
#include "backends/cuda/kernels/common.cuh"

namespace kiln::cuda {

namespace {

constexpr int kSimpleWarps = 4;
constexpr int kColumnsPerLane = static_cast<int>(kCudaAttentionMaxHeadSize / 32);

template <typename A>
__device__ __forceinline__ A warpMax(A v) {
    // One shuffle per step, taken by every lane: a shuffle inside the conditional would leave lanes out of the
    // full-warp mask (undefined; on the H100 it gave NaN and an illegal-instruction error).
    for (int o = 16; o > 0; o /= 2) {
        const A other = __shfl_xor_sync(0xffffffffu, v, o);
        v = v > other ? v : other;
    }
    return v;
}

template <typename A>
__device__ __forceinline__ A warpSum(A v) {
    for (int o = 16; o > 0; o /= 2) v += __shfl_xor_sync(0xffffffffu, v, o);
    return v;
}

template <typename A>
__device__ __forceinline__ A expOf(A v) {
    if constexpr (std::is_same_v<A, float>) {
        return expf(v);
    } else {
        return exp(v);
    }
}

template <typename T>
__global__ void __launch_bounds__(kSimpleWarps * 32) attentionSimpleKernel(const AttentionParams p) {
    using A = AccT<T>;
    __shared__ A sQ[kSimpleWarps][kCudaAttentionMaxHeadSize];
    const int warp = static_cast<int>(threadIdx.x) / 32;
    const int lane = static_cast<int>(threadIdx.x) % 32;
    const int64_t rows = p.batch * p.heads * p.sq;
    // A uniform trip count per warp (the loop body uses warp shuffles only, no block barrier).
    for (int64_t r = static_cast<int64_t>(blockIdx.x) * kSimpleWarps + warp; r < rows;
         r += static_cast<int64_t>(gridDim.x) * kSimpleWarps) {
        const int64_t i = r % p.sq;
        const int64_t bh = r / p.sq;
        const int64_t b = bh / p.heads;
        const int64_t h = bh % p.heads;
        const T* q = static_cast<const T*>(p.q) + b * p.qStride[0] + h * p.qStride[1] + i * p.qStride[2];
        const T* k = static_cast<const T*>(p.k) + b * p.kStride[0] + h * p.kStride[1];
        const T* v = static_cast<const T*>(p.v) + b * p.vStride[0] + h * p.vStride[1];
        const int64_t maskRow = b * p.maskStride[0] + h * p.maskStride[1] + i * p.maskStride[2];
        __syncwarp();
        for (int64_t c = lane; c < p.d; c += 32) sQ[warp][c] = loadAcc(q[c]);
        __syncwarp();
        A acc[kColumnsPerLane];
#pragma unroll
        for (int c = 0; c < kColumnsPerLane; ++c) acc[c] = A(0);
        A m = -A(INFINITY);
        A l = A(0);
        for (int64_t j0 = 0; j0 < p.sk; j0 += 32) {
            const int64_t j = j0 + lane;
            A s = -A(INFINITY);
            if (j < p.sk && !(p.causal && j > i)) {
                const T* kr = k + j * p.kStride[2];
                A dot = A(0);
                for (int64_t c = 0; c < p.d; ++c) dot += sQ[warp][c] * loadAcc(kr[c]);
                s = dot * static_cast<A>(p.scale);
                if (p.mask != nullptr) {
                    const int64_t off = maskRow + j * p.maskStride[3];
                    s += p.maskIsFloat32 ? static_cast<A>(static_cast<const float*>(p.mask)[off])
                                         : static_cast<A>(loadAcc(static_cast<const T*>(p.mask)[off]));
                }
            }
            const A mNew = warpMax(m > s ? m : s);
            const A mUse = mNew == -A(INFINITY) ? A(0) : mNew;  // all -inf so far: exp stays 0, not NaN
            const A pj = expOf(s - mUse);
            const A alpha = expOf(m - mUse);
            l = l * alpha + warpSum(pj);
            m = mNew;
            const int count = p.sk - j0 < 32 ? static_cast<int>(p.sk - j0) : 32;
#pragma unroll
            for (int c = 0; c < kColumnsPerLane; ++c) acc[c] *= alpha;
            for (int jj = 0; jj < count; ++jj) {
                const A w = __shfl_sync(0xffffffffu, pj, jj);
                const T* vr = v + (j0 + jj) * p.vStride[2];
#pragma unroll
                for (int c = 0; c < kColumnsPerLane; ++c) {
                    const int64_t col = lane + 32 * c;
                    if (col < p.dv) acc[c] += w * loadAcc(vr[col]);
                }
            }
        }
        T* y = static_cast<T*>(p.out) + b * p.outStride[0] + h * p.outStride[1] + i * p.outStride[2];
#pragma unroll
        for (int c = 0; c < kColumnsPerLane; ++c) {
            const int64_t col = lane + 32 * c;
            if (col < p.dv) y[col] = storeAs<T>(acc[c] / l);  // l == 0: every score -inf, NaN as the reference
        }
    }
}

}  // namespace

AttentionPath chooseAttentionPath(DataType type, const AttentionParams& p) {
    const bool lowPrecision = type == DataType::kFloat16 || type == DataType::kBFloat16;
    // Strides are multiples of D (attention_plan.h), so 16-byte aligned bases keep every row 16-byte aligned.
    const bool aligned = aligned16(p.q) && aligned16(p.k) && aligned16(p.v) && aligned16(p.out);
    if (!lowPrecision || !aligned || p.d != p.dv) return AttentionPath::kSimple;
    const bool fits32 = p.sq <= kPipelinedMaxSequence && p.sk <= kPipelinedMaxSequence;
    // The pipelined kernel pays where its 8-warp CTAs fill the GPU (BERT b128: 103 vs 111 us per layer on the H100);
    // on small grids (b1: 24 CTAs) the one-tile kernel was faster (9.9 vs 11.1 us).
    if ((p.d == 32 || p.d == 64) && fits32 && attentionPipelinedWarps(p) == 8) return AttentionPath::kFlashPipelined;
    // D = 128 (and sequences past 2^30) stay on the one-tile kernel: 64 output registers per thread would spill
    // heavily under the pipelined kernel's 128-register bound.
    return p.d == 32 || p.d == 64 || p.d == 128 ? AttentionPath::kFlash : AttentionPath::kSimple;
}

cudaError_t launchAttention(DataType type, const AttentionParams& p, cudaStream_t stream) {
    if (p.d > kCudaAttentionMaxHeadSize || p.dv > kCudaAttentionMaxHeadSize || p.sk <= 0) return cudaErrorInvalidValue;
    switch (chooseAttentionPath(type, p)) {
        case AttentionPath::kFlashPipelined: return launchAttentionFlashPipelined(type, p, stream);
        case AttentionPath::kFlash: return launchAttentionFlash(type, p, stream);
        case AttentionPath::kSimple: break;
    }
    const int64_t rows = p.batch * p.heads * p.sq;
    const int64_t blocks = std::min<int64_t>((rows + kSimpleWarps - 1) / kSimpleWarps, int64_t{1} << 20);
    if (blocks <= 0) return cudaSuccess;
    return dispatchDevice<dtypes::kFloat>(type, [&](auto tag) {
        using T = typename decltype(tag)::type;
        attentionSimpleKernel<T><<<static_cast<unsigned>(blocks), kSimpleWarps * 32, 0, stream>>>(p);
        return cudaGetLastError();
    });
}

}  // namespace kiln::cuda
