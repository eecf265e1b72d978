// Host helpers shared by the Conv (cuDNN) and MatMul (cuBLASLt) families: the process-wide cache of library
// algorithm choices, the fused ops' activation attribute, and the Kiln epilogue launch.
//
// Algorithm caching: a choice (cuDNN algorithm + math type + workspace, or a cuBLASLt algorithm + workspace) is
// keyed by the whole problem signature (device, dtypes, dims, strides, pads, alignment, TF32, workspace limit), not
// by node: equal layers of one network and of other engines share it, and a key can never describe another problem.
// Descriptors are rebuilt per call (host-only, microseconds). Timed tactics (../tactics.h) are chosen before this
// cache is consulted; it serves the calls without one.
#pragma once

#include <cstdint>
#include <cstring>
#include <memory>
#include <mutex>
#include <string>
#include <unordered_map>

#include "backends/cuda/kernel.h"
#include "backends/cuda/kernels/conv_gemm_epilogue.h"

namespace kiln::cuda {

//! Bytes of a problem signature.
class CacheKey {
public:
    CacheKey& add(int64_t v) {
        char bytes[sizeof(v)];
        std::memcpy(bytes, &v, sizeof(v));
        mBytes.append(bytes, sizeof(v));
        return *this;
    }
    //! Text, length-prefixed so that two keys never run into each other.
    CacheKey& add(const std::string& text) {
        add(static_cast<int64_t>(text.size()));
        mBytes.append(text);
        return *this;
    }
    const std::string& bytes() const { return mBytes; }

private:
    std::string mBytes;
};

//! A thread-safe map from problem signature to an algorithm choice. Bounded: it is cleared when it reaches
//! kMaxEntries (choices are cheap to recompute; a network has far fewer distinct layers).
template <typename V>
class AlgoCache {
public:
    static constexpr size_t kMaxEntries = 4096;

    std::shared_ptr<V> find(const CacheKey& key) const {
        std::lock_guard<std::mutex> lock(mMutex);
        auto it = mEntries.find(key.bytes());
        return it == mEntries.end() ? nullptr : it->second;
    }
    //! Stores `value` unless another thread stored one first; returns the stored one.
    std::shared_ptr<V> insert(const CacheKey& key, std::shared_ptr<V> value) {
        std::lock_guard<std::mutex> lock(mMutex);
        if (mEntries.size() >= kMaxEntries) mEntries.clear();
        return mEntries.emplace(key.bytes(), std::move(value)).first->second;
    }

private:
    mutable std::mutex mMutex;
    std::unordered_map<std::string, std::shared_ptr<V>> mEntries;
};

//! Owns a cuDNN / cuBLASLt descriptor, released with `Destroy` (its status ignored: nothing to do about it).
template <typename H, auto Destroy>
class LibraryObject {
public:
    LibraryObject() = default;
    ~LibraryObject() {
        if (mH) static_cast<void>(Destroy(mH));
    }
    LibraryObject(const LibraryObject&) = delete;
    LibraryObject& operator=(const LibraryObject&) = delete;
    H get() const { return mH; }
    H* put() { return &mH; }

private:
    H mH = nullptr;
};

//! A data-less host view of a device tensor, for shape helpers and messages (describe()).
inline Tensor shapeView(const DeviceTensor& t) { return Tensor::wrap(t.dtype, t.shape, nullptr); }

//! Input i when present, else null.
inline const DeviceTensor* optionalInput(const CudaKernelContext& ctx, size_t i) {
    return ctx.hasInput(i) ? &ctx.input(i) : nullptr;
}

//! The device this thread works on (part of every cache key: GPUs of a process may differ).
int currentDevice();

//! The fused ops' `activation` / `activation_params` attributes (defaults as the CPU reference's).
Result<EpilogueActivation> parseFusedActivation(const ir::Attributes& attrs);

//! y = act(y + bias + z) on ctx's stream when there is anything to apply. `bias` holds `biasCount` values applied
//! per run of `biasInner` elements.
Status runEpilogue(CudaKernelContext& ctx, const DeviceTensor& y, const DeviceTensor* bias, int64_t biasInner,
                   const DeviceTensor* z, EpilogueActivation act);

//! Workspace a library call may ask for: the run's limit (minus what this kernel already holds), or `cap` when
//! there is no limit.
size_t workspaceBudget(const CudaKernelContext& ctx, size_t used, size_t cap);

}  // namespace kiln::cuda
