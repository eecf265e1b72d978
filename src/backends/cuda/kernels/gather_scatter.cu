// Index-driven kernels: Gather, GatherElements, GatherND, ScatterElements, ScatterND, ReverseSequence. Index values
// are checked on the device (device_errors.h).
#include <algorithm>
#include <cstring>

#include "backends/cuda/kernels/data_movement_common.cuh"
#include "backends/cuda/kernels/gather_scatter.h"

namespace kiln::cuda {

namespace {

using dm::blocksFor;
using dm::kThreads;

bool aligned(const void* p, size_t bytes) { return reinterpret_cast<uintptr_t>(p) % bytes == 0; }
bool fits32(int64_t n) { return n < (int64_t{1} << 31); }

//! The widest word (up to 16 bytes) that moves `run` contiguous elements at a time between src and dst.
size_t runWord(const void* src, const void* dst, size_t elemBytes, int64_t run) {
    for (size_t word = 16; word > elemBytes; word /= 2) {
        if (aligned(src, word) && aligned(dst, word) && run % static_cast<int64_t>(word / elemBytes) == 0) return word;
    }
    return elemBytes;
}

//! Wraps index v into [0, dim), or flags it and returns -1.
template <typename Idx>
__device__ __forceinline__ int64_t wrapOrFlag(Idx raw, int64_t dim, const IndexInput& in, int32_t axis,
                                              uint32_t code = kDeviceIndexOutOfRange) {
    const auto v = static_cast<int64_t>(raw);
    if (v < -dim || v >= dim) {
        flagDeviceError(in.errors, code, in.tag, v, dim, axis);
        return -1;
    }
    return v < 0 ? v + dim : v;
}

template <typename W, typename Idx, typename I>
__global__ void __launch_bounds__(kThreads) gatherKernel(const W* __restrict__ src, W* __restrict__ dst, I total,
                                                         I inner, I n, int64_t axisDim, IndexInput in, int32_t axis) {
    const Idx* idx = static_cast<const Idx*>(in.data);
    for (const I e : dm::gridStride(total)) {
        const I i = e % inner;
        const I t = e / inner;
        const I j = t % n;
        const I o = t / n;
        const int64_t v = wrapOrFlag(idx[j], axisDim, in, axis);
        dst[e] = v < 0 ? W{} : src[(static_cast<int64_t>(o) * axisDim + v) * inner + i];
    }
}

//! Data offset of position e of the indices tensor with its axis coordinate left out.
__device__ __forceinline__ int64_t elementsBase(const ElementsGeometry& g, int64_t e) {
    int64_t off = 0;
#pragma unroll
    for (int d = kMaxIndexDims - 1; d >= 0; --d) {
        if (d >= g.rank) continue;
        const int64_t c = e % g.indexDim[d];
        e /= g.indexDim[d];
        if (d != g.axis) off += c * g.dataStride[d];
    }
    return off;
}

template <typename W, typename Idx>
__global__ void __launch_bounds__(kThreads) gatherElementsKernel(const W* __restrict__ src, W* __restrict__ dst,
                                                                 int64_t total, ElementsGeometry g, IndexInput in) {
    const Idx* idx = static_cast<const Idx*>(in.data);
    for (const int64_t e : dm::gridStride(total)) {
        const int64_t v = wrapOrFlag(idx[e], g.axisDim, in, g.dataAxis);
        dst[e] = v < 0 ? W{} : src[elementsBase(g, e) + v * g.dataStride[g.axis]];
    }
}

//! Offset of tuple t within its slab, or -1 when an index is out of range (flagged).
template <typename Idx>
__device__ __forceinline__ int64_t tupleOffset(const TupleGeometry& g, const IndexInput& in, int64_t t) {
    const Idx* idx = static_cast<const Idx*>(in.data) + t * g.k;
    int64_t off = 0;
    for (int j = 0; j < g.k; ++j) {
        const int64_t v = wrapOrFlag(idx[j], g.dim[j], in, g.firstAxis + j);
        if (v < 0) return -1;
        off += v * g.stride[j];
    }
    return off;
}

template <typename W, typename Idx>
__global__ void __launch_bounds__(kThreads)
    gatherNDKernel(const W* __restrict__ src, W* __restrict__ dst, int64_t total, TupleGeometry g, IndexInput in) {
    for (const int64_t e : dm::gridStride(total)) {
        const int64_t s = e % g.slice;
        const int64_t t = e / g.slice;
        const int64_t off = tupleOffset<Idx>(g, in, t);
        dst[e] = off < 0 ? W{} : src[(t / g.perBatch) * g.slab + off * g.slice + s];
    }
}

template <typename T>
__device__ __forceinline__ T combine(T current, T update, ScatterOp op) {
    using C = AccT<T>;
    const C a = dm::toCompute<C>(current);
    const C b = dm::toCompute<C>(update);
    C r;
    switch (op) {
        case ScatterOp::kAdd: r = static_cast<C>(a + b); break;
        case ScatterOp::kMul: r = static_cast<C>(a * b); break;
        case ScatterOp::kMax: r = a < b ? b : a; break;
        default: r = b < a ? b : a; break;
    }
    return storeAs<T>(r);
}

//! *addr = combine(*addr, update) atomically: a compare-and-swap loop on the aligned 4- or 8-byte word holding it.
template <typename T>
__device__ void atomicCombine(T* addr, T update, ScatterOp op) {
    if constexpr (sizeof(T) == 8) {
        auto* word = reinterpret_cast<unsigned long long*>(addr);
        unsigned long long old = *word;
        unsigned long long assumed;
        do {
            assumed = old;
            T cur;
            memcpy(&cur, &assumed, sizeof(T));
            const T next = combine(cur, update, op);
            unsigned long long bits;
            memcpy(&bits, &next, sizeof(T));
            old = atomicCAS(word, assumed, bits);
        } while (assumed != old);
    } else {
        const auto address = reinterpret_cast<uintptr_t>(addr);
        auto* word = reinterpret_cast<unsigned int*>(address & ~uintptr_t{3});
        const unsigned shift = static_cast<unsigned>(address & 3u) * 8u;
        const unsigned mask = sizeof(T) == 4 ? 0xFFFFFFFFu : ((1u << (8u * sizeof(T))) - 1u) << shift;
        unsigned old = *word;
        unsigned assumed;
        do {
            assumed = old;
            const unsigned curBits = (assumed & mask) >> shift;
            T cur;
            memcpy(&cur, &curBits, sizeof(T));
            const T next = combine(cur, update, op);
            unsigned nextBits = 0;
            memcpy(&nextBits, &next, sizeof(T));
            old = atomicCAS(word, assumed, (assumed & ~mask) | ((nextBits << shift) & mask));
        } while (assumed != old);
    }
}

template <typename T, typename Idx>
__global__ void __launch_bounds__(kThreads)
    scatterElementsKernel(T* __restrict__ out, const T* __restrict__ updates, int64_t total, ElementsGeometry g,
                          IndexInput in, ScatterOp op) {
    const Idx* idx = static_cast<const Idx*>(in.data);
    for (const int64_t e : dm::gridStride(total)) {
        const int64_t v = wrapOrFlag(idx[e], g.axisDim, in, g.dataAxis);
        if (v < 0) continue;
        T* target = out + elementsBase(g, e) + v * g.dataStride[g.axis];
        if (op == ScatterOp::kNone) {
            *target = updates[e];
        } else {
            atomicCombine(target, updates[e], op);
        }
    }
}

template <typename T, typename Idx>
__global__ void __launch_bounds__(kThreads)
    scatterNDKernel(T* __restrict__ out, const T* __restrict__ updates, int64_t total, TupleGeometry g, IndexInput in,
                    ScatterOp op) {
    for (const int64_t e : dm::gridStride(total)) {
        const int64_t s = e % g.slice;
        const int64_t off = tupleOffset<Idx>(g, in, e / g.slice);
        if (off < 0) continue;
        T* target = out + off * g.slice + s;
        if (op == ScatterOp::kNone) {
            *target = updates[e];
        } else {
            atomicCombine(target, updates[e], op);
        }
    }
}

template <typename W, typename Idx>
__global__ void __launch_bounds__(kThreads)
    reverseSequenceKernel(const W* __restrict__ src, W* __restrict__ dst, int64_t total, int64_t d1, int64_t block,
                          bool batchFirst, int64_t time, IndexInput in) {
    const Idx* lens = static_cast<const Idx*>(in.data);
    for (const int64_t e : dm::gridStride(total)) {
        const int64_t inner = e % block;
        const int64_t pair = e / block;
        const int64_t c1 = pair % d1;
        const int64_t c0 = pair / d1;
        const int64_t b = batchFirst ? c0 : c1;
        const int64_t t = batchFirst ? c1 : c0;
        const auto len = static_cast<int64_t>(lens[b]);
        if (len < 0 || len > time) {
            flagDeviceError(in.errors, kDeviceSequenceLengthOutOfRange, in.tag, len, time, batchFirst ? 1 : 0);
            dst[e] = W{};
            continue;
        }
        const int64_t s = t < len ? len - 1 - t : t;
        const int64_t srcPair = batchFirst ? c0 * d1 + s : s * d1 + c1;
        dst[e] = src[srcPair * block + inner];
    }
}

//! Calls fn(TypeTag<Idx>{}) with int64_t or int32_t.
template <typename Fn>
cudaError_t dispatchIndex(const IndexInput& in, Fn&& fn) {
    return in.is64 ? fn(TypeTag<int64_t>{}) : fn(TypeTag<int32_t>{});
}

//! Calls fn(TypeTag<T>{}) with the device type of `type` (scatter reductions compute on values).
template <typename Fn>
cudaError_t dispatchScatterType(DataType type, ScatterOp op, Fn&& fn) {
    if (op == ScatterOp::kNone) {
        return dm::dispatchWord(dataTypeSize(type), [&](auto tag) {
            using W = typename decltype(tag)::type;
            if constexpr (sizeof(W) > 8) {
                return cudaErrorInvalidValue;
            } else {
                return fn(tag);
            }
        });
    }
    return dispatchDevice<dtypes::kAll>(type, fn);
}

}  // namespace

cudaError_t launchGather(const void* src, void* dst, size_t elemBytes, int64_t outer, int64_t axisDim, int64_t inner,
                         const IndexInput& indices, int64_t numIndices, int32_t axis, cudaStream_t stream) {
    const int64_t elems = outer * numIndices * inner;
    if (elems == 0) return cudaSuccess;
    const size_t word = runWord(src, dst, elemBytes, inner);
    const int64_t f = static_cast<int64_t>(word / elemBytes);
    const int64_t total = elems / f;
    const int64_t wideInner = inner / f;
    return dm::dispatchWord(word, [&](auto tag) {
        using W = typename decltype(tag)::type;
        return dispatchIndex(indices, [&](auto indexTag) {
            using Idx = typename decltype(indexTag)::type;
            const auto* s = static_cast<const W*>(src);
            auto* d = static_cast<W*>(dst);
            if (fits32(total) && fits32(outer * axisDim * wideInner)) {
                gatherKernel<W, Idx, uint32_t><<<blocksFor(total), kThreads, 0, stream>>>(
                    s, d, static_cast<uint32_t>(total), static_cast<uint32_t>(wideInner),
                    static_cast<uint32_t>(numIndices), axisDim, indices, axis);
            } else {
                gatherKernel<W, Idx, int64_t><<<blocksFor(total), kThreads, 0, stream>>>(
                    s, d, total, wideInner, numIndices, axisDim, indices, axis);
            }
            return cudaGetLastError();
        });
    });
}

cudaError_t launchGatherElements(const void* src, void* dst, size_t elemBytes, const ElementsGeometry& g,
                                 const IndexInput& indices, cudaStream_t stream) {
    int64_t total = 1;
    for (int d = 0; d < g.rank; ++d) total *= g.indexDim[d];
    if (total == 0) return cudaSuccess;
    return dm::dispatchWord(elemBytes, [&](auto tag) {
        using W = typename decltype(tag)::type;
        return dispatchIndex(indices, [&](auto indexTag) {
            using Idx = typename decltype(indexTag)::type;
            gatherElementsKernel<W, Idx><<<blocksFor(total), kThreads, 0, stream>>>(
                static_cast<const W*>(src), static_cast<W*>(dst), total, g, indices);
            return cudaGetLastError();
        });
    });
}

cudaError_t launchGatherND(const void* src, void* dst, size_t elemBytes, const TupleGeometry& g,
                           const IndexInput& indices, int64_t numTuples, cudaStream_t stream) {
    if (numTuples * g.slice == 0) return cudaSuccess;
    const size_t word = runWord(src, dst, elemBytes, g.slice);
    const int64_t f = static_cast<int64_t>(word / elemBytes);
    TupleGeometry wide = g;
    wide.slice = g.slice / f;
    wide.slab = g.slab / f;
    const int64_t total = numTuples * wide.slice;
    return dm::dispatchWord(word, [&](auto tag) {
        using W = typename decltype(tag)::type;
        return dispatchIndex(indices, [&](auto indexTag) {
            using Idx = typename decltype(indexTag)::type;
            gatherNDKernel<W, Idx><<<blocksFor(total), kThreads, 0, stream>>>(
                static_cast<const W*>(src), static_cast<W*>(dst), total, wide, indices);
            return cudaGetLastError();
        });
    });
}

cudaError_t launchScatterElements(void* out, const void* updates, DataType type, const ElementsGeometry& g,
                                  const IndexInput& indices, ScatterOp op, cudaStream_t stream) {
    int64_t total = 1;
    for (int d = 0; d < g.rank; ++d) total *= g.indexDim[d];
    if (total == 0) return cudaSuccess;
    return dispatchScatterType(type, op, [&](auto tag) {
        using T = typename decltype(tag)::type;
        return dispatchIndex(indices, [&](auto indexTag) {
            using Idx = typename decltype(indexTag)::type;
            scatterElementsKernel<T, Idx><<<blocksFor(total), kThreads, 0, stream>>>(
                static_cast<T*>(out), static_cast<const T*>(updates), total, g, indices, op);
            return cudaGetLastError();
        });
    });
}

cudaError_t launchScatterND(void* out, const void* updates, DataType type, const TupleGeometry& g,
                            const IndexInput& indices, int64_t numTuples, ScatterOp op, cudaStream_t stream) {
    const int64_t total = numTuples * g.slice;
    if (total == 0) return cudaSuccess;
    return dispatchScatterType(type, op, [&](auto tag) {
        using T = typename decltype(tag)::type;
        return dispatchIndex(indices, [&](auto indexTag) {
            using Idx = typename decltype(indexTag)::type;
            scatterNDKernel<T, Idx><<<blocksFor(total), kThreads, 0, stream>>>(
                static_cast<T*>(out), static_cast<const T*>(updates), total, g, indices, op);
            return cudaGetLastError();
        });
    });
}

cudaError_t launchReverseSequence(const void* src, void* dst, size_t elemBytes, int64_t d0, int64_t d1, int64_t block,
                                  bool batchFirst, const IndexInput& lens, cudaStream_t stream) {
    const int64_t elems = d0 * d1 * block;
    if (elems == 0) return cudaSuccess;
    const size_t word = runWord(src, dst, elemBytes, block);
    const int64_t wideBlock = block / static_cast<int64_t>(word / elemBytes);
    const int64_t time = batchFirst ? d1 : d0;
    return dm::dispatchWord(word, [&](auto tag) {
        using W = typename decltype(tag)::type;
        return dispatchIndex(lens, [&](auto indexTag) {
            using Idx = typename decltype(indexTag)::type;
            const int64_t total = d0 * d1 * wideBlock;
            reverseSequenceKernel<W, Idx><<<blocksFor(total), kThreads, 0, stream>>>(
                static_cast<const W*>(src), static_cast<W*>(dst), total, d1, wideBlock, batchFirst, time, lens);
            return cudaGetLastError();
        });
    });
}

}  // namespace kiln::cuda
