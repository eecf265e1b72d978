// Host side of the broadcasting elementwise ops on the GPU: binary arithmetic, comparisons and logic, Pow, PRelu,
// the variadic Sum/Mean/Max/Min, Where, Cast and CastLike. Shapes come from the CPU reference's helpers
// (cpu::broadcastShapes, ew::legacyBroadcastShape) so both backends accept and reject the same inputs with the
// same messages; the kernels are in elementwise_binary.cu, _compare.cu, _variadic.cu and _cast.cu.
#include <string>

#include "backends/cpu/broadcast.h"
#include "backends/cpu/elementwise_ops.h"
#include "backends/cuda/kernels/elementwise.h"
#include "backends/cuda/kernels/elementwise_registry.h"

namespace kiln::cuda {

namespace {

//! Shape of input 1 as the binary op sees it (opsets < 7 with broadcast=1 align it at `axis`).
Result<Shape> legacyShapeOfB(const CudaKernelContext& ctx, const DeviceTensor& a, const DeviceTensor& b) {
    const cpu::KernelContext ref{ctx.node, {}, {}, {}};
    const Tensor aView = Tensor::wrap(a.dtype, a.shape, nullptr);
    const Tensor bView = Tensor::wrap(b.dtype, b.shape, nullptr);
    return cpu::ew::legacyBroadcastShape(ref, aView, bView);
}

Status binary(CudaKernelContext& ctx, BinaryOp op) {
    KILN_RETURN_IF_ERROR(ctx.requireInputs(2, 2));
    const DeviceTensor& a = ctx.input(0);
    const DeviceTensor& b = ctx.input(1);
    if (a.dtype != b.dtype) {
        return invalidArgument(std::string("inputs 'A' and 'B' must have the same dtype, got ") +
                               dataTypeName(a.dtype) + " and " + dataTypeName(b.dtype));
    }
    KILN_ASSIGN_OR_RETURN(Shape bShape, legacyShapeOfB(ctx, a, b));
    KILN_RETURN_IF_ERROR(checkDtype(a.dtype, binaryDtypes(op)));
    KILN_ASSIGN_OR_RETURN(Shape shape, cpu::broadcastShapes({a.shape, bShape}));
    const DataType outType = binaryHasBoolOutput(op) ? DataType::kBool : a.dtype;
    KILN_ASSIGN_OR_RETURN(DeviceTensor * y, ctx.allocateOutput(0, outType, shape));
    return launchBinary(op, a.dtype, a.data, a.shape, b.data, bShape, y->data, shape, ctx.stream());
}

template <BinaryOp kOp>
Status binaryKernel(CudaKernelContext& ctx) {
    return binary(ctx, kOp);
}

Status modKernel(CudaKernelContext& ctx) {
    const bool cMod = ctx.attrs().getInt("fmod", 0) != 0;
    KILN_RETURN_IF_ERROR(ctx.requireInputs(2, 2));
    if (!cMod && isFloatingPoint(ctx.input(0).dtype)) {
        return invalidArgument(std::string("attribute 'fmod' must be 1 for floating-point inputs, got ") +
                               dataTypeName(ctx.input(0).dtype) + " with fmod=0");
    }
    return binary(ctx, cMod ? BinaryOp::kFmod : BinaryOp::kMod);
}

Status bitShiftKernel(CudaKernelContext& ctx) {
    const std::string direction = ctx.attrs().getString("direction");
    if (direction != "LEFT" && direction != "RIGHT") {
        return invalidArgument("attribute 'direction' must be \"LEFT\" or \"RIGHT\", got \"" + direction + "\"");
    }
    return binary(ctx, direction == "LEFT" ? BinaryOp::kBitShiftLeft : BinaryOp::kBitShiftRight);
}

Status powKernel(CudaKernelContext& ctx) {
    KILN_RETURN_IF_ERROR(ctx.requireInputs(2, 2));
    const DeviceTensor& x = ctx.input(0);
    const DeviceTensor& e = ctx.input(1);
    KILN_ASSIGN_OR_RETURN(Shape eShape, legacyShapeOfB(ctx, x, e));
    KILN_RETURN_IF_ERROR(checkDtype(x.dtype, dtypes::kNumeric, "Pow input 0 'X'"));
    KILN_RETURN_IF_ERROR(checkDtype(e.dtype, dtypes::kNumeric, "Pow input 1 'Y'"));
    KILN_ASSIGN_OR_RETURN(Shape shape, cpu::broadcastShapes({x.shape, eShape}));
    KILN_ASSIGN_OR_RETURN(DeviceTensor * y, ctx.allocateOutput(0, x.dtype, shape));
    return launchPow(x.dtype, x.data, x.shape, e.dtype, e.data, eShape, y->data, shape, ctx.stream());
}

Status preluKernel(CudaKernelContext& ctx) {
    KILN_RETURN_IF_ERROR(ctx.requireInputs(2, 2));
    const DeviceTensor& x = ctx.input(0);
    const DeviceTensor& slope = ctx.input(1);
    if (x.dtype != slope.dtype) {
        return invalidArgument(std::string("input 1 'slope' must have X's dtype ") + dataTypeName(x.dtype) + ", got " +
                               dataTypeName(slope.dtype));
    }
    // Opsets < 7 had a slope matching X's dims from axis 1 on (e.g. [C] for NCHW X: one slope per channel).
    Shape slopeShape = slope.shape;
    if (ctx.opset() < 7 && slope.rank() == 1 && x.rank() >= 2 && slope.shape[0] == x.shape[1] && slope.shape[0] != 1) {
        slopeShape.resize(static_cast<size_t>(x.rank() - 1), 1);
    }
    KILN_ASSIGN_OR_RETURN(Shape shape, cpu::broadcastShapes({x.shape, slopeShape}));
    if (shape != x.shape) {
        return invalidArgument("input 1 'slope' " + shapeToString(slope.shape) +
                               " does not broadcast unidirectionally to input 0 'X' " + shapeToString(x.shape));
    }
    KILN_RETURN_IF_ERROR(checkDtype(x.dtype, binaryDtypes(BinaryOp::kPRelu)));
    KILN_ASSIGN_OR_RETURN(DeviceTensor * y, ctx.allocateOutput(0, x.dtype, shape));
    return launchBinary(BinaryOp::kPRelu, x.dtype, x.data, x.shape, slope.data, slopeShape, y->data, shape,
                        ctx.stream());
}

template <VariadicOp kOp>
Status variadicKernel(CudaKernelContext& ctx) {
    KILN_RETURN_IF_ERROR(ctx.requireInputs(1));
    std::vector<Shape> shapes;
    std::vector<const void*> data;
    for (size_t i = 0; i < ctx.numInputs(); ++i) {
        if (!ctx.hasInput(i)) return invalidArgument("input " + std::to_string(i) + " is missing");
        if (ctx.input(i).dtype != ctx.input(0).dtype) {
            return invalidArgument("input " + std::to_string(i) + " has dtype " + dataTypeName(ctx.input(i).dtype) +
                                   ", expected " + dataTypeName(ctx.input(0).dtype) + " like input 0");
        }
        shapes.push_back(ctx.input(i).shape);
        data.push_back(ctx.input(i).data);
    }
    KILN_ASSIGN_OR_RETURN(Shape shape, cpu::broadcastShapes(shapes));
    const DataType dtype = ctx.input(0).dtype;
    KILN_RETURN_IF_ERROR(checkDtype(dtype, variadicDtypes(kOp)));
    KILN_ASSIGN_OR_RETURN(DeviceTensor * y, ctx.allocateOutput(0, dtype, shape));
    KILN_ASSIGN_OR_RETURN(void* workspace, ctx.workspace(variadicWorkspaceBytes(dtype, data.size(), y->numel())));
    return launchVariadic(kOp, dtype, data, shapes, y->data, shape, workspace, ctx.stream());
}

Status whereKernel(CudaKernelContext& ctx) {
    KILN_RETURN_IF_ERROR(ctx.requireInputs(3, 3));
    const DeviceTensor& cond = ctx.input(0);
    const DeviceTensor& x = ctx.input(1);
    const DeviceTensor& y = ctx.input(2);
    if (cond.dtype != DataType::kBool) {
        return invalidArgument(std::string("input 0 'condition' must be bool, got ") + dataTypeName(cond.dtype));
    }
    if (x.dtype != y.dtype) {
        return invalidArgument(std::string("inputs 1 'X' and 2 'Y' must have the same dtype, got ") +
                               dataTypeName(x.dtype) + " and " + dataTypeName(y.dtype));
    }
    if (x.dtype == DataType::kUndefined) return invalidArgument("input 1 'X' has no dtype");
    KILN_ASSIGN_OR_RETURN(Shape shape, cpu::broadcastShapes({cond.shape, x.shape, y.shape}));
    KILN_ASSIGN_OR_RETURN(DeviceTensor * out, ctx.allocateOutput(0, x.dtype, shape));
    return launchWhere(dataTypeSize(x.dtype), cond.as<bool>(), cond.shape, x.data, x.shape, y.data, y.shape, out->data,
                       shape, ctx.stream());
}

//! Same dtype: the output is a view of the input (the CPU shares the buffer too).
Status castTo(CudaKernelContext& ctx, const DeviceTensor& x, DataType to) {
    if (x.dtype == to) return ctx.aliasOutput(0, x, x.shape);
    KILN_RETURN_IF_ERROR(checkDtype(x.dtype, dtypes::kAll, "Cast (input 0)"));
    KILN_RETURN_IF_ERROR(checkDtype(to, dtypes::kAll, "Cast (target type)"));
    KILN_ASSIGN_OR_RETURN(DeviceTensor * y, ctx.allocateOutput(0, to, x.shape));
    return launchCast(x.dtype, to, x.data, y->data, x.numel(), ctx.stream());
}

Status castKernel(CudaKernelContext& ctx) {
    KILN_RETURN_IF_ERROR(ctx.requireInputs(1, 1));
    if (!ctx.attrs().has("to")) return invalidArgument("attribute 'to' is required");
    const int64_t to = ctx.attrs().getInt("to", 0);
    if (to == static_cast<int64_t>(DataType::kString)) {
        return unsupported("Cast to string has no CUDA kernel (string tensors live on the host)");
    }
    // dataTypeSize is 0 exactly for values that are not Kiln dtypes (and for string), as in the CPU kernel.
    if (to > 0 && to <= 16 && dataTypeSize(static_cast<DataType>(to)) != 0) {
        return castTo(ctx, ctx.input(0), static_cast<DataType>(to));
    }
    if (to >= 14 && to <= 20 && to != 16) {
        return unsupported("attribute 'to' = " + std::to_string(to) + " (complex or float8) is not supported");
    }
    return invalidArgument("attribute 'to' = " + std::to_string(to) + " is not a tensor element type");
}

Status castLikeKernel(CudaKernelContext& ctx) {
    KILN_RETURN_IF_ERROR(ctx.requireInputs(2, 2));
    return castTo(ctx, ctx.input(0), ctx.input(1).dtype);
}

}  // namespace

void registerElementwiseBroadcastKernels(KernelRegistry& r) {
    using ir::OpKind;
    r.add(OpKind::kAdd, binaryKernel<BinaryOp::kAdd>);
    r.add(OpKind::kSub, binaryKernel<BinaryOp::kSub>);
    r.add(OpKind::kMul, binaryKernel<BinaryOp::kMul>);
    r.add(OpKind::kDiv, binaryKernel<BinaryOp::kDiv>);
    r.add(OpKind::kMod, modKernel);
    r.add(OpKind::kBitShift, bitShiftKernel);
    r.add(OpKind::kPow, powKernel);
    r.add(OpKind::kPRelu, preluKernel);
    r.add(OpKind::kAnd, binaryKernel<BinaryOp::kAnd>);
    r.add(OpKind::kOr, binaryKernel<BinaryOp::kOr>);
    r.add(OpKind::kXor, binaryKernel<BinaryOp::kXor>);
    r.add(OpKind::kEqual, binaryKernel<BinaryOp::kEqual>);
    r.add(OpKind::kLess, binaryKernel<BinaryOp::kLess>);
    r.add(OpKind::kLessOrEqual, binaryKernel<BinaryOp::kLessOrEqual>);
    r.add(OpKind::kGreater, binaryKernel<BinaryOp::kGreater>);
    r.add(OpKind::kGreaterOrEqual, binaryKernel<BinaryOp::kGreaterOrEqual>);
    r.add(OpKind::kSum, variadicKernel<VariadicOp::kSum>);
    r.add(OpKind::kMean, variadicKernel<VariadicOp::kMean>);
    r.add(OpKind::kMax, variadicKernel<VariadicOp::kMax>);
    r.add(OpKind::kMin, variadicKernel<VariadicOp::kMin>);
    r.add(OpKind::kWhere, whereKernel);
    r.add(OpKind::kCast, castKernel);
    r.add(OpKind::kCastLike, castLikeKernel);
}

}  // namespace kiln::cuda
