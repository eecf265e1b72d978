// ONNX Gelu (opset 20; also what src/passes/gelu_fusion.cpp makes of the exporters' Erf / Tanh chains) on the GPU:
// Kiln's fused-epilogue kernel with the activation and no bias, reading X and writing Y in one pass. A Gelu that
// follows a MatMul/Gemm/Conv is normally absorbed into it (bias-activation-fusion) and never runs alone.
#include <string>

#include "backends/cuda/check.h"
#include "backends/cuda/kernels/conv_gemm_epilogue.h"
#include "backends/cuda/kernels/families.h"

namespace kiln::cuda {

namespace {

Status gelu(CudaKernelContext& ctx) {
    KILN_RETURN_IF_ERROR(ctx.requireInputs(1, 1));
    const DeviceTensor& x = ctx.input(0);
    const std::string approximate = ctx.attrs().getString("approximate", "none");
    if (approximate != "none" && approximate != "tanh") {
        return invalidArgument("attribute 'approximate' must be \"none\" or \"tanh\", got \"" + approximate + "\"");
    }
    if (!isFloatingPoint(x.dtype)) {
        return unsupported(std::string("dtype ") + dataTypeName(x.dtype) + " is not supported by Gelu");
    }
    KILN_ASSIGN_OR_RETURN(DeviceTensor * y, ctx.allocateOutput(0, x.dtype, x.shape));
    EpilogueArgs e;
    e.x = x.data;
    e.y = y->data;
    e.count = x.numel();
    e.act.kind = approximate == "tanh" ? EpilogueAct::kGeluTanh : EpilogueAct::kGelu;
    KILN_CUDA_CHECK(launchEpilogue(x.dtype, e, ctx.stream()));
    return Status::ok();
}

}  // namespace

void registerGeluKernels(KernelRegistry& r) { r.add(ir::OpKind::kGelu, gelu); }

}  // namespace kiln::cuda
