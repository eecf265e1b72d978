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
#include <cstdint>

#include "backends/cuda/kernels/attention.h"
#include "backends/cuda/kernels/attention_flash_common.cuh"

namespace kiln::cuda {

namespace {

constexpr int kWarps = 4;
constexpr int kThreads = kWarps * 32;
constexpr int kBM = kWarps * 16;

using namespace flash;  // the helpers in attention_flash_common.cuh

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
    const HeadSlices<T> slices = headSlices<T>(p, queryTiles);
    const T* q = slices.q;
    const T* k = slices.k;
    const T* v = slices.v;
    const int64_t q0 = slices.tile * kBM;
    const int64_t row0 = q0 + warp * 16 + g;  // this thread's two rows: row0 and row0 + 8
    const int64_t maskBase = slices.maskBase;

    loadTile<T, kD, kBM, kThreads>(sQ, q, p.qStride[2], q0, p.sq);
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
        loadTile<T, kD, kBN, kThreads>(sK, k, p.kStride[2], kt * kBN, p.sk);
        cpAsyncCommit();
        loadTile<T, kD, kBN, kThreads>(sV, v, p.vStride[2], kt * kBN, p.sk);
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
        scaleAndMask<T, kBN / 8>(s, p, row0, kt * kBN, t, maskBase);
        onlineSoftmax(s, m, l, o);
        cpAsyncWait<0>();
        __syncthreads();
        accumulatePV<T, kBN, kD>(o, s, sV, lane);
    }
    // O / l, rows inside the sequence only.
    T* out = slices.out;
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
