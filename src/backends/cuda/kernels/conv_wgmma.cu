// The weights-stationary 64-output-channel convolution (conv_wgmma.h) on wgmma with A in registers.
//
// GEMM per output row segment: D [64 channels x 64 pixels] = sum over taps (dy, dx) and 16-channel steps of
// W_tap [64 x 16] (registers) · X_tap [16 x 64] (shared memory), i.e. K = kH * kW * C in steps of 16.
//
// A persistent CTA has 2 consumer warpgroups and 1 producer warpgroup (384 threads, one CTA per SM); setmaxnreg
// gives the consumers 240 registers per thread, which hold the weights for every tap (144 registers for 3x3), the 32
// accumulators and a row's z; one producer thread issues the TMA loads.
// Work: the row segments (image, output row, 64 output columns [x0, x0 + 64)), numbered image by image, column tile
// by column tile, row by row; each of the grid's CTAs takes an equal range of them (RowRange), which falls into
// vertical strips (image, x0, output rows [y0, y1)). Along a strip the producer loads every input row the strip
// reads, once, into a ring of kSlots shared-memory slots; the CTA's output rows, numbered across its strips,
// alternate between the warpgroups (row k to warpgroup k % 2), each computed from the kH slots of its input rows, so
// the two warpgroups share the rows between them.
//
// Ping-pong: a warpgroup issues its row's wgmmas only after the other has issued its previous row's (named
// barriers), so the tensor cores take the rows in turn and one warpgroup's epilogue (bias, z, ReLU, stores) runs
// while the other's wgmmas do; the z of a row is loaded into registers right after its wgmmas are issued.
//
// A slot holds input pixels x0 - padLeft .. x0 - padLeft + 64 + kW - 2 (P = 63 + kW pixels) of one input row, all
// 64 channels, as 8 "chunks" of 8 channels: chunk q is P pixels x 16 bytes, at q * chunkBytes (P * 16 rounded up
// to 128; SlotShape). The producer fills a chunk with one TMA tile load (box 8 channels x P pixels of the NHWC input);
// TMA writes zeros for coordinates outside the input, which is the padding, also a negative one. That is exactly
// wgmma's no-swizzle K-major layout for B: 8 consecutive pixels of a chunk are one 128-byte core matrix, the next 8
// channels are the next chunk (LBO = chunkBytes), the next 8 pixels the next 128 bytes (SBO = 128); and the tap
// dx shift is a start address dx * 16 bytes further, which no-swizzle allows (a swizzled layout would not keep its
// pattern under a one-pixel shift).
//
// mbarriers: full[s] (one arrival by the producer + the slot's TMA bytes), empty[s] (one arrival per consumer
// thread, 256). Loads (input rows) are numbered in the order the producer issues them (strip by strip, row by
// row), load L lives in slot L % kSlots with phase L / kSlots, and both sides walk the same numbering. A warpgroup
// releases a load once none of its remaining output rows of the strip read it, in order and each only after its
// "full" phase (releaseUpTo: the other warpgroup's rows are loads this one never reads); the ring never deadlocks
// when slots > kH (a warpgroup waits on at most kH loads past the oldest one it holds); there are kSlots = 8.
//
// Epilogue per output row: accumulators + bias → a float staging tile [64 pixels][64 channels] of the warpgroup
// (the accumulator is channels x pixels, y is pixels x channels); then each thread takes 16-byte pieces (one pixel,
// 8 channels), adds z in float32, rounds once, applies ReLU (on the rounded pairs: it commutes with rounding) and
// stores: a row segment of y is 8 KB contiguous.
//
// With a 2x2 MaxPool (WgmmaConvPool; outH and outW even) the CTAs' ranges are whole row pairs, so output rows
// 2i and 2i + 1 of a strip are the two warpgroups' consecutive rows (warpgroup 0 has the even ones). Warpgroup 0's
// epilogue also puts its rounded row into a shared "pair" buffer and arrives on the pair's named barrier; warpgroup
// 1's epilogue waits there and, per 2x2 window, takes the maximum of the four values in MaxPoolNhwc's order and rule
// ((2i, 2j), (2i, 2j + 1), (2i + 1, 2j), (2i + 1, 2j + 1); the first counts, a later one replaces it only when
// strictly greater), so the pooled output is bit for bit the separate pool's over y. Pairs alternate between two
// buffers and two barriers: warpgroup 0 cannot start the epilogue of pair p + 2 before warpgroup 1 has issued the
// wgmmas of row 2p + 3, which come after its epilogue of pair p.
#include <cudaTypedefs.h>

#include <algorithm>
#include <climits>
#include <cstdint>

#include "backends/cuda/kernels/aligned.h"
#include "backends/cuda/kernels/conv_wgmma.h"
#include "backends/cuda/kernels/launch_cache.h"
#include "backends/cuda/kernels/mma_common.cuh"
#include "backends/cuda/kernels/wgmma_common.cuh"

namespace kiln::cuda {

namespace {

constexpr int kConsumers = 2;                     // consumer warpgroups
constexpr int kThreads = (kConsumers + 1) * 128;  // + the producer warpgroup
// Registers per thread after setmaxnreg: 2 x 128 x 240 + 128 x 24 <= 64 K. At launch each thread has 168 (with 12
// warps, 3 share each quarter of the SM's register file).
constexpr int kConsumerRegisters = 240;
constexpr int kProducerRegisters = 24;
constexpr int kChannels = kWgmmaConvChannels;        // input channels: one slot holds them all
constexpr int kChunks = kChannels / 8;               // 8-channel chunks per slot
constexpr int kTileN = 64;                           // output pixels per row segment (wgmma N)
constexpr int kPieces = kTileN * kChunks / 128;      // 16-byte output pieces per consumer thread and row
constexpr int kStageLd = kWgmmaConvOutChannels + 4;  // floats per staged pixel (conflict-free writes)
constexpr int kStageBytes = kTileN * kStageLd * 4;   // one warpgroup's staging tile
constexpr int kMaxShared = 227 * 1024;               // the H100's opt-in maximum per CTA
// Input rows in the ring: a power of two (the slot and phase of a load are a mask and a shift), > kH; 8 rows of
// 64 + 2 pixels take 72 KB.
constexpr uint32_t kSlots = 8;
// Named barrier ids (0 is __syncthreads): each consumer warpgroup's staging tile, and its turn to issue wgmmas.
constexpr int kStageBarrier = 1;
constexpr int kTurnBarrier = 3;
constexpr int kConsumersBarrier = 5;               // both consumer warpgroups: the head's weights are staged
constexpr int kPairBarrier = 6;                    // 6, 7: pair p's even row is in pair buffer p % 2 (the MaxPool)
constexpr int kPairBytes = kTileN * kChunks * 16;  // one pair buffer: a rounded row segment
// The head's weights in shared memory as float [kWgmmaConvMaxHead][2 halves of 32 channels][kHeadLd]: the two halves
// 36 floats apart, so that the two threads of a pixel read them on different banks; then its bias, float
// [kWgmmaConvMaxHead].
constexpr int kHeadLd = 36;
constexpr int kHeadBytes = (kWgmmaConvMaxHead * 2 * kHeadLd + kWgmmaConvMaxHead) * 4;

//! What the epilogue does with a row: store it (y), reduce it by the 1x1 head (WgmmaConvHead; y not stored), or
//! store it and pool it 2x2 with the next row (WgmmaConvPool).
enum class Epilogue { kStore, kHead, kPool };

//! What the kernel needs besides the tensor map (host-computed once per launch).
struct Geometry {
    const void* w = nullptr;
    const void* bias = nullptr;
    const void* z = nullptr;
    void* y = nullptr;
    int outH = 0, outW = 0, padTop = 0, padLeft = 0;
    int tilesX = 0;   // row segments of kTileN pixels per output row
    int rows = 0;     // batch x tilesX x outH row segments, split between the CTAs in units of rowStep (RowRange)
    int rowStep = 1;  // 2 with the MaxPool: the CTAs' ranges are whole row pairs
    int offStage = 0, offRing = 0, offHead = 0, offPair = 0, bytes = 0;  // shared memory (after the barriers at 0)
    int relu = 0;
    // The 1x1 head (WgmmaConvHead): its weights [headK][64], bias, output [batch, outH, outW, headK]; 0: none.
    const void* w2 = nullptr;
    const void* b2 = nullptr;
    void* headOut = nullptr;
    int headK = 0;
    // The 2x2 MaxPool's output [batch, outH / 2, outW / 2, 64] (WgmmaConvPool); null: none.
    void* pooled = nullptr;
};

constexpr int roundUp(int v, int m) { return (v + m - 1) / m * m; }

//! A slot's geometry for kernel width KW (P = 63 + KW pixels): chunk stride, slot stride, the bytes its TMA loads
//! write. Compile-time, so that every wgmma descriptor of a row is one base per input row plus an immediate.
template <int KW>
struct SlotShape {
    static constexpr int kPixels = kTileN + KW - 1;
    static constexpr int kChunkBytes = roundUp(kPixels * 16, 128);
    static constexpr int kSlotBytes = kChunks * kChunkBytes;
    static constexpr int kLoadBytes = kChunks * kPixels * 16;
};

//! One strip: image, first output column, output rows [y0, y1).
struct Strip {
    int img, x0, y0, y1;
};

//! The CTA's row segments: the range [lo, hi) of the row segments numbered image by image, column tile by column
//! tile, row by row; the same count (within one rowStep) for every CTA, lo and hi multiples of rowStep. A strip is a
//! run of them in one column tile.
struct RowRange {
    int lo, hi;
};

__device__ __forceinline__ RowRange rowRangeOfCta(const Geometry& g) {
    const int64_t grid = gridDim.x, units = g.rows / g.rowStep;
    return {static_cast<int>(units * blockIdx.x / grid) * g.rowStep,
            static_cast<int>(units * (blockIdx.x + 1) / grid) * g.rowStep};
}

//! The strip that starts at row segment `start` and ends at its column tile's last row or at `hi`.
__device__ __forceinline__ Strip stripAt(const Geometry& g, int start, int hi) {
    Strip s;
    const int seg = start / g.outH;
    s.y0 = start - seg * g.outH;
    s.y1 = min(g.outH, s.y0 + (hi - start));
    s.x0 = (seg % g.tilesX) * kTileN;
    s.img = seg / g.tilesX;
    return s;
}

//! The A fragments of the weights [64][KH][KW][64] for every tap (see wgmma_common.cuh for the layout): rows
//! m0 = 16 q + g and m0 + 8, channels 2t, 2t + 1 (+ 8) of each k-step.
template <int KH, int KW>
__device__ __forceinline__ void loadWeights(uint32_t (&a)[KH * KW][4][4], const uint16_t* w, int m0, int t) {
    constexpr int kRowStride = KH * KW * kChannels;
#pragma unroll
    for (int tap = 0; tap < KH * KW; ++tap) {
#pragma unroll
        for (int kk = 0; kk < 4; ++kk) {
            const uint16_t* r0 = w + m0 * kRowStride + tap * kChannels + kk * 16 + 2 * t;
            const uint16_t* r1 = r0 + 8 * kRowStride;
            a[tap][kk][0] = __ldg(reinterpret_cast<const unsigned int*>(r0));
            a[tap][kk][1] = __ldg(reinterpret_cast<const unsigned int*>(r1));
            a[tap][kk][2] = __ldg(reinterpret_cast<const unsigned int*>(r0 + 8));
            a[tap][kk][3] = __ldg(reinterpret_cast<const unsigned int*>(r1 + 8));
        }
    }
}

//! The producer: every load of every strip of this CTA, in order (one thread).
template <int KH, int KW>
__device__ __forceinline__ void produce(const CUtensorMap* map, const Geometry& g, unsigned char* ring, uint64_t* full,
                                        uint64_t* empty) {
    uint32_t load = 0;
    const RowRange range = rowRangeOfCta(g);
    for (int start = range.lo; start < range.hi;) {
        const Strip s = stripAt(g, start, range.hi);
        start += s.y1 - s.y0;
        const int rows = s.y1 - s.y0 + KH - 1;
        for (int r = 0; r < rows; ++r, ++load) {
            const uint32_t slot = load % kSlots;
            hopper::mbarWait(&empty[slot], ((load / kSlots) & 1) ^ 1);
            hopper::mbarArriveExpectTx(&full[slot], SlotShape<KW>::kLoadBytes);
            unsigned char* dst = ring + slot * SlotShape<KW>::kSlotBytes;
#pragma unroll
            for (int q = 0; q < kChunks; ++q) {
                hopper::tmaLoad4d(dst + q * SlotShape<KW>::kChunkBytes, map, &full[slot], q * 8, s.x0 - g.padLeft,
                                  s.y0 - g.padTop + r, s.img);
            }
        }
    }
}

//! The z pieces of a row (see storeRow) into registers, zeros without z or past outW.
template <typename T>
__device__ __forceinline__ void loadRowZ(const Geometry& g, uint4 (&zr)[kPieces], int tid, int img, int oy, int x0) {
    const int64_t rowBase = (static_cast<int64_t>(img) * g.outH + oy) * g.outW;
#pragma unroll
    for (int i = 0; i < kPieces; ++i) {
        const int piece = tid + 128 * i;
        const int ox = x0 + piece / kChunks;
        zr[i] = make_uint4(0, 0, 0, 0);
        if (g.z != nullptr && ox < g.outW) {
            zr[i] = __ldg(reinterpret_cast<const uint4*>(
                static_cast<const T*>(g.z) + (rowBase + ox) * kWgmmaConvOutChannels + 8 * (piece % kChunks)));
        }
    }
}

//! The warpgroup's accumulators + bias → its float staging tile [64 pixels][kStageLd] (rows m0 and m0 + 8 of the
//! accumulator are channels, its columns pixels).
__device__ __forceinline__ void stageAccumulators(const float (&acc)[32], float bias0, float bias1, float* stage,
                                                  int m0, int t) {
#pragma unroll
    for (int j = 0; j < 8; ++j) {
        const int n = 8 * j + 2 * t;
        stage[n * kStageLd + m0] = acc[4 * j] + bias0;
        stage[(n + 1) * kStageLd + m0] = acc[4 * j + 1] + bias0;
        stage[n * kStageLd + m0 + 8] = acc[4 * j + 2] + bias1;
        stage[(n + 1) * kStageLd + m0 + 8] = acc[4 * j + 3] + bias1;
    }
}

//! Piece (pixel px, channels 8q..8q+7) of a staged row: + z, rounded once, ReLU on the rounded pairs (it commutes
//! with rounding; NaN stays NaN, as the reference's x < 0 ? 0 : x).
template <typename T>
__device__ __forceinline__ uint4 finalPiece(const Geometry& g, const float* stage, const uint4& z, int px, int q) {
    // Pieces q and q + 4 of a pixel start 32 floats apart, one bank: the upper four read their halves in the other
    // order, so that each quarter warp's 16-byte reads cover the 32 banks once.
    const int half = q & 4;
    const float4 a = *reinterpret_cast<const float4*>(stage + px * kStageLd + 8 * q + half);
    const float4 b = *reinterpret_cast<const float4*>(stage + px * kStageLd + 8 * q + (4 - half));
    const float4 lo = half ? b : a, hi = half ? a : b;
    float v[8] = {lo.x, lo.y, lo.z, lo.w, hi.x, hi.y, hi.z, hi.w};
    if (g.z != nullptr) {
        const T* zv = reinterpret_cast<const T*>(&z);
#pragma unroll
        for (int e = 0; e < 8; ++e) v[e] += static_cast<float>(zv[e]);
    }
    uint4 out;
    out.x = mma::pack2<T>(v[0], v[1]);
    out.y = mma::pack2<T>(v[2], v[3]);
    out.z = mma::pack2<T>(v[4], v[5]);
    out.w = mma::pack2<T>(v[6], v[7]);
    if (g.relu) {
        out.x = mma::reluNan2<T>(out.x);
        out.y = mma::reluNan2<T>(out.y);
        out.z = mma::reluNan2<T>(out.z);
        out.w = mma::reluNan2<T>(out.w);
    }
    return out;
}

//! MaxPoolNhwc's step over two packed pairs: each half of `tap` replaces `m`'s only when strictly greater (ordered:
//! never NaN), so the first tap of a window counts even when NaN and the first of equal values stays.
template <typename T>
__device__ __forceinline__ uint32_t poolStep2(uint32_t m, uint32_t tap) {
    uint32_t greater;
    if constexpr (std::is_same_v<T, __half>) {
        greater = __hgt2_mask(*reinterpret_cast<const __half2*>(&tap), *reinterpret_cast<const __half2*>(&m));
    } else {
        greater =
            __hgt2_mask(*reinterpret_cast<const __nv_bfloat162*>(&tap), *reinterpret_cast<const __nv_bfloat162*>(&m));
    }
    return (m & ~greater) | (tap & greater);
}

template <typename T>
__device__ __forceinline__ uint4 poolStep(const uint4& m, const uint4& tap) {
    return make_uint4(poolStep2<T>(m.x, tap.x), poolStep2<T>(m.y, tap.y), poolStep2<T>(m.z, tap.z),
                      poolStep2<T>(m.w, tap.w));
}

__device__ __forceinline__ uint4 shuffleXor(const uint4& v, int mask) {
    return make_uint4(__shfl_xor_sync(0xffffffffu, v.x, mask), __shfl_xor_sync(0xffffffffu, v.y, mask),
                      __shfl_xor_sync(0xffffffffu, v.z, mask), __shfl_xor_sync(0xffffffffu, v.w, mask));
}

//! Where a row's epilogue pools (kPool): the pair buffer and named barrier of the row's pair, and whether the row is
//! the pair's first (even) one.
struct PairSlot {
    uint4* buffer;
    int barrier;
    bool first;
};

//! acc + bias → staging; then z (`zr`, loadRowZ), rounding, ReLU and 16-byte stores of the row segment (ox < outW
//! only). kPool: the pair's first row also goes into the pair buffer; the second one's epilogue pools the two (see
//! the top of the file) into g.pooled.
template <typename T, bool kPool>
__device__ __forceinline__ void storeRow(const Geometry& g, const float (&acc)[32], const uint4 (&zr)[kPieces],
                                         float bias0, float bias1, float* stage, int tid, int m0, int t, int barrierId,
                                         int img, int oy, int x0, const PairSlot& pair) {
    stageAccumulators(acc, bias0, bias1, stage, m0, t);
    hopper::namedBarrier(barrierId, 128);
    if (kPool && !pair.first) hopper::namedBarrier(pair.barrier, 2 * 128);  // the pair's first row is in the buffer
    const int64_t rowBase = (static_cast<int64_t>(img) * g.outH + oy) * g.outW;
#pragma unroll
    for (int i = 0; i < kPieces; ++i) {
        const int piece = tid + 128 * i;
        const int px = piece / kChunks, q = piece % kChunks;
        const int ox = x0 + px;
        if constexpr (kPool) {
            // Every lane computes its piece (the shuffle takes the whole warp); outW is even, so a window's two
            // pixels are both inside or both past it.
            const uint4 out = finalPiece<T>(g, stage, zr[i], px, q);
            if (pair.first) {
                pair.buffer[piece] = out;
            } else {
                const uint4 right = shuffleXor(out, kChunks);  // pixel px ^ 1, the same channels: piece ^ 8
                if ((px & 1) == 0 && ox < g.outW) {
                    uint4 m = pair.buffer[piece];
                    m = poolStep<T>(m, pair.buffer[piece + kChunks]);
                    m = poolStep<T>(m, out);
                    m = poolStep<T>(m, right);
                    const int64_t pooled = (static_cast<int64_t>(img) * (g.outH / 2) + oy / 2) * (g.outW / 2) + ox / 2;
                    *reinterpret_cast<uint4*>(static_cast<T*>(g.pooled) + pooled * kWgmmaConvOutChannels + 8 * q) = m;
                }
            }
            if (ox < g.outW) {
                *reinterpret_cast<uint4*>(static_cast<T*>(g.y) + (rowBase + ox) * kWgmmaConvOutChannels + 8 * q) = out;
            }
        } else {
            if (ox >= g.outW) continue;
            *reinterpret_cast<uint4*>(static_cast<T*>(g.y) + (rowBase + ox) * kWgmmaConvOutChannels + 8 * q) =
                finalPiece<T>(g, stage, zr[i], px, q);
        }
    }
    if (kPool && pair.first) hopper::namedBarrierArrive(pair.barrier, 2 * 128);  // the buffer holds the row
    hopper::namedBarrier(barrierId, 128);  // the staging tile is free for the next row
}

//! The head's weights and bias → shared memory as float (kHeadLd layout), by the 256 consumer threads.
template <typename T>
__device__ __forceinline__ void stageHead(const Geometry& g, float* w2s) {
    const int tid = static_cast<int>(threadIdx.x);  // 0..255: the consumers
    const T* w2 = static_cast<const T*>(g.w2);
    for (int i = tid; i < g.headK * kWgmmaConvChannels; i += kConsumers * 128) {
        const int k = i / kWgmmaConvChannels, ch = i % kWgmmaConvChannels;
        w2s[(2 * k + ch / 32) * kHeadLd + ch % 32] = static_cast<float>(w2[i]);
    }
    float* b2s = w2s + kWgmmaConvMaxHead * 2 * kHeadLd;
    if (tid < kWgmmaConvMaxHead) {
        b2s[tid] = g.b2 != nullptr && tid < g.headK ? static_cast<float>(static_cast<const T*>(g.b2)[tid]) : 0.0f;
    }
    hopper::namedBarrier(kConsumersBarrier, kConsumers * 128);
}

//! h = act(acc + bias) rounded to T (what a separate layer would read), as float.
template <typename T>
__device__ __forceinline__ float headInput(float v, int relu) {
    if (relu) v = v < 0.0f ? 0.0f : v;  // NaN stays NaN
    return static_cast<float>(static_cast<T>(v));
}

//! The epilogue with a head: acc + bias → staging; then two threads per pixel (32 channels each) take the dot
//! products of h with the head's rows, add their halves (a shuffle) and the bias, and the first of the two stores the
//! pixel's headK values (ox < outW only). y is not written.
template <typename T>
__device__ __forceinline__ void storeRowHead(const Geometry& g, const float (&acc)[32], float bias0, float bias1,
                                             float* stage, const float* w2s, int tid, int m0, int t, int barrierId,
                                             int img, int oy, int x0) {
    stageAccumulators(acc, bias0, bias1, stage, m0, t);
    hopper::namedBarrier(barrierId, 128);
    const int px = tid >> 1, half = tid & 1;
    float sum[kWgmmaConvMaxHead];
#pragma unroll
    for (int k = 0; k < kWgmmaConvMaxHead; ++k) sum[k] = 0.0f;
#pragma unroll
    for (int j = 0; j < 8; ++j) {
        // The second half starts 4 vectors later: the pixel's two threads read different banks.
        const int jj = (j + 4 * half) & 7;
        const float4 v = *reinterpret_cast<const float4*>(stage + px * kStageLd + 32 * half + 4 * jj);
        const float h0 = headInput<T>(v.x, g.relu), h1 = headInput<T>(v.y, g.relu);
        const float h2 = headInput<T>(v.z, g.relu), h3 = headInput<T>(v.w, g.relu);
#pragma unroll
        for (int k = 0; k < kWgmmaConvMaxHead; ++k) {
            if (k < g.headK) {
                const float4 w = *reinterpret_cast<const float4*>(w2s + (2 * k + half) * kHeadLd + 4 * jj);
                sum[k] += h0 * w.x + h1 * w.y + h2 * w.z + h3 * w.w;
            }
        }
    }
    const float* b2s = w2s + kWgmmaConvMaxHead * 2 * kHeadLd;
    const int ox = x0 + px;
    T* out = static_cast<T*>(g.headOut) + ((static_cast<int64_t>(img) * g.outH + oy) * g.outW + ox) * g.headK;
#pragma unroll
    for (int k = 0; k < kWgmmaConvMaxHead; ++k) {
        if (k < g.headK) {
            sum[k] += __shfl_xor_sync(0xffffffffu, sum[k], 1);
            if (half == 0 && ox < g.outW) out[k] = static_cast<T>(sum[k] + b2s[k]);
        }
    }
    hopper::namedBarrier(barrierId, 128);  // the staging tile is free for the next row
}

//! Releases loads [released, keep) of the calling warpgroup. A load may be one it never read (an input row only the
//! other warpgroup's output rows use) and may not have been issued yet: arriving on its "empty" barrier then would
//! count towards the slot's previous load, which the other warpgroup may still be reading. So each is first waited
//! for on its "full" barrier, in order, which keeps the parity unambiguous (the slot's previous load was waited for
//! by this warpgroup, and its next cannot be issued before this release).
__device__ __forceinline__ void releaseUpTo(uint32_t keep, uint32_t& released, uint64_t* full, uint64_t* empty) {
    for (; released < keep; ++released) {
        hopper::mbarWait(&full[released % kSlots], (released / kSlots) & 1);
        hopper::mbarArrive(&empty[released % kSlots]);
    }
}

//! One consumer warpgroup (`wg`): its output rows of every strip of this CTA (the CTA's rows numbered across its
//! strips, row k is warpgroup k % 2's), in turn with the other warpgroup (named barriers kTurnBarrier + wg: the
//! warpgroup of row k waits there until row k - 1's wgmmas are issued). kPool: `pairs` are the two pair buffers.
template <typename T, int KH, int KW, Epilogue kMode>
__device__ __forceinline__ void consume(const Geometry& g, unsigned char* ring, uint64_t* full, uint64_t* empty,
                                        float* stage, float* w2s, uint4* pairs, int wg) {
    constexpr bool kHead = kMode == Epilogue::kHead;
    const int tid = static_cast<int>(threadIdx.x) % 128;
    const int q = tid / 32, lane = tid % 32, grp = lane / 4, t = lane % 4;
    const int m0 = 16 * q + grp;
    const T* bias = static_cast<const T*>(g.bias);
    const float bias0 = bias ? static_cast<float>(bias[m0]) : 0.0f;
    const float bias1 = bias ? static_cast<float>(bias[m0 + 8]) : 0.0f;
    uint32_t a[KH * KW][4][4];
    loadWeights<KH, KW>(a, static_cast<const uint16_t*>(g.w), m0, t);
    if constexpr (kHead) stageHead<T>(g, w2s);
    // The descriptor of the ring's first byte: K-major, no swizzle, LBO = the chunk stride, SBO = 128 (see above).
    const uint64_t ringDesc = hopper::wgmmaDescriptor(hopper::smemAddress(ring), SlotShape<KW>::kChunkBytes, 128);
    float acc[32];
#pragma unroll
    for (int i = 0; i < 32; ++i) acc[i] = 0.0f;
    uint32_t first = 0, released = 0;  // the strip's first load; loads below `released` are released
    const RowRange range = rowRangeOfCta(g);
    for (int start = range.lo; start < range.hi;) {
        const Strip s = stripAt(g, start, range.hi);
        const int rowsBefore = start - range.lo;  // the CTA's output rows in the strips before this one
        const int rows = s.y1 - s.y0;
        start += rows;
        const uint32_t end = first + static_cast<uint32_t>(rows + KH - 1);
        const bool lastStrip = start >= range.hi;
        for (int r = (wg + rowsBefore) & 1; r < rows; r += kConsumers) {
            if (rowsBefore + r > 0) hopper::namedBarrier(kTurnBarrier + wg, 2 * 128);
            // Every input row of the output row first: no waiting between the wgmmas (ptxas would fence them). Each
            // row's descriptor base; the taps and k-steps are immediate offsets from it (the start address field,
            // address / 16, stays below 2^14 in the 227 KB of shared memory, so the adds never carry out of it).
            using Shape = SlotShape<KW>;
            uint64_t rowDesc[KH];
#pragma unroll
            for (int dy = 0; dy < KH; ++dy) {
                const uint32_t load = first + static_cast<uint32_t>(r + dy);
                hopper::mbarWait(&full[load % kSlots], (load / kSlots) & 1);
                rowDesc[dy] = ringDesc + (((load % kSlots) * Shape::kSlotBytes) >> 4);
            }
            hopper::fenceRegisters(acc);
            hopper::wgmmaFence();
#pragma unroll
            for (int dy = 0; dy < KH; ++dy) {
#pragma unroll
                for (int dx = 0; dx < KW; ++dx) {
#pragma unroll
                    for (int kk = 0; kk < 4; ++kk) {
                        const uint64_t desc = rowDesc[dy] + ((2 * kk * Shape::kChunkBytes + dx * 16) >> 4);
                        hopper::wgmmaM64N64K16<T>(acc, a[dy * KW + dx][kk], desc, (dy | dx | kk) != 0 ? 1 : 0);
                    }
                }
            }
            hopper::wgmmaCommit();
            // The other warpgroup's next row may issue now (there is none after the CTA's last row).
            if (r + 1 < rows || !lastStrip) hopper::namedBarrierArrive(kTurnBarrier + (wg ^ 1), 2 * 128);
            uint4 zr[kPieces];  // z waits in registers while the wgmmas run (144 + 32 + 16 of the 240)
            if constexpr (!kHead) loadRowZ<T>(g, zr, tid, s.img, s.y0 + r, s.x0);
            hopper::wgmmaWait<0>();
            hopper::fenceRegisters(acc);
            // Input rows below the first one this warpgroup's next output row of the strip reads are done with.
            const uint32_t keep = r + kConsumers < rows ? first + static_cast<uint32_t>(r + kConsumers) : end;
            releaseUpTo(keep, released, full, empty);
            if constexpr (kHead) {
                storeRowHead<T>(g, acc, bias0, bias1, stage, w2s, tid, m0, t, kStageBarrier + wg, s.img, s.y0 + r,
                                s.x0);
            } else {
                // The CTA's row k = rowsBefore + r is the first of pair k / 2 when even (warpgroup 0's; with the
                // MaxPool, rowStep 2 makes every strip start at an even output row).
                const int pair = (rowsBefore + r) >> 1;
                const PairSlot slot{pairs + (pair & 1) * (kPairBytes / 16), kPairBarrier + (pair & 1), wg == 0};
                storeRow<T, kMode == Epilogue::kPool>(g, acc, zr, bias0, bias1, stage, tid, m0, t, kStageBarrier + wg,
                                                      s.img, s.y0 + r, s.x0, slot);
            }
        }
        releaseUpTo(end, released, full, empty);
        first = end;
    }
}

template <typename T, int KH, int KW, Epilogue kMode>
__global__ void __launch_bounds__(kThreads, 1)
    wgmmaConvKernel(const __grid_constant__ CUtensorMap xMap, const __grid_constant__ Geometry g) {
#if KILN_WGMMA_ARCH
    extern __shared__ __align__(128) unsigned char dynamicSmem[];
    // TMA destinations must be 128-byte aligned; the launch asks for 128 bytes of slack. Pointer arithmetic (not an
    // integer round trip) keeps every pointer below known as shared memory: the staging tile's accesses are then
    // LDS / STS rather than generic loads and stores (ncu: those went through the long scoreboard).
    unsigned char* smem = dynamicSmem + ((128u - (hopper::smemAddress(dynamicSmem) & 127u)) & 127u);
    auto* full = reinterpret_cast<uint64_t*>(smem);
    uint64_t* empty = full + kSlots;
    // The warpgroup index through a shuffle: the compiler then knows it is the same across the warp, so the
    // wgmma path below is not "divergent" (ptxas otherwise serializes the wgmmas: warning C7520).
    const int wgIndex = __shfl_sync(0xffffffffu, static_cast<int>(threadIdx.x) / 128, 0);
    if (threadIdx.x == 0) {
        for (uint32_t s = 0; s < kSlots; ++s) {
            hopper::mbarInit(&full[s], 1);
            hopper::mbarInit(&empty[s], kConsumers * 128);
        }
        hopper::mbarInitFence();
    }
    __syncthreads();
    // The two roles as the two branches of one if / else: ptxas then gives each branch the registers its
    // setmaxnreg sets (with an early return instead, the consumers were held to the 168 of the entry).
    if (wgIndex >= kConsumers) {
        hopper::setMaxRegisters<kProducerRegisters, false>();
        if (threadIdx.x == kConsumers * 128) {
            hopper::tmaPrefetchDescriptor(&xMap);
            produce<KH, KW>(&xMap, g, smem + g.offRing, full, empty);
        }
    } else {
        hopper::setMaxRegisters<kConsumerRegisters, true>();
        consume<T, KH, KW, kMode>(
            g, smem + g.offRing, full, empty, reinterpret_cast<float*>(smem + g.offStage + wgIndex * kStageBytes),
            reinterpret_cast<float*>(smem + g.offHead), reinterpret_cast<uint4*>(smem + g.offPair), wgIndex);
    }
#endif
}

// ---- host ----

//! The ring and the shared-memory layout of a problem; false when they do not fit.
bool layoutFor(const WgmmaConvParams& p, Geometry& g) {
    const int slotBytes = p.kernelW == 1 ? SlotShape<1>::kSlotBytes : SlotShape<3>::kSlotBytes;
    const int barriers = roundUp(2 * static_cast<int>(kSlots) * 8, 128);
    g.offStage = barriers;
    g.offRing = barriers + kConsumers * kStageBytes;
    g.offHead = g.offRing + static_cast<int>(kSlots) * slotBytes;
    g.offPair = roundUp(g.offHead + kHeadBytes, 16);
    g.bytes = 128 + g.offPair + 2 * kPairBytes;
    return g.bytes <= kMaxShared;
}

using EncodeTiled = PFN_cuTensorMapEncodeTiled_v12000;

EncodeTiled encodeTiled() {
    static const EncodeTiled fn = []() -> EncodeTiled {
        void* ptr = nullptr;
        cudaDriverEntryPointQueryResult found{};
        if (cudaGetDriverEntryPointByVersion("cuTensorMapEncodeTiled", &ptr, 12000, cudaEnableDefault, &found) !=
                cudaSuccess ||
            found != cudaDriverEntryPointSuccess) {
            return nullptr;
        }
        return reinterpret_cast<EncodeTiled>(ptr);
    }();
    return fn;
}

//! x as a 4-D tensor [batch][inH][inW][C] (innermost first for TMA), box 8 channels x (63 + kW) pixels.
bool encodeInput(const WgmmaConvParams& p, CUtensorMap& map) {
    const EncodeTiled encode = encodeTiled();
    if (encode == nullptr) return false;
    const cuuint64_t dims[4] = {static_cast<cuuint64_t>(p.channels), static_cast<cuuint64_t>(p.inW),
                                static_cast<cuuint64_t>(p.inH), static_cast<cuuint64_t>(p.batch)};
    const cuuint64_t strides[3] = {static_cast<cuuint64_t>(p.channels) * 2,
                                   static_cast<cuuint64_t>(p.inW) * p.channels * 2,
                                   static_cast<cuuint64_t>(p.inH) * p.inW * p.channels * 2};
    const cuuint32_t box[4] = {8, static_cast<cuuint32_t>(kTileN + p.kernelW - 1), 1, 1};
    const cuuint32_t elementStrides[4] = {1, 1, 1, 1};
    const CUtensorMapDataType type =
        p.dtype == DataType::kFloat16 ? CU_TENSOR_MAP_DATA_TYPE_FLOAT16 : CU_TENSOR_MAP_DATA_TYPE_BFLOAT16;
    return encode(&map, type, 4, const_cast<void*>(p.x), dims, strides, box, elementStrides,
                  CU_TENSOR_MAP_INTERLEAVE_NONE, CU_TENSOR_MAP_SWIZZLE_NONE, CU_TENSOR_MAP_L2_PROMOTION_L2_128B,
                  CU_TENSOR_MAP_FLOAT_OOB_FILL_NONE) == CUDA_SUCCESS;
}

template <typename T, int KH, int KW, Epilogue kMode>
cudaError_t launchAs(const CUtensorMap& map, const Geometry& g, int ctas, cudaStream_t stream) {
    auto* kernel = wgmmaConvKernel<T, KH, KW, kMode>;
    // Past 48 KB a kernel must opt in to dynamic shared memory; asked once per device for the most any layout uses.
    const cudaError_t err = allowDynamicSharedMemory(reinterpret_cast<const void*>(kernel), kMaxShared);
    if (err != cudaSuccess) return err;
    kernel<<<static_cast<unsigned>(ctas), kThreads, static_cast<size_t>(g.bytes), stream>>>(map, g);
    return cudaGetLastError();
}

template <typename T, Epilogue kMode>
cudaError_t launchFor(const WgmmaConvParams& p, const CUtensorMap& map, const Geometry& g, int ctas,
                      cudaStream_t stream) {
    return p.kernelH == 1 ? launchAs<T, 1, 1, kMode>(map, g, ctas, stream)
                          : launchAs<T, 3, 3, kMode>(map, g, ctas, stream);
}

template <typename T>
cudaError_t launchFor(const WgmmaConvParams& p, const CUtensorMap& map, const Geometry& g, int ctas,
                      cudaStream_t stream) {
    if (g.headK > 0) return launchFor<T, Epilogue::kHead>(p, map, g, ctas, stream);
    if (g.pooled != nullptr) return launchFor<T, Epilogue::kPool>(p, map, g, ctas, stream);
    return launchFor<T, Epilogue::kStore>(p, map, g, ctas, stream);
}

}  // namespace

bool wgmmaConvSupports(const WgmmaConvParams& p) {
    if (p.dtype != DataType::kFloat16 && p.dtype != DataType::kBFloat16) return false;
    if (p.outChannels != kWgmmaConvOutChannels) return false;
    if (p.channels != kWgmmaConvChannels) return false;
    if (p.kernelH != p.kernelW || (p.kernelH != 1 && p.kernelH != 3)) return false;
    if (p.strideH != 1 || p.strideW != 1 || p.padTop < 0 || p.padLeft < 0) return false;
    if (p.batch < 0 || p.inH < 0 || p.inW < 0 || p.outH < 0 || p.outW < 0) return false;
    // Stride 1: the bottom / right padding outH / outW imply must be >= 0.
    if (static_cast<int64_t>(p.outH) - p.inH - p.padTop + p.kernelH - 1 < 0) return false;
    if (static_cast<int64_t>(p.outW) - p.inW - p.padLeft + p.kernelW - 1 < 0) return false;
    if (static_cast<int64_t>(p.inH) * p.inW * p.channels > INT_MAX) return false;
    if (static_cast<int64_t>(p.outH) * p.outW * p.outChannels > INT_MAX) return false;
    if (static_cast<int64_t>(p.outH) + p.kernelH > INT_MAX / 2 || static_cast<int64_t>(p.outW) + kTileN > INT_MAX / 2)
        return false;
    // Row segments numbered in an int.
    if (static_cast<int64_t>(p.batch) * ((p.outW + kTileN - 1) / kTileN) * p.outH > INT_MAX) return false;
    Geometry g;
    return layoutFor(p, g);
}

bool wgmmaConvDeviceSupported() {
    int major = 0, minor = 0;
    return currentDeviceAttribute(cudaDevAttrComputeCapabilityMajor, major) == cudaSuccess &&
           currentDeviceAttribute(cudaDevAttrComputeCapabilityMinor, minor) == cudaSuccess && major == 9 &&
           minor == 0 && encodeTiled() != nullptr;
}

bool wgmmaConvPoolSupports(const WgmmaConvParams& p) {
    return wgmmaConvSupports(p) && p.outH % 2 == 0 && p.outW % 2 == 0;
}

cudaError_t launchWgmmaConv(const WgmmaConvParams& p, cudaStream_t stream, int maxCtas, const WgmmaConvHead* head,
                            const WgmmaConvPool* pool) {
    if (!wgmmaConvSupports(p) || !aligned16(p.x) || !aligned16(p.w) || !aligned16(p.y) || !aligned16(p.z)) {
        return cudaErrorInvalidValue;
    }
    if (head != nullptr &&
        (head->k < 1 || head->k > kWgmmaConvMaxHead || head->w2 == nullptr || head->out == nullptr || p.z != nullptr)) {
        return cudaErrorInvalidValue;
    }
    if (pool != nullptr && (head != nullptr || !wgmmaConvPoolSupports(p) || pool->out == nullptr || p.y == nullptr ||
                            !aligned16(pool->out))) {
        return cudaErrorInvalidValue;
    }
    if (static_cast<int64_t>(p.batch) * p.outH * p.outW == 0) return cudaSuccess;
    if (p.x == nullptr || p.w == nullptr || (head == nullptr && p.y == nullptr)) return cudaErrorInvalidValue;
    if (!wgmmaConvDeviceSupported()) return cudaErrorNotSupported;
    Geometry g;
    layoutFor(p, g);
    g.tilesX = (p.outW + kTileN - 1) / kTileN;
    g.rows = p.batch * g.tilesX * p.outH;
    int sms = 0;
    cudaError_t err = currentDeviceSmCount(sms);
    if (err != cudaSuccess) return err;
    g.w = p.w;
    g.bias = p.bias;
    g.z = p.z;
    g.y = p.y;
    g.outH = p.outH;
    g.outW = p.outW;
    g.padTop = p.padTop;
    g.padLeft = p.padLeft;
    g.relu = p.relu ? 1 : 0;
    if (head != nullptr) {
        g.w2 = head->w2;
        g.b2 = head->b2;
        g.headOut = head->out;
        g.headK = head->k;
    }
    if (pool != nullptr) {
        g.pooled = pool->out;
        g.rowStep = 2;
    }
    CUtensorMap map{};
    if (!encodeInput(p, map)) return cudaErrorInvalidValue;
    const int ctas = std::min(g.rows / g.rowStep, maxCtas > 0 ? std::min(maxCtas, sms) : sms);
    return p.dtype == DataType::kFloat16 ? launchFor<__half>(p, map, g, ctas, stream)
                                         : launchFor<__nv_bfloat16>(p, map, g, ctas, stream);
}

}  // namespace kiln::cuda
