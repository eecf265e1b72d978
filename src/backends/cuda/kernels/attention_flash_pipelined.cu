// kiln Attention on tensor cores, pipelined: the path for float16/bfloat16 with D == Dv in {32, 64}.
//
// The math is attention_flash.cu's (mma.sync m16n8k16 with float32 accumulation, online softmax in the log2 domain,
// P rounded to the input dtype before P·V, all -inf rows → NaN); what differs is how data moves, which is what
// bounds this op at BERT's shape (S = 128, D = 64: ~16 FLOP per byte):
//
// - One CTA of kWarps warps owns kWarps · 16 query rows. With 8 warps (sequences over 64 queries on a full GPU) a
//   CTA covers 128 queries, so at S = 128 K and V of a (batch, head) are read once, not once per 64 queries.
// - K and V tiles of 64 keys go through a ring of two shared-memory stages by cp.async, in separate commit groups
//   (Q and K₀, V₀, K₁, V₁, ...): S = Q·Kᵀ of tile j starts when K_j lands while V_j and tile j + 1 are in flight,
//   and tile j + 2 is requested as soon as its stage is free. At S ≤ 128 every load is issued before the first mma.
// - Q and K fragments come from ldmatrix (one instruction per A fragment, and per two k-steps of B, instead of four
//   32-bit loads each). Q's fragments are re-read per key tile rather than held in registers (see below).
// - O is staged through the warp's own rows of the Q buffer (Q is in registers by then) and written with 16-byte
//   stores, four full 128-byte rows per instruction, instead of 4-byte stores.
// - Warps whose 16 rows lie past the sequence skip the math; causal CTAs skip key tiles past their last query.
//
// Shared memory is dynamic (8 warps, D = 64: 18 KB of Q + 2 stages × 18 KB of K and V = 54 KB); the launch bounds
// keep registers ≤ 128 so that two 8-warp CTAs (or four 4-warp CTAs) fit an SM: 16 warps per SM where the old
// kernel (154 registers) fits 12. At D = 64 ptxas still spills ~50 bytes per thread (the kernel wants ~133
// registers unbounded); a small spill to L1 was judged cheaper than a third fewer warps.
#include <cstdint>

#include "backends/cuda/kernels/attention.h"
#include "backends/cuda/kernels/attention_flash_common.cuh"
#include "backends/cuda/kernels/launch_cache.h"

namespace kiln::cuda {

namespace {

using namespace flash;  // the helpers in attention_flash_common.cuh

constexpr int kBN = 64;     // keys per tile
constexpr int kStages = 2;  // K/V tiles in flight

template <int kD, int kWarps>
constexpr size_t sharedBytes() {
    return static_cast<size_t>(kWarps * 16 + 2 * kStages * kBN) * (kD + 8) * 2;  // 2 bytes per element
}

template <typename T, int kD, int kWarps>
__global__ void __launch_bounds__(kWarps * 32, 16 / kWarps)
    attentionFlashPipelinedKernel(const AttentionParams p, int64_t queryTiles) {
    constexpr int kThreads = kWarps * 32;
    constexpr int kBM = kWarps * 16;
    constexpr int kPad = kD + 8;
    constexpr int kTile = kBN * kPad;
    extern __shared__ __align__(16) unsigned char sharedRaw[];
    T* const sQ = reinterpret_cast<T*>(sharedRaw);
    T* const sK = sQ + kBM * kPad;       // kStages tiles
    T* const sV = sK + kStages * kTile;  // kStages tiles

    const int warp = static_cast<int>(threadIdx.x) / 32;
    const int lane = static_cast<int>(threadIdx.x) % 32;
    const int g = lane / 4;  // fragment row (and B column)
    const int t = lane % 4;  // fragment column pair
    const HeadSlices<T> slices = headSlices<T>(p, queryTiles);
    const T* q = slices.q;
    const T* k = slices.k;
    const T* v = slices.v;
    // Positions in 32 bits (the launcher checks kPipelinedMaxSequence): fewer registers than int64_t.
    const int sq = static_cast<int>(p.sq);
    const int sk = static_cast<int>(p.sk);
    const int q0 = static_cast<int>(slices.tile) * kBM;
    const int row0 = q0 + warp * 16 + g;  // this thread's two rows: row0 and row0 + 8
    const int64_t maskBase = slices.maskBase;
    // Warp-uniform: a warp with no row inside the sequence only helps load and meets the barriers.
    const bool active = q0 + warp * 16 < sq;

    int keyTiles = (sk + kBN - 1) / kBN;
    if (p.causal) {  // keys past the CTA's last query row weigh exp2(-inf) = 0 for every row: skip their tiles
        const int lastRow = (q0 + kBM < sq ? q0 + kBM : sq) - 1;
        if (lastRow / kBN + 1 < keyTiles) keyTiles = lastRow / kBN + 1;
    }

    // Prologue: groups (Q, K₀), V₀, then K_s, V_s for the other stages (empty groups past the last tile keep the
    // group count, and so the wait_group arguments below, the same for every tile).
    loadTile<T, kD, kBM, kThreads>(sQ, q, p.qStride[2], q0, p.sq);
    loadTile<T, kD, kBN, kThreads>(sK, k, p.kStride[2], 0, p.sk);
    cpAsyncCommit();
    loadTile<T, kD, kBN, kThreads>(sV, v, p.vStride[2], 0, p.sk);
    cpAsyncCommit();
#pragma unroll
    for (int st = 1; st < kStages; ++st) {
        if (st < keyTiles) loadTile<T, kD, kBN, kThreads>(sK + st * kTile, k, p.kStride[2], st * kBN, p.sk);
        cpAsyncCommit();
        if (st < keyTiles) loadTile<T, kD, kBN, kThreads>(sV + st * kTile, v, p.vStride[2], st * kBN, p.sk);
        cpAsyncCommit();
    }
    // Groups younger than K_j when tile j starts: V_j and the 2 · (kStages − 1) of the later stages.
    constexpr int kAfterK = 2 * kStages - 1;
    constexpr int kAfterV = 2 * kStages - 2;
    // Lane i addresses row i % 16, columns 8 · (i / 16) of the warp's Q rows: the 4 matrices of an A fragment.
    const T* qr = sQ + (warp * 16 + lane % 16) * kPad + (lane / 16) * 8;
    float o[kD / 8][4];
#pragma unroll
    for (int i = 0; i < kD / 8; ++i) o[i][0] = o[i][1] = o[i][2] = o[i][3] = 0.0f;
    float m[2] = {-INFINITY, -INFINITY};
    float l[2] = {0.0f, 0.0f};

    for (int kt = 0; kt < keyTiles; ++kt) {
        const int stage = kt % kStages;
        const T* tK = sK + stage * kTile;
        const T* tV = sV + stage * kTile;
        cpAsyncWait<kAfterK>();  // K_kt has landed (this thread's part)
        __syncthreads();         // ... and every thread's
        float s[kBN / 8][4];
        if (active) {
            // S = Q·Kᵀ for this warp's 16 rows, 32 columns of D at a time: ldmatrix x4 gives Q's A fragment of one
            // k-step (re-read from shared memory each tile: holding all of Q's fragments in registers made the
            // D = 64 kernel spill under the 128-register bound) and K's B fragments of two k-steps for 8 keys.
#pragma unroll
            for (int nt = 0; nt < kBN / 8; ++nt) s[nt][0] = s[nt][1] = s[nt][2] = s[nt][3] = 0.0f;
#pragma unroll
            for (int kk2 = 0; kk2 < kD / 32; ++kk2) {
                uint32_t qa0[4], qa1[4];
                ldmatrixX4(qa0, qr + kk2 * 32);
                ldmatrixX4(qa1, qr + kk2 * 32 + 16);
#pragma unroll
                for (int nt = 0; nt < kBN / 8; ++nt) {
                    uint32_t kb[4];
                    ldmatrixX4(kb, tK + (nt * 8 + lane % 8) * kPad + (lane / 8) * 8 + kk2 * 32);
                    mma16816<T>(s[nt], qa0, kb[0], kb[1]);
                    mma16816<T>(s[nt], qa1, kb[2], kb[3]);
                }
            }
            scaleAndMask<T, kBN / 8>(s, p, row0, kt * kBN, t, maskBase);
            onlineSoftmax(s, m, l, o);
        }
        cpAsyncWait<kAfterV>();  // V_kt
        __syncthreads();         // every warp is past S of tile kt: K's stage is free
        const int next = kt + kStages;
        if (next < keyTiles) {
            loadTile<T, kD, kBN, kThreads>(sK + stage * kTile, k, p.kStride[2], next * kBN, p.sk);
        }
        cpAsyncCommit();
        if (active) accumulatePV<T, kBN, kD>(o, s, tV, lane);
        __syncthreads();  // every warp is done with V's stage
        if (next < keyTiles) {
            loadTile<T, kD, kBN, kThreads>(sV + stage * kTile, v, p.vStride[2], next * kBN, p.sk);
        }
        cpAsyncCommit();
    }
    if (!active) return;  // no barrier below

        // O / l, rounded, into the warp's own 16 rows of sQ (only this warp read them), then 16-byte stores.
#pragma unroll
    for (int r = 0; r < 2; ++r) {
        float total = l[r];
        total += __shfl_xor_sync(0xffffffffu, total, 1);
        total += __shfl_xor_sync(0xffffffffu, total, 2);
        const float inv = 1.0f / total;  // total == 0 (every score -inf): 0 · inf = NaN, as the reference
        T* sr = sQ + (warp * 16 + g + 8 * r) * kPad + 2 * t;
#pragma unroll
        for (int dt = 0; dt < kD / 8; ++dt) {
            *reinterpret_cast<uint32_t*>(sr + dt * 8) = pack2<T>(o[dt][2 * r] * inv, o[dt][2 * r + 1] * inv);
        }
    }
    __syncwarp();
    T* out = slices.out;
    constexpr int kChunks = kD / 8;  // 16-byte pieces per row
#pragma unroll
    for (int c = lane; c < 16 * kChunks; c += 32) {
        const int r = c / kChunks;
        const int col = (c % kChunks) * 8;
        const int row = q0 + warp * 16 + r;
        if (row < sq) {
            *reinterpret_cast<uint4*>(out + static_cast<int64_t>(row) * p.outStride[2] + col) =
                *reinterpret_cast<const uint4*>(sQ + (warp * 16 + r) * kPad + col);
        }
    }
}

template <typename T, int kD, int kWarps>
cudaError_t launchPipelined(const AttentionParams& p, cudaStream_t stream) {
    constexpr int kBM = kWarps * 16;
    constexpr size_t kShared = sharedBytes<kD, kWarps>();
    const int64_t queryTiles = (p.sq + kBM - 1) / kBM;
    const int64_t blocks = queryTiles * p.batch * p.heads;
    if (blocks > 0x7fffffff) return cudaErrorInvalidConfiguration;
    auto* kernel = attentionFlashPipelinedKernel<T, kD, kWarps>;
    // Past 48 KB a kernel must opt in to dynamic shared memory (once per device: launch_cache.h).
    const cudaError_t err = allowDynamicSharedMemory(reinterpret_cast<const void*>(kernel), kShared, true);
    if (err != cudaSuccess) return err;
    kernel<<<static_cast<unsigned>(blocks), kWarps * 32, kShared, stream>>>(p, queryTiles);
    return cudaGetLastError();
}

}  // namespace

// 4 warps when the grid is small, so a small batch still spreads over twice as many SMs.

int attentionPipelinedWarps(const AttentionParams& p) {
    if (p.sq <= 64) return 4;
    int sms = 0;
    if (currentDeviceSmCount(sms) != cudaSuccess) return 8;
    const int64_t ctas4 = p.batch * p.heads * ((p.sq + 63) / 64);
    return ctas4 >= 2 * static_cast<int64_t>(sms) ? 8 : 4;
}

namespace {

template <typename T>
cudaError_t launchPipelinedFor(const AttentionParams& p, int warps, cudaStream_t stream) {
    if (warps == 0) warps = attentionPipelinedWarps(p);
    if (warps != 4 && warps != 8) return cudaErrorInvalidValue;
    switch (p.d) {
        case 32: return warps == 8 ? launchPipelined<T, 32, 8>(p, stream) : launchPipelined<T, 32, 4>(p, stream);
        case 64: return warps == 8 ? launchPipelined<T, 64, 8>(p, stream) : launchPipelined<T, 64, 4>(p, stream);
        default: return cudaErrorInvalidValue;
    }
}

}  // namespace

cudaError_t launchAttentionFlashPipelined(DataType type, const AttentionParams& p, cudaStream_t stream, int warps) {
    if (p.d != p.dv || p.sq > kPipelinedMaxSequence || p.sk > kPipelinedMaxSequence) return cudaErrorInvalidValue;
    if (type == DataType::kFloat16) return launchPipelinedFor<__half>(p, warps, stream);
    if (type == DataType::kBFloat16) return launchPipelinedFor<__nv_bfloat16>(p, warps, stream);
    return cudaErrorInvalidValue;
}

}  // namespace kiln::cuda
