// kiln Attention on tensor cores (float16/bfloat16 in, float32 accumulation), flash-attention style.
//
// One CTA of 4 warps per (batch, head, tile of 64 queries); each warp owns 16 query rows. The CTA walks the keys in
// tiles of kBN (64; 32 for D = 128, to stay under 48 KB of static shared memory): K and V tiles arrive in shared
// memory by cp.async (zero-filled past the sequence end), S = Q·Kᵀ comes from mma.sync m16n8k16 with Q's fragments
// held in registers, the scale, mask, causal and tail masking apply to S in registers, and an online softmax
// (running row max m and sum l, rescaling O by exp(m_old − m_new)) turns S into P, which is rounded to the input
// dtype and multiplied into O = P·V with V's fragments from ldmatrix.trans. Rows whose scores are all -inf end with
// l = 0 and write NaN, as the unfused Softmax does.
//
// At S = 128, D = 64 a CTA reads Q (8 KB), K and V (16 KB each) once and writes O (8 KB): the scores never reach
// device memory. Rows are padded by 8 elements (16 bytes), so the 32-bit fragment loads of a warp hit 32 banks.
#include <cuda_bf16.h>
#include <cuda_fp16.h>

#include <cstdint>
#include <type_traits>

#include "backends/cuda/kernels/attention.h"
#include "backends/cuda/kernels/common.cuh"

namespace kiln::cuda {

namespace {

constexpr int kWarps = 4;
constexpr int kThreads = kWarps * 32;
constexpr int kBM = kWarps * 16;
constexpr float kLog2e = 1.4426950408889634f;

__device__ __forceinline__ void cpAsync16(void* smem, const void* gmem, bool valid) {
    const unsigned s = static_cast<unsigned>(__cvta_generic_to_shared(smem));
    const int bytes = valid ? 16 : 0;
    asm volatile("cp.async.cg.shared.global [%0], [%1], 16, %2;\n" ::"r"(s), "l"(gmem), "r"(bytes));
}
__device__ __forceinline__ void cpAsyncCommit() { asm volatile("cp.async.commit_group;\n" ::); }
template <int N>
__device__ __forceinline__ void cpAsyncWait() {
    asm volatile("cp.async.wait_group %0;\n" ::"n"(N));
}

//! rows [r0, r0 + kRows) of a [n, kD] slice with row stride `stride` → shared [kRows][kD + 8]; rows past n are 0.
template <typename T, int kD, int kRows>
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
__device__ __forceinline__ void mma16816(float (&c)[4], const uint32_t (&a)[4], uint32_t b0, uint32_t b1) {
    if constexpr (std::is_same_v<T, __half>) {
        asm volatile(
            "mma.sync.aligned.m16n8k16.row.col.f32.f16.f16.f32 {%0,%1,%2,%3}, {%4,%5,%6,%7}, {%8,%9}, "
            "{%0,%1,%2,%3};\n"
            : "+f"(c[0]), "+f"(c[1]), "+f"(c[2]), "+f"(c[3])
            : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b0), "r"(b1));
    } else {
        asm volatile(
            "mma.sync.aligned.m16n8k16.row.col.f32.bf16.bf16.f32 {%0,%1,%2,%3}, {%4,%5,%6,%7}, {%8,%9}, "
            "{%0,%1,%2,%3};\n"
            : "+f"(c[0]), "+f"(c[1]), "+f"(c[2]), "+f"(c[3])
            : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b0), "r"(b1));
    }
}

//! Two floats → one register of two T (lo in the low half, as the mma fragments order them).
template <typename T>
__device__ __forceinline__ uint32_t pack2(float lo, float hi) {
    if constexpr (std::is_same_v<T, __half>) {
        const __half2 v = __floats2half2_rn(lo, hi);
        return *reinterpret_cast<const uint32_t*>(&v);
    } else {
        const __nv_bfloat162 v = __floats2bfloat162_rn(lo, hi);
        return *reinterpret_cast<const uint32_t*>(&v);
    }
}

__device__ __forceinline__ uint32_t lds32(const void* p) { return *reinterpret_cast<const uint32_t*>(p); }

__device__ __forceinline__ void ldmatrixX4Trans(uint32_t (&r)[4], const void* rowAddress) {
    const unsigned s = static_cast<unsigned>(__cvta_generic_to_shared(rowAddress));
    asm volatile("ldmatrix.sync.aligned.m8n8.x4.trans.shared.b16 {%0,%1,%2,%3}, [%4];\n"
                 : "=r"(r[0]), "=r"(r[1]), "=r"(r[2]), "=r"(r[3])
                 : "r"(s));
}

template <typename T>
__device__ __forceinline__ float maskValue(const AttentionParams& p, int64_t offset) {
    return p.maskIsFloat32 ? static_cast<const float*>(p.mask)[offset] : loadAcc(static_cast<const T*>(p.mask)[offset]);
}

template <typename T, int kD>
__global__ void __launch_bounds__(kThreads) attentionFlashKernel(const AttentionParams p, int64_t queryTiles) {
    constexpr int kBN = kD == 128 ? 32 : 64;
    constexpr int kPad = kD + 8;
    __shared__ __align__(16) T sQ[kBM * kPad];
    __shared__ __align__(16) T sK[kBN * kPad];
    __shared__ __align__(16) T sV[kBN * kPad];

    const int warp = static_cast<int>(threadIdx.x) / 32;
    const int lane = static_cast<int>(threadIdx.x) % 32;
    const int g = lane / 4;  // fragment row (and B column)
    const int t = lane % 4;  // fragment column pair
    const int64_t tile = static_cast<int64_t>(blockIdx.x) % queryTiles;
    const int64_t bh = static_cast<int64_t>(blockIdx.x) / queryTiles;
    const int64_t b = bh / p.heads;
    const int64_t h = bh % p.heads;
    const T* q = static_cast<const T*>(p.q) + b * p.qStride[0] + h * p.qStride[1];
    const T* k = static_cast<const T*>(p.k) + b * p.kStride[0] + h * p.kStride[1];
    const T* v = static_cast<const T*>(p.v) + b * p.vStride[0] + h * p.vStride[1];
    const int64_t q0 = tile * kBM;
    const int64_t row0 = q0 + warp * 16 + g;  // this thread's two rows: row0 and row0 + 8
    const int64_t maskBase = b * p.maskStride[0] + h * p.maskStride[1];

    loadTile<T, kD, kBM>(sQ, q, p.qStride[2], q0, p.sq);
    cpAsyncCommit();

    cpAsyncWait<0>();
    __syncthreads();
    uint32_t qa[kD / 16][4];  // Q's A fragments, held for the whole key loop
    {
        const T* qr = sQ + (warp * 16 + g) * kPad + 2 * t;
#pragma unroll
        for (int kk = 0; kk < kD / 16; ++kk) {
            qa[kk][0] = lds32(qr + kk * 16);
            qa[kk][1] = lds32(qr + 8 * kPad + kk * 16);
            qa[kk][2] = lds32(qr + kk * 16 + 8);
            qa[kk][3] = lds32(qr + 8 * kPad + kk * 16 + 8);
        }
    }
    float o[kD / 8][4];
#pragma unroll
    for (int i = 0; i < kD / 8; ++i) o[i][0] = o[i][1] = o[i][2] = o[i][3] = 0.0f;
    float m[2] = {-INFINITY, -INFINITY};
    float l[2] = {0.0f, 0.0f};

    const int64_t keyTiles = (p.sk + kBN - 1) / kBN;
    for (int64_t kt = 0; kt < keyTiles; ++kt) {
        __syncthreads();  // every warp is done with the previous K and V tiles
        loadTile<T, kD, kBN>(sK, k, p.kStride[2], kt * kBN, p.sk);
        cpAsyncCommit();
        loadTile<T, kD, kBN>(sV, v, p.vStride[2], kt * kBN, p.sk);
        cpAsyncCommit();
        cpAsyncWait<1>();  // K has landed; V may still be in flight
        __syncthreads();
        // S = Q·Kᵀ for this warp's 16 rows and the tile's kBN keys.
        float s[kBN / 8][4];
#pragma unroll
        for (int nt = 0; nt < kBN / 8; ++nt) {
            s[nt][0] = s[nt][1] = s[nt][2] = s[nt][3] = 0.0f;
            const T* kr = sK + (nt * 8 + g) * kPad + 2 * t;
#pragma unroll
            for (int kk = 0; kk < kD / 16; ++kk)
                mma16816<T>(s[nt], qa[kk], lds32(kr + kk * 16), lds32(kr + kk * 16 + 8));
        }
        // Scale, mask, causal and tail keys; then into the log2 domain for exp2f.
#pragma unroll
        for (int nt = 0; nt < kBN / 8; ++nt) {
#pragma unroll
            for (int e = 0; e < 4; ++e) {
                const int64_t row = row0 + (e >= 2 ? 8 : 0);
                const int64_t key = kt * kBN + nt * 8 + 2 * t + (e & 1);
                float x = s[nt][e] * p.scale;
                if (key >= p.sk || (p.causal && key > row)) {
                    x = -INFINITY;
                } else if (p.mask != nullptr && row < p.sq) {
                    x += maskValue<T>(p, maskBase + row * p.maskStride[2] + key * p.maskStride[3]);
                }
                s[nt][e] = x * kLog2e;
            }
        }
        // Online softmax for the thread's two rows; a quad (4 lanes) shares a row.
#pragma unroll
        for (int r = 0; r < 2; ++r) {
            float mx = -INFINITY;
#pragma unroll
            for (int nt = 0; nt < kBN / 8; ++nt) mx = fmaxf(mx, fmaxf(s[nt][2 * r], s[nt][2 * r + 1]));
            mx = fmaxf(mx, __shfl_xor_sync(0xffffffffu, mx, 1));
            mx = fmaxf(mx, __shfl_xor_sync(0xffffffffu, mx, 2));
            const float mNew = fmaxf(m[r], mx);
            const float mUse = mNew == -INFINITY ? 0.0f : mNew;  // all -inf so far: keep exp2 at 0, not NaN
            const float alpha = exp2f(m[r] - mUse);
            float sum = 0.0f;
#pragma unroll
            for (int nt = 0; nt < kBN / 8; ++nt) {
                s[nt][2 * r] = exp2f(s[nt][2 * r] - mUse);
                s[nt][2 * r + 1] = exp2f(s[nt][2 * r + 1] - mUse);
                sum += s[nt][2 * r] + s[nt][2 * r + 1];
            }
            l[r] = l[r] * alpha + sum;  // per-thread partial; the quad's partials are summed at the end
            m[r] = mNew;
#pragma unroll
            for (int dt = 0; dt < kD / 8; ++dt) {
                o[dt][2 * r] *= alpha;
                o[dt][2 * r + 1] *= alpha;
            }
        }
        cpAsyncWait<0>();
        __syncthreads();
        // O += P·V: P's accumulator fragments are the A fragments of the next mma (rounded to T).
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
    // O / l, rows inside the sequence only.
    T* out = static_cast<T*>(p.out) + b * p.outStride[0] + h * p.outStride[1];
#pragma unroll
    for (int r = 0; r < 2; ++r) {
        float total = l[r];
        total += __shfl_xor_sync(0xffffffffu, total, 1);
        total += __shfl_xor_sync(0xffffffffu, total, 2);
        const int64_t row = row0 + 8 * r;
        if (row >= p.sq) continue;
        const float inv = 1.0f / total;  // total == 0 (every score -inf): 0 · inf = NaN, as the reference
        T* yr = out + row * p.outStride[2] + 2 * t;
#pragma unroll
        for (int dt = 0; dt < kD / 8; ++dt) {
            *reinterpret_cast<uint32_t*>(yr + dt * 8) = pack2<T>(o[dt][2 * r] * inv, o[dt][2 * r + 1] * inv);
        }
    }
}

template <typename T, int kD>
cudaError_t launchFlash(const AttentionParams& p, cudaStream_t stream) {
    const int64_t queryTiles = (p.sq + kBM - 1) / kBM;
    const int64_t blocks = queryTiles * p.batch * p.heads;
    if (blocks > 0x7fffffff) return cudaErrorInvalidConfiguration;
    attentionFlashKernel<T, kD><<<static_cast<unsigned>(blocks), kThreads, 0, stream>>>(p, queryTiles);
    return cudaGetLastError();
}

template <typename T>
cudaError_t launchFlashFor(const AttentionParams& p, cudaStream_t stream) {
    switch (p.d) {
        case 32: return launchFlash<T, 32>(p, stream);
        case 64: return launchFlash<T, 64>(p, stream);
        case 128: return launchFlash<T, 128>(p, stream);
        default: return cudaErrorInvalidValue;
    }
}

}  // namespace

cudaError_t launchAttentionFlash(DataType type, const AttentionParams& p, cudaStream_t stream) {
    if (p.d != p.dv) return cudaErrorInvalidValue;
    if (type == DataType::kFloat16) return launchFlashFor<__half>(p, stream);
    if (type == DataType::kBFloat16) return launchFlashFor<__nv_bfloat16>(p, stream);
    return cudaErrorInvalidValue;
}

}  // namespace kiln::cuda
