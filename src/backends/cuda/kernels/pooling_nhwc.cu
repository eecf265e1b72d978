// The channels-last sliding pools at memory speed (MaxPoolNhwc, AveragePoolNhwc). pooling.cu's general kernel gives
// every output element its own thread, so a thread moves 2 bytes (FP16) behind ~10 64-bit divisions of index and
// window math: the UNet's first 2x2 MaxPool ran at ~8% of the copy bandwidth. Here a thread takes 16 bytes of
// channels (8 halves, 4 floats) of one output position, works out its window once in 32-bit arithmetic, and reads
// every tap with one 16-byte load; a warp reads whole 128-byte lines of one or more positions.
//
// Results stay bit-identical to the CPU reference (and so to the general kernel): the channels of a vector are
// independent, each walks the taps in the reference's order (height, then width), max compares in the widened
// type with the reference's rule (the first in-bounds tap always counts, even NaN; a later tap replaces it only
// when strictly greater, so NaN never wins afterwards and the first of equal values, -0 or +0, stays) and stores
// the winning tap's raw bits, and average adds in the reference's accumulator (float for float16/bfloat16) and
// divides once.
#include "backends/cuda/kernels/pooling.h"
#include "backends/cuda/kernels/pooling_taps.cuh"
#include "backends/cuda/kernels/reduction_common.cuh"

namespace kiln::cuda {

namespace {

using namespace red;

constexpr int kBlock = 256;
constexpr int kVectorBytes = 16;

//! The (H, W) dims of a PoolWindow in 32-bit arithmetic (poolChannelsLastVectorized checks that they fit).
struct Window2d {
    int in[2], kernel[2], stride[2], dilation[2], padBegin[2], padEnd[2], out[2];
};

using Taps32 = PoolTaps<int>;

__device__ __forceinline__ Taps32 tapsOf32(const Window2d& w, int dim, int o) {
    return poolTapsOf<int>(o, w.in[dim], w.kernel[dim], w.stride[dim], w.dilation[dim], w.padBegin[dim], w.padEnd[dim]);
}

//! a > b as the reference compares (widened, which is exact): ordered, so false when either is NaN. float16 and
//! bfloat16 compare natively.
template <typename T>
__device__ __forceinline__ bool greater(T a, T b) {
    if constexpr (kIsReducedFloat<T>) return __hgt(a, b);
    else return a > b;
}

constexpr int kTapsInFlight = 4;

//! Calls visit(t, tap) for the in-bounds taps of a window in the reference's order (height, then width), t counting
//! from 0. Taps are loaded kTapsInFlight at a time before any is used, so a thread has that many 16-byte loads in
//! flight (a 2x2 window costs one memory latency, not four).
template <typename V, typename Visit>
__device__ __forceinline__ void forEachTap(const V* in, const Taps32& th, const Taps32& tw, int64_t rowVectors,
                                           int64_t vectors, Visit&& visit) {
    const int taps = (th.k1 - th.k0) * (tw.k1 - tw.k0);
    int kh = th.k0, kw = tw.k0;
    for (int t0 = 0; t0 < taps; t0 += kTapsInFlight) {
        V batch[kTapsInFlight];
#pragma unroll
        for (int j = 0; j < kTapsInFlight; ++j) {
            if (t0 + j < taps) {
                batch[j] = in[th.pos(kh) * rowVectors + tw.pos(kw) * vectors];
                if (++kw == tw.k1) {
                    kw = tw.k0;
                    ++kh;
                }
            }
        }
#pragma unroll
        for (int j = 0; j < kTapsInFlight; ++j) {
            if (t0 + j < taps) visit(t0 + j, batch[j]);
        }
    }
}

//! One thread per (output position, 16-byte channel vector) of y [batch, OH, OW, vectors * N]; I is the index
//! type of the flat thread index (32 bits where it fits: the three divisions below are the kernel's only
//! arithmetic of note). Element offsets into x are 64-bit.
template <typename T, PoolOp K, typename I>
__global__ void __launch_bounds__(kBlock)
    poolChannelsLastVectorKernel(const T* __restrict__ x, T* __restrict__ y, I total, I vectors, Window2d w) {
    constexpr int N = kVectorBytes / static_cast<int>(sizeof(T));
    using V = AlignedVec<T, N>;
    using C = AccT<T>;
    const V* __restrict__ xv = reinterpret_cast<const V*>(x);
    V* __restrict__ yv = reinterpret_cast<V*>(y);
    const int64_t rowVectors = int64_t{w.in[1]} * vectors;  // vectors per input row
    const int64_t imageVectors = int64_t{w.in[0]} * rowVectors;
    const I step = static_cast<I>(gridDim.x) * kBlock;
    for (I e = static_cast<I>(blockIdx.x) * kBlock + threadIdx.x; e < total; e += step) {
        I rest = e / vectors;
        const I v = e - rest * vectors;
        const I ow = rest % static_cast<I>(w.out[1]);
        rest /= static_cast<I>(w.out[1]);
        const I oh = rest % static_cast<I>(w.out[0]);
        const I n = rest / static_cast<I>(w.out[0]);
        const Taps32 th = tapsOf32(w, 0, static_cast<int>(oh));
        const Taps32 tw = tapsOf32(w, 1, static_cast<int>(ow));
        const V* in = xv + static_cast<int64_t>(n) * imageVectors + v;
        V out;
        if constexpr (K == PoolOp::kMax) {
            // `out` holds the winning taps' raw elements (their bits are the result, NaN payloads and -0 included),
            // or the reference's lowest value where no tap lies inside the input. The first tap always counts.
#pragma unroll
            for (int i = 0; i < N; ++i) out.v[i] = storeAs<T>(Limits<C>::lowest());
            forEachTap(in, th, tw, rowVectors, int64_t{vectors}, [&](int t, const V& tap) {
#pragma unroll
                for (int i = 0; i < N; ++i) {
                    if (t == 0 || greater(tap.v[i], out.v[i])) out.v[i] = tap.v[i];
                }
            });
        } else {
            C sum[N];
#pragma unroll
            for (int i = 0; i < N; ++i) sum[i] = C(0);
            forEachTap(in, th, tw, rowVectors, int64_t{vectors}, [&](int, const V& tap) {
#pragma unroll
                for (int i = 0; i < N; ++i) sum[i] += static_cast<C>(loadAcc(tap.v[i]));
            });
            const int count =
                K == PoolOp::kAverageIncludePad ? th.padded * tw.padded : (th.k1 - th.k0) * (tw.k1 - tw.k0);
#pragma unroll
            for (int i = 0; i < N; ++i) out.v[i] = storeAs<T>(count > 0 ? sum[i] / static_cast<C>(count) : C(0));
        }
        yv[e] = out;
    }
}

template <typename T, PoolOp K>
cudaError_t vectorPoolAs(const void* x, void* y, int64_t batch, int64_t channels, const Window2d& w, cudaStream_t s) {
    const int64_t vectors = channels * static_cast<int64_t>(sizeof(T)) / kVectorBytes;
    const int64_t total = batch * w.out[0] * w.out[1] * vectors;
    if (total == 0) return cudaSuccess;
    const unsigned grid = gridFor(total, kBlock);
    const auto* px = static_cast<const T*>(x);
    auto* py = static_cast<T*>(y);
    if (total <= INT32_MAX) {
        poolChannelsLastVectorKernel<T, K, uint32_t>
            <<<grid, kBlock, 0, s>>>(px, py, static_cast<uint32_t>(total), static_cast<uint32_t>(vectors), w);
    } else {
        poolChannelsLastVectorKernel<T, K, int64_t><<<grid, kBlock, 0, s>>>(px, py, total, vectors, w);
    }
    return cudaGetLastError();
}

template <typename T>
cudaError_t vectorPoolOf(PoolOp op, const void* x, void* y, int64_t batch, int64_t channels, const Window2d& w,
                         cudaStream_t s) {
    switch (op) {
        case PoolOp::kMax: return vectorPoolAs<T, PoolOp::kMax>(x, y, batch, channels, w, s);
        case PoolOp::kAverage:
            if constexpr (kIsFloat<T>) return vectorPoolAs<T, PoolOp::kAverage>(x, y, batch, channels, w, s);
            break;
        case PoolOp::kAverageIncludePad:
            if constexpr (kIsFloat<T>) return vectorPoolAs<T, PoolOp::kAverageIncludePad>(x, y, batch, channels, w, s);
            break;
        case PoolOp::kLp: break;
    }
    return cudaErrorInvalidValue;
}

}  // namespace

bool poolChannelsLastVectorized(PoolOp op, DataType type, const void* x, const void* y, int64_t channels,
                                const PoolWindow& window) {
    const bool integer = type == DataType::kInt8 || type == DataType::kUInt8;
    if (op == PoolOp::kLp || !(isFloatingPoint(type) || (integer && op == PoolOp::kMax))) return false;
    const auto elem = static_cast<int64_t>(dataTypeSize(type));
    if (channels <= 0 || channels * elem % kVectorBytes != 0 || !isAligned(x, kVectorBytes) ||
        !isAligned(y, kVectorBytes)) {
        return false;
    }
    if (window.in[0] != 1 || window.out[0] != 1 || window.kernel[0] != 1) return false;
    // Every intermediate of tapsOf32 (o * stride, in + padEnd, padBegin + kernel * dilation) in 32 bits, and the
    // per-image vector counts of the thread index.
    for (int d = 1; d < 3; ++d) {
        const int64_t reach = window.in[d] + window.padBegin[d] + window.padEnd[d] + window.out[d] * window.stride[d] +
                              window.kernel[d] * window.dilation[d];
        if (reach >= INT32_MAX || window.out[d] >= INT32_MAX) return false;
    }
    return channels * elem / kVectorBytes < INT32_MAX;
}

cudaError_t launchPoolChannelsLast(PoolOp op, DataType type, const void* x, void* y, int64_t batch, int64_t channels,
                                   const PoolWindow& window, cudaStream_t stream) {
    if (!poolChannelsLastVectorized(op, type, x, y, channels, window)) {
        return launchPoolChannelsLastGeneric(op, type, x, y, batch, channels, window, stream);
    }
    Window2d w{};
    for (int d = 0; d < 2; ++d) {
        w.in[d] = static_cast<int>(window.in[d + 1]);
        w.kernel[d] = static_cast<int>(window.kernel[d + 1]);
        w.stride[d] = static_cast<int>(window.stride[d + 1]);
        w.dilation[d] = static_cast<int>(window.dilation[d + 1]);
        w.padBegin[d] = static_cast<int>(window.padBegin[d + 1]);
        w.padEnd[d] = static_cast<int>(window.padEnd[d + 1]);
        w.out[d] = static_cast<int>(window.out[d + 1]);
    }
    constexpr uint32_t kTypes = dtypes::kFloat | dtypes::bit(DataType::kInt8) | dtypes::bit(DataType::kUInt8);
    return dispatchDevice<kTypes>(type, [&](auto tag) {
        using T = typename decltype(tag)::type;
        return vectorPoolOf<T>(op, x, y, batch, channels, w, stream);
    });
}

}  // namespace kiln::cuda
