// TopK by sorting each row with a bitonic network under the CPU reference's strict order (NaN ranks above every
// number; ties keep the lower index first), so the k first elements are exactly the CPU's, indices included.
//
// A row of n elements is padded to P = 2^ceil(log2 n) with entries that sort last. Rows up to
// kTopKSharedMaxRow elements are sorted by one block in shared memory (48 KiB at most for 8-byte keys). Longer
// rows live in workspace: 4096-element chunks are sorted in shared memory, then each merge stage runs its long
// strides (j >= 4096) as one global compare-exchange launch per stride and finishes its short strides in shared
// memory, chunk by chunk.
#include "backends/cuda/kernels/reduction.h"
#include "backends/cuda/kernels/reduction_common.cuh"

namespace kiln::cuda {

namespace {

using namespace red;

constexpr int kChunk = static_cast<int>(kTopKSharedMaxRow);
constexpr int kSortBlock = 512;

//! Whether entry (va, ia) sorts before (vb, ib); positions >= n are padding and sort last.
template <typename W>
__device__ __forceinline__ bool before(W va, int32_t ia, W vb, int32_t ib, bool largest, int32_t n) {
    if (ia >= n || ib >= n) return ia < ib;
    const bool aNaN = isNan(va);
    const bool bNaN = isNan(vb);
    if (aNaN || bNaN) {
        if (aNaN && bNaN) return ia < ib;
        return largest ? aNaN : bNaN;
    }
    if (va != vb) return largest ? va > vb : va < vb;
    return ia < ib;
}

//! One compare-exchange of the bitonic network: element t (position `pos` in its row) and its partner t ^ j.
template <typename W>
__device__ __forceinline__ void compareExchange(W* vals, int32_t* idx, int64_t t, int64_t partner, int64_t pos,
                                                int64_t k, bool largest, int32_t n) {
    const bool up = (pos & k) == 0;  // this run sorts in `before` order, else in reverse
    const bool partnerFirst = before(vals[partner], idx[partner], vals[t], idx[t], largest, n);
    const bool tFirst = before(vals[t], idx[t], vals[partner], idx[partner], largest, n);
    if (up ? partnerFirst : tFirst) {
        const W v = vals[t];
        vals[t] = vals[partner];
        vals[partner] = v;
        const int32_t i = idx[t];
        idx[t] = idx[partner];
        idx[partner] = i;
    }
}

//! Runs stages k = kFirst..kLast of the network over `count` shared entries whose row positions start at
//! `base`, the first stage from stride jFirst down. Every thread of the block must call it.
template <typename W>
__device__ void bitonicShared(W* vals, int32_t* idx, int count, int64_t base, int64_t kFirst, int64_t kLast,
                              int64_t jFirst, bool largest, int32_t n) {
    for (int64_t k = kFirst; k <= kLast; k <<= 1) {
        for (int64_t j = k == kFirst ? jFirst : k >> 1; j > 0; j >>= 1) {
            for (int t = static_cast<int>(threadIdx.x); t < count; t += static_cast<int>(blockDim.x)) {
                const int partner = t ^ static_cast<int>(j);
                if (partner > t) compareExchange(vals, idx, t, partner, base + t, k, largest, n);
            }
            __syncthreads();
        }
    }
}

//! Shared memory of one block: `count` keys then `count` positions.
template <typename W>
struct SharedKeys {
    W* vals;
    int32_t* idx;
    __device__ explicit SharedKeys(int count) {
        extern __shared__ __align__(16) unsigned char smem[];
        vals = reinterpret_cast<W*>(smem);
        idx = reinterpret_cast<int32_t*>(vals + count);
    }
};

//! Writes the first k sorted entries of row `row`: values copied from x (exactly), positions as int64.
template <typename T>
__device__ __forceinline__ void writeTop(const T* x, T* values, int64_t* indices, int64_t row, int64_t n, int64_t inner,
                                         int64_t k, int64_t t, int32_t src) {
    const int64_t o = row / inner;
    const int64_t j = row % inner;
    const int64_t dst = (o * k + t) * inner + j;
    values[dst] = x[(o * n + src) * inner + j];
    if (indices) indices[dst] = src;
}

template <typename T>
__global__ void __launch_bounds__(kSortBlock)
    topKSharedKernel(const T* __restrict__ x, T* __restrict__ values, int64_t* __restrict__ indices, int64_t rows,
                     int64_t n, int64_t inner, int64_t k, int padded, bool largest) {
    using W = Wide<T>;
    SharedKeys<W> keys(padded);
    for (int64_t row = blockIdx.x; row < rows; row += gridDim.x) {
        const T* in = x + (row / inner) * n * inner + row % inner;
        for (int t = static_cast<int>(threadIdx.x); t < padded; t += static_cast<int>(blockDim.x)) {
            keys.vals[t] = t < n ? widen(in[t * inner]) : W(0);
            keys.idx[t] = t;
        }
        __syncthreads();
        bitonicShared(keys.vals, keys.idx, padded, 0, 2, padded, 1, largest, static_cast<int32_t>(n));
        for (int t = static_cast<int>(threadIdx.x); t < k; t += static_cast<int>(blockDim.x))
            writeTop(x, values, indices, row, n, inner, k, t, keys.idx[t]);
        __syncthreads();  // the next row reuses the shared keys
    }
}

template <typename T>
__global__ void topKFillKernel(const T* __restrict__ x, Wide<T>* vals, int32_t* idx, int64_t rows, int64_t n,
                               int64_t inner, int64_t padded) {
    const int64_t total = rows * padded;
    for (int64_t e = int64_t{blockIdx.x} * blockDim.x + threadIdx.x; e < total; e += int64_t{gridDim.x} * blockDim.x) {
        const int64_t row = e / padded;
        const int64_t t = e % padded;
        vals[e] = t < n ? widen(x[((row / inner) * n + t) * inner + row % inner]) : Wide<T>(0);
        idx[e] = static_cast<int32_t>(t);
    }
}

//! Stages kFirst..kLast restricted to strides < kChunk, on each chunk of kChunk entries in shared memory.
template <typename W>
__global__ void __launch_bounds__(kSortBlock)
    topKChunkKernel(W* vals, int32_t* idx, int64_t chunks, int64_t padded, int64_t kFirst, int64_t kLast,
                    int64_t jFirst, bool largest, int32_t n) {
    SharedKeys<W> keys(kChunk);
    for (int64_t c = blockIdx.x; c < chunks; c += gridDim.x) {
        const int64_t at = c * kChunk;
        for (int t = static_cast<int>(threadIdx.x); t < kChunk; t += static_cast<int>(blockDim.x)) {
            keys.vals[t] = vals[at + t];
            keys.idx[t] = idx[at + t];
        }
        __syncthreads();
        bitonicShared(keys.vals, keys.idx, kChunk, at % padded, kFirst, kLast, jFirst, largest, n);
        for (int t = static_cast<int>(threadIdx.x); t < kChunk; t += static_cast<int>(blockDim.x)) {
            vals[at + t] = keys.vals[t];
            idx[at + t] = keys.idx[t];
        }
        __syncthreads();
    }
}

//! One long stride j of stage k over every row in global memory.
template <typename W>
__global__ void topKStepKernel(W* vals, int32_t* idx, int64_t total, int64_t padded, int64_t k, int64_t j, bool largest,
                               int32_t n) {
    for (int64_t e = int64_t{blockIdx.x} * blockDim.x + threadIdx.x; e < total; e += int64_t{gridDim.x} * blockDim.x) {
        const int64_t pos = e % padded;
        const int64_t partner = pos ^ j;
        if (partner > pos) compareExchange(vals, idx, e, e - pos + partner, pos, k, largest, n);
    }
}

template <typename T>
__global__ void topKGatherKernel(const T* __restrict__ x, const int32_t* __restrict__ idx, T* __restrict__ values,
                                 int64_t* __restrict__ indices, int64_t rows, int64_t n, int64_t inner, int64_t k,
                                 int64_t padded) {
    const int64_t total = rows * k;
    for (int64_t e = int64_t{blockIdx.x} * blockDim.x + threadIdx.x; e < total; e += int64_t{gridDim.x} * blockDim.x) {
        const int64_t row = e / k;
        const int64_t t = e % k;
        writeTop(x, values, indices, row, n, inner, k, t, idx[row * padded + t]);
    }
}

int64_t paddedLength(int64_t n) {
    int64_t p = 2;
    while (p < n) p <<= 1;
    return p;
}

size_t wideSize(DataType type) {
    const bool narrowKeys = type == DataType::kFloat32 || type == DataType::kFloat16 || type == DataType::kBFloat16;
    return narrowKeys ? 4 : 8;
}

template <typename T>
cudaError_t topKGlobal(const T* x, T* values, int64_t* indices, int64_t rows, int64_t n, int64_t inner, int64_t k,
                       bool largest, void* workspace, cudaStream_t s) {
    using W = Wide<T>;
    constexpr int kBlock = 256;
    const int64_t padded = paddedLength(n);
    const int64_t total = rows * padded;
    W* vals = static_cast<W*>(workspace);
    int32_t* idx = reinterpret_cast<int32_t*>(vals + total);
    const auto n32 = static_cast<int32_t>(n);
    const size_t shared = kChunk * (sizeof(W) + sizeof(int32_t));
    const int64_t chunks = total / kChunk;
    topKFillKernel<T><<<gridFor(total, kBlock), kBlock, 0, s>>>(x, vals, idx, rows, n, inner, padded);
    topKChunkKernel<W>
        <<<gridFor(chunks, 1), kSortBlock, shared, s>>>(vals, idx, chunks, padded, 2, kChunk, 1, largest, n32);
    for (int64_t kk = 2 * kChunk; kk <= padded; kk <<= 1) {
        for (int64_t j = kk >> 1; j >= kChunk; j >>= 1)
            topKStepKernel<W><<<gridFor(total, kBlock), kBlock, 0, s>>>(vals, idx, total, padded, kk, j, largest, n32);
        topKChunkKernel<W><<<gridFor(chunks, 1), kSortBlock, shared, s>>>(vals, idx, chunks, padded, kk, kk, kChunk / 2,
                                                                          largest, n32);
    }
    topKGatherKernel<T>
        <<<gridFor(rows * k, kBlock), kBlock, 0, s>>>(x, idx, values, indices, rows, n, inner, k, padded);
    return cudaGetLastError();
}

}  // namespace

size_t topKWorkspaceBytes(DataType type, int64_t outer, int64_t n, int64_t inner) {
    if (n <= kTopKSharedMaxRow) return 0;
    return static_cast<size_t>(outer * inner * paddedLength(n)) * (wideSize(type) + sizeof(int32_t));
}

cudaError_t launchTopK(DataType type, const void* x, void* values, int64_t* indices, int64_t outer, int64_t n,
                       int64_t inner, int64_t k, bool largest, void* workspace, cudaStream_t stream) {
    const int64_t rows = outer * inner;
    if (rows == 0 || k == 0) return cudaSuccess;
    if (n > INT32_MAX / 2) return cudaErrorInvalidValue;  // positions are int32 in the sort; the host checks first
    return dispatchDevice<dtypes::kNumeric>(type, [&](auto tag) {
        using T = typename decltype(tag)::type;
        const T* in = static_cast<const T*>(x);
        T* out = static_cast<T*>(values);
        if (n > kTopKSharedMaxRow) return topKGlobal(in, out, indices, rows, n, inner, k, largest, workspace, stream);
        const auto padded = static_cast<int>(paddedLength(n));
        const int threads = padded < kSortBlock ? (padded < 32 ? 32 : padded) : kSortBlock;
        const size_t shared = static_cast<size_t>(padded) * (sizeof(Wide<T>) + sizeof(int32_t));
        topKSharedKernel<T>
            <<<gridFor(rows, 1), threads, shared, stream>>>(in, out, indices, rows, n, inner, k, padded, largest);
        return cudaGetLastError();
    });
}

}  // namespace kiln::cuda
