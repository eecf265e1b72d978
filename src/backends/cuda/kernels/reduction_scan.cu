// CumSum: one thread per row, scanning it in order with the CPU reference's accumulator (float for
// float16/bfloat16, the element type otherwise, integers wrapping), so results match it bit for bit. Rows `inner`
// apart are read by neighbouring threads (coalesced); a parallel scan would reorder the float additions.
#include "backends/cuda/kernels/reduction.h"
#include "backends/cuda/kernels/reduction_common.cuh"

namespace kiln::cuda {

namespace {

using namespace red;

template <typename T>
__global__ void cumSumKernel(const T* __restrict__ x, T* __restrict__ y, int64_t outer, int64_t n, int64_t inner,
                             bool exclusive, bool reverse) {
    using C = AccT<T>;
    const int64_t lines = outer * inner;
    for (int64_t line = int64_t{blockIdx.x} * blockDim.x + threadIdx.x; line < lines;
         line += int64_t{gridDim.x} * blockDim.x) {
        const int64_t base = (line / inner) * n * inner + line % inner;
        C acc = C(0);
        for (int64_t s = 0; s < n; ++s) {
            const int64_t at = base + (reverse ? n - 1 - s : s) * inner;
            const C v = static_cast<C>(widen(x[at]));
            const C next = wrapAdd(acc, v);  // integers wrap in T, as the CPU's static_cast<C>(acc + v)
            y[at] = storeAs<T>(exclusive ? acc : next);
            acc = next;
        }
    }
}

}  // namespace

cudaError_t launchCumSum(DataType type, const void* x, void* y, int64_t outer, int64_t n, int64_t inner, bool exclusive,
                         bool reverse, cudaStream_t stream) {
    const int64_t lines = outer * inner;
    if (lines == 0 || n == 0) return cudaSuccess;
    return dispatchDevice<dtypes::kNumeric>(type, [&](auto tag) {
        using T = typename decltype(tag)::type;
        constexpr int kBlock = 256;
        cumSumKernel<T><<<gridFor(lines, kBlock), kBlock, 0, stream>>>(static_cast<const T*>(x), static_cast<T*>(y),
                                                                       outer, n, inner, exclusive, reverse);
        return cudaGetLastError();
    });
}

}  // namespace kiln::cuda
