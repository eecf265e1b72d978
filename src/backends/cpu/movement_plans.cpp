// Plans of the movement kernels (op_plans.h): Transpose, Concat, Split, Slice, Expand, Tile, Pad, DepthToSpace,
// SpaceToDepth, ReverseSequence, Compress.
#include <algorithm>
#include <numeric>
#include <string>

#include "backends/cpu/broadcast.h"
#include "backends/cpu/data_movement.h"
#include "backends/cpu/op_plans.h"

namespace kiln::cpu {

namespace {

std::string intsToString(const std::vector<int64_t>& v) {
    std::string s = "[";
    for (size_t i = 0; i < v.size(); ++i) s += (i ? "," : "") + std::to_string(v[i]);
    return s + "]";
}

//! Reads a rank-4 input and the positive 'blocksize' attribute shared by DepthToSpace and SpaceToDepth.
Result<int64_t> readBlockSize(const KernelContext& ctx, const Tensor& x) {
    if (x.rank() != 4) return invalidArgument("input 0 must be 4-D (N, C, H, W), got " + x.describe());
    const int64_t b = ctx.attrs().getInt("blocksize", 0);
    if (b <= 0) return invalidArgument("attribute 'blocksize' must be positive, got " + std::to_string(b));
    return b;
}

PermuteViewPlan permuteView(Shape view, std::vector<int64_t> perm, Shape outShape) {
    return PermuteViewPlan{std::move(view), std::move(perm), std::move(outShape)};
}

}  // namespace

Result<TransposePlan> planTranspose(const KernelContext& ctx) {
    KILN_RETURN_IF_ERROR(ctx.requireInputs(1, 1));
    const Tensor& x = ctx.input(0);
    KILN_RETURN_IF_ERROR(requireCopyable(x, "input 0"));
    std::vector<int64_t> perm(static_cast<size_t>(x.rank()));
    std::iota(perm.rbegin(), perm.rend(), 0);
    if (auto p = ctx.attrs().getInts("perm")) perm = *p;
    std::vector<bool> seen(static_cast<size_t>(x.rank()), false);
    bool valid = static_cast<int64_t>(perm.size()) == x.rank();
    for (size_t i = 0; valid && i < perm.size(); ++i) {
        valid = perm[i] >= 0 && perm[i] < x.rank() && !seen[static_cast<size_t>(perm[i])];
        if (valid) seen[static_cast<size_t>(perm[i])] = true;
    }
    if (!valid) {
        return invalidArgument("attribute 'perm' " + intsToString(perm) + " is not a permutation of the dims of " +
                               x.describe());
    }
    Shape shape(perm.size());
    for (size_t d = 0; d < perm.size(); ++d) shape[d] = x.shape()[static_cast<size_t>(perm[d])];
    return TransposePlan{std::move(perm), std::move(shape)};
}

Result<ConcatPlan> planConcat(const KernelContext& ctx) {
    KILN_RETURN_IF_ERROR(ctx.requireInputs(1));
    const Tensor& first = ctx.input(0);
    KILN_RETURN_IF_ERROR(requireCopyable(first, "input 0"));
    // Concat-1 defaulted axis to 1; it is required since opset 4.
    auto axisAttr = ctx.attrs().get<int64_t>("axis");
    if (!axisAttr && ctx.opset() >= 4) return invalidArgument("attribute 'axis' is required");
    if (first.rank() == 0) return invalidArgument("cannot concatenate scalars (input 0 is " + first.describe() + ")");
    KILN_ASSIGN_OR_RETURN(const int64_t axis, normalizeAxis(axisAttr.value_or(1), first.rank()));
    const auto ax = static_cast<size_t>(axis);
    Shape shape = first.shape();
    shape[ax] = 0;
    for (size_t i = 0; i < ctx.numInputs(); ++i) {
        if (!ctx.hasInput(i)) return invalidArgument("input " + std::to_string(i) + " is missing");
        const Tensor& t = ctx.input(i);
        bool compatible = t.dtype() == first.dtype() && t.rank() == first.rank();
        for (size_t d = 0; compatible && d < shape.size(); ++d) compatible = d == ax || t.shape()[d] == shape[d];
        if (!compatible) {
            return invalidArgument("input " + std::to_string(i) + " " + t.describe() + " does not match input 0 " +
                                   first.describe() + " outside axis " + std::to_string(axis));
        }
        shape[ax] += t.shape()[ax];
    }
    return ConcatPlan{axis, std::move(shape)};
}

Result<SplitPlan> planSplit(const KernelContext& ctx) {
    KILN_RETURN_IF_ERROR(ctx.requireInputs(1, 2));
    const Tensor& x = ctx.input(0);
    KILN_RETURN_IF_ERROR(requireCopyable(x, "input 0"));
    if (x.rank() == 0) return invalidArgument("cannot split a scalar");
    KILN_ASSIGN_OR_RETURN(const int64_t axis, normalizeAxis(ctx.attrs().getInt("axis", 0), x.rank()));
    const int64_t dim = x.shape()[static_cast<size_t>(axis)];
    const auto parts = static_cast<int64_t>(ctx.numOutputs());
    std::vector<int64_t> split;
    if (ctx.hasInput(1) && ctx.input(1).numel() > 0) {
        KILN_ASSIGN_OR_RETURN(split, readIndexVector(ctx.input(1), "split"));
        const int64_t sum = std::accumulate(split.begin(), split.end(), int64_t{0});
        const bool negative = std::any_of(split.begin(), split.end(), [](int64_t s) { return s < 0; });
        if (static_cast<int64_t>(split.size()) != parts || negative || sum != dim) {
            return invalidArgument("input 'split' " + intsToString(split) + " must have " + std::to_string(parts) +
                                   " non-negative sizes summing to dim " + std::to_string(axis) + " of " +
                                   x.describe());
        }
    } else {
        if (parts == 0 || dim % parts != 0) {
            return invalidArgument("cannot split dim " + std::to_string(axis) + " of " + x.describe() + " into " +
                                   std::to_string(parts) + " equal parts");
        }
        split.assign(static_cast<size_t>(parts), dim / parts);
    }
    return SplitPlan{axis, std::move(split)};
}

Result<SlicePlan> planSlice(const KernelContext& ctx) {
    KILN_RETURN_IF_ERROR(ctx.requireInputs(3, 5));
    const Tensor& x = ctx.input(0);
    KILN_RETURN_IF_ERROR(requireCopyable(x, "input 0"));
    KILN_ASSIGN_OR_RETURN(auto starts, readIndexVector(ctx.input(1), "starts"));
    KILN_ASSIGN_OR_RETURN(auto ends, readIndexVector(ctx.input(2), "ends"));
    const size_t n = starts.size();
    std::vector<int64_t> axes(n);
    std::iota(axes.begin(), axes.end(), 0);
    if (ctx.hasInput(3)) {
        KILN_ASSIGN_OR_RETURN(axes, readIndexVector(ctx.input(3), "axes"));
    }
    std::vector<int64_t> steps(n, 1);
    if (ctx.hasInput(4)) {
        KILN_ASSIGN_OR_RETURN(steps, readIndexVector(ctx.input(4), "steps"));
    }
    if (ends.size() != n || axes.size() != n || steps.size() != n) {
        return invalidArgument("inputs starts, ends, axes and steps must have one length, got " + intsToString(starts) +
                               ", " + intsToString(ends) + ", " + intsToString(axes) + ", " + intsToString(steps));
    }
    const auto rank = static_cast<size_t>(x.rank());
    SlicePlan plan{std::vector<int64_t>(rank, 0), std::vector<int64_t>(rank, 1), x.shape()};
    std::vector<bool> seen(rank, false);
    for (size_t i = 0; i < n; ++i) {
        if (axes[i] < -x.rank() || axes[i] >= x.rank()) {
            return invalidArgument("input 'axes' value " + std::to_string(axes[i]) + " is out of range for " +
                                   x.describe());
        }
        const auto a = static_cast<size_t>(axes[i] < 0 ? axes[i] + x.rank() : axes[i]);
        if (seen[a]) return invalidArgument("input 'axes' repeats axis " + std::to_string(axes[i]));
        seen[a] = true;
        if (steps[i] == 0) return invalidArgument("input 'steps' must not contain 0");
        const int64_t dim = x.shape()[a];
        int64_t s = starts[i] < 0 ? starts[i] + dim : starts[i];
        int64_t e = ends[i] < 0 ? ends[i] + dim : ends[i];
        int64_t count = 0;
        if (steps[i] > 0) {
            s = std::clamp<int64_t>(s, 0, dim);
            e = std::clamp<int64_t>(e, 0, dim);
            if (e > s) count = (e - s - 1) / steps[i] + 1;
        } else {
            s = std::clamp<int64_t>(s, -1, dim - 1);
            e = std::clamp<int64_t>(e, -1, dim - 1);
            if (s > e) count = (s - e - 1) / -steps[i] + 1;
        }
        plan.begin[a] = s;
        plan.step[a] = steps[i];
        plan.outShape[a] = count;
    }
    return plan;
}

Result<Shape> planExpand(const KernelContext& ctx) {
    KILN_RETURN_IF_ERROR(ctx.requireInputs(2, 2));
    const Tensor& x = ctx.input(0);
    KILN_RETURN_IF_ERROR(requireCopyable(x, "input 0"));
    KILN_ASSIGN_OR_RETURN(Shape target, readIndexVector(ctx.input(1), "shape"));
    for (int64_t d : target) {
        if (d < 0) return invalidArgument("input 'shape' has a negative dim: " + shapeToString(target));
    }
    return broadcastShapes({x.shape(), target});
}

Result<TilePlan> planTile(const KernelContext& ctx) {
    KILN_RETURN_IF_ERROR(ctx.requireInputs(2, 2));
    const Tensor& x = ctx.input(0);
    KILN_RETURN_IF_ERROR(requireCopyable(x, "input 0"));
    KILN_ASSIGN_OR_RETURN(auto repeats, readIndexVector(ctx.input(1), "repeats"));
    const bool negative = std::any_of(repeats.begin(), repeats.end(), [](int64_t r) { return r < 0; });
    if (static_cast<int64_t>(repeats.size()) != x.rank() || negative) {
        return invalidArgument("input 'repeats' " + intsToString(repeats) +
                               " must hold one non-negative count per dim of " + x.describe());
    }
    Shape shape(repeats.size());
    for (size_t d = 0; d < shape.size(); ++d) {
        const int64_t dim = x.shape()[d];
        if (dim != 0 && repeats[d] > (int64_t{1} << 40) / dim) return outOfRange("Tile output is too large");
        shape[d] = dim * repeats[d];
    }
    return TilePlan{std::move(repeats), std::move(shape)};
}

Result<PadPlan> planPad(const KernelContext& ctx) {
    KILN_RETURN_IF_ERROR(ctx.requireInputs(2, 4));
    const Tensor& x = ctx.input(0);
    KILN_RETURN_IF_ERROR(requireCopyable(x, "input 0"));
    KILN_ASSIGN_OR_RETURN(auto pads, readIndexVector(ctx.input(1), "pads"));
    const auto rank = static_cast<size_t>(x.rank());
    // Pad-18's axes input names the dims that `pads` covers; without it pads covers every dim.
    std::vector<int64_t> axes(rank);
    std::iota(axes.begin(), axes.end(), 0);
    if (ctx.hasInput(3)) {
        KILN_ASSIGN_OR_RETURN(axes, readIndexVector(ctx.input(3), "axes"));
    }
    if (pads.size() != 2 * axes.size()) {
        return invalidArgument("input 'pads' " + intsToString(pads) + " must have 2 values per padded axis of " +
                               x.describe());
    }
    for (int64_t p : pads) {
        if (p < -(int64_t{1} << 40) || p > (int64_t{1} << 40)) return outOfRange("input 'pads' value is too large");
    }
    PadPlan plan;
    plan.padBegin.assign(rank, 0);
    std::vector<int64_t> padEnd(rank, 0);
    for (size_t i = 0; i < axes.size(); ++i) {
        KILN_ASSIGN_OR_RETURN(const int64_t a, normalizeAxis(axes[i], x.rank(), "input 'axes' value"));
        plan.padBegin[static_cast<size_t>(a)] = pads[i];
        padEnd[static_cast<size_t>(a)] = pads[i + axes.size()];
    }
    if (ctx.hasInput(2) && ctx.input(2).numel() > 0) {
        plan.fill = &ctx.input(2);
        if (plan.fill->dtype() != x.dtype() || plan.fill->numel() != 1) {
            return invalidArgument("input 'constant_value' must be one " + std::string(dataTypeName(x.dtype())) +
                                   " value, got " + plan.fill->describe());
        }
    }
    const std::string mode = ctx.attrs().getString("mode", "constant");
    if (mode == "constant") {
        plan.mode = PadMode::kConstant;
    } else if (mode == "reflect") {
        plan.mode = PadMode::kReflect;
    } else if (mode == "edge") {
        plan.mode = PadMode::kEdge;
    } else {
        return unsupported("attribute 'mode' value '" + mode + "' is not supported");
    }
    plan.outShape.resize(rank);
    for (size_t d = 0; d < rank; ++d) {
        const int64_t dim = x.shape()[d];
        plan.outShape[d] = dim + plan.padBegin[d] + padEnd[d];
        if (plan.outShape[d] < 0) {
            return invalidArgument("input 'pads' " + intsToString(pads) + " crops dim " + std::to_string(d) + " of " +
                                   x.describe() + " below zero");
        }
        if (mode != "constant" && dim == 0 && plan.outShape[d] > 0) {
            return invalidArgument("cannot " + mode + "-pad empty dim " + std::to_string(d) + " of " + x.describe());
        }
        if (plan.outShape[d] > (int64_t{1} << 40)) return outOfRange("Pad output is too large");
    }
    return plan;
}

int64_t padSource(PadMode mode, int64_t i, int64_t padBegin, int64_t dim) {
    int64_t src = i - padBegin;
    if (src >= 0 && src < dim) return src;
    if (mode == PadMode::kConstant) return -1;
    if (mode == PadMode::kEdge || dim == 1) return std::clamp<int64_t>(src, 0, dim - 1);
    // Reflect without repeating the edge; pads wider than the dim keep bouncing (period 2 * (dim - 1)).
    const int64_t period = 2 * (dim - 1);
    src = ((src % period) + period) % period;
    return src >= dim ? period - src : src;
}

Result<PermuteViewPlan> planDepthToSpace(const KernelContext& ctx) {
    KILN_RETURN_IF_ERROR(ctx.requireInputs(1, 1));
    const Tensor& x = ctx.input(0);
    KILN_RETURN_IF_ERROR(requireCopyable(x, "input 0"));
    KILN_ASSIGN_OR_RETURN(const int64_t b, readBlockSize(ctx, x));
    const int64_t n = x.dim(0), c = x.dim(1), h = x.dim(2), w = x.dim(3);
    if (c % (b * b) != 0) {
        return invalidArgument("channels of " + x.describe() +
                               " are not divisible by blocksize^2 = " + std::to_string(b * b));
    }
    const int64_t oc = c / (b * b);
    const Shape outShape{n, oc, h * b, w * b};
    const std::string mode = ctx.attrs().getString("mode", "DCR");
    if (mode == "DCR") return permuteView({n, b, b, oc, h, w}, {0, 3, 4, 1, 5, 2}, outShape);
    if (mode == "CRD") return permuteView({n, oc, b, b, h, w}, {0, 1, 4, 2, 5, 3}, outShape);
    return invalidArgument("attribute 'mode' must be DCR or CRD, got '" + mode + "'");
}

Result<PermuteViewPlan> planSpaceToDepth(const KernelContext& ctx) {
    KILN_RETURN_IF_ERROR(ctx.requireInputs(1, 1));
    const Tensor& x = ctx.input(0);
    KILN_RETURN_IF_ERROR(requireCopyable(x, "input 0"));
    KILN_ASSIGN_OR_RETURN(const int64_t b, readBlockSize(ctx, x));
    const int64_t n = x.dim(0), c = x.dim(1), h = x.dim(2), w = x.dim(3);
    if (h % b != 0 || w % b != 0) {
        return invalidArgument("height and width of " + x.describe() + " are not divisible by blocksize " +
                               std::to_string(b));
    }
    return permuteView({n, c, h / b, b, w / b, b}, {0, 3, 5, 1, 2, 4}, {n, c * b * b, h / b, w / b});
}

Result<ReverseSequencePlan> planReverseSequence(const KernelContext& ctx) {
    KILN_RETURN_IF_ERROR(ctx.requireInputs(2, 2));
    const Tensor& x = ctx.input(0);
    KILN_RETURN_IF_ERROR(requireCopyable(x, "input 0"));
    if (x.rank() < 2) return invalidArgument("input 0 must have rank >= 2, got " + x.describe());
    const int64_t batchAxis = ctx.attrs().getInt("batch_axis", 1);
    const int64_t timeAxis = ctx.attrs().getInt("time_axis", 0);
    if ((batchAxis != 0 && batchAxis != 1) || (timeAxis != 0 && timeAxis != 1) || batchAxis == timeAxis) {
        return invalidArgument("attributes 'batch_axis' and 'time_axis' must be 0 and 1 in some order, got " +
                               std::to_string(batchAxis) + " and " + std::to_string(timeAxis));
    }
    const Tensor& lens = ctx.input(1);
    KILN_RETURN_IF_ERROR(checkIndexVector(lens, "sequence_lens"));
    const int64_t batch = x.dim(batchAxis);
    if (lens.numel() != batch) {
        return invalidArgument("input 'sequence_lens' has " + std::to_string(lens.numel()) + " values for batch " +
                               std::to_string(batch) + " of " + x.describe());
    }
    return ReverseSequencePlan{batchAxis, timeAxis};
}

Status checkSequenceLens(const std::vector<int64_t>& lens, int64_t time) {
    for (int64_t len : lens) {
        if (len < 0 || len > time) {
            return invalidArgument("input 'sequence_lens' " + intsToString(lens) + " must be in [0, " +
                                   std::to_string(time) + "]");
        }
    }
    return Status::ok();
}

Result<CompressPlan> planCompress(const KernelContext& ctx) {
    KILN_RETURN_IF_ERROR(ctx.requireInputs(2, 2));
    const Tensor& x = ctx.input(0);
    KILN_RETURN_IF_ERROR(requireCopyable(x, "input 0"));
    const Tensor& cond = ctx.input(1);
    if (cond.dtype() != DataType::kBool || cond.rank() != 1) {
        return invalidArgument("input 'condition' must be a 1-D bool tensor, got " + cond.describe());
    }
    CompressPlan plan;
    auto axisAttr = ctx.attrs().get<int64_t>("axis");
    plan.srcShape = axisAttr ? x.shape() : Shape{x.numel()};
    if (axisAttr) {
        KILN_ASSIGN_OR_RETURN(plan.axis, normalizeAxis(*axisAttr, x.rank()));
    }
    if (plan.srcShape.empty()) return invalidArgument("cannot compress a scalar along an axis");
    const auto ax = static_cast<size_t>(plan.axis);
    const int64_t dim = plan.srcShape[ax];
    for (int64_t i = 0; i < cond.numel(); ++i) {
        if (!cond.data<bool>()[i]) continue;
        if (i >= dim) {
            return invalidArgument("input 'condition' selects index " + std::to_string(i) + " beyond dim " +
                                   std::to_string(plan.axis) + " of " +
                                   Tensor::wrap(x.dtype(), plan.srcShape, nullptr).describe());
        }
        plan.selected.push_back(i);
    }
    plan.outShape = plan.srcShape;
    plan.outShape[ax] = static_cast<int64_t>(plan.selected.size());
    return plan;
}

}  // namespace kiln::cpu
