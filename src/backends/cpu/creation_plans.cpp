// Plans of the tensor-creation kernels (op_plans.h): ConstantOfShape, Range, EyeLike, Trilu.
#include <algorithm>
#include <cmath>
#include <string>

#include "backends/cpu/data_movement.h"
#include "backends/cpu/op_plans.h"
#include "common/dispatch.h"

namespace kiln::cpu {

Result<TriluPlan> planTrilu(const KernelContext& ctx) {
    KILN_RETURN_IF_ERROR(ctx.requireInputs(1, 2));
    const Tensor& x = ctx.input(0);
    KILN_RETURN_IF_ERROR(requireCopyable(x, "input 0"));
    if (x.rank() < 2) return invalidArgument("input 0 must have rank >= 2, got " + x.describe());
    TriluPlan plan;
    if (ctx.hasInput(1)) {
        KILN_ASSIGN_OR_RETURN(plan.k, readIndexScalar(ctx.input(1), "k"));
    }
    plan.upper = ctx.attrs().getInt("upper", 1) != 0;
    // Beyond these every element is kept or dropped alike.
    plan.k = std::clamp(plan.k, -x.dim(-2) - 1, x.dim(-1) + 1);
    return plan;
}

Result<ConstantOfShapePlan> planConstantOfShape(const KernelContext& ctx) {
    KILN_RETURN_IF_ERROR(ctx.requireInputs(1, 1));
    ConstantOfShapePlan plan;
    KILN_ASSIGN_OR_RETURN(plan.shape, readIndexVector(ctx.input(0), "input"));
    for (int64_t d : plan.shape) {
        if (d < 0) return invalidArgument("input 'input' has a negative dim: " + shapeToString(plan.shape));
    }
    plan.value = Tensor::scalar(0.0F);
    if (auto v = ctx.attrs().getTensor("value")) {
        if (v->numel() != 1) return invalidArgument("attribute 'value' must hold one element, got " + v->describe());
        plan.value = *v;
    }
    KILN_RETURN_IF_ERROR(requireCopyable(plan.value, "attribute 'value'"));
    return plan;
}

Result<RangePlan> planRange(const KernelContext& ctx) {
    KILN_RETURN_IF_ERROR(ctx.requireInputs(3, 3));
    const Tensor& start = ctx.input(0);
    const Tensor& limit = ctx.input(1);
    const Tensor& delta = ctx.input(2);
    for (const Tensor* t : {&start, &limit, &delta}) {
        if (t->dtype() != start.dtype()) {
            return invalidArgument("inputs start, limit and delta must have one dtype, got " + start.describe() + ", " +
                                   limit.describe() + ", " + delta.describe());
        }
        if (t->numel() != 1) {
            return invalidArgument("inputs start, limit and delta must be scalars, got " + t->describe());
        }
    }
    RangePlan plan;
    plan.type = start.dtype();
    if (plan.type == DataType::kFloat32 || plan.type == DataType::kFloat64) {
        plan.startF = start.getDouble(0);
        plan.deltaF = delta.getDouble(0);
        if (plan.deltaF == 0.0 || !std::isfinite(plan.deltaF)) {
            return invalidArgument("input 'delta' must be finite and non-zero");
        }
        const double count = std::max(std::ceil((limit.getDouble(0) - plan.startF) / plan.deltaF), 0.0);
        if (!(count < double{int64_t{1} << 40})) return outOfRange("Range would have too many elements");
        plan.count = static_cast<int64_t>(count);
        return plan;
    }
    if (plan.type != DataType::kInt16 && plan.type != DataType::kInt32 && plan.type != DataType::kInt64) {
        return unsupported(std::string("Range does not support dtype ") + dataTypeName(plan.type));
    }
    plan.startI = start.getInt(0);
    plan.deltaI = delta.getInt(0);
    if (plan.deltaI == 0) return invalidArgument("input 'delta' must be non-zero");
    int64_t diff = 0;
    if (__builtin_sub_overflow(limit.getInt(0), plan.startI, &diff)) {
        return outOfRange("Range would have too many elements");
    }
    if (diff != 0 && (diff > 0) == (plan.deltaI > 0)) {
        // ceil(|diff| / |delta|) on magnitudes; both are representable because diff and delta share a sign.
        const auto mag = diff > 0 ? static_cast<uint64_t>(diff) : 0 - static_cast<uint64_t>(diff);
        const auto step = plan.deltaI > 0 ? static_cast<uint64_t>(plan.deltaI) : 0 - static_cast<uint64_t>(plan.deltaI);
        plan.count = static_cast<int64_t>(mag / step + (mag % step != 0 ? 1 : 0));
    }
    return plan;
}

Result<EyeLikePlan> planEyeLike(const KernelContext& ctx) {
    KILN_RETURN_IF_ERROR(ctx.requireInputs(1, 1));
    const Tensor& x = ctx.input(0);
    if (x.rank() != 2) return invalidArgument("input 0 must be 2-D, got " + x.describe());
    EyeLikePlan plan;
    plan.type = static_cast<DataType>(ctx.attrs().getInt("dtype", static_cast<int64_t>(x.dtype())));
    plan.k = ctx.attrs().getInt("k", 0);
    KILN_RETURN_IF_ERROR(dispatchAll(
        plan.type, []<typename T>() { return Status::ok(); }, "EyeLike"));
    return plan;
}

}  // namespace kiln::cpu
