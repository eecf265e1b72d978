// GridSample (opset 16): samples a 4-D input at normalized grid locations (onnxruntime's and PyTorch's semantics).
#include <algorithm>
#include <cmath>
#include <limits>

#include "backends/cpu/indexing.h"
#include "backends/cpu/op_plans.h"
#include "common/dispatch.h"

namespace kiln::cpu {

namespace {

//! Maps a normalized coordinate in [-1, 1] to a pixel coordinate.
template <typename F>
F denormalize(F n, int64_t length, bool alignCorners) {
    const auto len = static_cast<F>(length);
    return alignCorners ? (n + 1) / F(2) * (len - 1) : ((n + 1) * len - 1) / F(2);
}

//! Reflects x into [lo, hi] by the nearer border until it lies inside.
template <typename F>
F reflect(F x, F lo, F hi) {
    const F range = hi - lo;
    if (range <= 0) return lo;
    if (x < lo) {
        const F dx = lo - x;
        const auto n = static_cast<int64_t>(dx / range);
        const F r = dx - static_cast<F>(n) * range;
        return n % 2 == 0 ? lo + r : hi - r;
    }
    if (x > hi) {
        const F dx = x - hi;
        const auto n = static_cast<int64_t>(dx / range);
        const F r = dx - static_cast<F>(n) * range;
        return n % 2 == 0 ? hi - r : lo + r;
    }
    return x;
}

template <typename F>
void cubicCoeffs(F x, F c[4]) {
    constexpr F kA = F(-0.75);
    x = std::fabs(x);
    c[0] = ((kA * (x + 1) - 5 * kA) * (x + 1) + 8 * kA) * (x + 1) - 4 * kA;
    c[1] = ((kA + 2) * x - (kA + 3)) * x * x + 1;
    c[2] = ((kA + 2) * (1 - x) - (kA + 3)) * (1 - x) * (1 - x) + 1;
    c[3] = ((kA * (2 - x) - 5 * kA) * (2 - x) + 8 * kA) * (2 - x) - 4 * kA;
}

template <typename T, typename F>
T toOutput(F v) {
    if constexpr (std::is_integral_v<T>) {
        if (std::isnan(v)) return T{};
        const F r = std::nearbyint(v);
        if (r <= static_cast<F>(std::numeric_limits<T>::lowest())) return std::numeric_limits<T>::lowest();
        if (r >= static_cast<F>(std::numeric_limits<T>::max())) return std::numeric_limits<T>::max();
        return static_cast<T>(r);
    } else {
        return fromCompute<T>(v);
    }
}

}  // namespace

Status kernelGridSample(KernelContext& ctx) {
    KILN_ASSIGN_OR_RETURN(GridSamplePlan plan, planGridSample(ctx));
    const Tensor& x = ctx.input(0);
    const Tensor& grid = ctx.input(1);
    const SampleMode mode = plan.mode;
    const SamplePadding padding = plan.padding;
    const bool alignCorners = plan.alignCorners;
    const int64_t n = x.dim(0);
    const int64_t c = x.dim(1);
    const int64_t hIn = x.dim(2);
    const int64_t wIn = x.dim(3);
    const int64_t hOut = grid.dim(1);
    const int64_t wOut = grid.dim(2);
    KILN_ASSIGN_OR_RETURN(Tensor * y, ctx.allocateOutput(0, x.dtype(), plan.outShape));
    if (y->numel() == 0) return Status::ok();
    std::vector<double> g(static_cast<size_t>(grid.numel()));
    for (size_t i = 0; i < g.size(); ++i) g[i] = grid.getDouble(static_cast<int64_t>(i));

    return dispatchNumeric(x.dtype(), [&]<typename T>() {
        // Compute in double for float64 inputs, float otherwise (as onnxruntime does per type).
        using F = std::conditional_t<std::is_same_v<T, double>, double, float>;
        // Sampling borders: pixel centers with align_corners, pixel edges without.
        const F xMin = alignCorners ? F(0) : F(-0.5);
        const F xMax = alignCorners ? static_cast<F>(wIn) - 1 : static_cast<F>(wIn) - F(0.5);
        const F yMin = alignCorners ? F(0) : F(-0.5);
        const F yMax = alignCorners ? static_cast<F>(hIn) - 1 : static_cast<F>(hIn) - F(0.5);
        const T* xd = x.data<T>();
        T* yd = y->data<T>();
        auto pixel = [&](const T* image, int64_t r, int64_t col) -> F {
            if (padding == SamplePadding::kZeros) {
                if (col < 0 || col >= wIn || r < 0 || r >= hIn) return F(0);
            } else if (padding == SamplePadding::kBorder) {
                col = std::clamp<int64_t>(col, 0, wIn - 1);
                r = std::clamp<int64_t>(r, 0, hIn - 1);
            } else {
                col = static_cast<int64_t>(reflect(static_cast<F>(col), xMin, xMax));
                r = static_cast<int64_t>(reflect(static_cast<F>(r), yMin, yMax));
                col = std::clamp<int64_t>(col, 0, wIn - 1);
                r = std::clamp<int64_t>(r, 0, hIn - 1);
            }
            return static_cast<F>(image[r * wIn + col]);
        };
        for (int64_t b = 0; b < n; ++b) {
            const double* gb = g.data() + b * hOut * wOut * 2;
            for (int64_t ch = 0; ch < c; ++ch) {
                const T* image = xd + (b * c + ch) * hIn * wIn;
                T* out = yd + (b * c + ch) * hOut * wOut;
                for (int64_t i = 0; i < hOut * wOut; ++i) {
                    F px = denormalize(static_cast<F>(gb[i * 2]), wIn, alignCorners);
                    F py = denormalize(static_cast<F>(gb[i * 2 + 1]), hIn, alignCorners);
                    if (mode == SampleMode::kNearest) {
                        px = std::nearbyint(px);
                        py = std::nearbyint(py);
                    }
                    if (px < xMin || px > xMax || py < yMin || py > yMax) {
                        if (padding == SamplePadding::kBorder) {
                            px = std::clamp(px, F(0), static_cast<F>(wIn - 1));
                            py = std::clamp(py, F(0), static_cast<F>(hIn - 1));
                        } else if (padding == SamplePadding::kReflection) {
                            px = reflect(px, xMin, xMax);
                            py = reflect(py, yMin, yMax);
                        }
                    }
                    if (!std::isfinite(px) || !std::isfinite(py)) {
                        out[i] = toOutput<T, F>(std::numeric_limits<F>::quiet_NaN());
                        continue;
                    }
                    // Far-away coordinates read as padding; keep them in int64 range.
                    px = std::clamp(px, -F(4) - static_cast<F>(wIn), F(4) + F(2) * static_cast<F>(wIn));
                    py = std::clamp(py, -F(4) - static_cast<F>(hIn), F(4) + F(2) * static_cast<F>(hIn));
                    if (mode == SampleMode::kNearest) {
                        out[i] = toOutput<T, F>(pixel(image, static_cast<int64_t>(py), static_cast<int64_t>(px)));
                    } else if (mode == SampleMode::kBilinear) {
                        const auto x1 = static_cast<int64_t>(std::floor(px));
                        const auto y1 = static_cast<int64_t>(std::floor(py));
                        const int64_t x2 = x1 + 1;
                        const int64_t y2 = y1 + 1;
                        const F p11 = pixel(image, y1, x1);
                        const F p12 = pixel(image, y1, x2);
                        const F p21 = pixel(image, y2, x1);
                        const F p22 = pixel(image, y2, x2);
                        const F dx2 = static_cast<F>(x2) - px;
                        const F dx1 = px - static_cast<F>(x1);
                        const F dy2 = static_cast<F>(y2) - py;
                        const F dy1 = py - static_cast<F>(y1);
                        out[i] = toOutput<T, F>(dy2 * (dx2 * p11 + dx1 * p12) + dy1 * (dx2 * p21 + dx1 * p22));
                    } else {
                        const int64_t x0 = static_cast<int64_t>(std::floor(px)) - 1;
                        const int64_t y0 = static_cast<int64_t>(std::floor(py)) - 1;
                        F cx[4];
                        F cy[4];
                        cubicCoeffs(px - static_cast<F>(x0) - 1, cx);
                        cubicCoeffs(py - static_cast<F>(y0) - 1, cy);
                        F acc = 0;
                        for (int64_t r = 0; r < 4; ++r) {
                            F row = 0;
                            for (int64_t k = 0; k < 4; ++k) row += cx[k] * pixel(image, y0 + r, x0 + k);
                            acc += cy[r] * row;
                        }
                        out[i] = toOutput<T, F>(acc);
                    }
                }
            }
        }
        return Status::ok();
    });
}

}  // namespace kiln::cpu
