#include "backends/cuda/device_memory.h"

#include <cuda_runtime.h>

#include <algorithm>

#include "backends/cuda/check.h"

namespace kiln::cuda {
namespace {
size_t alignUp(size_t n) {
    return (std::max<size_t>(n, 1) + kDeviceAlignment - 1) / kDeviceAlignment * kDeviceAlignment;
}
}  // namespace

Result<DeviceBuffer> DeviceBuffer::allocate(size_t bytes) {
    DeviceBuffer b;
    if (bytes == 0) return b;
    KILN_CUDA_CHECK(cudaMalloc(&b.mData, bytes));
    b.mBytes = bytes;
    return b;
}

DeviceBuffer& DeviceBuffer::operator=(DeviceBuffer&& o) noexcept {
    if (this != &o) {
        if (mData) cudaFree(mData);
        mData = o.mData;
        mBytes = o.mBytes;
        o.mData = nullptr;
        o.mBytes = 0;
    }
    return *this;
}

DeviceBuffer::~DeviceBuffer() {
    if (mData) cudaFree(mData);
}

Result<PinnedBuffer> PinnedBuffer::allocate(size_t bytes) {
    PinnedBuffer b;
    if (bytes == 0) return b;
    KILN_CUDA_CHECK(cudaMallocHost(&b.mData, bytes));
    b.mBytes = bytes;
    return b;
}

PinnedBuffer& PinnedBuffer::operator=(PinnedBuffer&& o) noexcept {
    if (this != &o) {
        if (mData) cudaFreeHost(mData);
        mData = o.mData;
        mBytes = o.mBytes;
        o.mData = nullptr;
        o.mBytes = 0;
    }
    return *this;
}

PinnedBuffer::~PinnedBuffer() {
    if (mData) cudaFreeHost(mData);
}

Status DeviceArena::reserve(size_t bytes) {
    if (!idle()) return internalError("device arena resized while tensors are allocated in it");
    bytes = bytes == 0 ? 0 : alignUp(bytes);
    if (bytes == mBlock.size()) return Status::ok();
    mBlock = DeviceBuffer();  // release first: the old and new block need not fit together
    KILN_ASSIGN_OR_RETURN(mBlock, DeviceBuffer::allocate(bytes));
    mFree.clear();
    if (bytes > 0) mFree[0] = bytes;
    mPeak = std::max(mPeak, bytes);
    return Status::ok();
}

Status DeviceArena::growToPeak() { return mPeak > mBlock.size() ? reserve(mPeak) : Status::ok(); }

Result<void*> DeviceArena::allocate(size_t bytes) {
    const size_t need = alignUp(bytes);
    for (auto it = mFree.begin(); it != mFree.end(); ++it) {
        if (it->second < need) continue;
        const size_t offset = it->first;
        const size_t rest = it->second - need;
        mFree.erase(it);
        if (rest > 0) mFree[offset + need] = rest;
        mUsed[offset] = need;
        mPeak = std::max(mPeak, offset + need);
        return static_cast<char*>(mBlock.data()) + offset;
    }
    // Does not fit: serve it outside the block and remember how much larger the block should have been. Both are
    // recorded before the cudaMalloc, which fails while the stream is being captured: the failed capture must still
    // leave the arena knowing its new peak (and counting the overflow), so that the next enqueue grows the block and
    // captures, instead of giving up on CUDA graphs at these shapes for good.
    size_t overflowLive = 0;
    for (const auto& [ptr, buf] : mOverflow) overflowLive += buf.size();
    size_t usedEnd = 0;
    if (!mUsed.empty()) usedEnd = mUsed.rbegin()->first + mUsed.rbegin()->second;
    mPeak = std::max(mPeak, usedEnd + overflowLive + need);
    ++mOverflowCount;
    KILN_ASSIGN_OR_RETURN(DeviceBuffer extra, DeviceBuffer::allocate(need));
    void* p = extra.data();
    mOverflow.emplace(p, std::move(extra));
    return p;
}

void DeviceArena::free(void* p) noexcept {
    if (p == nullptr) return;
    if (auto o = mOverflow.find(p); o != mOverflow.end()) {
        mOverflow.erase(o);  // cudaFree synchronizes the device: overflow is the slow path by design
        return;
    }
    const size_t offset = static_cast<size_t>(static_cast<char*>(p) - static_cast<char*>(mBlock.data()));
    auto u = mUsed.find(offset);
    if (u == mUsed.end()) return;
    size_t start = offset;
    size_t size = u->second;
    mUsed.erase(u);
    auto next = mFree.lower_bound(start);
    if (next != mFree.end() && next->first == start + size) {
        size += next->second;
        next = mFree.erase(next);
    }
    if (next != mFree.begin()) {
        auto prev = std::prev(next);
        if (prev->first + prev->second == start) {
            start = prev->first;
            size += prev->second;
            mFree.erase(prev);
        }
    }
    mFree[start] = size;
}

}  // namespace kiln::cuda
