// kiln Attention on the GPU: the host side. Validation and shapes are the CPU reference's (cpu::planAttention), so
// both backends accept and refuse the same inputs with the same messages.
#include "backends/cuda/kernels/attention.h"

#include "backends/cpu/attention_plan.h"
#include "backends/cuda/check.h"
#include "backends/cuda/kernels/families.h"

namespace kiln::cuda {

namespace {

void copyStrides(const cpu::AttentionStrides& s, int64_t (&out)[3]) {
    out[0] = s.batch;
    out[1] = s.head;
    out[2] = s.seq;
}

Status attentionKernel(CudaKernelContext& ctx) {
    KILN_RETURN_IF_ERROR(ctx.requireInputs(3, 4));
    const DeviceTensor& q = ctx.input(0);
    const DeviceTensor& k = ctx.input(1);
    const DeviceTensor& v = ctx.input(2);
    const DeviceTensor* mask = ctx.hasInput(3) ? &ctx.input(3) : nullptr;
    KILN_RETURN_IF_ERROR(cpu::checkAttentionDtypes(q.dtype, k.dtype, v.dtype, mask ? &mask->dtype : nullptr));
    KILN_ASSIGN_OR_RETURN(cpu::AttentionPlan plan,
                          cpu::planAttention(q.shape, k.shape, v.shape, mask ? &mask->shape : nullptr, ctx.attrs()));
    if (plan.d > kCudaAttentionMaxHeadSize || plan.dv > kCudaAttentionMaxHeadSize) {
        return unsupported("Attention on the GPU takes head sizes up to " + std::to_string(kCudaAttentionMaxHeadSize) +
                           ", got D = " + std::to_string(plan.d) + ", Dv = " + std::to_string(plan.dv));
    }
    KILN_ASSIGN_OR_RETURN(DeviceTensor * y, ctx.allocateOutput(0, q.dtype, plan.outShape));
    if (y->numel() == 0) return Status::ok();
    if (plan.sk == 0) {  // softmax over no keys, then a sum of no rows: zeros, as MatMul gives
        KILN_CUDA_CHECK(cudaMemsetAsync(y->data, 0, y->byteSize(), ctx.stream()));
        return Status::ok();
    }
    AttentionParams p;
    p.q = q.data;
    p.k = k.data;
    p.v = v.data;
    p.mask = mask ? mask->data : nullptr;
    p.maskIsFloat32 = mask && mask->dtype == DataType::kFloat32 && q.dtype != DataType::kFloat32;
    p.out = y->data;
    p.causal = plan.causal;
    p.scale = plan.scale;
    p.batch = plan.batch;
    p.heads = plan.heads;
    p.sq = plan.sq;
    p.sk = plan.sk;
    p.d = plan.d;
    p.dv = plan.dv;
    copyStrides(plan.q, p.qStride);
    copyStrides(plan.k, p.kStride);
    copyStrides(plan.v, p.vStride);
    copyStrides(plan.out, p.outStride);
    p.maskStride[0] = plan.mask.batch;
    p.maskStride[1] = plan.mask.head;
    p.maskStride[2] = plan.mask.query;
    p.maskStride[3] = plan.mask.key;
    KILN_CUDA_CHECK(launchAttention(q.dtype, p, ctx.stream()));
    return Status::ok();
}

}  // namespace

void registerAttentionKernels(KernelRegistry& r) { r.add(ir::OpKind::kAttention, attentionKernel); }

}  // namespace kiln::cuda
