// Concat in output order. launchBatchedCopy copies input by input (blockIdx.y picks the input), so the blocks of
// input 0 run first and write one narrow column of every output row, then input 1 the next column: with the UNet's
// channels-last skip concatenations ([N, H, W, 64] twice → [N, H, W, 128], 128-byte runs in 256-byte rows) that ran
// at half the copy bandwidth while the wider ones ran at the ceiling. Here consecutive threads write consecutive
// 16-byte words of the output and each looks up which input its column comes from, so the writes stream through
// memory once and the reads of every input stay sequential.
#include <algorithm>

#include "backends/cuda/kernels/data_movement.h"
#include "backends/cuda/kernels/data_movement_common.cuh"

namespace kiln::cuda {

namespace {

constexpr int kMaxConcatInputs = 32;
constexpr size_t kWordBytes = 16;

struct ConcatRows {
    const uint4* src[kMaxConcatInputs];
    int64_t end[kMaxConcatInputs];  //!< words of an output row up to the end of input k's run
};

//! dst is `total` words: rows of `rowWords`, each the inputs' rows side by side (input k's run ends at p.end[k]).
template <typename I>
__global__ void __launch_bounds__(dm::kThreads)
    concatRowsKernel(ConcatRows p, int count, uint4* __restrict__ dst, I rowWords, I total) {
    for (const I e : dm::gridStride(total)) {
        const I r = e / rowWords;
        const auto c = static_cast<int64_t>(e - r * rowWords);
        // Few inputs in practice (2 in the UNet): a short scan, the same for most lanes of a warp.
        int k = 0;
        while (k + 1 < count && c >= p.end[k]) ++k;
        const int64_t begin = k == 0 ? 0 : p.end[k - 1];
        dst[e] = p.src[k][static_cast<int64_t>(r) * (p.end[k] - begin) + (c - begin)];
    }
}

bool aligned16(const void* p) { return reinterpret_cast<uintptr_t>(p) % kWordBytes == 0; }

}  // namespace

bool concatVectorized(const std::vector<ConcatInput>& inputs, const void* dst, size_t elemBytes) {
    int live = 0;
    for (const ConcatInput& in : inputs) {
        if (in.rowElems == 0) continue;
        if (!aligned16(in.src) || in.rowElems * static_cast<int64_t>(elemBytes) % kWordBytes != 0) return false;
        ++live;
    }
    return live > 0 && live <= kMaxConcatInputs && aligned16(dst);
}

cudaError_t launchConcat(const std::vector<ConcatInput>& inputs, void* dst, int64_t rows, size_t elemBytes,
                         cudaStream_t stream) {
    int64_t rowElems = 0;
    for (const ConcatInput& in : inputs) rowElems += in.rowElems;
    if (rows == 0 || rowElems == 0) return cudaSuccess;
    if (!concatVectorized(inputs, dst, elemBytes)) {
        std::vector<CopyPart> parts;
        int64_t column = 0;
        for (const ConcatInput& in : inputs) {
            void* at = static_cast<char*>(dst) + static_cast<size_t>(column) * elemBytes;
            parts.push_back(CopyPart{in.src, at, rows, in.rowElems, in.rowElems, rowElems});
            column += in.rowElems;
        }
        return launchBatchedCopy(parts, elemBytes, stream);
    }
    ConcatRows p{};
    int count = 0;
    int64_t words = 0;
    for (const ConcatInput& in : inputs) {
        if (in.rowElems == 0) continue;
        words += in.rowElems * static_cast<int64_t>(elemBytes) / static_cast<int64_t>(kWordBytes);
        p.src[count] = static_cast<const uint4*>(in.src);
        p.end[count] = words;
        ++count;
    }
    const int64_t total = rows * words;
    auto* out = static_cast<uint4*>(dst);
    if (total < (int64_t{1} << 31)) {
        concatRowsKernel<uint32_t><<<dm::blocksFor(total), dm::kThreads, 0, stream>>>(
            p, count, out, static_cast<uint32_t>(words), static_cast<uint32_t>(total));
    } else {
        concatRowsKernel<int64_t><<<dm::blocksFor(total), dm::kThreads, 0, stream>>>(p, count, out, words, total);
    }
    return cudaGetLastError();
}

}  // namespace kiln::cuda
