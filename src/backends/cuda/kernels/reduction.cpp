// The reduction family on the GPU: Reduce*, ArgMax/ArgMin, Softmax/LogSoftmax/Hardmax, CumSum, TopK.
//
// Host side only: validation with the CPU reference's rules and messages (its helpers where they exist), output
// shapes, dtype checks, then one launcher call (reduction.h). Axes, K and CumSum's axis are shape-like inputs
// read on the host.
#include "backends/cuda/kernels/reduction.h"

#include <cstdint>
#include <string>

#include "backends/cpu/indexing.h"
#include "backends/cpu/kernel.h"
#include "backends/cpu/reduce_plan.h"
#include "backends/cuda/check.h"
#include "backends/cuda/kernels/common.h"
#include "backends/cuda/kernels/families.h"
#include "backends/cuda/kernels/reduction_plan.h"

namespace kiln::cuda {

namespace {

//! The CPU's reduceAxes, with input 1 read on the host.
Result<std::vector<int64_t>> reduceAxes(const CudaKernelContext& ctx) {
    return cpu::reduceAxes(ctx.hasInput(1) ? &ctx.hostInput(1) : nullptr, ctx.attrs());
}

Status reduceKernel(CudaKernelContext& ctx, ReduceOp op) {
    KILN_RETURN_IF_ERROR(ctx.requireInputs(1, 2));
    const DeviceTensor& x = ctx.input(0);
    KILN_ASSIGN_OR_RETURN(std::vector<int64_t> axes, reduceAxes(ctx));
    const bool keepdims = ctx.attrs().getInt("keepdims", 1) != 0;
    if (axes.empty() && ctx.attrs().getInt("noop_with_empty_axes", 0) != 0) {
        return ctx.aliasOutput(0, x, x.shape);  // the spec's no-op: the input passes through unchanged
    }
    std::vector<bool> flags(static_cast<size_t>(x.rank()), true);
    if (!axes.empty()) {
        KILN_ASSIGN_OR_RETURN(flags, cpu::axesToFlags(axes, x.rank()));
    }
    KILN_RETURN_IF_ERROR(checkDtype(x.dtype, dtypes::kNumeric));
    KILN_ASSIGN_OR_RETURN(ReduceGeometry g, planReduction(x.shape, flags));
    KILN_ASSIGN_OR_RETURN(DeviceTensor * y, ctx.allocateOutput(0, x.dtype, reducedShape(x.shape, flags, keepdims)));
    if (g.outCount == 0) return Status::ok();
    KILN_ASSIGN_OR_RETURN(void* workspace, ctx.workspace(reduceWorkspaceBytes(op, x.dtype, g)));
    KILN_CUDA_CHECK(launchReduce(op, x.dtype, x.data, y->data, g, workspace, ctx.stream()));
    return Status::ok();
}

Status argKernel(CudaKernelContext& ctx, bool isMax) {
    KILN_RETURN_IF_ERROR(ctx.requireInputs(1, 1));
    const DeviceTensor& x = ctx.input(0);
    const bool keepdims = ctx.attrs().getInt("keepdims", 1) != 0;
    const bool selectLast = ctx.attrs().getInt("select_last_index", 0) != 0;
    // A scalar is treated as a 1-element vector along axis 0.
    const Shape shape = x.rank() == 0 ? Shape{1} : x.shape;
    const auto rank = static_cast<int64_t>(shape.size());
    KILN_ASSIGN_OR_RETURN(int64_t axis, cpu::normalizeAxis(ctx.attrs().getInt("axis", 0), rank));
    if (shape[static_cast<size_t>(axis)] == 0 &&
        cpu::dimProduct(shape, 0, axis) * cpu::dimProduct(shape, axis + 1, rank) != 0) {
        return invalidArgument(std::string("cannot take the arg") + (isMax ? "max" : "min") + " over axis " +
                               std::to_string(axis) + " of size 0 (input shape " + shapeToString(x.shape) + ")");
    }
    KILN_RETURN_IF_ERROR(checkDtype(x.dtype, dtypes::kNumeric));
    std::vector<bool> flags(shape.size(), false);
    flags[static_cast<size_t>(axis)] = true;
    KILN_ASSIGN_OR_RETURN(ReduceGeometry g, planReduction(shape, flags));
    KILN_ASSIGN_OR_RETURN(DeviceTensor * y,
                          ctx.allocateOutput(0, DataType::kInt64, reducedShape(shape, flags, keepdims)));
    KILN_CUDA_CHECK(launchArgReduce(isMax, selectLast, x.dtype, x.data, y->as<int64_t>(), g, ctx.stream()));
    return Status::ok();
}

Status softmaxKernel(CudaKernelContext& ctx, SoftmaxOp op) {
    KILN_RETURN_IF_ERROR(ctx.requireInputs(1, 1));
    const DeviceTensor& x = ctx.input(0);
    const bool legacy = ctx.opset() < 13;
    const int64_t rank = x.rank();
    if (rank == 0) return invalidArgument("input 0 'input' must have rank >= 1, got a scalar");
    KILN_ASSIGN_OR_RETURN(int64_t axis, cpu::normalizeAxis(ctx.attrs().getInt("axis", legacy ? 1 : -1), rank));
    // Before opset 13 the input is a 2-D matrix [prod(dims[:axis]), prod(dims[axis:])] normalized row by row.
    const int64_t outer = cpu::dimProduct(x.shape, 0, axis);
    const int64_t n = legacy ? cpu::dimProduct(x.shape, axis, rank) : x.shape[static_cast<size_t>(axis)];
    const int64_t inner = legacy ? 1 : cpu::dimProduct(x.shape, axis + 1, rank);
    KILN_RETURN_IF_ERROR(checkDtype(x.dtype, dtypes::kFloat));
    KILN_ASSIGN_OR_RETURN(DeviceTensor * y, ctx.allocateOutput(0, x.dtype, x.shape));
    KILN_CUDA_CHECK(launchSoftmax(op, x.dtype, x.data, y->data, outer, n, inner, ctx.stream()));
    return Status::ok();
}

Status cumSumKernel(CudaKernelContext& ctx) {
    KILN_RETURN_IF_ERROR(ctx.requireInputs(2, 2));
    const DeviceTensor& x = ctx.input(0);
    const Tensor& axisTensor = ctx.hostInput(1);
    KILN_CHECK_ARG(x.rank() >= 1, "input 0 'x' must have rank >= 1, got a scalar");
    KILN_CHECK_ARG(axisTensor.dtype() == DataType::kInt32 || axisTensor.dtype() == DataType::kInt64,
                   std::string("input 1 'axis' must be int32 or int64, got ") + dataTypeName(axisTensor.dtype()));
    KILN_ASSIGN_OR_RETURN(int64_t axisValue, cpu::readScalarInt(axisTensor, "input 1 'axis'"));
    KILN_ASSIGN_OR_RETURN(int64_t axis, cpu::normalizeAxis(axisValue, x.rank(), "input 1 'axis'"));
    const bool exclusive = ctx.attrs().getInt("exclusive", 0) != 0;
    const bool reverse = ctx.attrs().getInt("reverse", 0) != 0;
    const int64_t outer = cpu::dimProduct(x.shape, 0, axis);
    const int64_t n = x.shape[static_cast<size_t>(axis)];
    const int64_t inner = cpu::dimProduct(x.shape, axis + 1, x.rank());
    KILN_RETURN_IF_ERROR(checkDtype(x.dtype, dtypes::kNumeric));
    KILN_ASSIGN_OR_RETURN(DeviceTensor * y, ctx.allocateOutput(0, x.dtype, x.shape));
    KILN_CUDA_CHECK(launchCumSum(x.dtype, x.data, y->data, outer, n, inner, exclusive, reverse, ctx.stream()));
    return Status::ok();
}

Status topKKernel(CudaKernelContext& ctx) {
    KILN_RETURN_IF_ERROR(ctx.requireInputs(2, 2));
    const DeviceTensor& x = ctx.input(0);
    const Tensor& kTensor = ctx.hostInput(1);
    KILN_CHECK_ARG(x.rank() >= 1, "input 0 'X' must have rank >= 1, got a scalar");
    KILN_CHECK_ARG(kTensor.dtype() == DataType::kInt64,
                   std::string("input 1 'K' must be int64, got ") + dataTypeName(kTensor.dtype()));
    KILN_ASSIGN_OR_RETURN(int64_t k, cpu::readScalarInt(kTensor, "input 1 'K'"));
    KILN_ASSIGN_OR_RETURN(int64_t axis, cpu::normalizeAxis(ctx.attrs().getInt("axis", -1), x.rank()));
    const bool largest = ctx.attrs().getInt("largest", 1) != 0;
    const int64_t n = x.shape[static_cast<size_t>(axis)];
    KILN_CHECK_ARG(k >= 0 && k <= n, "input 1 'K' = " + std::to_string(k) + " must be in [0, " + std::to_string(n) +
                                         "] (axis " + std::to_string(axis) + " of shape " + shapeToString(x.shape) +
                                         ")");
    KILN_RETURN_IF_ERROR(checkDtype(x.dtype, dtypes::kNumeric));
    if (n > INT32_MAX / 2) {
        return unsupported("TopK over an axis of " + std::to_string(n) +
                           " elements: the CUDA backend sorts rows of at most 2^30 elements");
    }
    Shape outShape = x.shape;
    outShape[static_cast<size_t>(axis)] = k;
    KILN_ASSIGN_OR_RETURN(DeviceTensor * values, ctx.allocateOutput(0, x.dtype, outShape));
    int64_t* indices = nullptr;
    if (ctx.wantsOutput(1)) {
        KILN_ASSIGN_OR_RETURN(DeviceTensor * t, ctx.allocateOutput(1, DataType::kInt64, outShape));
        indices = t->as<int64_t>();
    }
    const int64_t outer = cpu::dimProduct(x.shape, 0, axis);
    const int64_t inner = cpu::dimProduct(x.shape, axis + 1, x.rank());
    // Results are always sorted (sorted=0 leaves the order unspecified, so sorting is a valid answer).
    KILN_ASSIGN_OR_RETURN(void* workspace, ctx.workspace(topKWorkspaceBytes(x.dtype, outer, n, inner)));
    KILN_CUDA_CHECK(
        launchTopK(x.dtype, x.data, values->data, indices, outer, n, inner, k, largest, workspace, ctx.stream()));
    return Status::ok();
}

template <ReduceOp Op>
Status reduceAs(CudaKernelContext& ctx) {
    return reduceKernel(ctx, Op);
}
template <SoftmaxOp Op>
Status softmaxAs(CudaKernelContext& ctx) {
    return softmaxKernel(ctx, Op);
}
Status argMax(CudaKernelContext& ctx) { return argKernel(ctx, true); }
Status argMin(CudaKernelContext& ctx) { return argKernel(ctx, false); }

}  // namespace

void registerReductionKernels(KernelRegistry& r) {
    using ir::OpKind;
    // Every reduction may take its axes as input 1 (opset 13's ReduceSum, opset 18's others).
    const uint32_t axes = hostMask({1});
    r.add(OpKind::kReduceSum, reduceAs<ReduceOp::kSum>, axes);
    r.add(OpKind::kReduceMean, reduceAs<ReduceOp::kMean>, axes);
    r.add(OpKind::kReduceMax, reduceAs<ReduceOp::kMax>, axes);
    r.add(OpKind::kReduceMin, reduceAs<ReduceOp::kMin>, axes);
    r.add(OpKind::kReduceProd, reduceAs<ReduceOp::kProd>, axes);
    r.add(OpKind::kReduceL1, reduceAs<ReduceOp::kL1>, axes);
    r.add(OpKind::kReduceL2, reduceAs<ReduceOp::kL2>, axes);
    r.add(OpKind::kReduceLogSum, reduceAs<ReduceOp::kLogSum>, axes);
    r.add(OpKind::kReduceLogSumExp, reduceAs<ReduceOp::kLogSumExp>, axes);
    r.add(OpKind::kReduceSumSquare, reduceAs<ReduceOp::kSumSquare>, axes);
    r.add(OpKind::kArgMax, argMax);
    r.add(OpKind::kArgMin, argMin);
    r.add(OpKind::kSoftmax, softmaxAs<SoftmaxOp::kSoftmax>);
    r.add(OpKind::kLogSoftmax, softmaxAs<SoftmaxOp::kLogSoftmax>);
    r.add(OpKind::kHardmax, softmaxAs<SoftmaxOp::kHardmax>);
    r.add(OpKind::kCumSum, cumSumKernel, hostMask({1}));
    r.add(OpKind::kTopK, topKKernel, hostMask({1}));
}

}  // namespace kiln::cuda
