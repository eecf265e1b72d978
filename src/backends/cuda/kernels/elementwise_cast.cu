// Cast between every pair of the numeric dtypes and bool on the GPU, bit-exact with the CPU reference
// (backends/cpu/kernels/cast.cpp): float → integer truncates toward zero then wraps (NaN/inf/out of int64 range
// become INT64_MIN first), anything → bool is `!= 0` (NaN → true), → float16/bfloat16 rounds to nearest even from
// the exact value (double and 64-bit integers go through round-to-odd float, so they are not rounded twice).
#include <cstring>
#include <type_traits>

#include "backends/cuda/kernels/elementwise.h"
#include "backends/cuda/kernels/elementwise_kernels.cuh"

namespace kiln::cuda {

namespace {

//! double → float rounded to odd: inexact results get their lowest mantissa bit set, so rounding that float to a
//! narrower format gives the same result as rounding the double directly.
__host__ __device__ __forceinline__ float roundToOddFloat(double d) {
    const auto f = static_cast<float>(d);
    if (d != d || static_cast<double>(f) == d) return f;
    uint32_t bits = 0;
    std::memcpy(&bits, &f, 4);
    if (::fabs(static_cast<double>(f)) > ::fabs(d)) --bits;  // truncate toward zero first
    bits |= 1U;
    float odd = 0.0f;
    std::memcpy(&odd, &bits, 4);
    return odd;
}

template <typename From, typename To>
struct CastOp {
    __host__ __device__ To operator()(From v) const {
        if constexpr (std::is_same_v<To, bool>) {
            const auto c = loadAcc(v);
            return c != decltype(c)(0);
        } else if constexpr (kIsReducedFloat<To>) {
            if constexpr (std::is_same_v<From, float> || kIsReducedFloat<From> || std::is_same_v<From, bool>) {
                return storeAs<To>(static_cast<float>(loadAcc(v)));
            } else {
                return storeAs<To>(roundToOddFloat(static_cast<double>(v)));
            }
        } else if constexpr (std::is_integral_v<To> && kIsFloat<From>) {
            return floatToInt<To>(static_cast<double>(loadAcc(v)));
        } else {
            return static_cast<To>(loadAcc(v));
        }
    }
};

template <typename T>
__global__ void __launch_bounds__(kBlockSize) fillKernel(T* __restrict__ y, int64_t n, T value) {
    for (int64_t i = globalThreadIndex(); i < n; i += gridStride()) y[i] = value;
}

}  // namespace

Status launchCast(DataType from, DataType to, const void* x, void* y, int64_t count, cudaStream_t stream) {
    return dispatchDtype<dtypes::kAll>(
        from,
        [&](auto fromTag) {
            using From = typename decltype(fromTag)::type;
            return dispatchDtype<dtypes::kAll>(
                to,
                [&](auto toTag) {
                    using To = typename decltype(toTag)::type;
                    return launchMap<From, To>(x, y, count, CastOp<From, To>(), stream);
                },
                "Cast (target type)");
        },
        "Cast (input 0)");
}

Status launchFillOne(DataType dtype, void* y, int64_t count, cudaStream_t stream) {
    return dispatchDtype<dtypes::kAll>(dtype, [&](auto tag) -> Status {
        using T = typename decltype(tag)::type;
        if (count <= 0) return Status::ok();
        const LaunchConfig cfg = gridStrideConfig(count);
        fillKernel<T><<<cfg.blocks, cfg.threads, 0, stream>>>(static_cast<T*>(y), count, storeAs<T>(1));
        KILN_CUDA_CHECK(cudaGetLastError());
        return Status::ok();
    });
}

}  // namespace kiln::cuda
