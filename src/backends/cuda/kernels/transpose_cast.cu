// kiln TransposeCast on the GPU (launcher in transpose_cast.h): a batched 2-D transpose that converts float32,
// float16 and bfloat16 on the way, so a channels-last engine's float32 NCHW input becomes float16 NHWC in one read
// and one write (the Cast + Transpose it replaces read and wrote the tensor twice, through a float16 NCHW copy).
//
// Two kernels:
//   - few channels (rows ≤ 4 going last, cols ≤ 4 coming first: images in, class maps out): each thread owns 4
//     consecutive pixels, loads each channel plane's 4 values as one vector and writes the 4 pixels' channels as
//     one contiguous run of 8-byte words. A 32x32 tile would leave 29 of 32 rows empty at C = 3.
//   - otherwise 32x32 tiles through shared memory (converted on load), so both sides stay coalesced.
// Conversion is Cast's (elementwise_cast.cu): through float, rounding to nearest even, NaN handled as kiln::Half
// and kiln::BFloat16 do, so the result is bit-identical to the CPU reference.
#include "backends/cuda/kernels/common.cuh"
#include "backends/cuda/kernels/transpose_cast.h"

namespace kiln::cuda {

namespace {

constexpr uint32_t kConvertible =
    dtypes::bit(DataType::kFloat32) | dtypes::bit(DataType::kFloat16) | dtypes::bit(DataType::kBFloat16);

template <typename To, typename From>
__device__ __forceinline__ To convert(From v) {
    return storeAs<To>(static_cast<float>(loadAcc(v)));
}

// ---- few channels: 4 pixels per thread -------------------------------------------------------------------------

constexpr int kPixels = 4;
constexpr int64_t kMaxFewChannels = 4;

//! Channels last: src [B, C, P] → dst [B, P, C], C = kC ≤ 4, P % 4 == 0, src 4-element and dst 8-byte aligned.
template <typename From, typename To, int kC>
__global__ void __launch_bounds__(kBlockSize)
    fewChannelsLastKernel(const From* __restrict__ src, To* __restrict__ dst, int64_t batches, int64_t pixels) {
    const int64_t groupsPerBatch = pixels / kPixels;
    const int64_t groups = batches * groupsPerBatch;
    constexpr int kWords = kPixels * kC * static_cast<int>(sizeof(To)) / 8;
    for (int64_t g = globalThreadIndex(); g < groups; g += gridStride()) {
        const int64_t b = g / groupsPerBatch;
        const int64_t p = (g - b * groupsPerBatch) * kPixels;
        To out[kPixels * kC];
#pragma unroll
        for (int c = 0; c < kC; ++c) {
            const auto in = *reinterpret_cast<const AlignedVec<From, kPixels>*>(src + (b * kC + c) * pixels + p);
#pragma unroll
            for (int i = 0; i < kPixels; ++i) out[i * kC + c] = convert<To>(in.v[i]);
        }
        // One thread's 4 pixels are 4 × C × 2 or 4 bytes: whole 8-byte words (memcpy stays in registers).
        uint2 words[kWords];
        memcpy(words, out, sizeof(words));
        uint2* o = reinterpret_cast<uint2*>(dst + (b * pixels + p) * kC);
#pragma unroll
        for (int w = 0; w < kWords; ++w) o[w] = words[w];
    }
}

//! Channels first: src [B, P, C] → dst [B, C, P], C = kC ≤ 4, P % 4 == 0, src 8-byte and dst 4-element aligned.
template <typename From, typename To, int kC>
__global__ void __launch_bounds__(kBlockSize)
    fewChannelsFirstKernel(const From* __restrict__ src, To* __restrict__ dst, int64_t batches, int64_t pixels) {
    const int64_t groupsPerBatch = pixels / kPixels;
    const int64_t groups = batches * groupsPerBatch;
    constexpr int kWords = kPixels * kC * static_cast<int>(sizeof(From)) / 8;
    for (int64_t g = globalThreadIndex(); g < groups; g += gridStride()) {
        const int64_t b = g / groupsPerBatch;
        const int64_t p = (g - b * groupsPerBatch) * kPixels;
        uint2 words[kWords];
        const uint2* s = reinterpret_cast<const uint2*>(src + (b * pixels + p) * kC);
#pragma unroll
        for (int w = 0; w < kWords; ++w) words[w] = s[w];
        From in[kPixels * kC];
        memcpy(in, words, sizeof(in));
#pragma unroll
        for (int c = 0; c < kC; ++c) {
            AlignedVec<To, kPixels> out;
#pragma unroll
            for (int i = 0; i < kPixels; ++i) out.v[i] = convert<To>(in[i * kC + c]);
            *reinterpret_cast<AlignedVec<To, kPixels>*>(dst + (b * kC + c) * pixels + p) = out;
        }
    }
}

bool aligned(const void* p, size_t bytes) { return reinterpret_cast<uintptr_t>(p) % bytes == 0; }

//! Calls fn(std::integral_constant<int, C>) for C in 1..4.
template <typename Fn>
cudaError_t dispatchChannels(int64_t c, Fn&& fn) {
    switch (c) {
        case 1: return fn(std::integral_constant<int, 1>{});
        case 2: return fn(std::integral_constant<int, 2>{});
        case 3: return fn(std::integral_constant<int, 3>{});
        case 4: return fn(std::integral_constant<int, 4>{});
        default: return cudaErrorInvalidValue;
    }
}

//! The few-channels kernels when the shape and alignment allow; false otherwise (nothing launched).
template <typename From, typename To>
bool tryFewChannels(const From* src, To* dst, int64_t batches, int64_t rows, int64_t cols, cudaStream_t stream,
                    cudaError_t& err) {
    const bool channelsLast = rows <= kMaxFewChannels && rows <= cols;
    const int64_t channels = channelsLast ? rows : cols;
    const int64_t pixels = channelsLast ? cols : rows;
    if (channels > kMaxFewChannels || pixels % kPixels != 0) return false;
    const void* fewSide = channelsLast ? static_cast<const void*>(src) : static_cast<const void*>(dst);
    const void* wordSide = channelsLast ? static_cast<const void*>(dst) : static_cast<const void*>(src);
    const size_t planeElem = channelsLast ? sizeof(From) : sizeof(To);
    if (!aligned(fewSide, kPixels * planeElem) || !aligned(wordSide, 8)) return false;
    const LaunchConfig cfg = gridStrideConfig(batches * (pixels / kPixels));
    err = dispatchChannels(channels, [&](auto c) {
        constexpr int kC = decltype(c)::value;
        if (channelsLast) {
            fewChannelsLastKernel<From, To, kC><<<cfg.blocks, cfg.threads, 0, stream>>>(src, dst, batches, pixels);
        } else {
            fewChannelsFirstKernel<From, To, kC><<<cfg.blocks, cfg.threads, 0, stream>>>(src, dst, batches, pixels);
        }
        return cudaGetLastError();
    });
    return true;
}

// ---- 32x32 tiles -------------------------------------------------------------------------------------------------

constexpr int kTile = 32;
constexpr int kTileRows = 8;

//! dst[b, s, r] = convert(src[b, r, s]): a block reads a 32x32 tile along s (coalesced), writes it along r.
template <typename From, typename To>
__global__ void __launch_bounds__(kTile* kTileRows)
    tiledTransposeCastKernel(const From* __restrict__ src, To* __restrict__ dst, int64_t batches, int64_t rows,
                             int64_t cols) {
    __shared__ To tile[kTile][kTile + 1];
    const int64_t tilesS = (cols + kTile - 1) / kTile;
    const int64_t tilesR = (rows + kTile - 1) / kTile;
    for (int64_t b = blockIdx.z; b < batches; b += gridDim.z) {
        const From* in = src + b * rows * cols;
        To* out = dst + b * rows * cols;
        for (int64_t tr = blockIdx.y; tr < tilesR; tr += gridDim.y) {
            for (int64_t ts = blockIdx.x; ts < tilesS; ts += gridDim.x) {
                const int64_t r0 = tr * kTile;
                const int64_t s0 = ts * kTile;
                for (int j = threadIdx.y; j < kTile; j += kTileRows) {
                    const int64_t r = r0 + j;
                    const int64_t s = s0 + threadIdx.x;
                    if (r < rows && s < cols) tile[j][threadIdx.x] = convert<To>(in[r * cols + s]);
                }
                __syncthreads();
                for (int j = threadIdx.y; j < kTile; j += kTileRows) {
                    const int64_t s = s0 + j;
                    const int64_t r = r0 + threadIdx.x;
                    if (r < rows && s < cols) out[s * rows + r] = tile[threadIdx.x][j];
                }
                __syncthreads();
            }
        }
    }
}

template <typename From, typename To>
cudaError_t launchTyped(const From* src, To* dst, int64_t batches, int64_t rows, int64_t cols, cudaStream_t stream) {
    cudaError_t err = cudaSuccess;
    if (tryFewChannels(src, dst, batches, rows, cols, stream, err)) return err;
    const dim3 grid(static_cast<unsigned>(std::min<int64_t>((cols + kTile - 1) / kTile, 65535)),
                    static_cast<unsigned>(std::min<int64_t>((rows + kTile - 1) / kTile, 65535)),
                    static_cast<unsigned>(std::min<int64_t>(batches, 65535)));
    tiledTransposeCastKernel<From, To><<<grid, dim3(kTile, kTileRows), 0, stream>>>(src, dst, batches, rows, cols);
    return cudaGetLastError();
}

}  // namespace

bool transposeCastConverts(DataType from, DataType to) {
    return (kConvertible & dtypes::bit(from)) != 0 && (kConvertible & dtypes::bit(to)) != 0;
}

cudaError_t launchTransposeCast(const void* src, DataType from, void* dst, DataType to, int64_t batches, int64_t rows,
                                int64_t cols, cudaStream_t stream) {
    if (!transposeCastConverts(from, to)) return cudaErrorInvalidValue;
    if (batches <= 0 || rows <= 0 || cols <= 0) return cudaSuccess;
    return dispatchDevice<kConvertible>(from, [&](auto fromTag) {
        using From = typename decltype(fromTag)::type;
        return dispatchDevice<kConvertible>(to, [&](auto toTag) {
            using To = typename decltype(toTag)::type;
            return launchTyped(static_cast<const From*>(src), static_cast<To*>(dst), batches, rows, cols, stream);
        });
    });
}

}  // namespace kiln::cuda
