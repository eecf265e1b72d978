// Tensor creation on the device: Trilu's masking copy, EyeLike, Range and OneHot.
#include "backends/cuda/kernels/data_movement.h"
#include "backends/cuda/kernels/data_movement_common.cuh"

namespace kiln::cuda {

namespace {

using dm::blocksFor;
using dm::kThreads;

template <typename W>
__global__ void __launch_bounds__(kThreads) triluKernel(const W* __restrict__ src, W* __restrict__ dst, int64_t total,
                                                        int64_t rows, int64_t cols, int64_t k, bool upper) {
    for (const int64_t e : dm::gridStride(total)) {
        const int64_t j = e % cols;
        const int64_t i = (e / cols) % rows;
        const bool keep = upper ? j >= i + k : j <= i + k;
        dst[e] = keep ? src[e] : W{};
    }
}

template <typename W>
__global__ void __launch_bounds__(kThreads)
    eyeKernel(W* __restrict__ dst, int64_t total, int64_t cols, int64_t k, W one) {
    for (const int64_t e : dm::gridStride(total)) {
        dst[e] = e % cols == e / cols + k ? one : W{};
    }
}

template <typename T>
__global__ void __launch_bounds__(kThreads)
    rangeFloatKernel(T* __restrict__ dst, int64_t count, double start, double delta) {
    for (const int64_t i : dm::gridStride(count)) {
        dst[i] = static_cast<T>(dm::addRn(start, dm::mulRn(static_cast<double>(i), delta)));
    }
}

template <typename T>
__global__ void __launch_bounds__(kThreads)
    rangeIntKernel(T* __restrict__ dst, int64_t count, int64_t start, int64_t delta) {
    for (const int64_t i : dm::gridStride(count)) {
        // Two's-complement wraparound like the reference's int64 arithmetic.
        dst[i] = static_cast<T>(static_cast<int64_t>(static_cast<uint64_t>(start) +
                                                     static_cast<uint64_t>(i) * static_cast<uint64_t>(delta)));
    }
}

template <typename Index, typename W>
__global__ void __launch_bounds__(kThreads) oneHotKernel(const Index* __restrict__ indices, W* __restrict__ dst,
                                                         int64_t total, int64_t depth, int64_t inner, W off, W on) {
    for (const int64_t e : dm::gridStride(total)) {
        const int64_t in = e % inner;
        const int64_t t = e / inner;
        const int64_t j = t % depth;
        const int64_t o = t / depth;
        const double v = dm::toCompute<double>(indices[o * inner + in]);
        const double dd = static_cast<double>(depth);
        bool hit = false;
        // The reference's rule: finite, in (-depth - 1, depth), truncated, negative values wrapped once.
        if (isfinite(v) && !(v <= -dd - 1) && !(v >= dd)) {
            int64_t d = static_cast<int64_t>(v);
            if (d < 0) d += depth;
            hit = d == j;
        }
        dst[e] = hit ? on : off;
    }
}

}  // namespace

cudaError_t launchTrilu(const void* src, void* dst, int64_t matrices, int64_t rows, int64_t cols, int64_t k, bool upper,
                        size_t elemBytes, cudaStream_t stream) {
    const int64_t total = matrices * rows * cols;
    if (total == 0) return cudaSuccess;
    return dm::dispatchWord(elemBytes, [&](auto tag) {
        using W = typename decltype(tag)::type;
        triluKernel<W><<<blocksFor(total), kThreads, 0, stream>>>(static_cast<const W*>(src), static_cast<W*>(dst),
                                                                  total, rows, cols, k, upper);
        return cudaGetLastError();
    });
}

cudaError_t launchEyeLike(void* dst, int64_t rows, int64_t cols, int64_t k, const void* one, size_t elemBytes,
                          cudaStream_t stream) {
    const int64_t total = rows * cols;
    if (total == 0) return cudaSuccess;
    // Checked first so that i + k cannot overflow for extreme k: no diagonal element lies inside.
    if (k >= cols || k <= -rows) return launchFill(dst, total, nullptr, elemBytes, stream);
    return dm::dispatchWord(elemBytes, [&](auto tag) {
        using W = typename decltype(tag)::type;
        eyeKernel<W><<<blocksFor(total), kThreads, 0, stream>>>(static_cast<W*>(dst), total, cols, k,
                                                                dm::replicate<W>(one, elemBytes));
        return cudaGetLastError();
    });
}

cudaError_t launchRange(void* dst, DataType type, int64_t count, double startF, double deltaF, int64_t startI,
                        int64_t deltaI, cudaStream_t stream) {
    if (count == 0) return cudaSuccess;
    const unsigned blocks = blocksFor(count);
    switch (type) {
        case DataType::kFloat32:
            rangeFloatKernel<float><<<blocks, kThreads, 0, stream>>>(static_cast<float*>(dst), count, startF, deltaF);
            break;
        case DataType::kFloat64:
            rangeFloatKernel<double><<<blocks, kThreads, 0, stream>>>(static_cast<double*>(dst), count, startF, deltaF);
            break;
        case DataType::kInt16:
            rangeIntKernel<int16_t><<<blocks, kThreads, 0, stream>>>(static_cast<int16_t*>(dst), count, startI, deltaI);
            break;
        case DataType::kInt32:
            rangeIntKernel<int32_t><<<blocks, kThreads, 0, stream>>>(static_cast<int32_t*>(dst), count, startI, deltaI);
            break;
        case DataType::kInt64:
            rangeIntKernel<int64_t><<<blocks, kThreads, 0, stream>>>(static_cast<int64_t*>(dst), count, startI, deltaI);
            break;
        default: return cudaErrorInvalidValue;
    }
    return cudaGetLastError();
}

cudaError_t launchOneHot(const void* indices, DataType indexType, void* dst, int64_t outer, int64_t depth,
                         int64_t inner, const void* off, const void* on, size_t elemBytes, cudaStream_t stream) {
    const int64_t total = outer * depth * inner;
    if (total == 0) return cudaSuccess;
    return dispatchDevice<dtypes::kAll>(indexType, [&](auto indexTag) {
        using Index = typename decltype(indexTag)::type;
        return dm::dispatchWord(elemBytes, [&](auto tag) {
            using W = typename decltype(tag)::type;
            oneHotKernel<Index, W><<<blocksFor(total), kThreads, 0, stream>>>(
                static_cast<const Index*>(indices), static_cast<W*>(dst), total, depth, inner,
                dm::replicate<W>(off, elemBytes), dm::replicate<W>(on, elemBytes));
            return cudaGetLastError();
        });
    });
}

}  // namespace kiln::cuda
