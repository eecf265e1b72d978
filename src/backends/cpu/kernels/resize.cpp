// Resize (opset 10/11/13+) and the deprecated Upsample (opset 7/9).
//
// Each axis gets a table of taps (input index and weight per output index); the output is the weighted sum over the
// product of the axes' taps. Coordinates and weights are computed in float exactly as onnxruntime does (its
// coordinate formulas, its "scale == 1 means identity" rule, its bilinear 0.5/0.5 weights at the border and its sum
// order), so nearest and bilinear results match onnxruntime bit for bit on float inputs.
#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>

#include "backends/cpu/indexing.h"
#include "backends/cpu/op_plans.h"
#include "common/dispatch.h"

namespace kiln::cpu {

namespace {

struct AxisTaps {
    int64_t count = 1;             // taps per output index
    std::vector<int64_t> offset;   // input element offset (index * stride), count per output index
    std::vector<float> weight;     // count per output index
    std::vector<uint8_t> outside;  // per output index: tf_crop_and_resize extrapolates
};

float originalCoordinate(CoordMode mode, float x, float scale, float outLen, float inLen, float roiStart,
                         float roiEnd) {
    switch (mode) {
        case CoordMode::kAsymmetric: return x / scale;
        case CoordMode::kPytorchHalfPixel: return outLen > 1 ? (x + 0.5F) / scale - 0.5F : 0.0F;
        case CoordMode::kTfHalfPixelForNn: return (x + 0.5F) / scale;
        case CoordMode::kAlignCorners: return outLen == 1 ? 0.0F : x * (inLen - 1) / (outLen - 1);
        case CoordMode::kTfCropAndResize:
            return outLen > 1 ? roiStart * (inLen - 1) + (x * (roiEnd - roiStart) * (inLen - 1)) / (outLen - 1)
                              : static_cast<float>(0.5 * (roiStart + roiEnd) * (inLen - 1));
        default: return (x + 0.5F) / scale - 0.5F;
    }
}

int64_t nearestPixel(NearestMode mode, float x, bool downsample) {
    switch (mode) {
        case NearestMode::kSimple: return static_cast<int64_t>(downsample ? std::ceil(x) : x);
        case NearestMode::kRoundPreferCeil: return static_cast<int64_t>(std::round(x));
        case NearestMode::kFloor: return static_cast<int64_t>(std::floor(x));
        case NearestMode::kCeil: return static_cast<int64_t>(std::ceil(x));
        default:
            if (x == static_cast<float>(static_cast<int64_t>(x)) + 0.5F) return static_cast<int64_t>(std::floor(x));
            return static_cast<int64_t>(std::round(x));
    }
}

void cubicCoeffs(float s, float a, float c[4]) {
    s = std::fabs(s);
    c[0] = ((a * (s + 1) - 5 * a) * (s + 1) + 8 * a) * (s + 1) - 4 * a;
    c[1] = ((a + 2) * s - (a + 3)) * s * s + 1;
    c[2] = ((a + 2) * (1 - s) - (a + 3)) * (1 - s) * (1 - s) + 1;
    c[3] = ((a * (2 - s) - 5 * a) * (2 - s) + 8 * a) * (2 - s) - 4 * a;
}

//! Builds the taps of one axis. `interpolate` is false for axes copied through (scale 1 outside the image dims).
//! `resizedLen` is the resized length the coordinate formulas use: in * scale when scales were given (as the ONNX
//! reference does; it differs from the floored output length only for non-integral in * scale), else the output size.
AxisTaps buildTaps(const ResizePlan& p, int64_t inLen, int64_t outLen, float resizedLen, float scale, float roiStart,
                   float roiEnd, int64_t stride, bool interpolate) {
    AxisTaps t;
    const auto n = static_cast<size_t>(outLen);
    t.outside.assign(n, 0);
    const bool identity = scale == 1.0F;
    const bool extrapolate = p.coord == CoordMode::kTfCropAndResize && !identity;
    const auto in = static_cast<float>(inLen);
    auto coordinate = [&](int64_t o) {
        return identity ? static_cast<float>(o)
                        : originalCoordinate(p.coord, static_cast<float>(o), scale, resizedLen, in, roiStart, roiEnd);
    };
    if (p.mode == ResizeMode::kNearest || !interpolate) {
        t.count = 1;
        t.offset.resize(n);
        t.weight.assign(n, 1.0F);
        for (int64_t o = 0; o < outLen; ++o) {
            int64_t i = o;
            if (!identity) {
                const float x = coordinate(o);
                if (extrapolate && (x < 0 || x > in - 1)) t.outside[static_cast<size_t>(o)] = 1;
                i = std::clamp<int64_t>(nearestPixel(p.nearest, x, scale < 1), 0, inLen - 1);
            }
            t.offset[static_cast<size_t>(o)] = std::min(i, inLen - 1) * stride;
        }
        return t;
    }
    if (p.mode == ResizeMode::kLinear) {
        t.count = 2;
        t.offset.resize(2 * n);
        t.weight.resize(2 * n);
        for (int64_t o = 0; o < outLen; ++o) {
            float x = coordinate(o);
            if (extrapolate && (x < 0 || x > in - 1)) t.outside[static_cast<size_t>(o)] = 1;
            x = std::max(0.0F, std::min(x, in - 1));
            const int64_t x1 = std::min(static_cast<int64_t>(x), inLen - 1);
            const int64_t x2 = std::min(x1 + 1, inLen - 1);
            float d1 = std::fabs(x - static_cast<float>(x1));
            float d2 = std::fabs(x - static_cast<float>(x2));
            if (x1 == x2) d1 = d2 = 0.5F;
            const auto k = static_cast<size_t>(o) * 2;
            t.offset[k] = x1 * stride;
            t.weight[k] = d2;
            t.offset[k + 1] = x2 * stride;
            t.weight[k + 1] = d1;
        }
        return t;
    }
    t.count = 4;
    t.offset.resize(4 * n);
    t.weight.resize(4 * n);
    for (int64_t o = 0; o < outLen; ++o) {
        const float x = coordinate(o);
        if (extrapolate && (x < 0 || x > in - 1)) t.outside[static_cast<size_t>(o)] = 1;
        const float fl = std::floor(x);
        const auto xi = static_cast<int64_t>(fl);
        float c[4];
        cubicCoeffs(x - fl, p.cubicA, c);
        float sum = 0;
        for (int64_t j = 0; j < 4; ++j) {
            const int64_t idx = xi - 1 + j;
            if (p.excludeOutside && (idx < 0 || idx >= inLen)) c[j] = 0;
            sum += c[j];
        }
        const auto k = static_cast<size_t>(o) * 4;
        for (int64_t j = 0; j < 4; ++j) {
            t.offset[k + static_cast<size_t>(j)] = std::clamp<int64_t>(xi - 1 + j, 0, inLen - 1) * stride;
            t.weight[k + static_cast<size_t>(j)] = p.excludeOutside && sum != 0 ? c[j] / sum : c[j];
        }
    }
    return t;
}

template <typename T, typename Acc>
T toOutput(Acc v) {
    if constexpr (std::is_integral_v<T>) {
        if (std::isnan(v)) return T{};
        const Acc r = std::nearbyint(v);
        if (r <= static_cast<Acc>(std::numeric_limits<T>::lowest())) return std::numeric_limits<T>::lowest();
        if (r >= static_cast<Acc>(std::numeric_limits<T>::max())) return std::numeric_limits<T>::max();
        return static_cast<T>(r);
    } else {
        return fromCompute<T>(v);
    }
}

//! Resizes input 0 as planned.
Status resize(KernelContext& ctx, const ResizePlan& p) {
    const Tensor& x = ctx.input(0);
    const Shape& inShape = x.shape();
    const Shape& outShape = p.outShape;
    const size_t rank = inShape.size();
    KILN_ASSIGN_OR_RETURN(Tensor * y, ctx.allocateOutput(0, x.dtype(), outShape));
    const int64_t total = y->numel();
    if (total == 0) return Status::ok();
    const std::vector<int64_t> strides = stridesOf(inShape);
    std::vector<AxisTaps> taps(rank);
    for (size_t d = 0; d < rank; ++d) {
        taps[d] = buildTaps(p, inShape[d], outShape[d], p.resizedLen[d], p.scales[d], p.roi[d], p.roi[rank + d],
                            strides[d], p.interpolate[d]);
    }
    std::vector<int64_t> oc(rank, 0);
    auto nextOutput = [&]() {
        for (size_t d = rank; d-- > 0;) {
            if (++oc[d] < outShape[d]) return;
            oc[d] = 0;
        }
    };
    auto isOutside = [&]() {
        for (size_t d = 0; d < rank; ++d) {
            if (taps[d].outside[static_cast<size_t>(oc[d])] != 0) return true;
        }
        return false;
    };
    if (p.mode == ResizeMode::kNearest) {
        const size_t elem = dataTypeSize(x.dtype());
        const auto* src = static_cast<const char*>(x.raw());
        auto* dst = static_cast<char*>(y->raw());
        Tensor extrapolated(x.dtype(), {});
        if (p.coord == CoordMode::kTfCropAndResize) {
            KILN_RETURN_IF_ERROR(dispatchAll(x.dtype(), [&]<typename T>() {
                *extrapolated.data<T>() = static_cast<T>(p.extrapolation);
                return Status::ok();
            }));
        }
        for (int64_t o = 0; o < total; ++o, dst += elem) {
            if (isOutside()) {
                std::memcpy(dst, extrapolated.raw(), elem);
            } else {
                int64_t off = 0;
                for (size_t d = 0; d < rank; ++d) off += taps[d].offset[static_cast<size_t>(oc[d])];
                std::memcpy(dst, src + static_cast<size_t>(off) * elem, elem);
            }
            nextOutput();
        }
        return Status::ok();
    }
    int64_t combos = 1;
    for (const AxisTaps& t : taps) combos *= t.count;
    return dispatchNumeric(x.dtype(), [&]<typename T>() {
        using Acc = std::conditional_t<std::is_same_v<T, double>, double, float>;
        const T* src = x.data<T>();
        T* dst = y->data<T>();
        std::vector<int64_t> tc(rank, 0);
        for (int64_t o = 0; o < total; ++o) {
            if (isOutside()) {
                dst[o] = toOutput<T>(static_cast<Acc>(p.extrapolation));
                nextOutput();
                continue;
            }
            Acc acc = 0;
            std::fill(tc.begin(), tc.end(), 0);
            for (int64_t c = 0; c < combos; ++c) {
                float w = 1.0F;
                int64_t off = 0;
                for (size_t d = 0; d < rank; ++d) {
                    const auto k = static_cast<size_t>(oc[d] * taps[d].count + tc[d]);
                    off += taps[d].offset[k];
                    w *= taps[d].weight[k];
                }
                acc += static_cast<Acc>(w) * static_cast<Acc>(src[off]);
                for (size_t d = rank; d-- > 0;) {
                    if (++tc[d] < taps[d].count) break;
                    tc[d] = 0;
                }
            }
            dst[o] = toOutput<T>(acc);
            nextOutput();
        }
        return Status::ok();
    });
}

}  // namespace

Status kernelResize(KernelContext& ctx) {
    KILN_ASSIGN_OR_RETURN(ResizePlan plan, planResize(ctx));
    return resize(ctx, plan);
}

Status kernelUpsample(KernelContext& ctx) {
    KILN_ASSIGN_OR_RETURN(ResizePlan plan, planUpsample(ctx));
    return resize(ctx, plan);
}

}  // namespace kiln::cpu
