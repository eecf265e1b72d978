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
#include "common/dispatch.h"

namespace kiln::cpu {

namespace {

enum class ResizeMode { kNearest, kLinear, kCubic };
enum class CoordMode { kHalfPixel, kPytorchHalfPixel, kAlignCorners, kAsymmetric, kTfHalfPixelForNn, kTfCropAndResize };
// kSimple is the rounding of Resize-10 and Upsample (no nearest_mode attribute): floor, or ceil when downsampling.
enum class NearestMode { kRoundPreferFloor, kRoundPreferCeil, kFloor, kCeil, kSimple };

struct ResizeParams {
    ResizeMode mode = ResizeMode::kNearest;
    CoordMode coord = CoordMode::kHalfPixel;
    NearestMode nearest = NearestMode::kRoundPreferFloor;
    float cubicA = -0.75F;
    bool excludeOutside = false;
    float extrapolation = 0.0F;
};

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
AxisTaps buildTaps(const ResizeParams& p, int64_t inLen, int64_t outLen, float resizedLen, float scale, float roiStart,
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

//! The axes onnxruntime's (bi/tri)linear kernels interpolate even at scale 1, which matters for its border weights:
//! H,W of 2-D, NCHW and NHWC inputs; D,H,W of 3-D and NCDHW inputs. Other scale-1 axes are copied through.
std::vector<bool> linearImageAxes(const std::vector<float>& scales) {
    const size_t rank = scales.size();
    std::vector<bool> image(rank, false);
    auto mark = [&](size_t from, size_t to) {
        for (size_t d = from; d < to; ++d) image[d] = true;
    };
    if (rank == 2 || rank == 3) {
        mark(0, rank);
    } else if (rank == 4 && scales[0] == 1.0F && scales[1] == 1.0F) {
        mark(2, 4);
    } else if (rank == 4 && scales[0] == 1.0F && scales[3] == 1.0F) {
        mark(1, 3);
    } else if (rank == 5 && scales[0] == 1.0F && scales[1] == 1.0F) {
        mark(2, 5);
    }
    return image;
}

//! Resizes `x` to `outShape`; `scales` per axis; `roi` has 2*rank entries (starts then ends).
Status resize(KernelContext& ctx, const ResizeParams& p, const std::vector<float>& scales, const Shape& outShape,
              const std::vector<float>& roi, bool fromScales) {
    const Tensor& x = ctx.input(0);
    const Shape& inShape = x.shape();
    const size_t rank = inShape.size();
    for (size_t d = 0; d < rank; ++d) {
        if (outShape[d] < 0) {
            return invalidArgument("output shape " + shapeToString(outShape) + " has a negative dimension");
        }
        if (inShape[d] == 0 && outShape[d] != 0) {
            return invalidArgument("cannot resize empty axis " + std::to_string(d) + " of input shape " +
                                   shapeToString(inShape) + " to " + std::to_string(outShape[d]));
        }
    }
    KILN_ASSIGN_OR_RETURN(Tensor * y, ctx.allocateOutput(0, x.dtype(), outShape));
    const int64_t total = y->numel();
    if (total == 0) return Status::ok();
    const std::vector<int64_t> strides = stridesOf(inShape);
    std::vector<AxisTaps> taps(rank);
    const std::vector<bool> image = linearImageAxes(scales);
    for (size_t d = 0; d < rank; ++d) {
        const bool interpolate = scales[d] != 1.0F || (p.mode == ResizeMode::kLinear && image[d]);
        const float resizedLen =
            fromScales ? scales[d] * static_cast<float>(inShape[d]) : static_cast<float>(outShape[d]);
        taps[d] = buildTaps(p, inShape[d], outShape[d], resizedLen, scales[d], roi[d], roi[rank + d], strides[d],
                            interpolate);
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

Result<ResizeMode> parseMode(const std::string& mode) {
    if (mode == "nearest") return ResizeMode::kNearest;
    if (mode == "linear" || mode == "bilinear") return ResizeMode::kLinear;
    if (mode == "cubic") return ResizeMode::kCubic;
    return invalidArgument("attribute 'mode' must be nearest, linear or cubic, got '" + mode + "'");
}

Result<std::vector<float>> readFloats(const Tensor& t, const std::string& what) {
    if (!isFloatingPoint(t.dtype())) {
        return invalidArgument(what + " must be a float tensor, got " + dataTypeName(t.dtype()));
    }
    std::vector<float> v(static_cast<size_t>(t.numel()));
    for (size_t i = 0; i < v.size(); ++i) v[i] = static_cast<float>(t.getDouble(static_cast<int64_t>(i)));
    return v;
}

//! Output shape from scales (floor(in * scale), computed in float as onnxruntime does).
Result<Shape> shapeFromScales(const Shape& in, const std::vector<float>& scales) {
    Shape out(in.size());
    for (size_t d = 0; d < in.size(); ++d) {
        if (!(scales[d] > 0) || !std::isfinite(scales[d])) {
            return invalidArgument("scale " + std::to_string(scales[d]) + " for axis " + std::to_string(d) +
                                   " must be positive and finite");
        }
        const float v = scales[d] * static_cast<float>(in[d]);
        if (v >= 9.0e15F) return invalidArgument("scaled size of axis " + std::to_string(d) + " is too large");
        out[d] = static_cast<int64_t>(v);
    }
    return out;
}

Status upsampleCommon(KernelContext& ctx, const std::vector<float>& scales) {
    const Tensor& x = ctx.input(0);
    KILN_RETURN_IF_ERROR(requireFixedSizeDtype(x, "input 0 'X'"));
    KILN_CHECK_ARG(x.rank() >= 1, "input 0 'X' must have rank >= 1, got a scalar");
    KILN_CHECK_ARG(scales.size() == static_cast<size_t>(x.rank()),
                   "'scales' has " + std::to_string(scales.size()) + " values, expected one per axis of input shape " +
                       shapeToString(x.shape()));
    ResizeParams p;
    KILN_ASSIGN_OR_RETURN(p.mode, parseMode(ctx.attrs().getString("mode", "nearest")));
    KILN_CHECK_ARG(p.mode != ResizeMode::kCubic, "Upsample attribute 'mode' must be nearest or linear, got cubic");
    p.coord = CoordMode::kAsymmetric;
    p.nearest = NearestMode::kSimple;
    KILN_ASSIGN_OR_RETURN(Shape outShape, shapeFromScales(x.shape(), scales));
    std::vector<float> roi(2 * scales.size(), 0.0F);
    return resize(ctx, p, scales, outShape, roi, true);
}

}  // namespace

Status kernelResize(KernelContext& ctx) {
    KILN_RETURN_IF_ERROR(ctx.requireInputs(1, 4));
    const Tensor& x = ctx.input(0);
    KILN_RETURN_IF_ERROR(requireFixedSizeDtype(x, "input 0 'X'"));
    KILN_CHECK_ARG(x.rank() >= 1, "input 0 'X' must have rank >= 1, got a scalar");
    const auto rank = static_cast<size_t>(x.rank());
    const bool legacy = ctx.opset() < 11;
    const auto& a = ctx.attrs();
    ResizeParams p;
    KILN_ASSIGN_OR_RETURN(p.mode, parseMode(a.getString("mode", "nearest")));
    KILN_CHECK_ARG(!(legacy && p.mode == ResizeMode::kCubic), "Resize-10 attribute 'mode' must be nearest or linear");
    const std::string coord = legacy ? "asymmetric" : a.getString("coordinate_transformation_mode", "half_pixel");
    if (coord == "half_pixel") {
        p.coord = CoordMode::kHalfPixel;
    } else if (coord == "pytorch_half_pixel") {
        p.coord = CoordMode::kPytorchHalfPixel;
    } else if (coord == "align_corners") {
        p.coord = CoordMode::kAlignCorners;
    } else if (coord == "asymmetric") {
        p.coord = CoordMode::kAsymmetric;
    } else if (coord == "tf_half_pixel_for_nn") {
        p.coord = CoordMode::kTfHalfPixelForNn;
    } else if (coord == "tf_crop_and_resize") {
        p.coord = CoordMode::kTfCropAndResize;
    } else {
        return invalidArgument("attribute 'coordinate_transformation_mode' has unknown value '" + coord + "'");
    }
    if (legacy) {
        p.nearest = NearestMode::kSimple;
    } else {
        const std::string nm = a.getString("nearest_mode", "round_prefer_floor");
        if (nm == "round_prefer_floor") {
            p.nearest = NearestMode::kRoundPreferFloor;
        } else if (nm == "round_prefer_ceil") {
            p.nearest = NearestMode::kRoundPreferCeil;
        } else if (nm == "floor") {
            p.nearest = NearestMode::kFloor;
        } else if (nm == "ceil") {
            p.nearest = NearestMode::kCeil;
        } else {
            return invalidArgument("attribute 'nearest_mode' has unknown value '" + nm + "'");
        }
    }
    p.cubicA = a.getFloat("cubic_coeff_a", -0.75F);
    p.excludeOutside = a.getInt("exclude_outside", 0) != 0;
    p.extrapolation = a.getFloat("extrapolation_value", 0.0F);
    if (a.has("antialias") || a.has("axes") || a.has("keep_aspect_ratio_policy")) {
        return unsupported("Resize-18 attributes antialias/axes/keep_aspect_ratio_policy are not supported");
    }

    std::vector<float> roi(2 * rank, 0.0F);
    for (size_t d = 0; d < rank; ++d) roi[rank + d] = 1.0F;
    if (p.coord == CoordMode::kTfCropAndResize) {
        KILN_CHECK_ARG(ctx.hasInput(1) && ctx.input(1).numel() > 0,
                       "input 1 'roi' is required by coordinate_transformation_mode tf_crop_and_resize");
        KILN_ASSIGN_OR_RETURN(roi, readFloats(ctx.input(1), "input 1 'roi'"));
        KILN_CHECK_ARG(roi.size() == 2 * rank, "input 1 'roi' has " + std::to_string(roi.size()) +
                                                   " values, expected 2 * rank = " + std::to_string(2 * rank));
    }
    const bool hasScales = ctx.hasInput(2) && ctx.input(2).numel() > 0;
    const bool hasSizes = ctx.hasInput(3) && ctx.input(3).numel() > 0;
    KILN_CHECK_ARG(hasScales != hasSizes, "exactly one of input 2 'scales' and input 3 'sizes' must be non-empty");
    std::vector<float> scales;
    Shape outShape;
    if (hasScales) {
        KILN_ASSIGN_OR_RETURN(scales, readFloats(ctx.input(2), "input 2 'scales'"));
        KILN_CHECK_ARG(scales.size() == rank, "input 2 'scales' has " + std::to_string(scales.size()) +
                                                  " values, expected one per axis of input shape " +
                                                  shapeToString(x.shape()));
        KILN_ASSIGN_OR_RETURN(outShape, shapeFromScales(x.shape(), scales));
    } else {
        const Tensor& sizes = ctx.input(3);
        KILN_CHECK_ARG(sizes.dtype() == DataType::kInt64,
                       std::string("input 3 'sizes' must be int64, got ") + dataTypeName(sizes.dtype()));
        outShape = sizes.toInt64Vector();
        KILN_CHECK_ARG(outShape.size() == rank, "input 3 'sizes' has " + std::to_string(outShape.size()) +
                                                    " values, expected one per axis of input shape " +
                                                    shapeToString(x.shape()));
        scales.resize(rank);
        for (size_t d = 0; d < rank; ++d) {
            KILN_CHECK_ARG(outShape[d] >= 0, "input 3 'sizes' has a negative value " + std::to_string(outShape[d]));
            scales[d] = x.shape()[d] == 0 ? 1.0F : static_cast<float>(outShape[d]) / static_cast<float>(x.shape()[d]);
        }
    }
    return resize(ctx, p, scales, outShape, roi, hasScales);
}

Status kernelUpsample(KernelContext& ctx) {
    if (ctx.opset() >= 9) {
        KILN_RETURN_IF_ERROR(ctx.requireInputs(2, 2));
        KILN_ASSIGN_OR_RETURN(std::vector<float> scales, readFloats(ctx.input(1), "input 1 'scales'"));
        return upsampleCommon(ctx, scales);
    }
    KILN_RETURN_IF_ERROR(ctx.requireInputs(1, 1));
    auto scales = ctx.attrs().getFloats("scales");
    if (!scales) {
        return unsupported("Upsample-" + std::to_string(ctx.opset()) +
                           " without attribute 'scales' (height_scale/width_scale form) is not supported");
    }
    return upsampleCommon(ctx, *scales);
}

}  // namespace kiln::cpu
