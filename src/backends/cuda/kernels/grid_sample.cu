// GridSample: one thread per output position (batch, row, column) computes the sampling point once and samples every
// channel, with the CPU reference's arithmetic in float (double for float64 inputs).
#include "backends/cuda/kernels/resize.h"
#include "backends/cuda/kernels/resize_common.cuh"

namespace kiln::cuda {

namespace {

using dm::addRn;
using dm::blocksFor;
using dm::divRn;
using dm::kThreads;
using dm::mulRn;
using dm::subRn;

template <typename F>
__device__ __forceinline__ F denormalize(F n, int64_t length, bool alignCorners) {
    const auto len = static_cast<F>(length);
    return alignCorners ? mulRn(divRn(addRn(n, F(1)), F(2)), subRn(len, F(1)))
                        : divRn(subRn(mulRn(addRn(n, F(1)), len), F(1)), F(2));
}

//! Reflects x into [lo, hi] by the nearer border until it lies inside.
template <typename F>
__device__ F reflect(F x, F lo, F hi) {
    const F range = subRn(hi, lo);
    if (range <= 0) return lo;
    if (x < lo) {
        const F dx = subRn(lo, x);
        const auto n = static_cast<int64_t>(divRn(dx, range));
        const F r = subRn(dx, mulRn(static_cast<F>(n), range));
        return n % 2 == 0 ? addRn(lo, r) : subRn(hi, r);
    }
    if (x > hi) {
        const F dx = subRn(x, hi);
        const auto n = static_cast<int64_t>(divRn(dx, range));
        const F r = subRn(dx, mulRn(static_cast<F>(n), range));
        return n % 2 == 0 ? subRn(hi, r) : addRn(lo, r);
    }
    return x;
}

template <typename F>
__device__ __forceinline__ F clampF(F v, F lo, F hi) {
    return v < lo ? lo : (hi < v ? hi : v);
}

__device__ __forceinline__ int64_t clampI(int64_t v, int64_t lo, int64_t hi) { return v < lo ? lo : (hi < v ? hi : v); }

__device__ __forceinline__ float roundEven(float v) { return rintf(v); }
__device__ __forceinline__ double roundEven(double v) { return rint(v); }

struct SampleGeometry {
    int64_t n, c, hIn, wIn, hOut, wOut;
    int32_t mode, padding;
    bool alignCorners;
};

template <typename T, typename G>
__global__ void __launch_bounds__(kThreads)
    gridSampleKernel(const T* __restrict__ x, const G* __restrict__ grid, T* __restrict__ y, SampleGeometry s) {
    using F = std::conditional_t<std::is_same_v<T, double>, double, float>;
    const int64_t positions = s.n * s.hOut * s.wOut;
    const int64_t planeOut = s.hOut * s.wOut;
    const int64_t planeIn = s.hIn * s.wIn;
    const F xMin = s.alignCorners ? F(0) : F(-0.5);
    const F xMax = s.alignCorners ? static_cast<F>(s.wIn) - 1 : subRn(static_cast<F>(s.wIn), F(0.5));
    const F yMin = s.alignCorners ? F(0) : F(-0.5);
    const F yMax = s.alignCorners ? static_cast<F>(s.hIn) - 1 : subRn(static_cast<F>(s.hIn), F(0.5));
    for (const int64_t pos : dm::gridStride(positions)) {
        const int64_t b = pos / planeOut;
        const int64_t i = pos % planeOut;
        const T* imageBase = x + b * s.c * planeIn;
        T* out = y + b * s.c * planeOut + i;
        // The reference reads the grid as double, then converts to F.
        F px = denormalize(static_cast<F>(dm::toCompute<double>(grid[pos * 2])), s.wIn, s.alignCorners);
        F py = denormalize(static_cast<F>(dm::toCompute<double>(grid[pos * 2 + 1])), s.hIn, s.alignCorners);
        if (s.mode == kSampleNearest) {
            px = roundEven(px);
            py = roundEven(py);
        }
        if (px < xMin || px > xMax || py < yMin || py > yMax) {
            if (s.padding == kPadBorder) {
                px = clampF(px, F(0), static_cast<F>(s.wIn - 1));
                py = clampF(py, F(0), static_cast<F>(s.hIn - 1));
            } else if (s.padding == kPadReflection) {
                px = reflect(px, xMin, xMax);
                py = reflect(py, yMin, yMax);
            }
        }
        if (!isfinite(px) || !isfinite(py)) {
            for (int64_t ch = 0; ch < s.c; ++ch)
                out[ch * planeOut] = dm::toOutput<T>(::cuda::std::numeric_limits<F>::quiet_NaN());
            continue;
        }
        // Far-away coordinates read as padding; keep them in int64 range.
        px = clampF(px, subRn(F(-4), static_cast<F>(s.wIn)), addRn(F(4), mulRn(F(2), static_cast<F>(s.wIn))));
        py = clampF(py, subRn(F(-4), static_cast<F>(s.hIn)), addRn(F(4), mulRn(F(2), static_cast<F>(s.hIn))));
        auto pixel = [&](const T* image, int64_t r, int64_t col) -> F {
            if (s.padding == kPadZeros) {
                if (col < 0 || col >= s.wIn || r < 0 || r >= s.hIn) return F(0);
            } else if (s.padding == kPadBorder) {
                col = clampI(col, 0, s.wIn - 1);
                r = clampI(r, 0, s.hIn - 1);
            } else {
                col = clampI(static_cast<int64_t>(reflect(static_cast<F>(col), xMin, xMax)), 0, s.wIn - 1);
                r = clampI(static_cast<int64_t>(reflect(static_cast<F>(r), yMin, yMax)), 0, s.hIn - 1);
            }
            return dm::toCompute<F>(image[r * s.wIn + col]);
        };
        if (s.mode == kSampleNearest) {
            const auto r = static_cast<int64_t>(py);
            const auto col = static_cast<int64_t>(px);
            for (int64_t ch = 0; ch < s.c; ++ch)
                out[ch * planeOut] = dm::toOutput<T>(pixel(imageBase + ch * planeIn, r, col));
        } else if (s.mode == kSampleBilinear) {
            const auto x1 = static_cast<int64_t>(floor(px));
            const auto y1 = static_cast<int64_t>(floor(py));
            const int64_t x2 = x1 + 1;
            const int64_t y2 = y1 + 1;
            const F dx2 = subRn(static_cast<F>(x2), px);
            const F dx1 = subRn(px, static_cast<F>(x1));
            const F dy2 = subRn(static_cast<F>(y2), py);
            const F dy1 = subRn(py, static_cast<F>(y1));
            for (int64_t ch = 0; ch < s.c; ++ch) {
                const T* image = imageBase + ch * planeIn;
                const F p11 = pixel(image, y1, x1);
                const F p12 = pixel(image, y1, x2);
                const F p21 = pixel(image, y2, x1);
                const F p22 = pixel(image, y2, x2);
                const F top = addRn(mulRn(dx2, p11), mulRn(dx1, p12));
                const F bottom = addRn(mulRn(dx2, p21), mulRn(dx1, p22));
                out[ch * planeOut] = dm::toOutput<T>(addRn(mulRn(dy2, top), mulRn(dy1, bottom)));
            }
        } else {
            const int64_t x0 = static_cast<int64_t>(floor(px)) - 1;
            const int64_t y0 = static_cast<int64_t>(floor(py)) - 1;
            F cx[4];
            F cy[4];
            dm::cubicCoeffs(subRn(subRn(px, static_cast<F>(x0)), F(1)), F(-0.75), cx);
            dm::cubicCoeffs(subRn(subRn(py, static_cast<F>(y0)), F(1)), F(-0.75), cy);
            for (int64_t ch = 0; ch < s.c; ++ch) {
                const T* image = imageBase + ch * planeIn;
                F acc = 0;
                for (int64_t r = 0; r < 4; ++r) {
                    F row = 0;
                    for (int64_t k = 0; k < 4; ++k) row = addRn(row, mulRn(cx[k], pixel(image, y0 + r, x0 + k)));
                    acc = addRn(acc, mulRn(cy[r], row));
                }
                out[ch * planeOut] = dm::toOutput<T>(acc);
            }
        }
    }
}

}  // namespace

cudaError_t launchGridSample(const void* x, DataType xType, const void* grid, DataType gridType, void* y, int64_t n,
                             int64_t c, int64_t hIn, int64_t wIn, int64_t hOut, int64_t wOut, int32_t mode,
                             int32_t padding, bool alignCorners, cudaStream_t stream) {
    const SampleGeometry s{n, c, hIn, wIn, hOut, wOut, mode, padding, alignCorners};
    const int64_t positions = n * hOut * wOut;
    if (positions * c == 0) return cudaSuccess;
    if (xType == DataType::kBool) return cudaErrorInvalidValue;
    return dispatchDevice<dtypes::kAll>(xType, [&](auto tag) {
        using T = typename decltype(tag)::type;
        if constexpr (std::is_same_v<T, bool>) {
            return cudaErrorInvalidValue;
        } else {
            auto run = [&](auto gridTag) {
                using G = typename decltype(gridTag)::type;
                gridSampleKernel<T, G><<<blocksFor(positions), kThreads, 0, stream>>>(
                    static_cast<const T*>(x), static_cast<const G*>(grid), static_cast<T*>(y), s);
                return cudaGetLastError();
            };
            return dispatchDevice<dtypes::kFloat>(gridType, run);
        }
    });
}

}  // namespace kiln::cuda
