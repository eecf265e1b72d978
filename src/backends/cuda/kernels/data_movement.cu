// Strided gathers (Transpose, Slice, Expand, Tile, Pad, DepthToSpace, SpaceToDepth), batched row copies (Split,
// Compress, and Concat where data_movement_concat.cu's kernel does not apply) and fills. Host code here plans the
// launch: it merges dims, picks the word size and the index width, and chooses the tiled transpose kernel when the
// innermost dim moves.
#include <algorithm>

#include "backends/cuda/kernels/data_movement.h"
#include "backends/cuda/kernels/data_movement_common.cuh"

namespace kiln::cuda {

namespace {

using dm::blocksFor;
using dm::kThreads;

struct GatherParams {
    int32_t rank;
    int64_t base;
    int64_t outDim[kMaxDims];
    int64_t stride[kMaxDims];
    int64_t srcDim[kMaxDims];
    int64_t padBegin[kMaxDims];
    int32_t map[kMaxDims];
};

__device__ __forceinline__ int64_t padSourceDevice(int32_t map, int64_t i, int64_t padBegin, int64_t dim) {
    int64_t src = i - padBegin;
    if (src >= 0 && src < dim) return src;
    if (map == static_cast<int32_t>(DimMap::kPadConstant)) return -1;
    if (map == static_cast<int32_t>(DimMap::kPadEdge) || dim == 1) return src < 0 ? 0 : dim - 1;
    const int64_t period = 2 * (dim - 1);
    src = ((src % period) + period) % period;
    return src >= dim ? period - src : src;
}

template <typename W, typename I, bool kPad>
__global__ void __launch_bounds__(kThreads)
    stridedGatherKernel(const W* __restrict__ src, W* __restrict__ dst, GatherParams p, I total, W fill) {
    for (const I o : dm::gridStride(total)) {
        I rem = o;
        int64_t off = p.base;
        bool isFill = false;
#pragma unroll
        for (int d = kMaxDims - 1; d >= 0; --d) {
            if (d >= p.rank) continue;
            const I n = static_cast<I>(p.outDim[d]);
            const I c = rem % n;
            rem /= n;
            if (kPad && p.map[d] != static_cast<int32_t>(DimMap::kLinear)) {
                const int64_t s = padSourceDevice(p.map[d], static_cast<int64_t>(c), p.padBegin[d], p.srcDim[d]);
                if (s < 0) {
                    isFill = true;
                } else {
                    off += s * p.stride[d];
                }
            } else {
                off += static_cast<int64_t>(c) * p.stride[d];
            }
        }
        dst[o] = isFill ? fill : src[off];
    }
}

constexpr int kTile = 32;
constexpr int kTileRows = 8;

//! out[batch, a, b] = in[batch, a * 1 + b * srcStrideB]: dim A is contiguous in the source, dim B in the output.
struct TransposeParams {
    int64_t nA, nB;
    int64_t srcStrideB;
    int64_t dstStrideA;
    int64_t base;
    int64_t batches;
    int32_t batchRank;
    int64_t batchDim[kMaxDims];
    int64_t batchSrcStride[kMaxDims];
    int64_t batchDstStride[kMaxDims];
};

template <typename W>
__global__ void __launch_bounds__(kTile* kTileRows)
    transposeTileKernel(const W* __restrict__ src, W* __restrict__ dst, TransposeParams p) {
    __shared__ W tile[kTile][kTile + 1];
    const int64_t tilesA = (p.nA + kTile - 1) / kTile;
    const int64_t tilesB = (p.nB + kTile - 1) / kTile;
    for (int64_t batch = blockIdx.z; batch < p.batches; batch += gridDim.z) {
        int64_t rem = batch;
        int64_t srcOff = p.base;
        int64_t dstOff = 0;
        for (int d = p.batchRank - 1; d >= 0; --d) {
            const int64_t c = rem % p.batchDim[d];
            rem /= p.batchDim[d];
            srcOff += c * p.batchSrcStride[d];
            dstOff += c * p.batchDstStride[d];
        }
        for (int64_t tb = blockIdx.y; tb < tilesB; tb += gridDim.y) {
            for (int64_t ta = blockIdx.x; ta < tilesA; ta += gridDim.x) {
                const int64_t a0 = ta * kTile;
                const int64_t b0 = tb * kTile;
                for (int j = threadIdx.y; j < kTile; j += kTileRows) {
                    const int64_t a = a0 + threadIdx.x;
                    const int64_t b = b0 + j;
                    if (a < p.nA && b < p.nB) tile[j][threadIdx.x] = src[srcOff + a + b * p.srcStrideB];
                }
                __syncthreads();
                for (int j = threadIdx.y; j < kTile; j += kTileRows) {
                    const int64_t a = a0 + j;
                    const int64_t b = b0 + threadIdx.x;
                    if (a < p.nA && b < p.nB) dst[dstOff + a * p.dstStrideA + b] = tile[threadIdx.x][j];
                }
                __syncthreads();
            }
        }
    }
}

constexpr int kMaxCopyParts = 32;

struct CopyBatch {
    const void* src[kMaxCopyParts];
    void* dst[kMaxCopyParts];
    int64_t rows[kMaxCopyParts];
    int64_t rowElems[kMaxCopyParts];
    int64_t srcPitch[kMaxCopyParts];
    int64_t dstPitch[kMaxCopyParts];
};

template <typename W, typename I>
__global__ void __launch_bounds__(kThreads) batchedCopyKernel(CopyBatch b) {
    const int part = blockIdx.y;
    const W* __restrict__ src = static_cast<const W*>(b.src[part]);
    W* __restrict__ dst = static_cast<W*>(b.dst[part]);
    const I rowElems = static_cast<I>(b.rowElems[part]);
    const I total = static_cast<I>(b.rows[part]) * rowElems;
    const int64_t srcPitch = b.srcPitch[part];
    const int64_t dstPitch = b.dstPitch[part];
    for (const I e : dm::gridStride(total)) {
        const I r = e / rowElems;
        const I c = e - r * rowElems;
        dst[static_cast<int64_t>(r) * dstPitch + c] = src[static_cast<int64_t>(r) * srcPitch + c];
    }
}

template <typename W, typename I>
__global__ void __launch_bounds__(kThreads) fillKernel(W* __restrict__ dst, I count, W value) {
    for (const I i : dm::gridStride(count)) dst[i] = value;
}

bool aligned(const void* p, size_t bytes) { return reinterpret_cast<uintptr_t>(p) % bytes == 0; }

//! 32-bit index math when every index fits (64-bit division is several times slower on the GPU).
bool fits32(int64_t n) { return n < (int64_t{1} << 31); }

int64_t product(const std::vector<GatherDim>& dims) {
    int64_t n = 1;
    for (const GatherDim& d : dims) n *= d.outDim;
    return n;
}

//! Drops size-1 linear dims and merges neighbouring linear dims that walk the source as one.
std::vector<GatherDim> simplify(const std::vector<GatherDim>& dims) {
    std::vector<GatherDim> out;
    for (const GatherDim& d : dims) {
        if (d.map == DimMap::kLinear && d.outDim == 1) continue;
        if (!out.empty() && d.map == DimMap::kLinear && out.back().map == DimMap::kLinear &&
            out.back().stride == d.outDim * d.stride) {
            out.back().outDim *= d.outDim;
            out.back().stride = d.stride;
            continue;
        }
        out.push_back(d);
    }
    return out;
}

//! The widest word (up to 16 bytes) that moves whole groups of elements for this gather; 0 when only elemBytes.
size_t gatherWord(const void* src, const void* dst, size_t elemBytes, int64_t base,
                  const std::vector<GatherDim>& dims) {
    const GatherDim& inner = dims.back();
    if (inner.map != DimMap::kLinear || inner.stride != 1) return elemBytes;
    for (size_t word = 16; word > elemBytes; word /= 2) {
        const auto f = static_cast<int64_t>(word / elemBytes);
        bool ok = aligned(src, word) && aligned(dst, word) && inner.outDim % f == 0 && base % f == 0;
        for (size_t d = 0; ok && d + 1 < dims.size(); ++d) ok = dims[d].stride % f == 0;
        if (ok) return word;
    }
    return elemBytes;
}

cudaError_t launchGeneric(const void* src, void* dst, size_t wordBytes, int64_t base,
                          const std::vector<GatherDim>& dims, const void* fill, size_t elemBytes, cudaStream_t stream) {
    GatherParams p{};
    p.rank = static_cast<int32_t>(dims.size());
    p.base = base;
    bool pad = false;
    for (size_t d = 0; d < dims.size(); ++d) {
        p.outDim[d] = dims[d].outDim;
        p.stride[d] = dims[d].stride;
        p.srcDim[d] = dims[d].srcDim;
        p.padBegin[d] = dims[d].padBegin;
        p.map[d] = static_cast<int32_t>(dims[d].map);
        pad = pad || dims[d].map != DimMap::kLinear;
    }
    const int64_t total = product(dims);
    return dm::dispatchWord(wordBytes, [&](auto tag) {
        using W = typename decltype(tag)::type;
        const W fillWord = dm::replicate<W>(fill, elemBytes);
        auto run = [&](auto indexTag) {
            using I = typename decltype(indexTag)::type;
            const auto* s = static_cast<const W*>(src);
            auto* o = static_cast<W*>(dst);
            if (pad) {
                stridedGatherKernel<W, I, true>
                    <<<blocksFor(total), kThreads, 0, stream>>>(s, o, p, static_cast<I>(total), fillWord);
            } else {
                stridedGatherKernel<W, I, false>
                    <<<blocksFor(total), kThreads, 0, stream>>>(s, o, p, static_cast<I>(total), fillWord);
            }
            return cudaGetLastError();
        };
        return fits32(total) ? run(TypeTag<uint32_t>{}) : run(TypeTag<int64_t>{});
    });
}

//! A transpose whose innermost output dim is not contiguous in the source, when some other dim is: tiles of
//! 32x32 through shared memory keep both the reads and the writes coalesced. Returns false when not applicable.
bool tryTiledTranspose(const void* src, void* dst, size_t elemBytes, int64_t base, const std::vector<GatherDim>& dims,
                       cudaStream_t stream, cudaError_t& err) {
    const size_t rank = dims.size();
    if (rank < 2 || dims.back().stride == 1) return false;
    size_t a = rank;
    for (size_t d = 0; d < rank; ++d) {
        if (dims[d].map != DimMap::kLinear) return false;
        if (dims[d].stride == 1) a = d;
    }
    if (a == rank || dims[a].outDim < 16 || dims.back().outDim < 16) return false;
    TransposeParams p{};
    p.nA = dims[a].outDim;
    p.nB = dims.back().outDim;
    p.srcStrideB = dims.back().stride;
    p.base = base;
    p.batches = 1;
    int64_t outStride = 1;
    std::vector<int64_t> outStrides(rank);
    for (size_t d = rank; d-- > 0;) {
        outStrides[d] = outStride;
        outStride *= dims[d].outDim;
    }
    p.dstStrideA = outStrides[a];
    for (size_t d = 0; d + 1 < rank; ++d) {
        if (d == a) continue;
        p.batchDim[p.batchRank] = dims[d].outDim;
        p.batchSrcStride[p.batchRank] = dims[d].stride;
        p.batchDstStride[p.batchRank] = outStrides[d];
        ++p.batchRank;
        p.batches *= dims[d].outDim;
    }
    const dim3 grid(static_cast<unsigned>(std::min<int64_t>((p.nA + kTile - 1) / kTile, 65535)),
                    static_cast<unsigned>(std::min<int64_t>((p.nB + kTile - 1) / kTile, 65535)),
                    static_cast<unsigned>(std::min<int64_t>(p.batches, 65535)));
    err = dm::dispatchWord(elemBytes, [&](auto tag) {
        using W = typename decltype(tag)::type;
        transposeTileKernel<W>
            <<<grid, dim3(kTile, kTileRows), 0, stream>>>(static_cast<const W*>(src), static_cast<W*>(dst), p);
        return cudaGetLastError();
    });
    return true;
}

}  // namespace

cudaError_t launchStridedGather(const void* src, void* dst, size_t elemBytes, int64_t base, std::vector<GatherDim> dims,
                                const void* fill, cudaStream_t stream) {
    if (product(dims) == 0) return cudaSuccess;
    dims = simplify(dims);
    if (dims.empty()) dims.push_back(GatherDim{1, 0});
    if (dims.size() > static_cast<size_t>(kMaxDims)) {
        // Rare: more than 8 dims that do not merge. Peel the outermost dim into launches of the rest.
        const GatherDim outer = dims.front();
        const std::vector<GatherDim> rest(dims.begin() + 1, dims.end());
        const int64_t block = product(rest);
        for (int64_t i = 0; i < outer.outDim; ++i) {
            void* out = static_cast<char*>(dst) + static_cast<size_t>(i * block) * elemBytes;
            int64_t s = i;
            if (outer.map != DimMap::kLinear) {
                s = i - outer.padBegin;
                if (s < 0 || s >= outer.srcDim) {
                    if (outer.map == DimMap::kPadConstant) {
                        const cudaError_t err = launchFill(out, block, fill, elemBytes, stream);
                        if (err != cudaSuccess) return err;
                        continue;
                    }
                    // Edge and reflect: the same mapping as the kernels use.
                    const int64_t dim = outer.srcDim;
                    if (outer.map == DimMap::kPadEdge || dim == 1) {
                        s = s < 0 ? 0 : dim - 1;
                    } else {
                        const int64_t period = 2 * (dim - 1);
                        s = ((s % period) + period) % period;
                        if (s >= dim) s = period - s;
                    }
                }
            }
            const cudaError_t err =
                launchStridedGather(src, out, elemBytes, base + s * outer.stride, rest, fill, stream);
            if (err != cudaSuccess) return err;
        }
        return cudaSuccess;
    }
    const size_t word = gatherWord(src, dst, elemBytes, base, dims);
    if (word > elemBytes) {
        const auto f = static_cast<int64_t>(word / elemBytes);
        dims.back().outDim /= f;
        for (size_t d = 0; d + 1 < dims.size(); ++d) dims[d].stride /= f;
        return launchGeneric(src, dst, word, base / f, dims, fill, elemBytes, stream);
    }
    cudaError_t err = cudaSuccess;
    if (tryTiledTranspose(src, dst, elemBytes, base, dims, stream, err)) return err;
    return launchGeneric(src, dst, elemBytes, base, dims, fill, elemBytes, stream);
}

cudaError_t launchBatchedCopy(const std::vector<CopyPart>& parts, size_t elemBytes, cudaStream_t stream) {
    std::vector<CopyPart> live;
    for (const CopyPart& p : parts) {
        if (p.rows > 0 && p.rowElems > 0) live.push_back(p);
    }
    for (size_t first = 0; first < live.size(); first += kMaxCopyParts) {
        const size_t count = std::min<size_t>(kMaxCopyParts, live.size() - first);
        size_t word = 16;
        for (; word > elemBytes; word /= 2) {
            const auto f = static_cast<int64_t>(word / elemBytes);
            bool ok = true;
            for (size_t i = first; ok && i < first + count; ++i) {
                const CopyPart& p = live[i];
                ok = aligned(p.src, word) && aligned(p.dst, word) && p.rowElems % f == 0 &&
                     (p.rows == 1 || (p.srcPitch % f == 0 && p.dstPitch % f == 0));
            }
            if (ok) break;
        }
        const auto f = static_cast<int64_t>(word / elemBytes);
        CopyBatch b{};
        int64_t most = 0;
        for (size_t i = 0; i < count; ++i) {
            const CopyPart& p = live[first + i];
            b.src[i] = p.src;
            b.dst[i] = p.dst;
            b.rows[i] = p.rows;
            b.rowElems[i] = p.rowElems / f;
            b.srcPitch[i] = p.srcPitch / f;
            b.dstPitch[i] = p.dstPitch / f;
            most = std::max(most, p.rows * b.rowElems[i]);
        }
        const cudaError_t err = dm::dispatchWord(word, [&](auto tag) {
            using W = typename decltype(tag)::type;
            const dim3 grid(blocksFor(most), static_cast<unsigned>(count));
            if (fits32(most)) {
                batchedCopyKernel<W, uint32_t><<<grid, kThreads, 0, stream>>>(b);
            } else {
                batchedCopyKernel<W, int64_t><<<grid, kThreads, 0, stream>>>(b);
            }
            return cudaGetLastError();
        });
        if (err != cudaSuccess) return err;
    }
    return cudaSuccess;
}

cudaError_t launchFill(void* dst, int64_t count, const void* value, size_t elemBytes, cudaStream_t stream) {
    if (count <= 0) return cudaSuccess;
    size_t word = 16;
    while (word > elemBytes && !(aligned(dst, word) && count % static_cast<int64_t>(word / elemBytes) == 0)) word /= 2;
    const int64_t n = count / static_cast<int64_t>(word / elemBytes);
    return dm::dispatchWord(word, [&](auto tag) {
        using W = typename decltype(tag)::type;
        const W v = dm::replicate<W>(value, elemBytes);
        if (fits32(n)) {
            fillKernel<W, uint32_t>
                <<<blocksFor(n), kThreads, 0, stream>>>(static_cast<W*>(dst), static_cast<uint32_t>(n), v);
        } else {
            fillKernel<W, int64_t><<<blocksFor(n), kThreads, 0, stream>>>(static_cast<W*>(dst), n, v);
        }
        return cudaGetLastError();
    });
}

}  // namespace kiln::cuda
