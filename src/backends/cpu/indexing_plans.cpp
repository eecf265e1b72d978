// Plans of the indexing kernels (op_plans.h): Gather, GatherElements, GatherND, ScatterElements (and Scatter),
// ScatterND, OneHot. They check the index tensors' dtypes and shapes; index values are checked where they are read.
#include <cmath>
#include <string>

#include "backends/cpu/indexing.h"
#include "backends/cpu/op_plans.h"

namespace kiln::cpu {

namespace {

Status checkIndexDtype(const Tensor& t, const std::string& what) {
    if (t.dtype() != DataType::kInt32 && t.dtype() != DataType::kInt64) {
        return invalidArgument(what + " must be int32 or int64, got " + dataTypeName(t.dtype()));
    }
    return Status::ok();
}

//! GatherElements / ScatterElements: indices may not exceed data outside the axis.
Status checkElementsShape(const Shape& target, const Shape& ishape, int64_t axis) {
    for (size_t d = 0; d < ishape.size(); ++d) {
        if (static_cast<int64_t>(d) != axis && ishape[d] > target[d]) {
            return invalidArgument("input 'indices' shape " + shapeToString(ishape) + " exceeds data shape " +
                                   shapeToString(target) + " on axis " + std::to_string(d));
        }
    }
    return Status::ok();
}

Result<ScatterReduction> parseReduction(const KernelContext& ctx) {
    const std::string r = ctx.attrs().getString("reduction", "none");
    if (r == "none") return ScatterReduction::kNone;
    if (r == "add") return ScatterReduction::kAdd;
    if (r == "mul") return ScatterReduction::kMul;
    if (r == "max") return ScatterReduction::kMax;
    if (r == "min") return ScatterReduction::kMin;
    return invalidArgument("attribute 'reduction' must be none, add, mul, max or min, got '" + r + "'");
}

}  // namespace

Result<GatherPlan> planGather(const KernelContext& ctx) {
    KILN_RETURN_IF_ERROR(ctx.requireInputs(2, 2));
    const Tensor& data = ctx.input(0);
    const Tensor& indices = ctx.input(1);
    KILN_RETURN_IF_ERROR(requireFixedSizeDtype(data, "input 0 'data'"));
    KILN_CHECK_ARG(data.rank() >= 1, "input 0 'data' must have rank >= 1, got a scalar");
    GatherPlan plan;
    KILN_ASSIGN_OR_RETURN(plan.axis, normalizeAxis(ctx.attrs().getInt("axis", 0), data.rank()));
    KILN_RETURN_IF_ERROR(checkIndexDtype(indices, "input 1 'indices'"));
    const Shape& ds = data.shape();
    plan.outShape.assign(ds.begin(), ds.begin() + plan.axis);
    plan.outShape.insert(plan.outShape.end(), indices.shape().begin(), indices.shape().end());
    plan.outShape.insert(plan.outShape.end(), ds.begin() + plan.axis + 1, ds.end());
    return plan;
}

Result<int64_t> planGatherElements(const KernelContext& ctx) {
    KILN_RETURN_IF_ERROR(ctx.requireInputs(2, 2));
    const Tensor& data = ctx.input(0);
    const Tensor& indices = ctx.input(1);
    KILN_RETURN_IF_ERROR(requireFixedSizeDtype(data, "input 0 'data'"));
    KILN_CHECK_ARG(data.rank() >= 1, "input 0 'data' must have rank >= 1, got a scalar");
    KILN_CHECK_ARG(indices.rank() == data.rank(), "input 1 'indices' rank " + std::to_string(indices.rank()) +
                                                      " differs from data rank " + std::to_string(data.rank()));
    KILN_ASSIGN_OR_RETURN(int64_t axis, normalizeAxis(ctx.attrs().getInt("axis", 0), data.rank()));
    KILN_RETURN_IF_ERROR(checkIndexDtype(indices, "input 1 'indices'"));
    KILN_RETURN_IF_ERROR(checkElementsShape(data.shape(), indices.shape(), axis));
    return axis;
}

Result<GatherNDPlan> planGatherND(const KernelContext& ctx) {
    KILN_RETURN_IF_ERROR(ctx.requireInputs(2, 2));
    const Tensor& data = ctx.input(0);
    const Tensor& indices = ctx.input(1);
    KILN_RETURN_IF_ERROR(requireFixedSizeDtype(data, "input 0 'data'"));
    const int64_t r = data.rank();
    const int64_t q = indices.rank();
    const int64_t b = ctx.attrs().getInt("batch_dims", 0);
    KILN_CHECK_ARG(r >= 1 && q >= 1, "inputs 'data' and 'indices' must have rank >= 1, got shapes " +
                                         shapeToString(data.shape()) + " and " + shapeToString(indices.shape()));
    KILN_CHECK_ARG(b >= 0 && b < std::min(q, r),
                   "attribute 'batch_dims' " + std::to_string(b) + " must be in [0, min(data rank, indices rank))");
    const int64_t k = indices.dim(-1);
    KILN_CHECK_ARG(k >= 1 && k <= r - b, "last dim of input 1 'indices' (" + std::to_string(k) +
                                             ") must be in [1, data rank - batch_dims] = [1, " + std::to_string(r - b) +
                                             "]");
    for (int64_t d = 0; d < b; ++d) {
        KILN_CHECK_ARG(indices.dim(d) == data.dim(d), "batch dim " + std::to_string(d) + " of 'indices' shape " +
                                                          shapeToString(indices.shape()) +
                                                          " differs from 'data' shape " + shapeToString(data.shape()));
    }
    KILN_RETURN_IF_ERROR(checkIndexDtype(indices, "input 1 'indices'"));
    GatherNDPlan plan{b, k, Shape(indices.shape().begin(), indices.shape().end() - 1)};
    plan.outShape.insert(plan.outShape.end(), data.shape().begin() + b + k, data.shape().end());
    return plan;
}

Result<ScatterElementsPlan> planScatterElements(const KernelContext& ctx) {
    ScatterElementsPlan plan;
    if (ctx.node.op() == ir::OpKind::kScatterElements) {
        KILN_ASSIGN_OR_RETURN(plan.reduction, parseReduction(ctx));
    }
    KILN_RETURN_IF_ERROR(ctx.requireInputs(3, 3));
    const Tensor& data = ctx.input(0);
    const Tensor& indices = ctx.input(1);
    const Tensor& updates = ctx.input(2);
    KILN_RETURN_IF_ERROR(requireFixedSizeDtype(data, "input 0 'data'"));
    KILN_CHECK_ARG(data.rank() >= 1, "input 0 'data' must have rank >= 1, got a scalar");
    KILN_CHECK_ARG(updates.dtype() == data.dtype(), std::string("input 2 'updates' dtype ") +
                                                        dataTypeName(updates.dtype()) + " differs from data dtype " +
                                                        dataTypeName(data.dtype()));
    KILN_CHECK_ARG(indices.rank() == data.rank(), "input 1 'indices' rank " + std::to_string(indices.rank()) +
                                                      " differs from data rank " + std::to_string(data.rank()));
    KILN_CHECK_ARG(updates.shape() == indices.shape(), "input 2 'updates' shape " + shapeToString(updates.shape()) +
                                                           " differs from indices shape " +
                                                           shapeToString(indices.shape()));
    KILN_ASSIGN_OR_RETURN(plan.axis, normalizeAxis(ctx.attrs().getInt("axis", 0), data.rank()));
    KILN_RETURN_IF_ERROR(checkIndexDtype(indices, "input 1 'indices'"));
    KILN_RETURN_IF_ERROR(checkElementsShape(data.shape(), indices.shape(), plan.axis));
    return plan;
}

Result<ScatterNDPlan> planScatterND(const KernelContext& ctx) {
    KILN_RETURN_IF_ERROR(ctx.requireInputs(3, 3));
    const Tensor& data = ctx.input(0);
    const Tensor& indices = ctx.input(1);
    const Tensor& updates = ctx.input(2);
    KILN_RETURN_IF_ERROR(requireFixedSizeDtype(data, "input 0 'data'"));
    ScatterNDPlan plan;
    KILN_ASSIGN_OR_RETURN(plan.reduction, parseReduction(ctx));
    KILN_CHECK_ARG(updates.dtype() == data.dtype(), std::string("input 2 'updates' dtype ") +
                                                        dataTypeName(updates.dtype()) + " differs from data dtype " +
                                                        dataTypeName(data.dtype()));
    KILN_CHECK_ARG(data.rank() >= 1 && indices.rank() >= 1,
                   "inputs 'data' and 'indices' must have rank >= 1, got shapes " + shapeToString(data.shape()) +
                       " and " + shapeToString(indices.shape()));
    plan.k = indices.dim(-1);
    KILN_CHECK_ARG(plan.k >= 1 && plan.k <= data.rank(), "last dim of input 1 'indices' (" + std::to_string(plan.k) +
                                                             ") must be in [1, data rank " +
                                                             std::to_string(data.rank()) + "]");
    Shape expected(indices.shape().begin(), indices.shape().end() - 1);
    expected.insert(expected.end(), data.shape().begin() + plan.k, data.shape().end());
    KILN_CHECK_ARG(updates.shape() == expected,
                   "input 2 'updates' shape " + shapeToString(updates.shape()) + " must be " + shapeToString(expected));
    KILN_RETURN_IF_ERROR(checkIndexDtype(indices, "input 1 'indices'"));
    return plan;
}

Result<OneHotPlan> planOneHot(const KernelContext& ctx) {
    KILN_RETURN_IF_ERROR(ctx.requireInputs(3, 3));
    const Tensor& indices = ctx.input(0);
    const Tensor& depthT = ctx.input(1);
    const Tensor& values = ctx.input(2);
    KILN_CHECK_ARG(isInteger(indices.dtype()) || isFloatingPoint(indices.dtype()),
                   std::string("input 0 'indices' must be numeric, got ") + dataTypeName(indices.dtype()));
    KILN_CHECK_ARG(isInteger(depthT.dtype()) || isFloatingPoint(depthT.dtype()),
                   std::string("input 1 'depth' must be numeric, got ") + dataTypeName(depthT.dtype()));
    KILN_CHECK_ARG(depthT.numel() == 1 && depthT.rank() <= 1,
                   "input 1 'depth' must be a scalar or 1-element tensor, got shape " + shapeToString(depthT.shape()));
    KILN_RETURN_IF_ERROR(requireFixedSizeDtype(values, "input 2 'values'"));
    KILN_CHECK_ARG(values.numel() == 2 && values.rank() == 1,
                   "input 2 'values' must have shape 2 ([off, on]), got " + shapeToString(values.shape()));
    const double depthValue = depthT.getDouble(0);
    KILN_CHECK_ARG(std::isfinite(depthValue) && depthValue >= 0 && depthValue < 9.0e15,
                   "input 1 'depth' must be a non-negative finite value, got " + std::to_string(depthValue));
    OneHotPlan plan;
    plan.depth = static_cast<int64_t>(depthValue);
    KILN_ASSIGN_OR_RETURN(plan.axis, normalizeAxis(ctx.attrs().getInt("axis", -1), indices.rank() + 1));
    plan.outShape = indices.shape();
    plan.outShape.insert(plan.outShape.begin() + plan.axis, plan.depth);
    return plan;
}

}  // namespace kiln::cpu
