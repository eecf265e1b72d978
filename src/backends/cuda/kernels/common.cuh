// Device helpers shared by Kiln's own CUDA kernels (C++17; include from .cu files only):
//   - dtype traits: kiln::DataType ↔ device element type, accumulate type (float for half/bfloat16), and the
//     load/store conversions of the CPU reference (ew::load / ew::store in backends/cpu/elementwise_ops.h);
//   - dispatchDtype<kSet>(dtype, fn) / dispatchDevice<kSet>(dtype, fn): call fn(TypeTag<T>{}) for the dtypes of a
//     compile-time set (common.h's dtypes::), kUnsupported / cudaErrorInvalidValue for the others (only the set's
//     types are instantiated);
//   - grid-stride launch configuration for int64 element counts;
//   - BroadcastMap<N>: output flat index → N input offsets (numpy broadcasting, up to kMaxDims dims after merging).
//
// Other families may add their own helpers at the end of this file in a clearly separated section, or keep them in
// kernels/<family>_common.cuh.
#pragma once

#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <cuda_runtime.h>

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <string>
#include <type_traits>
#include <vector>

#include "backends/cuda/kernels/common.h"
#include "kiln/dtype.h"
#include "kiln/status.h"

namespace kiln::cuda {

// ============================================================================================================
// dtype traits
// ============================================================================================================

template <typename T>
struct TypeTag {
    using type = T;
};

//! Device element type of a DataType (kiln::Half → __half, kiln::BFloat16 → __nv_bfloat16; same bits).
template <DataType D>
struct DeviceTypeOf;
#define KILN_DEVICE_TYPE(ENUM, TYPE)      \
    template <>                           \
    struct DeviceTypeOf<DataType::ENUM> { \
        using type = TYPE;                \
    }
KILN_DEVICE_TYPE(kFloat32, float);
KILN_DEVICE_TYPE(kFloat64, double);
KILN_DEVICE_TYPE(kFloat16, __half);
KILN_DEVICE_TYPE(kBFloat16, __nv_bfloat16);
KILN_DEVICE_TYPE(kInt8, int8_t);
KILN_DEVICE_TYPE(kInt16, int16_t);
KILN_DEVICE_TYPE(kInt32, int32_t);
KILN_DEVICE_TYPE(kInt64, int64_t);
KILN_DEVICE_TYPE(kUInt8, uint8_t);
KILN_DEVICE_TYPE(kUInt16, uint16_t);
KILN_DEVICE_TYPE(kUInt32, uint32_t);
KILN_DEVICE_TYPE(kUInt64, uint64_t);
KILN_DEVICE_TYPE(kBool, bool);
#undef KILN_DEVICE_TYPE
template <DataType D>
using DeviceT = typename DeviceTypeOf<D>::type;

template <typename T>
inline constexpr bool kIsReducedFloat = std::is_same_v<T, __half> || std::is_same_v<T, __nv_bfloat16>;
//! Floating-point element types (float, double, __half, __nv_bfloat16).
template <typename T>
inline constexpr bool kIsFloat = std::is_floating_point_v<T> || kIsReducedFloat<T>;

//! Type arithmetic on T runs in: float for __half/__nv_bfloat16, T otherwise (the CPU's ComputeT).
template <typename T>
struct AccumulateType {
    using type = T;
};
template <>
struct AccumulateType<__half> {
    using type = float;
};
template <>
struct AccumulateType<__nv_bfloat16> {
    using type = float;
};
template <typename T>
using AccT = typename AccumulateType<T>::type;

//! float → float16 rounded to nearest even; NaN becomes sign|0x7e00 like kiln::Half (bit-identical to the CPU).
__host__ __device__ __forceinline__ __half floatToHalf(float v) {
    if (v != v) {
#ifdef __CUDA_ARCH__
        const uint32_t u = __float_as_uint(v);
#else
        uint32_t u;
        std::memcpy(&u, &v, 4);
#endif
        return __ushort_as_half(static_cast<unsigned short>(((u >> 16) & 0x8000U) | 0x7e00U));
    }
    return __float2half_rn(v);
}

//! float → bfloat16 rounded to nearest even; NaN keeps its payload (quieted) like kiln::BFloat16.
__host__ __device__ __forceinline__ __nv_bfloat16 floatToBFloat16(float v) {
#ifdef __CUDA_ARCH__
    uint32_t u = __float_as_uint(v);
#else
    uint32_t u;
    std::memcpy(&u, &v, 4);
#endif
    if ((u & 0x7fffffffU) > 0x7f800000U) return __ushort_as_bfloat16(static_cast<unsigned short>((u >> 16) | 0x40U));
    u += 0x7fffU + ((u >> 16) & 1U);
    return __ushort_as_bfloat16(static_cast<unsigned short>(u >> 16));
}

//! Element → accumulate type (exact).
template <typename T>
__host__ __device__ __forceinline__ AccT<T> loadAcc(T v) {
    if constexpr (std::is_same_v<T, __half>) {
        return __half2float(v);
    } else if constexpr (std::is_same_v<T, __nv_bfloat16>) {
        return __bfloat162float(v);
    } else {
        return v;
    }
}

//! Float → integer as the CPU reference (numpy on x86-64): truncate toward zero to int64, then wrap to T's width;
//! NaN, infinities and values outside int64 become INT64_MIN first (uint64 also takes [2^63, 2^64)).
template <typename T>
__host__ __device__ __forceinline__ T floatToInt(double v) {
    if constexpr (std::is_same_v<T, uint64_t>) {
        if (v >= 9223372036854775808.0 && v < 18446744073709551616.0) return static_cast<uint64_t>(v);
    }
    int64_t i = INT64_MIN;
    if (v >= -9223372036854775808.0 && v < 9223372036854775808.0) i = static_cast<int64_t>(v);
    return static_cast<T>(i);
}

//! Stores a computed value into T with the CPU's ew::store rules: bool is `!= 0` (NaN → true), float16/bfloat16
//! round to nearest even from float, float → integer truncates (floatToInt), integers wrap to T's width.
template <typename T, typename V>
__host__ __device__ __forceinline__ T storeAs(V v) {
    if constexpr (std::is_same_v<T, bool>) {
        return static_cast<bool>(v);
    } else if constexpr (std::is_same_v<T, __half>) {
        return floatToHalf(static_cast<float>(v));
    } else if constexpr (std::is_same_v<T, __nv_bfloat16>) {
        return floatToBFloat16(static_cast<float>(v));
    } else if constexpr (std::is_integral_v<T> && std::is_floating_point_v<V>) {
        return floatToInt<T>(static_cast<double>(v));
    } else {
        return static_cast<T>(v);
    }
}

//! a op b for integers in unsigned arithmetic of at least int width: signed overflow wraps instead of being UB.
template <typename C, typename Op>
__host__ __device__ __forceinline__ C wrapping(C a, C b, Op op) {
    using U = std::conditional_t<(sizeof(C) < sizeof(unsigned)), unsigned, std::make_unsigned_t<C>>;
    return static_cast<C>(op(static_cast<U>(a), static_cast<U>(b)));
}

//! std::min / std::max exactly (NaN handling included: std::min(a, b) is `b < a ? b : a`), not fminf/fmaxf.
template <typename C>
__host__ __device__ __forceinline__ C stdMin(C a, C b) {
    return b < a ? b : a;
}
template <typename C>
__host__ __device__ __forceinline__ C stdMax(C a, C b) {
    return a < b ? b : a;
}

template <typename C>
__host__ __device__ __forceinline__ bool isNan(C v) {
    if constexpr (std::is_floating_point_v<C>) {
        return v != v;
    } else {
        return false;
    }
}

// ============================================================================================================
// dtype dispatch
// ============================================================================================================

//! Calls fn(TypeTag<T>{}) with T = DeviceT<t> when `t` is in kSet and returns its result; else returns otherwise().
//! Only the set's types are instantiated.
template <uint32_t kSet, typename Fn, typename Otherwise>
auto visitDtype(DataType t, Fn&& fn, Otherwise&& otherwise) -> decltype(otherwise()) {
#define KILN_DISPATCH_DEVICE_CASE(ENUM)                                                                         \
    case DataType::ENUM:                                                                                        \
        if constexpr ((kSet & dtypes::bit(DataType::ENUM)) != 0) return fn(TypeTag<DeviceT<DataType::ENUM>>{}); \
        break
    switch (t) {
        KILN_DISPATCH_DEVICE_CASE(kFloat32);
        KILN_DISPATCH_DEVICE_CASE(kFloat64);
        KILN_DISPATCH_DEVICE_CASE(kFloat16);
        KILN_DISPATCH_DEVICE_CASE(kBFloat16);
        KILN_DISPATCH_DEVICE_CASE(kInt8);
        KILN_DISPATCH_DEVICE_CASE(kInt16);
        KILN_DISPATCH_DEVICE_CASE(kInt32);
        KILN_DISPATCH_DEVICE_CASE(kInt64);
        KILN_DISPATCH_DEVICE_CASE(kUInt8);
        KILN_DISPATCH_DEVICE_CASE(kUInt16);
        KILN_DISPATCH_DEVICE_CASE(kUInt32);
        KILN_DISPATCH_DEVICE_CASE(kUInt64);
        KILN_DISPATCH_DEVICE_CASE(kBool);
        default: break;
    }
#undef KILN_DISPATCH_DEVICE_CASE
    return otherwise();
}

//! visitDtype for host code: fn returns Status; a dtype outside kSet is unsupportedDtype(t, kSet, what) (the CPU
//! dispatchers' message).
template <uint32_t kSet, typename Fn>
Status dispatchDtype(DataType t, Fn&& fn, const char* what = "this op") {
    return visitDtype<kSet>(t, fn, [&] { return unsupportedDtype(t, kSet, what); });
}

//! visitDtype for launchers: fn returns cudaError_t; a dtype outside kSet is cudaErrorInvalidValue (the host side
//! validated the dtype, so that is a Kiln bug).
template <uint32_t kSet, typename Fn>
cudaError_t dispatchDevice(DataType t, Fn&& fn) {
    return visitDtype<kSet>(t, fn, [] { return cudaErrorInvalidValue; });
}

// ============================================================================================================
// launch configuration
// ============================================================================================================

inline constexpr int kBlockSize = 256;
//! Grid-stride kernels never need more blocks than this to fill an H100 (132 SMs x 2048 threads) many times over.
inline constexpr int64_t kMaxBlocks = 8192;

struct LaunchConfig {
    unsigned blocks = 0;
    unsigned threads = kBlockSize;
};

//! Blocks for a grid-stride loop over `work` items (work ≥ 1), `threads` per block.
inline LaunchConfig gridStrideConfig(int64_t work, int threads = kBlockSize) {
    int64_t blocks = (work + threads - 1) / threads;
    if (blocks > kMaxBlocks) blocks = kMaxBlocks;
    if (blocks < 1) blocks = 1;
    return LaunchConfig{static_cast<unsigned>(blocks), static_cast<unsigned>(threads)};
}

__device__ __forceinline__ int64_t globalThreadIndex() {
    return static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
}
__device__ __forceinline__ int64_t gridStride() { return static_cast<int64_t>(gridDim.x) * blockDim.x; }

//! N elements of T loaded or stored as one aligned vector access.
template <typename T, int N>
struct alignas(sizeof(T) * N) AlignedVec {
    T v[N];
};

//! Elements per 16-byte vector access for the widest of the types, at most 8 (int8/bool use 8-byte accesses).
template <typename... Ts>
inline constexpr int kVectorWidth = std::max({sizeof(Ts)...}) >= 16 ? 1
                                    : 16 / std::max({sizeof(Ts)...}) > 8
                                        ? 8
                                        : static_cast<int>(16 / std::max({sizeof(Ts)...}));

//! `p` is aligned for `bytes`-wide accesses (null, for empty tensors, counts as aligned).
inline bool isAligned(const void* p, size_t bytes) { return reinterpret_cast<uintptr_t>(p) % bytes == 0; }

// ============================================================================================================
// broadcast index math
// ============================================================================================================

inline constexpr int kMaxDims = 8;

//! Maps a flat output index to N input element offsets. Dims are stored innermost first; strides are in elements,
//! 0 on broadcast dims. Built on the host by makeBroadcastMap, which drops size-1 dims and merges dims that are
//! contiguous in every input, so same-shape and scalar operands come out as rank 1 (no division at all).
template <int N>
struct BroadcastMap {
    int rank = 1;
    bool index32 = false;  //!< every index fits 32 bits: divide in 32-bit arithmetic (much cheaper)
    int64_t dims[kMaxDims] = {};
    int64_t strides[N][kMaxDims] = {};

    __device__ __forceinline__ void offsets(int64_t i, int64_t (&off)[N]) const {
        // Every array index is a constant after unrolling, so the map stays in kernel-parameter space.
#pragma unroll
        for (int k = 0; k < N; ++k) off[k] = 0;
        if (index32) {
            auto rem = static_cast<uint32_t>(i);
#pragma unroll
            for (int d = 0; d < kMaxDims; ++d) {
                if (d >= rank) break;
                uint32_t r = rem;  // the outermost dim takes what is left
                if (d + 1 < rank) {
                    const auto size = static_cast<uint32_t>(dims[d]);
                    const uint32_t q = rem / size;
                    r = rem - q * size;
                    rem = q;
                }
#pragma unroll
                for (int k = 0; k < N; ++k) off[k] += static_cast<int64_t>(r) * strides[k][d];
            }
            return;
        }
#pragma unroll
        for (int d = 0; d < kMaxDims; ++d) {
            if (d >= rank) break;
            int64_t r = i;
            if (d + 1 < rank) {
                const int64_t q = i / dims[d];
                r = i - q * dims[d];
                i = q;
            }
#pragma unroll
            for (int k = 0; k < N; ++k) off[k] += r * strides[k][d];
        }
    }
};

//! Builds the map from the output shape and N input shapes (each broadcastable to `out`, aligned at the end: the
//! caller has checked with cpu::broadcastShapes). kUnsupported when more than kMaxDims dims remain after merging.
template <int N>
Status makeBroadcastMap(const std::vector<int64_t>& out, const std::vector<int64_t>* const (&inputs)[N],
                        BroadcastMap<N>& map) {
    const int rank = static_cast<int>(out.size());
    // Innermost first: dim j of the list is out[rank - 1 - j].
    std::vector<int64_t> dims;
    std::vector<std::vector<int64_t>> strides(N);
    std::vector<int64_t> running(N, 1);
    for (int j = 0; j < rank; ++j) {
        const int64_t size = out[static_cast<size_t>(rank - 1 - j)];
        int64_t stride[N];
        for (int k = 0; k < N; ++k) {
            const auto& in = *inputs[k];
            const int inRank = static_cast<int>(in.size());
            const int64_t inSize = j < inRank ? in[static_cast<size_t>(inRank - 1 - j)] : 1;
            stride[k] = inSize == 1 ? 0 : running[static_cast<size_t>(k)];
            running[static_cast<size_t>(k)] *= inSize;
        }
        if (size == 1) continue;
        bool merge = !dims.empty();
        for (int k = 0; k < N && merge; ++k) {
            // The new (outer) dim continues the previous one when its stride is the previous stride times size.
            merge = stride[k] == strides[static_cast<size_t>(k)].back() * dims.back();
        }
        if (merge) {
            dims.back() *= size;
            continue;
        }
        dims.push_back(size);
        for (int k = 0; k < N; ++k) strides[static_cast<size_t>(k)].push_back(stride[k]);
    }
    if (dims.empty()) {
        dims.push_back(1);
        for (int k = 0; k < N; ++k) strides[static_cast<size_t>(k)].push_back(0);
    }
    if (dims.size() > static_cast<size_t>(kMaxDims)) {
        return unsupported("broadcast needs " + std::to_string(dims.size()) + " dims after merging, the limit is " +
                           std::to_string(kMaxDims));
    }
    map.rank = static_cast<int>(dims.size());
    int64_t total = 1;
    for (size_t d = 0; d < dims.size(); ++d) {
        map.dims[d] = dims[d];
        total *= dims[d];
        for (int k = 0; k < N; ++k) map.strides[k][d] = strides[static_cast<size_t>(k)][d];
    }
    map.index32 = total <= INT32_MAX;
    return Status::ok();
}

}  // namespace kiln::cuda
