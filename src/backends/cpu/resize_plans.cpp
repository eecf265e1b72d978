// Plans of Resize, Upsample and GridSample (op_plans.h).
#include <cmath>
#include <string>

#include "backends/cpu/indexing.h"
#include "backends/cpu/op_plans.h"

namespace kiln::cpu {

namespace {

Result<ResizeMode> parseMode(const std::string& mode) {
    if (mode == "nearest") return ResizeMode::kNearest;
    if (mode == "linear" || mode == "bilinear") return ResizeMode::kLinear;
    if (mode == "cubic") return ResizeMode::kCubic;
    return invalidArgument("attribute 'mode' must be nearest, linear or cubic, got '" + mode + "'");
}

Result<CoordMode> parseCoordMode(const std::string& coord) {
    if (coord == "half_pixel") return CoordMode::kHalfPixel;
    if (coord == "pytorch_half_pixel") return CoordMode::kPytorchHalfPixel;
    if (coord == "align_corners") return CoordMode::kAlignCorners;
    if (coord == "asymmetric") return CoordMode::kAsymmetric;
    if (coord == "tf_half_pixel_for_nn") return CoordMode::kTfHalfPixelForNn;
    if (coord == "tf_crop_and_resize") return CoordMode::kTfCropAndResize;
    return invalidArgument("attribute 'coordinate_transformation_mode' has unknown value '" + coord + "'");
}

Result<NearestMode> parseNearestMode(const std::string& nm) {
    if (nm == "round_prefer_floor") return NearestMode::kRoundPreferFloor;
    if (nm == "round_prefer_ceil") return NearestMode::kRoundPreferCeil;
    if (nm == "floor") return NearestMode::kFloor;
    if (nm == "ceil") return NearestMode::kCeil;
    return invalidArgument("attribute 'nearest_mode' has unknown value '" + nm + "'");
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

//! Checks the output shape against the input and fills the per-axis interpolate flags and resized lengths.
Status finishPlan(const Shape& inShape, bool fromScales, ResizePlan& plan) {
    const size_t rank = inShape.size();
    for (size_t d = 0; d < rank; ++d) {
        if (plan.outShape[d] < 0) {
            return invalidArgument("output shape " + shapeToString(plan.outShape) + " has a negative dimension");
        }
        if (inShape[d] == 0 && plan.outShape[d] != 0) {
            return invalidArgument("cannot resize empty axis " + std::to_string(d) + " of input shape " +
                                   shapeToString(inShape) + " to " + std::to_string(plan.outShape[d]));
        }
    }
    const std::vector<bool> image = linearImageAxes(plan.scales);
    plan.interpolate.resize(rank);
    plan.resizedLen.resize(rank);
    for (size_t d = 0; d < rank; ++d) {
        plan.interpolate[d] = plan.scales[d] != 1.0F || (plan.mode == ResizeMode::kLinear && image[d]);
        plan.resizedLen[d] =
            fromScales ? plan.scales[d] * static_cast<float>(inShape[d]) : static_cast<float>(plan.outShape[d]);
    }
    return Status::ok();
}

Result<ResizePlan> upsamplePlan(const KernelContext& ctx, const std::vector<float>& scales) {
    const Tensor& x = ctx.input(0);
    KILN_RETURN_IF_ERROR(requireFixedSizeDtype(x, "input 0 'X'"));
    KILN_CHECK_ARG(x.rank() >= 1, "input 0 'X' must have rank >= 1, got a scalar");
    KILN_CHECK_ARG(scales.size() == static_cast<size_t>(x.rank()),
                   "'scales' has " + std::to_string(scales.size()) + " values, expected one per axis of input shape " +
                       shapeToString(x.shape()));
    ResizePlan plan;
    KILN_ASSIGN_OR_RETURN(plan.mode, parseMode(ctx.attrs().getString("mode", "nearest")));
    KILN_CHECK_ARG(plan.mode != ResizeMode::kCubic, "Upsample attribute 'mode' must be nearest or linear, got cubic");
    plan.coord = CoordMode::kAsymmetric;
    plan.nearest = NearestMode::kSimple;
    plan.scales = scales;
    KILN_ASSIGN_OR_RETURN(plan.outShape, shapeFromScales(x.shape(), scales));
    plan.roi.assign(2 * scales.size(), 0.0F);
    KILN_RETURN_IF_ERROR(finishPlan(x.shape(), true, plan));
    return plan;
}

}  // namespace

Result<ResizePlan> planResize(const KernelContext& ctx) {
    KILN_RETURN_IF_ERROR(ctx.requireInputs(1, 4));
    const Tensor& x = ctx.input(0);
    KILN_RETURN_IF_ERROR(requireFixedSizeDtype(x, "input 0 'X'"));
    KILN_CHECK_ARG(x.rank() >= 1, "input 0 'X' must have rank >= 1, got a scalar");
    const auto rank = static_cast<size_t>(x.rank());
    const bool legacy = ctx.opset() < 11;
    const auto& a = ctx.attrs();
    ResizePlan plan;
    KILN_ASSIGN_OR_RETURN(plan.mode, parseMode(a.getString("mode", "nearest")));
    KILN_CHECK_ARG(!(legacy && plan.mode == ResizeMode::kCubic),
                   "Resize-10 attribute 'mode' must be nearest or linear");
    KILN_ASSIGN_OR_RETURN(
        plan.coord,
        parseCoordMode(legacy ? "asymmetric" : a.getString("coordinate_transformation_mode", "half_pixel")));
    if (legacy) {
        plan.nearest = NearestMode::kSimple;
    } else {
        KILN_ASSIGN_OR_RETURN(plan.nearest, parseNearestMode(a.getString("nearest_mode", "round_prefer_floor")));
    }
    plan.cubicA = a.getFloat("cubic_coeff_a", -0.75F);
    plan.excludeOutside = a.getInt("exclude_outside", 0) != 0;
    plan.extrapolation = a.getFloat("extrapolation_value", 0.0F);
    if (a.has("antialias") || a.has("axes") || a.has("keep_aspect_ratio_policy")) {
        return unsupported("Resize-18 attributes antialias/axes/keep_aspect_ratio_policy are not supported");
    }

    plan.roi.assign(2 * rank, 0.0F);
    for (size_t d = 0; d < rank; ++d) plan.roi[rank + d] = 1.0F;
    if (plan.coord == CoordMode::kTfCropAndResize) {
        KILN_CHECK_ARG(ctx.hasInput(1) && ctx.input(1).numel() > 0,
                       "input 1 'roi' is required by coordinate_transformation_mode tf_crop_and_resize");
        KILN_ASSIGN_OR_RETURN(plan.roi, readFloats(ctx.input(1), "input 1 'roi'"));
        KILN_CHECK_ARG(plan.roi.size() == 2 * rank, "input 1 'roi' has " + std::to_string(plan.roi.size()) +
                                                        " values, expected 2 * rank = " + std::to_string(2 * rank));
    }
    const bool hasScales = ctx.hasInput(2) && ctx.input(2).numel() > 0;
    const bool hasSizes = ctx.hasInput(3) && ctx.input(3).numel() > 0;
    KILN_CHECK_ARG(hasScales != hasSizes, "exactly one of input 2 'scales' and input 3 'sizes' must be non-empty");
    if (hasScales) {
        KILN_ASSIGN_OR_RETURN(plan.scales, readFloats(ctx.input(2), "input 2 'scales'"));
        KILN_CHECK_ARG(plan.scales.size() == rank, "input 2 'scales' has " + std::to_string(plan.scales.size()) +
                                                       " values, expected one per axis of input shape " +
                                                       shapeToString(x.shape()));
        KILN_ASSIGN_OR_RETURN(plan.outShape, shapeFromScales(x.shape(), plan.scales));
    } else {
        const Tensor& sizes = ctx.input(3);
        KILN_CHECK_ARG(sizes.dtype() == DataType::kInt64,
                       std::string("input 3 'sizes' must be int64, got ") + dataTypeName(sizes.dtype()));
        plan.outShape = sizes.toInt64Vector();
        KILN_CHECK_ARG(plan.outShape.size() == rank, "input 3 'sizes' has " + std::to_string(plan.outShape.size()) +
                                                         " values, expected one per axis of input shape " +
                                                         shapeToString(x.shape()));
        plan.scales.resize(rank);
        for (size_t d = 0; d < rank; ++d) {
            const int64_t out = plan.outShape[d];
            KILN_CHECK_ARG(out >= 0, "input 3 'sizes' has a negative value " + std::to_string(out));
            plan.scales[d] = x.shape()[d] == 0 ? 1.0F : static_cast<float>(out) / static_cast<float>(x.shape()[d]);
        }
    }
    KILN_RETURN_IF_ERROR(finishPlan(x.shape(), hasScales, plan));
    return plan;
}

Result<ResizePlan> planUpsample(const KernelContext& ctx) {
    if (ctx.opset() >= 9) {
        KILN_RETURN_IF_ERROR(ctx.requireInputs(2, 2));
        KILN_ASSIGN_OR_RETURN(std::vector<float> scales, readFloats(ctx.input(1), "input 1 'scales'"));
        return upsamplePlan(ctx, scales);
    }
    KILN_RETURN_IF_ERROR(ctx.requireInputs(1, 1));
    auto scales = ctx.attrs().getFloats("scales");
    if (!scales) {
        return unsupported("Upsample-" + std::to_string(ctx.opset()) +
                           " without attribute 'scales' (height_scale/width_scale form) is not supported");
    }
    return upsamplePlan(ctx, *scales);
}

Result<GridSamplePlan> planGridSample(const KernelContext& ctx) {
    KILN_RETURN_IF_ERROR(ctx.requireInputs(2, 2));
    const Tensor& x = ctx.input(0);
    const Tensor& grid = ctx.input(1);
    KILN_CHECK_ARG(x.rank() == 4, "input 0 'X' must be 4-D (N, C, H, W), got shape " + shapeToString(x.shape()));
    KILN_CHECK_ARG(grid.rank() == 4 && grid.dim(3) == 2 && grid.dim(0) == x.dim(0),
                   "input 1 'grid' must have shape (N, H_out, W_out, 2) with N = " + std::to_string(x.dim(0)) +
                       ", got " + shapeToString(grid.shape()));
    KILN_CHECK_ARG(isFloatingPoint(grid.dtype()),
                   std::string("input 1 'grid' must be a float tensor, got ") + dataTypeName(grid.dtype()));
    const auto& a = ctx.attrs();
    GridSamplePlan plan;
    const std::string modeName = a.getString("mode", "bilinear");
    if (modeName == "bilinear") {
        plan.mode = SampleMode::kBilinear;
    } else if (modeName == "nearest") {
        plan.mode = SampleMode::kNearest;
    } else if (modeName == "bicubic") {
        plan.mode = SampleMode::kBicubic;
    } else {
        return invalidArgument("attribute 'mode' must be bilinear, nearest or bicubic, got '" + modeName + "'");
    }
    const std::string padName = a.getString("padding_mode", "zeros");
    if (padName == "zeros") {
        plan.padding = SamplePadding::kZeros;
    } else if (padName == "border") {
        plan.padding = SamplePadding::kBorder;
    } else if (padName == "reflection") {
        plan.padding = SamplePadding::kReflection;
    } else {
        return invalidArgument("attribute 'padding_mode' must be zeros, border or reflection, got '" + padName + "'");
    }
    plan.alignCorners = a.getInt("align_corners", 0) != 0;
    plan.outShape = {x.dim(0), x.dim(1), grid.dim(1), grid.dim(2)};
    KILN_CHECK_ARG(shapeNumel(plan.outShape) == 0 || (x.dim(2) > 0 && x.dim(3) > 0),
                   "input 0 'X' has empty spatial dims " + shapeToString(x.shape()));
    return plan;
}

}  // namespace kiln::cpu
