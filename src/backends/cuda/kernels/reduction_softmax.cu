// Softmax, LogSoftmax and Hardmax over rows of n elements, `inner` apart (see launchSoftmax).
//
// Contiguous rows (inner == 1) get a warp (n <= 256) or a 256-thread block each: a max pass, a sum-of-exp pass
// and a write pass, with warp-shuffle / block all-reduces in between. Strided rows (inner > 1) get a thread each,
// so a warp reads 32 neighbouring rows' elements at once. Math is in float (double for float64) with the row
// maximum subtracted first, as the CPU reference does in double.
#include "backends/cuda/kernels/reduction.h"
#include "backends/cuda/kernels/reduction_common.cuh"

namespace kiln::cuda {

namespace {

using namespace red;

constexpr int kBlock = 256;

//! Hardmax's order: larger value first, then lower index (NaN counts as -inf: the CPU's `v > max` skips it).
template <typename A>
__device__ __forceinline__ ArgAcc<A> hardmaxCombine(ArgAcc<A> a, ArgAcc<A> b) {
    if (a.v != b.v) return a.v > b.v ? a : b;
    return a.i < b.i ? a : b;
}

template <typename T, SoftmaxOp K>
__global__ void __launch_bounds__(kBlock)
    softmaxRowsKernel(const T* __restrict__ x, T* __restrict__ y, int64_t rows, int64_t n, int group) {
    using A = FloatMath<T>;
    const int perBlock = kBlock / group;
    const int lane = static_cast<int>(threadIdx.x) % group;
    auto add = [](A a, A b) { return a + b; };
    auto maxOf = [](A a, A b) { return maxIgnoringNaN(a, b); };
    // Uniform trip count for every thread: the all-reduces may synchronize the block.
    for (int64_t first = int64_t{blockIdx.x} * perBlock; first < rows; first += int64_t{gridDim.x} * perBlock) {
        const int64_t row = first + static_cast<int>(threadIdx.x) / group;
        const bool valid = row < rows;
        const T* in = x + (valid ? row * n : 0);
        T* out = y + (valid ? row * n : 0);
        if constexpr (K == SoftmaxOp::kHardmax) {
            ArgAcc<A> best{-infinity<A>(), INT64_MAX};
            for (int64_t k = lane; valid && k < n; k += group) {
                A v = widen(in[k]);
                if (isNan(v)) v = -infinity<A>();
                best = hardmaxCombine(best, ArgAcc<A>{v, k});
            }
            best = groupAllReduce(
                best, [](ArgAcc<A> a, ArgAcc<A> b) { return hardmaxCombine(a, b); },
                ArgAcc<A>{-infinity<A>(), INT64_MAX}, group);
            for (int64_t k = lane; valid && k < n; k += group) out[k] = storeAs<T>(A(k == best.i ? 1 : 0));
        } else {
            A m = -infinity<A>();
            for (int64_t k = lane; valid && k < n; k += group) m = maxIgnoringNaN(m, static_cast<A>(widen(in[k])));
            m = groupAllReduce(m, maxOf, -infinity<A>(), group);
            A s = 0;
            for (int64_t k = lane; valid && k < n; k += group) s += mathExp(static_cast<A>(widen(in[k])) - m);
            s = groupAllReduce(s, add, A(0), group);
            const A logSum = mathLog(s);
            for (int64_t k = lane; valid && k < n; k += group) {
                const A v = static_cast<A>(widen(in[k])) - m;
                out[k] = storeAs<T>(K == SoftmaxOp::kSoftmax ? mathExp(v) / s : v - logSum);
            }
        }
    }
}

template <typename T, SoftmaxOp K>
__global__ void __launch_bounds__(kBlock)
    softmaxColumnsKernel(const T* __restrict__ x, T* __restrict__ y, int64_t outer, int64_t n, int64_t inner) {
    using A = FloatMath<T>;
    const int64_t lines = outer * inner;
    for (int64_t line = int64_t{blockIdx.x} * blockDim.x + threadIdx.x; line < lines;
         line += int64_t{gridDim.x} * blockDim.x) {
        const int64_t base = (line / inner) * n * inner + line % inner;
        const T* in = x + base;
        T* out = y + base;
        if constexpr (K == SoftmaxOp::kHardmax) {
            // The CPU's scan: the first element strictly above all before it (NaN never is), else position 0.
            A best = -infinity<A>();
            int64_t at = 0;
            for (int64_t k = 0; k < n; ++k) {
                const A v = widen(in[k * inner]);
                if (v > best) {
                    best = v;
                    at = k;
                }
            }
            for (int64_t k = 0; k < n; ++k) out[k * inner] = storeAs<T>(A(k == at ? 1 : 0));
        } else {
            A m = -infinity<A>();
            for (int64_t k = 0; k < n; ++k) m = maxIgnoringNaN(m, static_cast<A>(widen(in[k * inner])));
            A s = 0;
            for (int64_t k = 0; k < n; ++k) s += mathExp(static_cast<A>(widen(in[k * inner])) - m);
            const A logSum = mathLog(s);
            for (int64_t k = 0; k < n; ++k) {
                const A v = static_cast<A>(widen(in[k * inner])) - m;
                out[k * inner] = storeAs<T>(K == SoftmaxOp::kSoftmax ? mathExp(v) / s : v - logSum);
            }
        }
    }
}

template <typename T, SoftmaxOp K>
cudaError_t softmaxAs(const void* x, void* y, int64_t outer, int64_t n, int64_t inner, cudaStream_t s) {
    const T* in = static_cast<const T*>(x);
    T* out = static_cast<T*>(y);
    if (inner == 1) {
        const int group = n > 256 ? kBlock : 32;
        softmaxRowsKernel<T, K><<<gridFor(outer, kBlock / group), kBlock, 0, s>>>(in, out, outer, n, group);
    } else {
        softmaxColumnsKernel<T, K><<<gridFor(outer * inner, kBlock), kBlock, 0, s>>>(in, out, outer, n, inner);
    }
    return cudaGetLastError();
}

}  // namespace

cudaError_t launchSoftmax(SoftmaxOp op, DataType type, const void* x, void* y, int64_t outer, int64_t n, int64_t inner,
                          cudaStream_t stream) {
    if (outer == 0 || n == 0 || inner == 0) return cudaSuccess;
    return dispatchDevice<dtypes::kFloat>(type, [&](auto tag) {
        using T = typename decltype(tag)::type;
        switch (op) {
            case SoftmaxOp::kSoftmax: return softmaxAs<T, SoftmaxOp::kSoftmax>(x, y, outer, n, inner, stream);
            case SoftmaxOp::kLogSoftmax: return softmaxAs<T, SoftmaxOp::kLogSoftmax>(x, y, outer, n, inner, stream);
            case SoftmaxOp::kHardmax: return softmaxAs<T, SoftmaxOp::kHardmax>(x, y, outer, n, inner, stream);
        }
        return cudaErrorInvalidValue;
    });
}

}  // namespace kiln::cuda
