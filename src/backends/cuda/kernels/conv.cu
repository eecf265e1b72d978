#include "backends/cuda/kernels/conv.h"
#include "backends/cuda/kernels/conv_gemm_common.cuh"

namespace kiln::cuda {

namespace {

struct Dims3 {
    int64_t v[3];
};

Dims3 dims3(const int64_t d[3]) { return Dims3{{d[0], d[1], d[2]}}; }

//! Splits a flat spatial index over dims `d` into its three coordinates.
__device__ __forceinline__ void unflatten(int64_t r, const int64_t d[3], int64_t o[3]) {
    o[2] = r % d[2];
    r /= d[2];
    o[1] = r % d[1];
    o[0] = r / d[1];
}

template <typename T>
__global__ void shiftCopyKernel(const T* x, int64_t planes, Dims3 in, Dims3 offset, Dims3 out, T* y) {
    const int64_t outPlane = out.v[0] * out.v[1] * out.v[2];
    const int64_t inPlane = in.v[0] * in.v[1] * in.v[2];
    const int64_t total = planes * outPlane;
    for (int64_t i = cg::globalThread(); i < total; i += cg::gridThreads()) {
        int64_t o[3];
        unflatten(i % outPlane, out.v, o);
        bool inside = true;
        int64_t src = 0;
        for (int d = 0; d < 3; ++d) {
            const int64_t s = o[d] - offset.v[d];
            inside = inside && s >= 0 && s < in.v[d];
            src = src * in.v[d] + s;
        }
        y[i] = inside ? x[(i / outPlane) * inPlane + src] : cg::fromAcc<T>(cg::Acc<T>(0));
    }
}

//! The input position a kernel tap k reads for output position o along dim d, or -1 when there is none.
//! Conv: i = o * stride - padBegin + k * dilation. ConvTranspose: the i with i * stride - padBegin + k * dilation == o.
template <bool Transposed>
__device__ __forceinline__ int64_t sourceOf(int64_t o, int64_t k, const ConvWindow3& win, int d) {
    int64_t i = 0;
    if (Transposed) {
        const int64_t t = o + win.padBegin[d] - k * win.dilation[d];
        if (t < 0 || t % win.stride[d] != 0) return -1;
        i = t / win.stride[d];
    } else {
        i = o * win.stride[d] - win.padBegin[d] + k * win.dilation[d];
    }
    return i >= 0 && i < win.in[d] ? i : -1;
}

//! One thread per output element, gathering over its group's channels and the kernel taps.
template <typename T, bool Transposed>
__global__ void directConvKernel(const T* x, const T* w, T* y, int64_t batch, int64_t inC, int64_t outC, int64_t group,
                                 ConvWindow3 win) {
    using A = cg::Acc<T>;
    const int64_t cpg = inC / group;
    const int64_t mpg = outC / group;
    const int64_t inSize = win.in[0] * win.in[1] * win.in[2];
    const int64_t outSize = win.out[0] * win.out[1] * win.out[2];
    const int64_t kSize = win.kernel[0] * win.kernel[1] * win.kernel[2];
    const int64_t total = batch * outC * outSize;
    for (int64_t idx = cg::globalThread(); idx < total; idx += cg::gridThreads()) {
        int64_t o[3];
        unflatten(idx % outSize, win.out, o);
        const int64_t m = (idx / outSize) % outC;
        const int64_t n = idx / (outSize * outC);
        const int64_t g = m / mpg;
        const T* xg = x + (n * inC + g * cpg) * inSize;
        A acc = A(0);
        for (int64_t k0 = 0; k0 < win.kernel[0]; ++k0) {
            const int64_t i0 = sourceOf<Transposed>(o[0], k0, win, 0);
            if (i0 < 0) continue;
            for (int64_t k1 = 0; k1 < win.kernel[1]; ++k1) {
                const int64_t i1 = sourceOf<Transposed>(o[1], k1, win, 1);
                if (i1 < 0) continue;
                for (int64_t k2 = 0; k2 < win.kernel[2]; ++k2) {
                    const int64_t i2 = sourceOf<Transposed>(o[2], k2, win, 2);
                    if (i2 < 0) continue;
                    const int64_t xOff = (i0 * win.in[1] + i1) * win.in[2] + i2;
                    const int64_t kOff = (k0 * win.kernel[1] + k1) * win.kernel[2] + k2;
                    for (int64_t c = 0; c < cpg; ++c) {
                        // Conv's W is [M, C/group, k...], ConvTranspose's [C, M/group, k...].
                        const int64_t wRow = Transposed ? (g * cpg + c) * mpg + m % mpg : m * cpg + c;
                        acc += cg::toAcc<A>(xg[c * inSize + xOff]) * cg::toAcc<A>(w[wRow * kSize + kOff]);
                    }
                }
            }
        }
        y[idx] = cg::fromAcc<T>(acc);
    }
}

}  // namespace

cudaError_t launchShiftCopy(DataType dtype, const void* x, int64_t planes, const int64_t in[3], const int64_t offset[3],
                            const int64_t out[3], void* y, cudaStream_t stream) {
    const int64_t total = planes * out[0] * out[1] * out[2];
    if (total == 0) return cudaSuccess;
    return dispatchDevice<dtypes::kFloat>(dtype, [&](auto tag) {
        using T = typename decltype(tag)::type;
        shiftCopyKernel<T><<<cg::gridFor(total), cg::kBlock, 0, stream>>>(
            static_cast<const T*>(x), planes, dims3(in), dims3(offset), dims3(out), static_cast<T*>(y));
        return cudaGetLastError();
    });
}

cudaError_t launchDirectConv(DataType dtype, bool transposed, const void* x, const void* w, void* y, int64_t batch,
                             int64_t inC, int64_t outC, int64_t group, const ConvWindow3& win, cudaStream_t stream) {
    const int64_t total = batch * outC * win.out[0] * win.out[1] * win.out[2];
    if (total == 0) return cudaSuccess;
    return dispatchDevice<dtypes::kFloat>(dtype, [&](auto tag) {
        using T = typename decltype(tag)::type;
        auto kernel = transposed ? directConvKernel<T, true> : directConvKernel<T, false>;
        kernel<<<cg::gridFor(total), cg::kBlock, 0, stream>>>(static_cast<const T*>(x), static_cast<const T*>(w),
                                                              static_cast<T*>(y), batch, inC, outC, group, win);
        return cudaGetLastError();
    });
}

}  // namespace kiln::cuda
