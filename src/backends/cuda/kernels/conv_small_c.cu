// The few-input-channel convolution (conv_small_c.h) on tensor cores: mma.sync m16n8k16, float32 accumulation.
//
// A CTA of 8 warps owns a tile of 256 output pixels of one image: tileH rows x tileW columns (tileW in 16..256, a
// multiple of 16), cut into 16 segments of 16 consecutive pixels of a row; warp w computes segments w and w + 8,
// each one m16 tile x all output channels (kNt n-tiles of 8). The CTA is persistent (a grid-stride loop over the
// tiles), so what it loads once stays for all of its tiles:
//   - the weights as the B operand, sW [mPad][kPad + 8] (n-major, k contiguous; rows n >= M and columns k >= K
//     zero): B fragments come from ldmatrix.x4, two n-tiles per instruction, the 16-byte row padding keeping the 8
//     rows of each matrix on distinct banks;
//   - a table sOff[k]: the offset in the input patch of element k = (dy * kW + dx) * C + c of the receptive field
//     relative to its pixel's corner, dy * rowLen + dx * C + c; padded k (>= K) point at offset 0, whose B rows are
//     zero (and which is part of the receptive field, so a NaN there is one the output reads anyway);
//   - the bias in float32.
// Per tile, all threads stage the input patch the tile reads, ((tileH - 1) sH + kH) rows x ((tileW - 1) sW + kW)
// columns x C channels, zero outside x (which is the padding), as raw 16-bit values; then each thread gathers its A
// fragments (rows g and g + 8 of its m-tiles, k = 2t, 2t+1, 2t+8, 2t+9 of each k-step) from the patch at its pixel's
// corner + sOff[k]. The accumulators start at the bias; the epilogue adds z (read in the fragment layout) in
// float32, applies ReLU, rounds,
// stages the warp's 16 x M tile in shared memory and writes it with 16-byte stores: 16 consecutive pixels of a row
// are 16 * M * 2 contiguous bytes of y, so a warp's stores are fully coalesced; pixels past the right edge and
// segments past the bottom are not written.
#include <algorithm>
#include <climits>
#include <cstdint>

#include "backends/cuda/kernels/aligned.h"
#include "backends/cuda/kernels/common.cuh"
#include "backends/cuda/kernels/conv_small_c.h"
#include "backends/cuda/kernels/launch_cache.h"
#include "backends/cuda/kernels/mma_common.cuh"

namespace kiln::cuda {

namespace {

constexpr int kWarps = 8;
constexpr int kThreads = kWarps * 32;
constexpr int kSegments = 16;                // 16-pixel segments per tile
constexpr int kTilePixels = kSegments * 16;  // 256
constexpr int kMt = kSegments / kWarps;      // m-tiles per warp
// CTAs per SM: the launch bounds hold registers to 128 per thread, and kMaxShared lets two CTAs share an SM's
// shared memory (228 KB on the H100).
constexpr int kCtasPerSm = 2;
constexpr int kMaxShared = 96 * 1024;
// The patch loads kept in flight per thread: rows per warp x elements per lane and row (UNet's first layer: 18 rows
// of 54 values, 3 x 2; ResNet's stem: 37 rows of 111, 5 x 4).
constexpr int kLoadRows = 5;
constexpr int kLoadCols = 4;

//! Where a problem's tiles and shared buffers are (host-computed once per launch).
struct Layout {
    int tileW = 16, tileH = 16;     // output pixels per tile
    int tilesX = 0, tilesY = 0;     // tiles per image
    int patchRows = 0, rowLen = 0;  // patch: rows x (columns * C) 16-bit values
    int k = 0, kPad = 0;            // kH * kW * C, rounded up to 16
    int ldw = 0, lds = 0;           // row strides of sW and the staging tile (16-bit values)
    int64_t tiles = 0;
    int offStage = 0, offTable = 0, offBias = 0, offPatch = 0, bytes = 0;  // shared memory, bytes
};

constexpr int roundUp(int v, int m) { return (v + m - 1) / m * m; }

//! The output channels the kernel instance computes: 16, 32 or 64 (n-tiles in pairs, for ldmatrix.x4).
int paddedOutChannels(int m) { return m <= 16 ? 16 : (m <= 32 ? 32 : 64); }

//! The layout for tile width `tileW`; false when its shared memory exceeds kMaxShared.
bool layoutFor(const SmallChannelConvParams& p, int tileW, Layout& l) {
    const int64_t mPad = paddedOutChannels(p.outChannels);
    l.tileW = tileW;
    l.tileH = kTilePixels / tileW;
    l.tilesX = (p.outW + l.tileW - 1) / l.tileW;
    l.tilesY = (p.outH + l.tileH - 1) / l.tileH;
    l.tiles = static_cast<int64_t>(p.batch) * l.tilesX * l.tilesY;
    const int64_t patchRows = static_cast<int64_t>(l.tileH - 1) * p.strideH + p.kernelH;
    const int64_t rowLen = (static_cast<int64_t>(l.tileW - 1) * p.strideW + p.kernelW) * p.channels;
    l.k = p.kernelH * p.kernelW * p.channels;
    l.kPad = roundUp(l.k, 16);
    l.ldw = l.kPad + 8;
    l.lds = static_cast<int>(mPad) + 8;
    const int64_t patchBytes = patchRows * rowLen * 2;
    const int64_t weights = mPad * l.ldw * 2;
    const int64_t stage = int64_t{kWarps} * 16 * l.lds * 2;
    const int64_t total = weights + stage + l.kPad * 4 + mPad * 4 + (patchBytes + 15) / 16 * 16;
    if (total > kMaxShared) return false;
    l.patchRows = static_cast<int>(patchRows);
    l.rowLen = static_cast<int>(rowLen);
    l.offStage = static_cast<int>(weights);
    l.offTable = static_cast<int>(weights + stage);
    l.offBias = l.offTable + l.kPad * 4;
    l.offPatch = l.offBias + static_cast<int>(mPad) * 4;
    l.bytes = static_cast<int>(total);
    return true;
}

//! The tile shape that computes the fewest pixels past the edges, then reads the smallest patch per tile; false
//! when no shape's buffers fit shared memory.
bool chooseLayout(const SmallChannelConvParams& p, Layout& best) {
    bool found = false;
    int64_t bestPadded = 0, bestPatch = 0;
    for (int tileW = 16; tileW <= kTilePixels; tileW *= 2) {
        Layout l;
        if (!layoutFor(p, tileW, l)) continue;
        const int64_t padded = static_cast<int64_t>(l.tilesX) * l.tileW * l.tilesY * l.tileH;
        const int64_t patch = static_cast<int64_t>(l.patchRows) * l.rowLen;
        if (!found || padded < bestPadded || (padded == bestPadded && patch < bestPatch)) {
            best = l;
            bestPadded = padded;
            bestPatch = patch;
            found = true;
        }
    }
    return found;
}

//! Two 16-bit patch values → one fragment register (the lower k in the low half).
__device__ __forceinline__ uint32_t gatherPair(const uint16_t* patch, int base, int2 off) {
    return static_cast<uint32_t>(patch[base + off.x]) | (static_cast<uint32_t>(patch[base + off.y]) << 16);
}

//! The patch of the tile whose output corner is (oy0, ox0) in image `img` → sPatch, zero outside x.
__device__ __forceinline__ void loadPatch(const SmallChannelConvParams& p, const Layout& l, int img, int oy0, int ox0,
                                          uint16_t* sPatch) {
    const auto* x = static_cast<const uint16_t*>(p.x);
    const int iy0 = oy0 * p.strideH - p.padTop;
    const int ix0 = ox0 * p.strideW - p.padLeft;
    // Element j of a patch row is input column ix0 + j / C: inside x for j in [lo, hi).
    const int lo = max(0, -ix0) * p.channels;
    const int hi = (p.inW - ix0) * p.channels;
    const int64_t imageBase = static_cast<int64_t>(img) * p.inH * p.inW * p.channels;
    // A warp per patch row (no division per element): the row's elements are contiguous in x. Where the warp's rows
    // and a row's elements per lane fit kLoadRows x kLoadCols, every load is issued before the first store, so that
    // their latencies overlap (a load, then its store, one after another, left the kernel waiting on memory).
    const int warp = static_cast<int>(threadIdx.x) / 32, lane = static_cast<int>(threadIdx.x) % 32;
    auto value = [&](int r, int j) -> uint16_t {
        const int iy = iy0 + r;
        if (iy < 0 || iy >= p.inH || j < lo || j >= hi || j >= l.rowLen) return 0;
        return __ldg(x + imageBase + (static_cast<int64_t>(iy) * p.inW + ix0) * p.channels + j);
    };
    if ((l.patchRows + kWarps - 1) / kWarps <= kLoadRows && (l.rowLen + 31) / 32 <= kLoadCols) {
        // Each row's bounds and address once (ncu: the per-element form was a third of the kernel's instructions).
        // The warp's rows and a row's 32-element columns end the unrolled loops early (uniform branches): only the
        // slots that exist cost instructions (UNet's first layer uses 3 x 2 of the 5 x 4).
        const int jEnd = min(hi, l.rowLen);
        const int rows = (l.patchRows - warp + kWarps - 1) / kWarps, cols = (l.rowLen + 31) / 32;
        uint16_t v[kLoadRows][kLoadCols];
#pragma unroll
        for (int i = 0; i < kLoadRows; ++i) {
            if (i >= rows) break;
            const int iy = iy0 + warp + i * kWarps;
            const bool rowInside = iy >= 0 && iy < p.inH;
            const uint16_t* row = x + imageBase + (static_cast<int64_t>(iy) * p.inW + ix0) * p.channels;
#pragma unroll
            for (int c = 0; c < kLoadCols; ++c) {
                if (c >= cols) break;
                const int j = lane + 32 * c;
                v[i][c] = rowInside && j >= lo && j < jEnd ? __ldg(row + j) : uint16_t{0};
            }
        }
#pragma unroll
        for (int i = 0; i < kLoadRows; ++i) {
            if (i >= rows) break;
            uint16_t* dst = sPatch + (warp + i * kWarps) * l.rowLen;
#pragma unroll
            for (int c = 0; c < kLoadCols; ++c) {
                if (c >= cols) break;
                const int j = lane + 32 * c;
                if (j < l.rowLen) dst[j] = v[i][c];
            }
        }
        return;
    }
    for (int r = warp; r < l.patchRows; r += kWarps) {
        for (int j = lane; j < l.rowLen; j += 32) sPatch[r * l.rowLen + j] = value(r, j);
    }
}

template <typename T>
__device__ __forceinline__ float2 unpack2(uint32_t v) {
    if constexpr (std::is_same_v<T, __half>) {
        return __half22float2(*reinterpret_cast<const __half2*>(&v));
    } else {
        return __bfloat1622float2(*reinterpret_cast<const __nv_bfloat162*>(&v));
    }
}

//! One m-tile's epilogue: acc + bias (+ z), ReLU, rounded into the warp's staging tile, then 16-byte stores of its
//! `valid` pixels (the first at flat pixel index pix0 of y).
template <typename T, int kNt, bool kZ>
__device__ __forceinline__ void storeTile(const SmallChannelConvParams& p, const Layout& l, float (&acc)[kNt][4],
                                          uint16_t* stage, int64_t pix0, int valid, int lane) {
    const int g = lane / 4, t = lane % 4;
    const int m = p.outChannels;
    const auto* z = static_cast<const uint32_t*>(p.z);
#pragma unroll
    for (int nt = 0; nt < kNt; ++nt) {
        const int col = nt * 8 + 2 * t;
        if (nt * 8 >= m) break;  // the same for the whole warp; m is a multiple of 8
#pragma unroll
        for (int h = 0; h < 2; ++h) {
            const int r = g + 8 * h;
            float v0 = acc[nt][2 * h];  // the bias is the accumulators' initial value
            float v1 = acc[nt][2 * h + 1];
            if (kZ && r < valid) {
                const float2 zv = unpack2<T>(__ldg(z + ((pix0 + r) * m + col) / 2));
                v0 += zv.x;
                v1 += zv.y;
            }
            uint32_t packed = mma::pack2<T>(v0, v1);
            if (p.relu) packed = mma::reluNan2<T>(packed);  // on the rounded pair (it commutes with rounding)
            *reinterpret_cast<uint32_t*>(stage + r * l.lds + col) = packed;
        }
    }
    __syncwarp();
    // The valid pixels' M channels are contiguous in y: chunk i (8 values) is pixel i / chunks, channels
    // (i % chunks) * 8.
    uint4* y = reinterpret_cast<uint4*>(static_cast<uint16_t*>(p.y) + pix0 * m);
    if (m == kNt * 8 && valid == 16) {
        // The common case, unrolled with shifts: 16 pixels x kNt chunks, kNt / 2 16-byte stores per lane.
#pragma unroll
        for (int q = 0; q < kNt / 2; ++q) {
            const int i = lane + 32 * q;
            y[i] = *reinterpret_cast<const uint4*>(stage + (i / kNt) * l.lds + (i % kNt) * 8);
        }
        __syncwarp();
        return;
    }
    const int chunks = m / 8;
    for (int i = lane; i < valid * chunks; i += 32) {
        const int r = i / chunks;
        y[i] = *reinterpret_cast<const uint4*>(stage + r * l.lds + (i - r * chunks) * 8);
    }
    __syncwarp();  // the staging tile is free for the next m-tile
}

//! kZ: p.z is given (a compile-time switch: the residual's loads and their 64-bit addresses were, predicated off, half
//! of the instructions of UNet's first layer, which has none).
template <typename T, int kNt, bool kZ>
__global__ void __launch_bounds__(kThreads, kCtasPerSm)
    smallChannelConvKernel(const SmallChannelConvParams p, const Layout l) {
    extern __shared__ __align__(16) unsigned char shared[];
    auto* sW = reinterpret_cast<uint16_t*>(shared);
    auto* sStage = reinterpret_cast<uint16_t*>(shared + l.offStage);
    auto* sOff = reinterpret_cast<int*>(shared + l.offTable);
    auto* sBias = reinterpret_cast<float*>(shared + l.offBias);
    auto* sPatch = reinterpret_cast<uint16_t*>(shared + l.offPatch);
    constexpr int kMPad = kNt * 8;
    const int tid = static_cast<int>(threadIdx.x);
    const int warp = tid / 32, lane = tid % 32;
    const int g = lane / 4, t = lane % 4;

    // Once per CTA: the weights (zero past M and K), the k → patch offset table, the bias.
    {
        const auto* w = static_cast<const uint16_t*>(p.w);
        for (int i = tid; i < kMPad * l.ldw; i += kThreads) {
            const int n = i / l.ldw, k = i - n * l.ldw;
            sW[i] = n < p.outChannels && k < l.k ? __ldg(w + n * l.k + k) : uint16_t{0};
        }
        const int kwc = p.kernelW * p.channels;
        for (int k = tid; k < l.kPad; k += kThreads) sOff[k] = k < l.k ? (k / kwc) * l.rowLen + k % kwc : 0;
        const T* bias = static_cast<const T*>(p.bias);
        for (int n = tid; n < kMPad; n += kThreads) {
            sBias[n] = bias != nullptr && n < p.outChannels ? loadAcc(bias[n]) : 0.0f;
        }
    }

    const int segsPerRow = l.tileW / 16;
    // The thread's A rows (pixels g and g + 8 of each segment) relative to the tile's patch corner.
    int rowBase[kMt][2];
#pragma unroll
    for (int mt = 0; mt < kMt; ++mt) {
        const int seg = warp + mt * kWarps;
        const int py = seg / segsPerRow, px = (seg % segsPerRow) * 16 + g;
        rowBase[mt][0] = py * p.strideH * l.rowLen + px * p.strideW * p.channels;
        rowBase[mt][1] = rowBase[mt][0] + 8 * p.strideW * p.channels;
    }
    // ldmatrix.x4 of the n-tile pair (2j, 2j + 1): matrices (n-tile 2j, k 0-7), (2j, k 8-15), (2j+1, 0-7),
    // (2j+1, 8-15) of the k-step, i.e. b0, b1 of n-tile 2j, then of 2j + 1.
    const int mat = lane / 8;
    const uint16_t* bRow = sW + ((mat >> 1) * 8 + lane % 8) * l.ldw + (mat & 1) * 8;
    uint16_t* stage = sStage + warp * 16 * l.lds;
    const int ksteps = l.kPad / 16;

    for (int64_t tile = blockIdx.x; tile < l.tiles; tile += gridDim.x) {
        const int tx = static_cast<int>(tile % l.tilesX);
        const int64_t rest = tile / l.tilesX;
        const int ty = static_cast<int>(rest % l.tilesY);
        const int img = static_cast<int>(rest / l.tilesY);
        const int oy0 = ty * l.tileH, ox0 = tx * l.tileW;
        __syncthreads();  // every warp is done with the previous tile's patch (and the set-up above is written)
        loadPatch(p, l, img, oy0, ox0, sPatch);
        __syncthreads();

        // The accumulators start at the bias of their columns (2t, 2t + 1 of each n-tile).
        float acc[kMt][kNt][4];
#pragma unroll
        for (int nt = 0; nt < kNt; ++nt) {
            const float2 b = *reinterpret_cast<const float2*>(sBias + nt * 8 + 2 * t);
#pragma unroll
            for (int mt = 0; mt < kMt; ++mt) {
                acc[mt][nt][0] = acc[mt][nt][2] = b.x;
                acc[mt][nt][1] = acc[mt][nt][3] = b.y;
            }
        }
        for (int kk = 0; kk < ksteps; ++kk) {
            const int2 lo = *reinterpret_cast<const int2*>(sOff + kk * 16 + 2 * t);
            const int2 hi = *reinterpret_cast<const int2*>(sOff + kk * 16 + 2 * t + 8);
            uint32_t a[kMt][4];
#pragma unroll
            for (int mt = 0; mt < kMt; ++mt) {
                a[mt][0] = gatherPair(sPatch, rowBase[mt][0], lo);
                a[mt][1] = gatherPair(sPatch, rowBase[mt][1], lo);
                a[mt][2] = gatherPair(sPatch, rowBase[mt][0], hi);
                a[mt][3] = gatherPair(sPatch, rowBase[mt][1], hi);
            }
#pragma unroll
            for (int j = 0; j < kNt / 2; ++j) {
                uint32_t b[4];
                mma::ldmatrixX4(b, bRow + j * 16 * l.ldw + kk * 16);
#pragma unroll
                for (int mt = 0; mt < kMt; ++mt) {
                    mma::mma16816<T>(acc[mt][2 * j], a[mt], b[0], b[1]);
                    mma::mma16816<T>(acc[mt][2 * j + 1], a[mt], b[2], b[3]);
                }
            }
        }

#pragma unroll
        for (int mt = 0; mt < kMt; ++mt) {
            const int seg = warp + mt * kWarps;
            const int oy = oy0 + seg / segsPerRow;
            const int ox = ox0 + (seg % segsPerRow) * 16;
            if (oy >= p.outH || ox >= p.outW) continue;  // the same for the whole warp
            const int valid = min(16, p.outW - ox);
            const int64_t pix0 = (static_cast<int64_t>(img) * p.outH + oy) * p.outW + ox;
            storeTile<T, kNt, kZ>(p, l, acc[mt], stage, pix0, valid, lane);
        }
    }
}

template <typename T, int kNt, bool kZ>
cudaError_t launchAs(const SmallChannelConvParams& p, const Layout& l, cudaStream_t stream) {
    auto* kernel = smallChannelConvKernel<T, kNt, kZ>;
    // Past 48 KB a kernel must opt in to dynamic shared memory, to the most any layout uses (once per device:
    // launch_cache.h).
    cudaError_t err = allowDynamicSharedMemory(reinterpret_cast<const void*>(kernel), kMaxShared);
    if (err != cudaSuccess) return err;
    int sms = 0;
    err = currentDeviceSmCount(sms);
    if (err != cudaSuccess) return err;
    // Persistent CTAs: as many as are resident at once (kCtasPerSm: the launch bounds and kMaxShared say so), each
    // looping over tiles.
    const int64_t blocks = std::min<int64_t>(l.tiles, static_cast<int64_t>(sms) * kCtasPerSm);
    kernel<<<static_cast<unsigned>(blocks), kThreads, static_cast<size_t>(l.bytes), stream>>>(p, l);
    return cudaGetLastError();
}

template <typename T, bool kZ>
cudaError_t launchFor(const SmallChannelConvParams& p, const Layout& l, cudaStream_t stream) {
    switch (paddedOutChannels(p.outChannels)) {
        case 16: return launchAs<T, 2, kZ>(p, l, stream);
        case 32: return launchAs<T, 4, kZ>(p, l, stream);
        default: return launchAs<T, 8, kZ>(p, l, stream);
    }
}

template <typename T>
cudaError_t launchFor(const SmallChannelConvParams& p, const Layout& l, cudaStream_t stream) {
    return p.z != nullptr ? launchFor<T, true>(p, l, stream) : launchFor<T, false>(p, l, stream);
}

}  // namespace

bool smallChannelConvSupports(const SmallChannelConvParams& p) {
    if (p.dtype != DataType::kFloat16 && p.dtype != DataType::kBFloat16) return false;
    if (p.channels < 1 || p.channels > kSmallConvMaxChannels) return false;
    if (p.outChannels < 8 || p.outChannels > kSmallConvMaxOutChannels || p.outChannels % 8 != 0) return false;
    if (p.kernelH < 1 || p.kernelW < 1 || p.strideH < 1 || p.strideW < 1 || p.padTop < 0 || p.padLeft < 0) return false;
    if (p.batch < 0 || p.inH < 0 || p.inW < 0 || p.outH < 0 || p.outW < 0) return false;
    if (static_cast<int64_t>(p.kernelH) * p.kernelW * p.channels > kSmallConvMaxK) return false;
    // Offsets inside one image and inside a tile's patch are int; pixel indices across the batch are int64.
    if (static_cast<int64_t>(p.inH) * p.inW * p.channels > INT_MAX) return false;
    if (static_cast<int64_t>(p.outH) * p.outW * p.outChannels > INT_MAX) return false;
    // Patch coordinates (oy0 * stride - pad, ...) stay inside int.
    if (static_cast<int64_t>(p.outH + kTilePixels) * p.strideH > INT_MAX / 2) return false;
    if (static_cast<int64_t>(p.outW + kTilePixels) * p.strideW > INT_MAX / 2) return false;
    Layout l;
    return chooseLayout(p, l);
}

cudaError_t launchSmallChannelConv(const SmallChannelConvParams& p, cudaStream_t stream) {
    if (!smallChannelConvSupports(p) || !aligned16(p.y) || !aligned16(p.z)) return cudaErrorInvalidValue;
    Layout l;
    chooseLayout(p, l);
    if (l.tiles == 0) return cudaSuccess;
    if (p.x == nullptr || p.w == nullptr || p.y == nullptr) return cudaErrorInvalidValue;
    return p.dtype == DataType::kFloat16 ? launchFor<__half>(p, l, stream) : launchFor<__nv_bfloat16>(p, l, stream);
}

}  // namespace kiln::cuda
