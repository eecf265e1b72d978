// Device memory for the CUDA backend: RAII buffers on plain cudaMalloc (never managed memory), pinned host
// buffers, and the activation arena of an execution context.
#pragma once

#include <cstddef>
#include <map>
#include <memory>
#include <vector>

#include "kiln/status.h"

namespace kiln::cuda {

//! Alignment of every arena allocation (cuDNN and cuBLASLt want ≥ 16; 256 keeps vector loads and TMA happy).
inline constexpr size_t kDeviceAlignment = 256;

//! One cudaMalloc'd block, freed on destruction. Move-only.
class DeviceBuffer {
public:
    DeviceBuffer() = default;
    static Result<DeviceBuffer> allocate(size_t bytes);
    DeviceBuffer(DeviceBuffer&& o) noexcept : mData(o.mData), mBytes(o.mBytes) { o.mData = nullptr, o.mBytes = 0; }
    DeviceBuffer& operator=(DeviceBuffer&& o) noexcept;
    DeviceBuffer(const DeviceBuffer&) = delete;
    DeviceBuffer& operator=(const DeviceBuffer&) = delete;
    ~DeviceBuffer();
    void* data() const noexcept { return mData; }
    size_t size() const noexcept { return mBytes; }

private:
    void* mData = nullptr;
    size_t mBytes = 0;
};

//! Page-locked host memory (cudaMallocHost) for asynchronous copies. Move-only.
class PinnedBuffer {
public:
    PinnedBuffer() = default;
    static Result<PinnedBuffer> allocate(size_t bytes);
    PinnedBuffer(PinnedBuffer&& o) noexcept : mData(o.mData), mBytes(o.mBytes) { o.mData = nullptr, o.mBytes = 0; }
    PinnedBuffer& operator=(PinnedBuffer&& o) noexcept;
    PinnedBuffer(const PinnedBuffer&) = delete;
    PinnedBuffer& operator=(const PinnedBuffer&) = delete;
    ~PinnedBuffer();
    void* data() const noexcept { return mData; }
    size_t size() const noexcept { return mBytes; }

private:
    void* mData = nullptr;
    size_t mBytes = 0;
};

//! The activation arena of one execution context: one block, handed out first-fit with neighbour coalescing.
//! Deterministic: the same sequence of allocate/free calls yields the same addresses, so a network run twice at
//! the same shapes places every tensor at the same address (which CUDA graph capture relies on). All work runs on
//! one stream, so memory freed by one kernel's consumer may be reused by a later kernel without synchronization.
//! A request that does not fit is served by a separate cudaMalloc ("overflow", counted) and the arena remembers
//! the peak it would have needed; growToPeak() between runs makes the next run fit. The count and the peak are
//! recorded even when that cudaMalloc fails (as it does while a stream is being captured).
class DeviceArena {
public:
    //! Allocates the block (releasing the old one); only while nothing is allocated.
    Status reserve(size_t bytes);
    //! 256-byte aligned memory for `bytes` (≥ 1 byte is taken for 0).
    Result<void*> allocate(size_t bytes);
    void free(void* p) noexcept;
    //! Reserves the peak a previous run needed when it exceeded the block; only while nothing is allocated.
    Status growToPeak();
    size_t capacity() const noexcept { return mBlock.size(); }
    //! The block's address: a CUDA graph captured over this arena is valid while it (and capacity()) stay the same.
    const void* base() const noexcept { return mBlock.data(); }
    //! Highest offset + size any run reached (what the arena needs for the shapes it has seen).
    size_t peak() const noexcept { return mPeak; }
    size_t overflowCount() const noexcept { return mOverflowCount; }
    bool idle() const noexcept { return mUsed.empty() && mOverflow.empty(); }

private:
    DeviceBuffer mBlock;
    std::map<size_t, size_t> mFree;  // offset → size, coalesced
    std::map<size_t, size_t> mUsed;  // offset → size
    std::map<void*, DeviceBuffer> mOverflow;
    size_t mPeak = 0;
    size_t mOverflowCount = 0;
};

}  // namespace kiln::cuda
