// Host side of the one-input elementwise ops on the GPU: unary math, activations, Clip and Dropout. Validation,
// attribute defaults and error messages follow the CPU reference (backends/cpu/kernels/elementwise_unary.cpp,
// activation.cpp, tensor.cpp's Dropout); the kernels are in elementwise_unary.cu and elementwise_activation.cu.
#include <string>

#include "backends/cpu/nn_common.h"
#include "backends/cuda/kernels/elementwise.h"
#include "backends/cuda/kernels/elementwise_registry.h"

namespace kiln::cuda {

namespace {

template <UnaryOp kOp>
Status unaryKernel(CudaKernelContext& ctx) {
    KILN_RETURN_IF_ERROR(ctx.requireInputs(1, 1));
    const DeviceTensor& x = ctx.input(0);
    KILN_RETURN_IF_ERROR(checkDtype(x.dtype, unaryDtypes(kOp)));
    UnaryParams params;
    constexpr bool kPredicate = kOp == UnaryOp::kIsNaN || kOp == UnaryOp::kIsInf;
    if constexpr (kOp == UnaryOp::kIsInf) {
        params.detectNegative = ctx.attrs().getInt("detect_negative", 1) != 0;
        params.detectPositive = ctx.attrs().getInt("detect_positive", 1) != 0;
    }
    KILN_ASSIGN_OR_RETURN(DeviceTensor * y, ctx.allocateOutput(0, kPredicate ? DataType::kBool : x.dtype, x.shape));
    return launchUnary(kOp, x.dtype, x.data, y->data, x.numel(), params, ctx.stream());
}

//! The attributes of each activation, with the CPU reference's (and ONNX's) defaults.
Result<ActivationParams> activationParams(ActivationOp op, const ir::Attributes& attrs) {
    ActivationParams p;
    switch (op) {
        case ActivationOp::kLeakyRelu: p.alpha = attrs.getFloat("alpha", 0.01f); break;
        case ActivationOp::kElu:
        case ActivationOp::kThresholdedRelu: p.alpha = attrs.getFloat("alpha", 1.0f); break;
        case ActivationOp::kSelu:
            p.alpha = attrs.getFloat("alpha", 1.67326319217681884765625f);
            p.gamma = attrs.getFloat("gamma", 1.05070102214813232421875f);
            break;
        case ActivationOp::kCelu:
            p.alpha = attrs.getFloat("alpha", 1.0f);
            if (p.alpha == 0.0f) return invalidArgument("attribute 'alpha' must not be 0");
            break;
        case ActivationOp::kHardSigmoid:
            p.alpha = attrs.getFloat("alpha", 0.2f);
            p.beta = attrs.getFloat("beta", 0.5f);
            break;
        case ActivationOp::kShrink:
            p.lambd = attrs.getFloat("lambd", 0.5f);
            p.bias = attrs.getFloat("bias", 0.0f);
            break;
        default: break;
    }
    return p;
}

template <ActivationOp kOp>
Status activationKernel(CudaKernelContext& ctx) {
    KILN_ASSIGN_OR_RETURN(ActivationParams params, activationParams(kOp, ctx.attrs()));
    KILN_RETURN_IF_ERROR(ctx.requireInputs(1, 1));
    const DeviceTensor& x = ctx.input(0);
    KILN_RETURN_IF_ERROR(checkDtype(x.dtype, activationDtypes(kOp)));
    KILN_ASSIGN_OR_RETURN(DeviceTensor * y, ctx.allocateOutput(0, x.dtype, x.shape));
    return launchActivation(kOp, x.dtype, x.data, y->data, x.numel(), params, ctx.stream());
}

//! Clip: min and max (inputs 1 and 2, optional scalars) are read on the host.
Status clipKernel(CudaKernelContext& ctx) {
    KILN_RETURN_IF_ERROR(ctx.requireInputs(1, 3));
    const DeviceTensor& x = ctx.input(0);
    ActivationParams params;
    const char* names[] = {"", "min", "max"};
    for (size_t i = 1; i < 3; ++i) {
        if (!ctx.hasInput(i)) continue;
        const Tensor& bound = ctx.hostInput(i);
        if (bound.dtype() != x.dtype) {
            return invalidArgument("input " + std::to_string(i) + " '" + names[i] + "' must have X's dtype " +
                                   dataTypeName(x.dtype) + ", got " + dataTypeName(bound.dtype()));
        }
        if (bound.numel() != 1) {
            return invalidArgument("input " + std::to_string(i) + " '" + names[i] + "' must be a scalar, got shape " +
                                   shapeToString(bound.shape()));
        }
        (i == 1 ? params.clipMin : params.clipMax) = bound.raw();
    }
    KILN_RETURN_IF_ERROR(checkDtype(x.dtype, activationDtypes(ActivationOp::kClip)));
    KILN_ASSIGN_OR_RETURN(DeviceTensor * y, ctx.allocateOutput(0, x.dtype, x.shape));
    return launchActivation(ActivationOp::kClip, x.dtype, x.data, y->data, x.numel(), params, ctx.stream());
}

//! Dropout in inference: output 0 is a view of the input, the optional mask is all ones. ratio and training_mode
//! (inputs 1 and 2) are read on the host; training with ratio > 0 is random and refused, as by the CPU reference.
Status dropoutKernel(CudaKernelContext& ctx) {
    KILN_RETURN_IF_ERROR(ctx.requireInputs(1, 3));
    const DeviceTensor& x = ctx.input(0);
    KILN_RETURN_IF_ERROR(cpu::nn::checkDropoutIsNoOp(ctx.hasInput(1) ? &ctx.hostInput(1) : nullptr,
                                                     ctx.hasInput(2) ? &ctx.hostInput(2) : nullptr));
    KILN_RETURN_IF_ERROR(ctx.aliasOutput(0, x, x.shape));
    if (!ctx.wantsOutput(1)) return Status::ok();
    // The mask is bool since opset 10; before that it had the input's dtype.
    const DataType maskType = ctx.opset() >= 10 ? DataType::kBool : x.dtype;
    KILN_RETURN_IF_ERROR(checkDtype(maskType, dtypes::kAll));
    KILN_ASSIGN_OR_RETURN(DeviceTensor * mask, ctx.allocateOutput(1, maskType, x.shape));
    return launchFillOne(maskType, mask->data, mask->numel(), ctx.stream());
}

}  // namespace

void registerElementwiseUnaryKernels(KernelRegistry& r) {
    using ir::OpKind;
    r.add(OpKind::kAbs, unaryKernel<UnaryOp::kAbs>);
    r.add(OpKind::kNeg, unaryKernel<UnaryOp::kNeg>);
    r.add(OpKind::kSign, unaryKernel<UnaryOp::kSign>);
    r.add(OpKind::kCeil, unaryKernel<UnaryOp::kCeil>);
    r.add(OpKind::kFloor, unaryKernel<UnaryOp::kFloor>);
    r.add(OpKind::kRound, unaryKernel<UnaryOp::kRound>);
    r.add(OpKind::kReciprocal, unaryKernel<UnaryOp::kReciprocal>);
    r.add(OpKind::kSqrt, unaryKernel<UnaryOp::kSqrt>);
    r.add(OpKind::kExp, unaryKernel<UnaryOp::kExp>);
    r.add(OpKind::kLog, unaryKernel<UnaryOp::kLog>);
    r.add(OpKind::kErf, unaryKernel<UnaryOp::kErf>);
    r.add(OpKind::kSin, unaryKernel<UnaryOp::kSin>);
    r.add(OpKind::kCos, unaryKernel<UnaryOp::kCos>);
    r.add(OpKind::kTan, unaryKernel<UnaryOp::kTan>);
    r.add(OpKind::kAsin, unaryKernel<UnaryOp::kAsin>);
    r.add(OpKind::kAcos, unaryKernel<UnaryOp::kAcos>);
    r.add(OpKind::kAtan, unaryKernel<UnaryOp::kAtan>);
    r.add(OpKind::kSinh, unaryKernel<UnaryOp::kSinh>);
    r.add(OpKind::kCosh, unaryKernel<UnaryOp::kCosh>);
    r.add(OpKind::kAsinh, unaryKernel<UnaryOp::kAsinh>);
    r.add(OpKind::kAcosh, unaryKernel<UnaryOp::kAcosh>);
    r.add(OpKind::kAtanh, unaryKernel<UnaryOp::kAtanh>);
    r.add(OpKind::kNot, unaryKernel<UnaryOp::kNot>);
    r.add(OpKind::kIsNaN, unaryKernel<UnaryOp::kIsNaN>);
    r.add(OpKind::kIsInf, unaryKernel<UnaryOp::kIsInf>);

    r.add(OpKind::kRelu, activationKernel<ActivationOp::kRelu>);
    r.add(OpKind::kLeakyRelu, activationKernel<ActivationOp::kLeakyRelu>);
    r.add(OpKind::kElu, activationKernel<ActivationOp::kElu>);
    r.add(OpKind::kSelu, activationKernel<ActivationOp::kSelu>);
    r.add(OpKind::kCelu, activationKernel<ActivationOp::kCelu>);
    r.add(OpKind::kSigmoid, activationKernel<ActivationOp::kSigmoid>);
    r.add(OpKind::kHardSigmoid, activationKernel<ActivationOp::kHardSigmoid>);
    r.add(OpKind::kHardSwish, activationKernel<ActivationOp::kHardSwish>);
    r.add(OpKind::kTanh, activationKernel<ActivationOp::kTanh>);
    r.add(OpKind::kSoftplus, activationKernel<ActivationOp::kSoftplus>);
    r.add(OpKind::kSoftsign, activationKernel<ActivationOp::kSoftsign>);
    r.add(OpKind::kThresholdedRelu, activationKernel<ActivationOp::kThresholdedRelu>);
    r.add(OpKind::kShrink, activationKernel<ActivationOp::kShrink>);
    r.add(OpKind::kClip, clipKernel, hostMask({1, 2}));
    r.add(OpKind::kDropout, dropoutKernel, hostMask({1, 2}));
}

}  // namespace kiln::cuda
