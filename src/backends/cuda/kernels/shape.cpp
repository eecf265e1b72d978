// Identity, Reshape, Flatten, Squeeze, Unsqueeze on the GPU: views of their input, no kernel launched. The output
// shape comes from the CPU reference kernel run on a data-less view of the input, so the two backends share one
// implementation of every shape rule (allowzero, -1, negative axes, opset forms) and of its error messages.
#include "backends/cpu/kernel.h"
#include "backends/cuda/kernels/families.h"

namespace kiln::cuda {
namespace {

Status viewKernel(CudaKernelContext& ctx) {
    if (ctx.inputs.empty() || ctx.inputs[0] == nullptr) return invalidArgument("required input 0 is missing");
    const DeviceTensor& x = ctx.input(0);
    const Tensor shapeOnly = Tensor::wrap(x.dtype, x.shape, nullptr);
    cpu::KernelContext ref{ctx.node, {&shapeOnly}, {}, {}};
    for (size_t i = 1; i < ctx.numInputs(); ++i) ref.inputs.push_back(ctx.hostInputs[i]);
    ref.outputs.resize(ctx.numOutputs());
    KILN_RETURN_IF_ERROR(cpu::cpuKernel(ctx.node.op())(ref));
    return ctx.aliasOutput(0, x, ref.outputs[0].shape());
}

}  // namespace

void registerShapeKernels(KernelRegistry& r) {
    r.add(ir::OpKind::kIdentity, viewKernel);
    r.add(ir::OpKind::kReshape, viewKernel, hostMask({1}));
    r.add(ir::OpKind::kFlatten, viewKernel);
    r.add(ir::OpKind::kSqueeze, viewKernel, hostMask({1}));
    r.add(ir::OpKind::kUnsqueeze, viewKernel, hostMask({1}));
}

}  // namespace kiln::cuda
