// Kiln's one-pass ConvTranspose for non-overlapping taps (conv_transpose_mma.h): D = X · W on tensor cores, each
// (pixel, tap) run of M channels scattered into place.
//
// - A CTA of 8 warps owns a tile of 128 rows (input pixels) x 128 columns ((i, j, m) triples); blockIdx runs over
//   the column tiles of one row tile first, so the CTAs that read the same x rows run side by side and all but the
//   first find them in L2: x comes from DRAM once (the cuBLASLt slot path read it once per tap).
// - K (= C) goes in chunks of 32 through two shared-memory stages filled by cp.async (zero-filled past the rows, C
//   and the columns, so tails need no other care): chunk k + 1 loads while chunk k is multiplied.
// - Each warp computes 64 rows x 32 columns: per 16-wide k step, 4 ldmatrix x4 for A, 2 ldmatrix x4 .trans for B
//   (stored K x N row-major, as the weights are) and 16 mma.sync m16n8k16 with float32 accumulators.
// - Epilogue: + bias in float32, one rounding to the dtype, the tile staged through the (then idle) stage buffers,
//   and written with 16-byte stores: a thread's 8 columns lie in one tap (M % 8 == 0), so each store is 16 bytes of
//   one output pixel's slot, and the 16 threads of a row cover its taps' runs of M channels contiguously.
// Shared memory: 2 stages x (128 x 40 + 32 x 136) elements = 37 KB (rows padded by 16 bytes so that ldmatrix and the
// staging are free of bank conflicts), plus 1 KB of per-row output offsets; static. The launch bounds ask for two CTAs
// per SM (<= 128 registers: 124 with sm_90's ptxas, no spills, with each thread's load addresses computed once).
#include "backends/cuda/kernels/conv_transpose_mma.h"

#include "backends/cuda/kernels/common.cuh"
#include "backends/cuda/kernels/mma_common.cuh"

namespace kiln::cuda {

namespace {

using namespace mma;  // the tensor-core helpers in mma_common.cuh

constexpr int kBM = static_cast<int>(kConvTransposeMmaTileRows);
constexpr int kBN = static_cast<int>(kConvTransposeMmaTileCols);
constexpr int kBK = 32;  // K per stage
constexpr int kStages = 2;
constexpr int kWarpsM = 2;  // warps along the rows (64 each) and the columns (32 each)
constexpr int kWarpsN = 4;
constexpr int kThreads = kWarpsM * kWarpsN * 32;
constexpr int kWarpRows = kBM / kWarpsM;  // 64: 4 m16 tiles
constexpr int kWarpCols = kBN / kWarpsN;  // 32: 4 n8 tiles
constexpr int kMt = kWarpRows / 16;
constexpr int kNt = kWarpCols / 8;
constexpr int kAPad = kBK + 8;  // row lengths in shared memory, in elements
constexpr int kBPad = kBN + 8;
constexpr int kOutPad = kBN + 8;
constexpr int kAStage = kBM * kAPad;
constexpr int kBStage = kBK * kBPad;
constexpr int kPipeElems = kStages * (kAStage + kBStage);
constexpr int kOutElems = kBM * kOutPad;  // the staging tile of the epilogue
constexpr int kSharedElems = kPipeElems > kOutElems ? kPipeElems : kOutElems;
static_assert(kBN / 8 * kBM % kThreads == 0 && kThreads % (kBN / 8) == 0, "epilogue: whole rows per pass");
static_assert(kNt % 2 == 0 && kBK % 16 == 0, "B fragments come in pairs of n8 tiles, K in steps of 16");

//! The problem as the kernel indexes it.
template <typename T>
struct Args {
    const T* x;
    const T* w;
    const T* bias;
    T* out;
    int64_t rows;         //!< N * H * W
    int64_t inW;          //!< W
    int64_t kH;           //!< kernel rows
    int64_t outW;         //!< W * kW
    int64_t outChannels;  //!< elements per output pixel
    int64_t offset;       //!< the slot's first channel
    int c;                //!< K
    int cols;             //!< kH * kW * M
    int m;
    int kW;
    int colTiles;
};

//! This thread's share of every stage's loads (kThreads threads, two 16-byte pieces of A and two of B each): where
//! its pieces come from at k0 = 0 and whether their row / column exists, so a stage adds k0 and checks only K.
template <typename T>
struct LoadPlan {
    static constexpr int kAChunks = kBK / 8;  // 16-byte pieces per row of the A tile
    static constexpr int kBChunks = kBN / 8;
    static_assert(kBM * kAChunks == 2 * kThreads && kBK * kBChunks == 2 * kThreads, "two pieces of each per thread");

    const T* a;  //!< x at (row0 + tid / kAChunks, kc); the second piece is kBM / 2 rows further
    const T* b;  //!< W at (tid / kBChunks, n0 + nc); the second piece is kBK / 2 rows further
    int kc, kr, nc;
    bool aRow[2], bCol;

    __device__ __forceinline__ LoadPlan(const Args<T>& g, int64_t row0, int n0) {
        const int tid = static_cast<int>(threadIdx.x);
        const int r = tid / kAChunks;
        kc = tid % kAChunks * 8;
        kr = tid / kBChunks;
        nc = tid % kBChunks * 8;
        aRow[0] = row0 + r < g.rows;
        aRow[1] = row0 + r + kBM / 2 < g.rows;
        bCol = n0 + nc < g.cols;
        a = g.x + (row0 + r) * g.c + kc;
        b = g.w + static_cast<int64_t>(kr) * g.cols + n0 + nc;
    }

    //! Stage buffers ← K chunk [k0, k0 + kBK) (zeros past the rows, C and the columns).
    __device__ __forceinline__ void load(const Args<T>& g, T* sA, T* sB, int k0) const {
        const int r = static_cast<int>(threadIdx.x) / kAChunks;
        const bool kIn = k0 + kc < g.c;
#pragma unroll
        for (int h = 0; h < 2; ++h) {
            const bool valid = kIn && aRow[h];
            const T* src = a + static_cast<int64_t>(h) * (kBM / 2) * g.c + k0;
            cpAsync16(sA + (r + h * kBM / 2) * kAPad + kc, valid ? src : g.x, valid);
        }
#pragma unroll
        for (int h = 0; h < 2; ++h) {
            const int row = kr + h * kBK / 2;
            const bool valid = bCol && k0 + row < g.c;
            const T* src = b + static_cast<int64_t>(k0 + h * kBK / 2) * g.cols;
            cpAsync16(sB + row * kBPad + nc, valid ? src : g.w, valid);
        }
    }
};

//! acc += the warp's 64 x 32 block of A (its rows of sA) · B (its columns of sB) over one stage's kBK.
template <typename T>
__device__ __forceinline__ void multiplyStage(float (&acc)[kMt][kNt][4], const T* sA, const T* sB, int warpRow,
                                              int warpCol, int lane) {
    // ldmatrix x4 of a 16x16 tile: lane l addresses row l % 16, column (l / 16) * 8 (mma_common.cuh).
    const T* aRow = sA + (warpRow * kWarpRows + lane % 16) * kAPad + lane / 16 * 8;
    const T* bRow = sB + (lane % 16) * kBPad + warpCol * kWarpCols + lane / 16 * 8;
#pragma unroll
    for (int ks = 0; ks < kBK / 16; ++ks) {
        uint32_t af[kMt][4];
#pragma unroll
        for (int mt = 0; mt < kMt; ++mt) ldmatrixX4(af[mt], aRow + mt * 16 * kAPad + ks * 16);
        uint32_t bf[kNt][2];
#pragma unroll
        for (int np = 0; np < kNt / 2; ++np) {
            // k rows 0-7 / 8-15 of n 0-7, then of n 8-15: b0, b1 of two n8 tiles.
            uint32_t r[4];
            ldmatrixX4Trans(r, bRow + ks * 16 * kBPad + np * 16);
            bf[2 * np][0] = r[0];
            bf[2 * np][1] = r[1];
            bf[2 * np + 1][0] = r[2];
            bf[2 * np + 1][1] = r[3];
        }
#pragma unroll
        for (int mt = 0; mt < kMt; ++mt) {
#pragma unroll
            for (int nt = 0; nt < kNt; ++nt) mma16816<T>(acc[mt][nt], af[mt], bf[nt][0], bf[nt][1]);
        }
    }
}

template <typename T>
__global__ void __launch_bounds__(kThreads, 2) convTransposeMmaKernel(const Args<T> a) {
    __shared__ __align__(16) T smem[kSharedElems];
    __shared__ int64_t rowBase[kBM];  // output element of (row, tap 0, slot channel 0); -1 past the rows

    const int tid = static_cast<int>(threadIdx.x);
    const int warp = tid / 32;
    const int lane = tid % 32;
    const int warpRow = warp / kWarpsN;
    const int warpCol = warp % kWarpsN;
    const int n0 = static_cast<int>(blockIdx.x % static_cast<unsigned>(a.colTiles)) * kBN;
    const int64_t row0 = static_cast<int64_t>(blockIdx.x / static_cast<unsigned>(a.colTiles)) * kBM;

    const int kTiles = (a.c + kBK - 1) / kBK;
    const LoadPlan<T> plan(a, row0, n0);
    plan.load(a, smem, smem + kAStage, 0);
    cpAsyncCommit();

    // Row r = (n * H + h) * W + w is output pixel ((n * H + h) * kH + i) * OW + w * kW + j for tap (i, j).
    if (tid < kBM) {
        const int64_t r = row0 + tid;
        int64_t base = -1;
        if (r < a.rows) {
            const int64_t nh = r / a.inW;
            const int64_t w = r - nh * a.inW;
            base = (nh * a.kH * a.outW + w * a.kW) * a.outChannels + a.offset;
        }
        rowBase[tid] = base;
    }

    float acc[kMt][kNt][4];
#pragma unroll
    for (int mt = 0; mt < kMt; ++mt) {
#pragma unroll
        for (int nt = 0; nt < kNt; ++nt) {
#pragma unroll
            for (int e = 0; e < 4; ++e) acc[mt][nt][e] = 0.0f;
        }
    }

    for (int kt = 0; kt < kTiles; ++kt) {
        if (kt + 1 < kTiles) {
            T* next = smem + (kt + 1) % kStages * (kAStage + kBStage);
            plan.load(a, next, next + kAStage, (kt + 1) * kBK);
        }
        cpAsyncCommit();  // possibly empty: keeps "all but the newest group" meaning chunk kt
        cpAsyncWait<1>();
        __syncthreads();
        const T* stage = smem + kt % kStages * (kAStage + kBStage);
        multiplyStage<T>(acc, stage, stage + kAStage, warpRow, warpCol, lane);
        __syncthreads();  // the stage is refilled next iteration (or becomes the staging tile)
    }
    cpAsyncWait<0>();

    // Accumulators + bias → the dtype, into the staging tile [kBM][kOutPad] (columns local to the CTA).
    T* const sOut = smem;
    const int g = lane / 4;
    const int t = lane % 4;
#pragma unroll
    for (int nt = 0; nt < kNt; ++nt) {
        const int col = warpCol * kWarpCols + nt * 8 + 2 * t;
        float b0 = 0.0f, b1 = 0.0f;
        if (a.bias != nullptr && n0 + col < a.cols) {  // cols % 8 == 0: col + 1 is in range too
            b0 = loadAcc(a.bias[(n0 + col) % a.m]);
            b1 = loadAcc(a.bias[(n0 + col + 1) % a.m]);
        }
#pragma unroll
        for (int mt = 0; mt < kMt; ++mt) {
            const int row = warpRow * kWarpRows + mt * 16 + g;
            *reinterpret_cast<uint32_t*>(sOut + row * kOutPad + col) =
                pack2<T>(acc[mt][nt][0] + b0, acc[mt][nt][1] + b1);
            *reinterpret_cast<uint32_t*>(sOut + (row + 8) * kOutPad + col) =
                pack2<T>(acc[mt][nt][2] + b0, acc[mt][nt][3] + b1);
        }
    }
    __syncthreads();

    // Each thread keeps one 8-column chunk (one tap, 8 channels of the slot) and walks rows kThreads / 16 apart.
    constexpr int kChunksPerRow = kBN / 8;
    const int chunk = tid % kChunksPerRow;
    const int col = n0 + chunk * 8;
    if (col >= a.cols) return;
    const int tap = col / a.m;
    const int i = tap / a.kW;
    const int j = tap - i * a.kW;
    const int64_t tapOffset = (i * a.outW + j) * a.outChannels + (col - tap * a.m);
    for (int r = tid / kChunksPerRow; r < kBM; r += kThreads / kChunksPerRow) {
        const int64_t base = rowBase[r];
        if (base < 0) break;  // the rows past the end are the tile's last ones
        *reinterpret_cast<uint4*>(a.out + base + tapOffset) =
            *reinterpret_cast<const uint4*>(sOut + r * kOutPad + chunk * 8);
    }
}

template <typename T>
cudaError_t launch(const ConvTransposeMmaParams& p, cudaStream_t stream) {
    Args<T> a;
    a.x = static_cast<const T*>(p.input);
    a.w = static_cast<const T*>(p.weights);
    a.bias = static_cast<const T*>(p.bias);
    a.out = static_cast<T*>(p.out);
    a.rows = p.batch * p.h * p.w;
    a.inW = p.w;
    a.kH = p.kH;
    a.outW = p.w * p.kW;
    a.outChannels = p.outChannels;
    a.offset = p.offset;
    a.c = static_cast<int>(p.c);
    a.cols = static_cast<int>(p.kH * p.kW * p.m);
    a.m = static_cast<int>(p.m);
    a.kW = static_cast<int>(p.kW);
    a.colTiles = (a.cols + kBN - 1) / kBN;
    if (a.rows == 0) return cudaSuccess;
    const int64_t blocks = (a.rows + kBM - 1) / kBM * a.colTiles;
    convTransposeMmaKernel<T><<<static_cast<unsigned>(blocks), kThreads, 0, stream>>>(a);
    return cudaGetLastError();
}

}  // namespace

cudaError_t launchConvTransposeMma(DataType dtype, const ConvTransposeMmaParams& p, cudaStream_t stream) {
    if (!convTransposeMmaSupports(dtype, p)) return cudaErrorInvalidValue;
    return dtype == DataType::kFloat16 ? launch<__half>(p, stream) : launch<__nv_bfloat16>(p, stream);
}

}  // namespace kiln::cuda
