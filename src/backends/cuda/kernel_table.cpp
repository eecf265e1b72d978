#include <cstring>

#include "backends/cuda/check.h"
#include "backends/cuda/kernel.h"
#include "backends/cuda/kernels/families.h"

namespace kiln::cuda {

void KernelRegistry::add(ir::OpKind op, CudaKernelFn fn, uint32_t hostInputMask) {
    mEntries[static_cast<size_t>(op)] = CudaOpEntry{fn, hostInputMask};
}

const CudaOpEntry& KernelRegistry::find(ir::OpKind op) const noexcept { return mEntries[static_cast<size_t>(op)]; }

namespace {
KernelRegistry buildTable() {
    KernelRegistry r;
    registerShapeKernels(r);
    registerElementwiseKernels(r);
    registerDataMovementKernels(r);
    registerReductionKernels(r);
    registerNormalizationKernels(r);
    registerConvKernels(r);
    registerMatMulKernels(r);
    registerPoolingKernels(r);
    registerNhwcConvKernels(r);
    registerNhwcPoolKernels(r);
    registerResizeKernels(r);
    registerAttentionKernels(r);
    registerGeluKernels(r);
    registerTransposeCastKernels(r);
    return r;
}
}  // namespace

const CudaOpEntry& cudaKernel(ir::OpKind op) noexcept {
    static const KernelRegistry table = buildTable();
    return table.find(op);
}

Result<DeviceTensor*> CudaKernelContext::allocateOutput(size_t i, DataType type, Shape shape) {
    if (i >= outputs.size()) return internalError("output index " + std::to_string(i) + " out of range");
    for (int64_t d : shape) {
        if (d < 0)
            return invalidArgument("output " + std::to_string(i) + " would have negative dim in " +
                                   shapeToString(shape));
    }
    DeviceTensor t;
    t.dtype = type;
    t.shape = std::move(shape);
    const size_t bytes = t.byteSize();
    if (bytes > 0) {
        KILN_ASSIGN_OR_RETURN(void* p, run.arena->allocate(bytes));
        DeviceArena* arena = run.arena;
        t.data = p;
        t.storage = std::shared_ptr<void>(p, [arena](void* q) { arena->free(q); });
        if (run.poisonOutputs) KILN_CUDA_CHECK(cudaMemsetAsync(p, 0xFF, bytes, run.stream));
    }
    outputs[i] = std::move(t);
    return &outputs[i];
}

Status CudaKernelContext::aliasOutput(size_t i, const DeviceTensor& source, Shape shape) {
    if (i >= outputs.size()) return internalError("output index " + std::to_string(i) + " out of range");
    if (shapeNumel(shape) != source.numel()) {
        return invalidArgument("cannot view " + shapeToString(source.shape) + " as " + shapeToString(shape));
    }
    DeviceTensor t = source;
    t.shape = std::move(shape);
    outputs[i] = std::move(t);
    return Status::ok();
}

Status CudaKernelContext::viewOutput(size_t i, const DeviceTensor& source, int64_t elementOffset, Shape shape) {
    if (i >= outputs.size()) return internalError("output index " + std::to_string(i) + " out of range");
    if (elementOffset < 0 || shapeNumel(shape) > source.numel() - elementOffset) {
        return invalidArgument("cannot view " + shapeToString(shape) + " at element " + std::to_string(elementOffset) +
                               " of " + shapeToString(source.shape));
    }
    DeviceTensor t = source;
    t.shape = std::move(shape);
    if (t.numel() == 0) {
        t.data = nullptr;
    } else {
        t.data = static_cast<char*>(source.data) + elementOffset * static_cast<int64_t>(dataTypeSize(source.dtype));
    }
    outputs[i] = std::move(t);
    return Status::ok();
}

Result<void*> CudaKernelContext::workspace(size_t bytes) {
    if (run.workspaceLimit != 0 && bytes > run.workspaceLimit) {
        return outOfRange("needs " + std::to_string(bytes) + " bytes of workspace, the limit is " +
                          std::to_string(run.workspaceLimit));
    }
    if (bytes == 0) return nullptr;
    KILN_ASSIGN_OR_RETURN(void* p, run.arena->allocate(bytes));
    DeviceArena* arena = run.arena;
    scratch.emplace_back(p, [arena](void* q) { arena->free(q); });
    return p;
}

Status CudaKernelContext::requireInputs(size_t minCount, size_t maxCount) const {
    if (inputs.size() < minCount || inputs.size() > maxCount) {
        return invalidArgument(
            "expects " + std::to_string(minCount) +
            (maxCount == minCount ? "" : (maxCount == SIZE_MAX ? "+" : "-" + std::to_string(maxCount))) +
            " inputs, got " + std::to_string(inputs.size()));
    }
    for (size_t i = 0; i < minCount; ++i) {
        if (!hasInput(i)) return invalidArgument("required input " + std::to_string(i) + " is missing");
    }
    return Status::ok();
}

}  // namespace kiln::cuda
