// Conv, ConvTranspose and Kiln's FusedConv on the GPU.
//
// The convolution itself is cuDNN's (conv_cudnn.cpp): Conv through cudnnConvolutionForward, ConvTranspose through
// cudnnConvolutionBackwardData (its adjoint). cuDNN's legacy API pads symmetrically only, so
//   - a Conv with asymmetric pads (auto_pad SAME_* with an odd total, or explicit pads) pads by min(begin, end) in
//     cuDNN and copies the input with the remaining zero border into workspace first;
//   - a ConvTranspose whose output is not exactly cuDNN's (asymmetric pads, output_padding, output_shape) runs
//     into a workspace buffer with a smaller symmetric pad and is then cropped / zero-extended into the output.
// float64, empty channel counts, problems beyond cuDNN's 32-bit dims, and any problem cuDNN refuses run Kiln's
// direct kernels (conv.cu): correct everywhere, fast nowhere. Bias, FusedConv's residual and its activation are
// one epilogue pass (conv_gemm_epilogue.cu). Layout is NCHW as in the graph; the channels-last forms the layout
// pass makes for FP16/BF16 engines (conv_nhwc.cpp) also use cuDNN's fused bias + residual + ReLU call.
#include <algorithm>
#include <climits>

#include "backends/cpu/nn_common.h"
#include "backends/cuda/check.h"
#include "backends/cuda/kernels/conv.h"
#include "backends/cuda/kernels/conv_cudnn.h"
#include "backends/cuda/kernels/conv_gemm_common.h"
#include "backends/cuda/kernels/conv_shape.h"
#include "backends/cuda/kernels/families.h"

namespace kiln::cuda {

namespace {

namespace nn = cpu::nn;

// The geometry (and messages) are the CPU reference's, computed on data-less views of the inputs.
Result<ConvShape> convShape(const CudaKernelContext& ctx) {
    const DeviceTensor& x = ctx.input(0);
    const DeviceTensor& w = ctx.input(1);
    if (w.dtype != x.dtype) {
        return invalidArgument("input 'W' " + shapeView(w).describe() + " must have the dtype of input 'X' " +
                               shapeView(x).describe());
    }
    KILN_ASSIGN_OR_RETURN(nn::ConvGeometry geo, nn::convGeometry(ctx.attrs(), shapeView(x), shapeView(w)));
    return convShapeFrom(x.dtype, geo);
}

Result<ConvShape> convTransposeShape(const CudaKernelContext& ctx) {
    const DeviceTensor& x = ctx.input(0);
    KILN_ASSIGN_OR_RETURN(nn::ConvTransposeGeometry geo,
                          nn::convTransposeGeometry(ctx.attrs(), shapeView(x), shapeView(ctx.input(1))));
    return convShapeFrom(x.dtype, geo);
}

Status convForwardCudnn(CudaKernelContext& ctx, const ConvShape& s, const DeviceTensor& x, const DeviceTensor& w,
                        DeviceTensor& y) {
    const SymmetricPads pads = planSymmetricPads(s);
    KILN_ASSIGN_OR_RETURN(CudnnConvProblem p, cudnnProblem(s, s.inC, s.outC, pads.padded, s.win.out, pads.sym));
    const void* src = x.data;
    size_t used = 0;
    if (pads.explicitBorder) {
        KILN_ASSIGN_OR_RETURN(void* buf, borderedInputBuffer(ctx, s, pads, used));
        KILN_CUDA_CHECK(
            launchShiftCopy(s.dtype, x.data, s.batch * s.inC, s.win.in, pads.border, pads.padded, buf, ctx.stream()));
        src = buf;
    }
    return cudnnConvForward(ctx, p, src, w.data, y.data, workspaceBudget(ctx, used, SIZE_MAX));
}

Status convTransposeCudnn(CudaKernelContext& ctx, const ConvShape& s, const DeviceTensor& x, const DeviceTensor& w,
                          DeviceTensor& y) {
    const TransposedConvPlan plan = planTransposedConv(s);
    if (plan.exact) {
        KILN_ASSIGN_OR_RETURN(CudnnConvProblem p, cudnnProblem(s, s.outC, s.inC, s.win.out, s.win.in, s.win.padBegin));
        return cudnnConvBackwardData(ctx, p, x.data, w.data, y.data, workspaceBudget(ctx, 0, SIZE_MAX));
    }
    KILN_ASSIGN_OR_RETURN(CudnnConvProblem p, cudnnProblem(s, s.outC, s.inC, plan.full, s.win.in, plan.pad));
    const int64_t count = s.batch * s.outC * convSpatialProduct(plan.full);
    KILN_ASSIGN_OR_RETURN(void* buf, scratchBuffer(ctx, s.dtype, count));
    const size_t used = static_cast<size_t>(count) * dataTypeSize(s.dtype);
    KILN_RETURN_IF_ERROR(cudnnConvBackwardData(ctx, p, x.data, w.data, buf, workspaceBudget(ctx, used, SIZE_MAX)));
    KILN_CUDA_CHECK(
        launchShiftCopy(s.dtype, buf, s.batch * s.outC, plan.full, plan.shift, s.win.out, y.data, ctx.stream()));
    return Status::ok();
}

//! y = Conv or ConvTranspose of x and w (no bias): cuDNN where it can, else the direct kernel.
Status convolve(CudaKernelContext& ctx, const ConvShape& s, bool transposed, const DeviceTensor& x,
                const DeviceTensor& w, DeviceTensor& y) {
    if (y.numel() == 0) return Status::ok();
    if (s.dtype != DataType::kFloat64 && x.numel() > 0 && w.numel() > 0) {
        Status st = transposed ? convTransposeCudnn(ctx, s, x, w, y) : convForwardCudnn(ctx, s, x, w, y);
        if (st.code() != ErrorCode::kUnsupported) return st;
    }
    KILN_CUDA_CHECK(launchDirectConv(s.dtype, transposed, x.data, w.data, y.data, s.batch, s.inC, s.outC, s.group,
                                     s.win, ctx.stream()));
    return Status::ok();
}

//! Conv (fused = false) and FusedConv: X, W, optional B, then FusedConv's optional residual Z.
Status convKernel(CudaKernelContext& ctx, bool fused) {
    KILN_RETURN_IF_ERROR(ctx.requireInputs(2, fused ? 4 : 3));
    KILN_ASSIGN_OR_RETURN(ConvShape s, convShape(ctx));
    const DeviceTensor* bias = optionalInput(ctx, 2);
    KILN_RETURN_IF_ERROR(checkConvBias(bias, s.outC, s.dtype));
    KILN_RETURN_IF_ERROR(checkConvFloat(s.dtype, fused ? "FusedConv" : "Conv"));
    EpilogueActivation act;
    const DeviceTensor* z = nullptr;
    if (fused) {
        KILN_ASSIGN_OR_RETURN(act, parseFusedActivation(ctx.attrs()));
        z = optionalInput(ctx, 3);
        if (z && (z->dtype != s.dtype || z->shape != s.outShape)) {
            return invalidArgument("residual input 'Z' " + shapeView(*z).describe() + " must match the output " +
                                   shapeView(DeviceTensor{s.dtype, s.outShape, nullptr, nullptr}).describe());
        }
    }
    KILN_ASSIGN_OR_RETURN(DeviceTensor * y, ctx.allocateOutput(0, s.dtype, s.outShape));
    KILN_RETURN_IF_ERROR(convolve(ctx, s, false, ctx.input(0), ctx.input(1), *y));
    return runEpilogue(ctx, *y, bias, convSpatialProduct(s.win.out), z, act);
}

Status conv(CudaKernelContext& ctx) { return convKernel(ctx, false); }
Status fusedConv(CudaKernelContext& ctx) { return convKernel(ctx, true); }

Status convTranspose(CudaKernelContext& ctx) {
    KILN_RETURN_IF_ERROR(ctx.requireInputs(2, 3));
    KILN_ASSIGN_OR_RETURN(ConvShape s, convTransposeShape(ctx));
    const DeviceTensor* bias = optionalInput(ctx, 2);
    KILN_RETURN_IF_ERROR(checkConvBias(bias, s.outC, s.dtype));
    KILN_RETURN_IF_ERROR(checkConvFloat(s.dtype, "ConvTranspose"));
    KILN_ASSIGN_OR_RETURN(DeviceTensor * y, ctx.allocateOutput(0, s.dtype, s.outShape));
    KILN_RETURN_IF_ERROR(convolve(ctx, s, true, ctx.input(0), ctx.input(1), *y));
    return runEpilogue(ctx, *y, bias, convSpatialProduct(s.win.out), nullptr, EpilogueActivation{});
}

}  // namespace

void registerConvKernels(KernelRegistry& r) {
    r.add(ir::OpKind::kConv, conv);
    r.add(ir::OpKind::kConvTranspose, convTranspose);
    r.add(ir::OpKind::kFusedConv, fusedConv);
}

}  // namespace kiln::cuda
