// Normalization kernels. Segment statistics (InstanceNorm planes, LayerNorm rows, MVN and BatchNorm-training
// groups, Lp norms) take a warp (segments up to 256 elements) or a 256-thread block per segment: a sum pass for
// the mean, a second pass for the squared deviations (two passes, as the CPU reference, rather than E[x^2] -
// E[x]^2, which cancels), then the write pass. FP16/BF16/FP32 accumulate in float, FP64 in double.
#include "backends/cuda/kernels/normalization.h"
#include "backends/cuda/kernels/reduction_common.cuh"

namespace kiln::cuda {

namespace {

using namespace red;

constexpr int kBlock = 256;

template <typename Fn>
cudaError_t dispatchAcc(bool accDouble, Fn&& fn) {
    return accDouble ? fn(TypeTag<double>{}) : fn(TypeTag<float>{});
}

template <typename S, typename A>
__global__ void toAccKernel(const S* __restrict__ src, A* __restrict__ dst, int64_t count, DimIndexer index) {
    for (int64_t i = int64_t{blockIdx.x} * blockDim.x + threadIdx.x; i < count; i += int64_t{gridDim.x} * blockDim.x)
        dst[i] = static_cast<A>(widen(src[index.offset(i)]));
}

template <typename A, typename D>
__global__ void fromAccKernel(const A* __restrict__ src, D* __restrict__ dst, int64_t count) {
    for (int64_t i = int64_t{blockIdx.x} * blockDim.x + threadIdx.x; i < count; i += int64_t{gridDim.x} * blockDim.x)
        dst[i] = storeAs<D>(src[i]);
}

template <typename A>
__global__ void blendKernel(const A* __restrict__ a, const A* __restrict__ b, A* __restrict__ out, int64_t count,
                            A momentum) {
    for (int64_t i = int64_t{blockIdx.x} * blockDim.x + threadIdx.x; i < count; i += int64_t{gridDim.x} * blockDim.x)
        out[i] = a[i] * momentum + b[i] * (A(1) - momentum);
}

template <typename T, typename A, NormKind K>
__global__ void __launch_bounds__(kBlock)
    normalizeKernel(const T* __restrict__ x, T* __restrict__ y, NormArgs args, int group) {
    const ReduceGeometry& g = args.g;
    const int perBlock = kBlock / group;
    const int lane = static_cast<int>(threadIdx.x) % group;
    const int64_t n = g.reduceCount;
    const A* scale = static_cast<const A*>(args.scale);
    const A* bias = static_cast<const A*>(args.bias);
    A* meanOut = static_cast<A*>(args.mean);
    A* spreadOut = static_cast<A*>(args.spread);
    auto add = [](A a, A b) { return a + b; };
    // Uniform trip count for every thread: the all-reduces may synchronize the block.
    for (int64_t first = int64_t{blockIdx.x} * perBlock; first < g.outCount; first += int64_t{gridDim.x} * perBlock) {
        const int64_t o = first + static_cast<int>(threadIdx.x) / group;
        const bool valid = o < g.outCount;
        const int64_t base = valid ? g.kept.offset(o) : 0;
        auto at = [&](int64_t r) { return base + g.reduced.offset(r); };

        A sum = 0;
        for (int64_t r = lane; valid && r < n; r += group) {
            const A v = widen(x[at(r)]);
            sum += K == NormKind::kLp1 ? absValue(v) : (K == NormKind::kLp2 ? v * v : v);
        }
        sum = groupAllReduce(sum, add, A(0), group);
        if constexpr (K == NormKind::kLp1 || K == NormKind::kLp2) {
            const A norm = K == NormKind::kLp2 ? mathSqrt(sum) : sum;
            // A zero vector stays zero rather than becoming 0/0 (as the CPU reference and ONNX Runtime).
            for (int64_t r = lane; valid && r < n; r += group)
                y[at(r)] = storeAs<T>(norm == A(0) ? A(0) : static_cast<A>(widen(x[at(r)])) / norm);
            continue;
        }
        const A mean = sum / static_cast<A>(n);
        A sq = 0;
        for (int64_t r = lane; valid && r < n; r += group) {
            const A d = static_cast<A>(widen(x[at(r)])) - mean;
            sq += d * d;
        }
        sq = groupAllReduce(sq, add, A(0), group);
        const A var = sq / static_cast<A>(n);
        if constexpr (K == NormKind::kBatchStats) {
            if (valid && lane == 0) {
                meanOut[o] = mean;
                spreadOut[o] = var;
            }
        } else if constexpr (K == NormKind::kMeanVariance) {
            // The function body's formula: (X - E[X]) / (sqrt(E[X^2] - E[X]^2) + 1e-9).
            const A denom = mathSqrt(var) + A(1e-9);
            for (int64_t r = lane; valid && r < n; r += group)
                y[at(r)] = storeAs<T>((static_cast<A>(widen(x[at(r)])) - mean) / denom);
        } else {
            const A inv = A(1) / mathSqrt(var + static_cast<A>(args.epsilon));
            if constexpr (K == NormKind::kLayer) {
                if (valid && lane == 0 && meanOut != nullptr) meanOut[o] = mean;
                if (valid && lane == 0 && spreadOut != nullptr) spreadOut[o] = inv;
                for (int64_t r = lane; valid && r < n; r += group)
                    y[at(r)] = storeAs<T>((static_cast<A>(widen(x[at(r)])) - mean) * inv * scale[r] + bias[r]);
            } else {
                const int64_t c = o % args.channels;
                for (int64_t r = lane; valid && r < n; r += group)
                    y[at(r)] = storeAs<T>(scale[c] * (static_cast<A>(widen(x[at(r)])) - mean) * inv + bias[c]);
            }
        }
    }
}

template <typename T, typename A>
__global__ void batchNormKernel(const T* __restrict__ x, T* __restrict__ y, BatchNormArgs args) {
    const A* scale = static_cast<const A*>(args.scale);
    const A* bias = static_cast<const A*>(args.bias);
    const A* mean = static_cast<const A*>(args.mean);
    const A* var = static_cast<const A*>(args.var);
    const A epsilon = static_cast<A>(args.epsilon);
    for (int64_t i = int64_t{blockIdx.x} * blockDim.x + threadIdx.x; i < args.numel;
         i += int64_t{gridDim.x} * blockDim.x) {
        const int64_t k = (i / args.stride) % args.period;
        const A v = widen(x[i]);
        y[i] = storeAs<T>(scale[k] * (v - mean[k]) / mathSqrt(var[k] + epsilon) + bias[k]);
    }
}

template <typename T>
__global__ void lrnKernel(const T* __restrict__ x, T* __restrict__ y, int64_t numel, int64_t channels, int64_t spatial,
                          int64_t size, FloatMath<T> alpha, FloatMath<T> beta, FloatMath<T> bias) {
    using A = FloatMath<T>;
    const int64_t before = (size - 1) / 2;    // floor((size - 1) / 2)
    const int64_t after = size - 1 - before;  // ceil((size - 1) / 2)
    for (int64_t i = int64_t{blockIdx.x} * blockDim.x + threadIdx.x; i < numel; i += int64_t{gridDim.x} * blockDim.x) {
        const int64_t s = i % spatial;
        const int64_t ch = (i / spatial) % channels;
        const int64_t batchBase = i - s - ch * spatial;
        const int64_t lo = ch - before < 0 ? 0 : ch - before;
        const int64_t hi = ch + after > channels - 1 ? channels - 1 : ch + after;
        A sq = 0;
        for (int64_t k = lo; k <= hi; ++k) {
            const A v = widen(x[batchBase + k * spatial + s]);
            sq += v * v;
        }
        y[i] = storeAs<T>(static_cast<A>(widen(x[i])) / mathPow(bias + alpha / static_cast<A>(size) * sq, beta));
    }
}

template <typename T, typename A, NormKind K>
cudaError_t normalizeAs(const void* x, void* y, const NormArgs& args, cudaStream_t s) {
    const int group = args.g.reduceCount > 256 ? kBlock : 32;
    normalizeKernel<T, A, K><<<gridFor(args.g.outCount, kBlock / group), kBlock, 0, s>>>(
        static_cast<const T*>(x), static_cast<T*>(y), args, group);
    return cudaGetLastError();
}

}  // namespace

cudaError_t launchToAcc(DataType srcType, const void* src, bool accDouble, void* dst, int64_t count,
                        const DimIndexer& index, cudaStream_t stream) {
    if (count == 0) return cudaSuccess;
    return dispatchDevice<dtypes::kFloat>(srcType, [&](auto srcTag) {
        using S = typename decltype(srcTag)::type;
        return dispatchAcc(accDouble, [&](auto accTag) {
            using A = typename decltype(accTag)::type;
            toAccKernel<S, A><<<gridFor(count, kBlock), kBlock, 0, stream>>>(static_cast<const S*>(src),
                                                                             static_cast<A*>(dst), count, index);
            return cudaGetLastError();
        });
    });
}

cudaError_t launchFromAcc(bool accDouble, const void* src, DataType dstType, void* dst, int64_t count,
                          cudaStream_t stream) {
    if (count == 0) return cudaSuccess;
    return dispatchDevice<dtypes::kFloat>(dstType, [&](auto dstTag) {
        using D = typename decltype(dstTag)::type;
        return dispatchAcc(accDouble, [&](auto accTag) {
            using A = typename decltype(accTag)::type;
            fromAccKernel<A, D><<<gridFor(count, kBlock), kBlock, 0, stream>>>(static_cast<const A*>(src),
                                                                               static_cast<D*>(dst), count);
            return cudaGetLastError();
        });
    });
}

cudaError_t launchBlend(bool accDouble, const void* a, const void* b, void* out, int64_t count, double momentum,
                        cudaStream_t stream) {
    if (count == 0) return cudaSuccess;
    return dispatchAcc(accDouble, [&](auto accTag) {
        using A = typename decltype(accTag)::type;
        blendKernel<A><<<gridFor(count, kBlock), kBlock, 0, stream>>>(
            static_cast<const A*>(a), static_cast<const A*>(b), static_cast<A*>(out), count, static_cast<A>(momentum));
        return cudaGetLastError();
    });
}

cudaError_t launchNormalize(NormKind kind, DataType type, bool accDouble, const void* x, void* y, const NormArgs& args,
                            cudaStream_t stream) {
    if (args.g.outCount == 0) return cudaSuccess;
    return dispatchDevice<dtypes::kFloat>(type, [&](auto tag) {
        using T = typename decltype(tag)::type;
        return dispatchAcc(accDouble, [&](auto accTag) {
            using A = typename decltype(accTag)::type;
            switch (kind) {
                case NormKind::kInstance: return normalizeAs<T, A, NormKind::kInstance>(x, y, args, stream);
                case NormKind::kLayer: return normalizeAs<T, A, NormKind::kLayer>(x, y, args, stream);
                case NormKind::kMeanVariance: return normalizeAs<T, A, NormKind::kMeanVariance>(x, y, args, stream);
                case NormKind::kBatchStats: return normalizeAs<T, A, NormKind::kBatchStats>(x, y, args, stream);
                case NormKind::kLp1: return normalizeAs<T, A, NormKind::kLp1>(x, y, args, stream);
                case NormKind::kLp2: return normalizeAs<T, A, NormKind::kLp2>(x, y, args, stream);
            }
            return cudaErrorInvalidValue;
        });
    });
}

cudaError_t launchBatchNorm(DataType type, bool accDouble, const void* x, void* y, const BatchNormArgs& args,
                            cudaStream_t stream) {
    if (args.numel == 0) return cudaSuccess;
    return dispatchDevice<dtypes::kFloat>(type, [&](auto tag) {
        using T = typename decltype(tag)::type;
        return dispatchAcc(accDouble, [&](auto accTag) {
            using A = typename decltype(accTag)::type;
            batchNormKernel<T, A><<<gridFor(args.numel, kBlock), kBlock, 0, stream>>>(static_cast<const T*>(x),
                                                                                      static_cast<T*>(y), args);
            return cudaGetLastError();
        });
    });
}

cudaError_t launchLrn(DataType type, const void* x, void* y, int64_t batch, int64_t channels, int64_t spatial,
                      int64_t size, double alpha, double beta, double bias, cudaStream_t stream) {
    const int64_t numel = batch * channels * spatial;
    if (numel == 0) return cudaSuccess;
    return dispatchDevice<dtypes::kFloat>(type, [&](auto tag) {
        using T = typename decltype(tag)::type;
        using A = FloatMath<T>;
        lrnKernel<T><<<gridFor(numel, kBlock), kBlock, 0, stream>>>(static_cast<const T*>(x), static_cast<T*>(y), numel,
                                                                    channels, spatial, size, static_cast<A>(alpha),
                                                                    static_cast<A>(beta), static_cast<A>(bias));
        return cudaGetLastError();
    });
}

}  // namespace kiln::cuda
