// The taps of one pooling window dim on the device, shared by pooling.cu's general kernel (64-bit) and
// pooling_nhwc.cu's vectorized one (32-bit): the CPU reference's tapsOf (backends/cpu/kernels/pool.cpp), so both
// backends clip windows to the input the same way.
#pragma once

namespace kiln::cuda {

//! The taps k in [k0, k1) of one window dim whose positions start + k * dilation lie inside the input, and the
//! number of taps inside input + padding (count_include_pad's divisor).
template <typename Int>
struct PoolTaps {
    Int start, dilation, k0, k1, padded;
    __device__ Int pos(Int k) const { return start + k * dilation; }
};

//! ceil(a / d) for a >= 0, d >= 1; no division for d == 1 (the common window, the same for every thread).
template <typename Int>
__device__ __forceinline__ Int ceilDivTaps(Int a, Int d) {
    return d == 1 ? a : (a + d - 1) / d;
}

//! The taps of output position `o` along a dim of `in` inputs, `kernel` taps, `stride`, `dilation` and pads.
template <typename Int>
__device__ __forceinline__ PoolTaps<Int> poolTapsOf(Int o, Int in, Int kernel, Int stride, Int dilation, Int padBegin,
                                                    Int padEnd) {
    PoolTaps<Int> t{};
    t.start = o * stride - padBegin;
    t.dilation = dilation;
    auto countBelow = [&](Int bound) -> Int {  // taps with pos < bound
        if (t.start >= bound) return 0;
        const Int c = ceilDivTaps(bound - t.start, dilation);
        return c < kernel ? c : kernel;
    };
    if (t.start >= 0) {
        t.k0 = 0;
    } else {
        const Int c = ceilDivTaps(-t.start, dilation);
        t.k0 = c < kernel ? c : kernel;
    }
    const Int below = countBelow(in);
    t.k1 = below > t.k0 ? below : t.k0;
    t.padded = countBelow(in + padEnd);
    return t;
}

}  // namespace kiln::cuda
