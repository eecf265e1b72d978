#include "backends/cuda/kernels/conv_transpose_concat.h"

#include <atomic>
#include <string>
#include <vector>

#include "backends/cpu/nn_common.h"
#include "backends/cuda/check.h"
#include "backends/cuda/kernels/conv_gemm_common.h"
#include "backends/cuda/kernels/conv_transpose_gemm.h"
#include "backends/cuda/kernels/data_movement.h"

namespace kiln::cuda {

namespace {

std::atomic<uint64_t> gFallbacks{0};

//! Channels [offset, offset + channels) of every row of `out` (rows of `total` elements).
void* sliceOf(const DeviceTensor& out, int64_t offset) {
    return static_cast<char*>(out.data) + offset * static_cast<int64_t>(dataTypeSize(out.dtype));
}

//! The concatenated inputs (3...) after the CPU reference's checks against the result shape `y` [N, OH, OW, M].
Result<std::vector<const DeviceTensor*>> concatenatedInputs(const CudaKernelContext& ctx, const DeviceTensor& y,
                                                            int64_t slot) {
    std::vector<const DeviceTensor*> parts;
    std::vector<Tensor> views;  // data-less, for the shared checks; reserved, so their addresses stay put
    views.reserve(ctx.numInputs());
    std::vector<const Tensor*> checked;
    for (size_t i = 3; i < ctx.numInputs(); ++i) {
        parts.push_back(ctx.inputs[i]);
        checked.push_back(ctx.inputs[i] != nullptr ? &views.emplace_back(shapeView(*ctx.inputs[i])) : nullptr);
    }
    KILN_RETURN_IF_ERROR(cpu::nn::checkConcatSlotInputs(shapeView(y), checked, slot));
    return parts;
}

}  // namespace

Status convTransposeConcat(CudaKernelContext& ctx, const ConvShape& s, const DeviceTensor& x, const DeviceTensor& w,
                           const DeviceTensor* bias, int64_t slot, const UnfusedConvTranspose& unfused) {
    const Shape& o = s.outShape;  // [N, M, OH, OW]
    DeviceTensor y{s.dtype, {o[0], o[2], o[3], o[1]}, nullptr, nullptr};
    KILN_ASSIGN_OR_RETURN(std::vector<const DeviceTensor*> parts, concatenatedInputs(ctx, y, slot));
    parts.insert(parts.begin() + slot, &y);
    int64_t total = 0, yOffset = 0;
    for (const DeviceTensor* p : parts) {
        if (p == &y) yOffset = total;
        total += p->shape[3];
    }
    KILN_ASSIGN_OR_RETURN(DeviceTensor * out, ctx.allocateOutput(0, s.dtype, {o[0], o[2], o[3], total}));
    if (out->numel() == 0) return Status::ok();
    const int64_t rows = o[0] * o[2] * o[3];
    const int64_t m = s.outC;
    std::vector<CopyPart> copies;
    int64_t offset = 0;
    for (const DeviceTensor* p : parts) {
        const int64_t c = p->shape[3];
        if (p != &y && c > 0) copies.push_back(CopyPart{p->data, sliceOf(*out, offset), rows, c, c, total});
        offset += c;
    }
    KILN_CUDA_CHECK(launchBatchedCopy(copies, dataTypeSize(s.dtype), ctx.stream()));
    if (m == 0) return Status::ok();
    if (x.numel() > 0 && w.numel() > 0) {
        const Status st = convTransposeGemmSlice(ctx, s, x, w, bias, out->data, total, yOffset);
        if (st.code() != ErrorCode::kUnsupported) return st;
    }
    // The unfused kernel into workspace, then one strided copy into the slot.
    KILN_ASSIGN_OR_RETURN(y.data, ctx.workspace(y.byteSize()));
    KILN_RETURN_IF_ERROR(unfused(y));
    KILN_CUDA_CHECK(launchBatchedCopy({CopyPart{y.data, sliceOf(*out, yOffset), rows, m, m, total}},
                                      dataTypeSize(s.dtype), ctx.stream()));
    gFallbacks.fetch_add(1, std::memory_order_relaxed);
    return Status::ok();
}

uint64_t convTransposeConcatFallbacks() { return gFallbacks.load(std::memory_order_relaxed); }

}  // namespace kiln::cuda
