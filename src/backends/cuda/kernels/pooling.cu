// Pooling kernels, Kiln's own rather than cuDNN's: cuDNN pooling has no dilations, no ceil_mode (its output size
// is always floor-based), no argmax indices and no Lp pooling, and its average divisor does not follow ONNX's
// count_include_pad once ceil_mode adds windows past the padding. One thread per output walks its window in the
// CPU reference's order (depth, height, width) with the CPU's accumulator (float for float16/bfloat16, else the
// element type), so max and average results match it bit for bit.
#include "backends/cuda/kernels/pooling.h"
#include "backends/cuda/kernels/pooling_taps.cuh"
#include "backends/cuda/kernels/reduction_common.cuh"

namespace kiln::cuda {

namespace {

using namespace red;

constexpr int kBlock = 256;

using Taps = PoolTaps<int64_t>;

__device__ __forceinline__ Taps tapsOf(const PoolWindow& w, int dim, int64_t o) {
    return poolTapsOf<int64_t>(o, w.in[dim], w.kernel[dim], w.stride[dim], w.dilation[dim], w.padBegin[dim],
                               w.padEnd[dim]);
}

//! `planes` images of D x H x W positions with `inner` interleaved channels each: inner == 1 is NCHW (a plane per
//! image and channel), inner == C is channels-last (a plane per image, channels innermost; output element e is
//! channel e % C, so a warp reads consecutive channels of one position).
template <typename T, PoolOp K>
__global__ void poolKernel(const T* __restrict__ x, T* __restrict__ y, int64_t* __restrict__ indices, int64_t planes,
                           int64_t inner, PoolWindow w, bool columnMajor, AccT<T> p) {
    using C = AccT<T>;
    const int64_t D = w.in[0], H = w.in[1], W = w.in[2];
    const int64_t inSize = D * H * W;
    const int64_t outSize = w.out[0] * w.out[1] * w.out[2];
    const int64_t total = planes * outSize * inner;
    for (int64_t e = int64_t{blockIdx.x} * blockDim.x + threadIdx.x; e < total; e += int64_t{gridDim.x} * blockDim.x) {
        const int64_t plane = e / (outSize * inner);
        const int64_t o = e / inner % outSize;
        const Taps td = tapsOf(w, 0, o / (w.out[1] * w.out[2]));
        const Taps th = tapsOf(w, 1, o / w.out[2] % w.out[1]);
        const Taps tw = tapsOf(w, 2, o % w.out[2]);
        // Tap offsets below count positions; element offsets are `inner` times that.
        const T* in = x + plane * inSize * inner + e % inner;
        if constexpr (K == PoolOp::kMax) {
            C best = Limits<C>::lowest();
            int64_t bestAt = -1;
            for (int64_t kd = td.k0; kd < td.k1; ++kd) {
                for (int64_t kh = th.k0; kh < th.k1; ++kh) {
                    const int64_t row = (td.pos(kd) * H + th.pos(kh)) * W;
                    for (int64_t kw = tw.k0; kw < tw.k1; ++kw) {
                        const int64_t at = row + tw.pos(kw);
                        const C v = static_cast<C>(widen(in[at * inner]));
                        if (v > best || bestAt < 0) {  // the first tap always counts, even NaN (as the CPU)
                            best = v;
                            bestAt = at;
                        }
                    }
                }
            }
            y[e] = bestAt >= 0 ? in[bestAt * inner] : storeAs<T>(best);
            if (indices != nullptr) {
                int64_t at = bestAt < 0 ? 0 : bestAt;
                if (bestAt >= 0 && columnMajor) {
                    const int64_t id = bestAt / (H * W), ih = bestAt / W % H, iw = bestAt % W;
                    at = (iw * H + ih) * D + id;
                }
                indices[e] = plane * inSize + at;
            }
        } else {
            C sum = 0;
            for (int64_t kd = td.k0; kd < td.k1; ++kd) {
                for (int64_t kh = th.k0; kh < th.k1; ++kh) {
                    const int64_t row = (td.pos(kd) * H + th.pos(kh)) * W;
                    for (int64_t kw = tw.k0; kw < tw.k1; ++kw) {
                        const C v = static_cast<C>(widen(in[(row + tw.pos(kw)) * inner]));
                        if constexpr (K == PoolOp::kLp) sum += mathPow(absValue(v), p);
                        else sum += v;
                    }
                }
            }
            if constexpr (K == PoolOp::kLp) {
                y[e] = storeAs<T>(mathPow(sum, C(1) / p));
            } else {
                const int64_t count = K == PoolOp::kAverageIncludePad
                                          ? td.padded * th.padded * tw.padded
                                          : (td.k1 - td.k0) * (th.k1 - th.k0) * (tw.k1 - tw.k0);
                y[e] = storeAs<T>(count > 0 ? sum / static_cast<C>(count) : C(0));
            }
        }
    }
}

template <typename T, GlobalPoolOp K>
__global__ void __launch_bounds__(kBlock)
    globalPoolKernel(const T* __restrict__ x, T* __restrict__ y, int64_t planes, int64_t size, AccT<T> p, int group) {
    using C = AccT<T>;
    const int perBlock = kBlock / group;
    const int lane = static_cast<int>(threadIdx.x) % group;
    const C identity = K == GlobalPoolOp::kMax ? Limits<C>::lowest() : C(0);
    auto combine = [](C a, C b) {
        if constexpr (K == GlobalPoolOp::kMax) return maxIgnoringNaN(a, b);  // std::max(best, v) skips NaN
        else return a + b;
    };
    for (int64_t first = int64_t{blockIdx.x} * perBlock; first < planes; first += int64_t{gridDim.x} * perBlock) {
        const int64_t plane = first + static_cast<int>(threadIdx.x) / group;
        const bool valid = plane < planes;
        C acc = identity;
        for (int64_t i = lane; valid && i < size; i += group) {
            const C v = static_cast<C>(widen(x[plane * size + i]));
            acc = combine(acc, K == GlobalPoolOp::kLp ? mathPow(absValue(v), p) : v);
        }
        acc = groupAllReduce(acc, combine, identity, group);
        if (!valid || lane != 0) continue;
        if constexpr (K == GlobalPoolOp::kAverage) y[plane] = storeAs<T>(size > 0 ? acc / static_cast<C>(size) : C(0));
        else if constexpr (K == GlobalPoolOp::kLp) y[plane] = storeAs<T>(mathPow(acc, C(1) / p));
        else y[plane] = storeAs<T>(acc);
    }
}

constexpr int kChannelLanes = 32;  // channels per block of the channels-last global average
constexpr int kPositionRows = 8;   // positions it reads at once per channel

//! Sums over positions [split * chunk, (split + 1) * chunk) of x [batch, size, channels] (channels-last) for the
//! 32 channels of block x, image block z, split block y: each warp reads 32 consecutive channels of one position,
//! the 8 rows of the block stride over the positions, and shared memory adds the rows in a fixed order. With one
//! split the mean goes straight to y [batch, channels]; else the float sum to partial [batch, splits, channels].
template <typename T>
__global__ void __launch_bounds__(kChannelLanes* kPositionRows)
    globalAverageChannelsLastKernel(const T* __restrict__ x, T* __restrict__ y, AccT<T>* __restrict__ partial,
                                    int64_t batch, int64_t size, int64_t channels, int64_t chunk) {
    using C = AccT<T>;
    __shared__ C rows[kPositionRows][kChannelLanes + 1];
    const int lane = static_cast<int>(threadIdx.x);
    const int row = static_cast<int>(threadIdx.y);
    const int64_t c = int64_t{blockIdx.x} * kChannelLanes + lane;
    const int64_t splits = gridDim.y;
    const int64_t begin = int64_t{blockIdx.y} * chunk;
    const int64_t end = begin + chunk < size ? begin + chunk : size;
    for (int64_t n = blockIdx.z; n < batch; n += gridDim.z) {
        C acc = 0;
        if (c < channels) {
            const T* in = x + n * size * channels + c;
            for (int64_t s = begin + row; s < end; s += kPositionRows) acc += static_cast<C>(widen(in[s * channels]));
        }
        rows[row][lane] = acc;
        __syncthreads();
        if (row == 0 && c < channels) {
            C sum = 0;
            for (int r = 0; r < kPositionRows; ++r) sum += rows[r][lane];
            if (splits == 1) {
                y[n * channels + c] = storeAs<T>(size > 0 ? sum / static_cast<C>(size) : C(0));
            } else {
                partial[(n * splits + blockIdx.y) * channels + c] = sum;
            }
        }
        __syncthreads();
    }
}

//! y [batch, channels] = the mean of the `splits` partial sums of each (image, channel), added in split order.
template <typename T>
__global__ void finishGlobalAverageKernel(const AccT<T>* __restrict__ partial, T* __restrict__ y, int64_t batch,
                                          int64_t size, int64_t channels, int64_t splits) {
    using C = AccT<T>;
    const int64_t total = batch * channels;
    for (int64_t i = int64_t{blockIdx.x} * blockDim.x + threadIdx.x; i < total; i += int64_t{gridDim.x} * blockDim.x) {
        const int64_t n = i / channels, c = i % channels;
        C sum = 0;
        for (int64_t s = 0; s < splits; ++s) sum += partial[(n * splits + s) * channels + c];
        y[i] = storeAs<T>(size > 0 ? sum / static_cast<C>(size) : C(0));
    }
}

template <typename T>
__global__ void scatterKernel(const T* __restrict__ x, T* __restrict__ y, const int64_t* __restrict__ src,
                              const int64_t* __restrict__ dst, int64_t count) {
    for (int64_t i = int64_t{blockIdx.x} * blockDim.x + threadIdx.x; i < count; i += int64_t{gridDim.x} * blockDim.x)
        y[dst[i]] = x[src[i]];
}

template <typename T, PoolOp K>
cudaError_t poolAs(const void* x, void* y, int64_t* indices, int64_t planes, int64_t inner, const PoolWindow& w,
                   bool columnMajor, int64_t p, cudaStream_t s) {
    const int64_t total = planes * inner * w.out[0] * w.out[1] * w.out[2];
    poolKernel<T, K><<<gridFor(total, kBlock), kBlock, 0, s>>>(static_cast<const T*>(x), static_cast<T*>(y), indices,
                                                               planes, inner, w, columnMajor, static_cast<AccT<T>>(p));
    return cudaGetLastError();
}

//! Launches `op` over `planes` x `inner` as poolKernel lays them out.
cudaError_t launchPoolLayout(PoolOp op, DataType type, const void* x, void* y, int64_t* indices, int64_t planes,
                             int64_t inner, const PoolWindow& window, bool columnMajor, int64_t p,
                             cudaStream_t stream) {
    if (planes * inner * window.out[0] * window.out[1] * window.out[2] == 0) return cudaSuccess;
    if (op == PoolOp::kMax && (type == DataType::kInt8 || type == DataType::kUInt8)) {
        return dispatchDevice<dtypes::kInteger>(type, [&](auto tag) {
            using T = typename decltype(tag)::type;
            return poolAs<T, PoolOp::kMax>(x, y, indices, planes, inner, window, columnMajor, p, stream);
        });
    }
    return dispatchDevice<dtypes::kFloat>(type, [&](auto tag) {
        using T = typename decltype(tag)::type;
        switch (op) {
            case PoolOp::kMax:
                return poolAs<T, PoolOp::kMax>(x, y, indices, planes, inner, window, columnMajor, p, stream);
            case PoolOp::kAverage:
                return poolAs<T, PoolOp::kAverage>(x, y, indices, planes, inner, window, columnMajor, p, stream);
            case PoolOp::kAverageIncludePad:
                return poolAs<T, PoolOp::kAverageIncludePad>(x, y, indices, planes, inner, window, columnMajor, p,
                                                             stream);
            case PoolOp::kLp:
                return poolAs<T, PoolOp::kLp>(x, y, indices, planes, inner, window, columnMajor, p, stream);
        }
        return cudaErrorInvalidValue;
    });
}

template <typename T, GlobalPoolOp K>
cudaError_t globalPoolAs(const void* x, void* y, int64_t planes, int64_t size, int64_t p, cudaStream_t s) {
    const int group = size > 256 ? kBlock : 32;
    globalPoolKernel<T, K><<<gridFor(planes, kBlock / group), kBlock, 0, s>>>(
        static_cast<const T*>(x), static_cast<T*>(y), planes, size, static_cast<AccT<T>>(p), group);
    return cudaGetLastError();
}

}  // namespace

cudaError_t launchPool(PoolOp op, DataType type, const void* x, void* y, int64_t* indices, int64_t planes,
                       const PoolWindow& window, bool columnMajor, int64_t p, cudaStream_t stream) {
    return launchPoolLayout(op, type, x, y, indices, planes, 1, window, columnMajor, p, stream);
}

cudaError_t launchPoolChannelsLastGeneric(PoolOp op, DataType type, const void* x, void* y, int64_t batch,
                                          int64_t channels, const PoolWindow& window, cudaStream_t stream) {
    return launchPoolLayout(op, type, x, y, nullptr, batch, channels, window, false, 0, stream);
}

cudaError_t launchGlobalPool(GlobalPoolOp op, DataType type, const void* x, void* y, int64_t planes, int64_t size,
                             int64_t p, cudaStream_t stream) {
    if (planes == 0) return cudaSuccess;
    return dispatchDevice<dtypes::kFloat>(type, [&](auto tag) {
        using T = typename decltype(tag)::type;
        switch (op) {
            case GlobalPoolOp::kAverage: return globalPoolAs<T, GlobalPoolOp::kAverage>(x, y, planes, size, p, stream);
            case GlobalPoolOp::kMax: return globalPoolAs<T, GlobalPoolOp::kMax>(x, y, planes, size, p, stream);
            case GlobalPoolOp::kLp: return globalPoolAs<T, GlobalPoolOp::kLp>(x, y, planes, size, p, stream);
        }
        return cudaErrorInvalidValue;
    });
}

int64_t globalAverageSplits(int64_t batch, int64_t size, int64_t channels) {
    // Enough blocks to fill an H100 a few times over (132 SMs), each row of threads summing >= 16 positions.
    constexpr int64_t kTargetBlocks = 1024;
    constexpr int64_t kMinPositionsPerRow = 16;
    const int64_t blocks = (channels + kChannelLanes - 1) / kChannelLanes * (batch < 65535 ? batch : 65535);
    const int64_t byOccupancy = blocks >= kTargetBlocks ? 1 : kTargetBlocks / (blocks > 0 ? blocks : 1);
    const int64_t bySize = (size + kPositionRows * kMinPositionsPerRow - 1) / (kPositionRows * kMinPositionsPerRow);
    const int64_t splits = byOccupancy < bySize ? byOccupancy : bySize;
    return splits < 1 ? 1 : (splits > 65535 ? 65535 : splits);
}

cudaError_t launchGlobalAverageChannelsLast(DataType type, const void* x, void* y, int64_t batch, int64_t size,
                                            int64_t channels, int64_t splits, void* partial, cudaStream_t stream) {
    if (batch * channels == 0) return cudaSuccess;
    return dispatchDevice<dtypes::kFloat>(type, [&](auto tag) {
        using T = typename decltype(tag)::type;
        const int64_t chunk = (size + splits - 1) / splits;
        const dim3 grid(static_cast<unsigned>((channels + kChannelLanes - 1) / kChannelLanes),
                        static_cast<unsigned>(splits), static_cast<unsigned>(batch < 65535 ? batch : 65535));
        globalAverageChannelsLastKernel<T><<<grid, dim3(kChannelLanes, kPositionRows), 0, stream>>>(
            static_cast<const T*>(x), static_cast<T*>(y), static_cast<AccT<T>*>(partial), batch, size, channels,
            chunk > 0 ? chunk : 1);
        if (splits > 1) {
            finishGlobalAverageKernel<T><<<gridFor(batch * channels, kBlock), kBlock, 0, stream>>>(
                static_cast<const AccT<T>*>(partial), static_cast<T*>(y), batch, size, channels, splits);
        }
        return cudaGetLastError();
    });
}

cudaError_t launchScatter(DataType type, const void* x, void* y, const int64_t* src, const int64_t* dst, int64_t count,
                          cudaStream_t stream) {
    if (count == 0) return cudaSuccess;
    return dispatchDevice<dtypes::kNumeric>(type, [&](auto tag) {
        using T = typename decltype(tag)::type;
        scatterKernel<T><<<gridFor(count, kBlock), kBlock, 0, stream>>>(static_cast<const T*>(x), static_cast<T*>(y),
                                                                        src, dst, count);
        return cudaGetLastError();
    });
}

}  // namespace kiln::cuda
