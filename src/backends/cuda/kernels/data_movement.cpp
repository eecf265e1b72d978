// The data-movement family on the GPU: Transpose, Concat, Split, Slice, Expand, Tile, Pad, Compress and
// ReverseSequence here; the indexing ops in gather_scatter.cpp and tensor creation in tensor_fill.cpp. Validation and
// output shapes come from the CPU reference's plans (cpu/op_plans.h) run on data-less views of the device inputs;
// the elements move through the dtype-agnostic launchers of data_movement.h.
#include "backends/cuda/kernels/data_movement.h"

#include <string>

#include "backends/cpu/broadcast.h"
#include "backends/cpu/data_movement.h"
#include "backends/cuda/check.h"
#include "backends/cuda/kernels/families.h"
#include "backends/cuda/kernels/gather_scatter.h"
#include "backends/cuda/kernels/movement_host.h"
#include "backends/cuda/kernels/reference_view.h"

namespace kiln::cuda {

namespace {

int64_t dimProduct(const Shape& shape, size_t begin, size_t end) {
    int64_t n = 1;
    for (size_t i = begin; i < end; ++i) n *= shape[i];
    return n;
}

//! Allocates output 0 of `x`'s dtype and runs a strided gather from `x` into it.
Status gatherToOutput(CudaKernelContext& ctx, const DeviceTensor& x, Shape shape, int64_t base,
                      std::vector<GatherDim> dims, const void* fill = nullptr) {
    KILN_ASSIGN_OR_RETURN(DeviceTensor * y, ctx.allocateOutput(0, x.dtype, std::move(shape)));
    KILN_CUDA_CHECK(
        launchStridedGather(x.data, y->data, dataTypeSize(x.dtype), base, std::move(dims), fill, ctx.stream()));
    return Status::ok();
}

Status transposeKernel(CudaKernelContext& ctx) {
    ReferenceView ref(ctx);
    KILN_ASSIGN_OR_RETURN(cpu::TransposePlan plan, cpu::planTranspose(ref.context()));
    const DeviceTensor& x = ctx.input(0);
    KILN_RETURN_IF_ERROR(requireDeviceCopyable(x, "input 0"));
    const std::vector<int64_t> strides = cpu::stridesOf(x.shape);
    std::vector<GatherDim> dims(plan.perm.size());
    for (size_t d = 0; d < dims.size(); ++d) {
        dims[d] = GatherDim{plan.outShape[d], strides[static_cast<size_t>(plan.perm[d])]};
    }
    return gatherToOutput(ctx, x, plan.outShape, 0, std::move(dims));
}

Status concatKernel(CudaKernelContext& ctx) {
    ReferenceView ref(ctx);
    KILN_ASSIGN_OR_RETURN(cpu::ConcatPlan plan, cpu::planConcat(ref.context()));
    const DeviceTensor& first = ctx.input(0);
    KILN_RETURN_IF_ERROR(requireDeviceCopyable(first, "input 0"));
    const Shape& shape = plan.outShape;
    const auto ax = static_cast<size_t>(plan.axis);
    KILN_ASSIGN_OR_RETURN(DeviceTensor * y, ctx.allocateOutput(0, first.dtype, shape));
    const size_t elem = dataTypeSize(first.dtype);
    const int64_t outer = dimProduct(shape, 0, ax);
    const int64_t inner = dimProduct(shape, ax + 1, shape.size());
    std::vector<ConcatInput> inputs;
    for (size_t i = 0; i < ctx.numInputs(); ++i) {
        const DeviceTensor& t = ctx.input(i);
        inputs.push_back(ConcatInput{t.data, t.shape[ax] * inner});
    }
    KILN_CUDA_CHECK(launchConcat(inputs, y->data, outer, elem, ctx.stream()));
    return Status::ok();
}

Status splitKernel(CudaKernelContext& ctx) {
    ReferenceView ref(ctx);
    KILN_ASSIGN_OR_RETURN(cpu::SplitPlan plan, cpu::planSplit(ref.context()));
    const DeviceTensor& x = ctx.input(0);
    KILN_RETURN_IF_ERROR(requireDeviceCopyable(x, "input 0"));
    const auto ax = static_cast<size_t>(plan.axis);
    const size_t elem = dataTypeSize(x.dtype);
    const int64_t outer = dimProduct(x.shape, 0, ax);
    const int64_t inner = dimProduct(x.shape, ax + 1, x.shape.size());
    const int64_t row = x.shape[ax] * inner;
    if (outer == 1) {  // each output is one contiguous run of x: a view, no copy (matmul-merge's [G, ...] outputs)
        int64_t start = 0;
        for (size_t i = 0; i < plan.sizes.size(); ++i) {
            Shape shape = x.shape;
            shape[ax] = plan.sizes[i];
            if (ctx.wantsOutput(i)) KILN_RETURN_IF_ERROR(ctx.viewOutput(i, x, start, shape));
            start += plan.sizes[i] * inner;
        }
        return Status::ok();
    }
    std::vector<CopyPart> parts;
    int64_t column = 0;
    for (size_t i = 0; i < plan.sizes.size(); ++i) {
        const int64_t chunk = plan.sizes[i] * inner;
        if (ctx.wantsOutput(i)) {
            Shape shape = x.shape;
            shape[ax] = plan.sizes[i];
            KILN_ASSIGN_OR_RETURN(DeviceTensor * y, ctx.allocateOutput(i, x.dtype, shape));
            parts.push_back(CopyPart{static_cast<const char*>(x.data) + static_cast<size_t>(column) * elem, y->data,
                                     outer, chunk, row, chunk});
        }
        column += chunk;
    }
    KILN_CUDA_CHECK(launchBatchedCopy(parts, elem, ctx.stream()));
    return Status::ok();
}

Status sliceKernel(CudaKernelContext& ctx) {
    ReferenceView ref(ctx);
    KILN_ASSIGN_OR_RETURN(cpu::SlicePlan plan, cpu::planSlice(ref.context()));
    const DeviceTensor& x = ctx.input(0);
    KILN_RETURN_IF_ERROR(requireDeviceCopyable(x, "input 0"));
    const std::vector<int64_t> strides = cpu::stridesOf(x.shape);
    std::vector<GatherDim> dims(strides.size());
    int64_t base = 0;
    for (size_t d = 0; d < dims.size(); ++d) {
        dims[d] = GatherDim{plan.outShape[d], plan.step[d] * strides[d]};
        if (plan.outShape[d] > 0) base += plan.begin[d] * strides[d];
    }
    return gatherToOutput(ctx, x, plan.outShape, base, std::move(dims));
}

Status expandKernel(CudaKernelContext& ctx) {
    ReferenceView ref(ctx);
    KILN_ASSIGN_OR_RETURN(Shape shape, cpu::planExpand(ref.context()));
    const DeviceTensor& x = ctx.input(0);
    KILN_RETURN_IF_ERROR(requireDeviceCopyable(x, "input 0"));
    const std::vector<int64_t> strides = cpu::stridesOf(x.shape);
    const size_t lead = shape.size() - x.shape.size();
    std::vector<GatherDim> dims(shape.size());
    for (size_t d = 0; d < shape.size(); ++d) {
        const bool broadcast = d < lead || x.shape[d - lead] == 1;
        dims[d] = GatherDim{shape[d], broadcast ? 0 : strides[d - lead]};
    }
    return gatherToOutput(ctx, x, shape, 0, std::move(dims));
}

Status tileKernel(CudaKernelContext& ctx) {
    ReferenceView ref(ctx);
    KILN_ASSIGN_OR_RETURN(cpu::TilePlan plan, cpu::planTile(ref.context()));
    const DeviceTensor& x = ctx.input(0);
    KILN_RETURN_IF_ERROR(requireDeviceCopyable(x, "input 0"));
    // Output dim d of size repeats * dim is the pair (repeat, coordinate): a broadcast dim, then the input dim.
    const std::vector<int64_t> strides = cpu::stridesOf(x.shape);
    std::vector<GatherDim> dims;
    for (size_t d = 0; d < strides.size(); ++d) {
        dims.push_back(GatherDim{plan.repeats[d], 0});
        dims.push_back(GatherDim{x.shape[d], strides[d]});
    }
    return gatherToOutput(ctx, x, plan.outShape, 0, std::move(dims));
}

Status padKernel(CudaKernelContext& ctx) {
    ReferenceView ref(ctx);
    KILN_ASSIGN_OR_RETURN(cpu::PadPlan plan, cpu::planPad(ref.context()));
    const DeviceTensor& x = ctx.input(0);
    KILN_RETURN_IF_ERROR(requireDeviceCopyable(x, "input 0"));
    const std::vector<int64_t> strides = cpu::stridesOf(x.shape);
    DimMap padMap = DimMap::kPadConstant;
    if (plan.mode == cpu::PadMode::kEdge) padMap = DimMap::kPadEdge;
    if (plan.mode == cpu::PadMode::kReflect) padMap = DimMap::kPadReflect;
    std::vector<GatherDim> dims(strides.size());
    for (size_t d = 0; d < dims.size(); ++d) {
        const bool unpadded = plan.padBegin[d] == 0 && plan.outShape[d] == x.shape[d];
        dims[d] =
            GatherDim{plan.outShape[d], strides[d], unpadded ? DimMap::kLinear : padMap, x.shape[d], plan.padBegin[d]};
    }
    return gatherToOutput(ctx, x, plan.outShape, 0, std::move(dims), plan.fill ? plan.fill->raw() : nullptr);
}

Status compressKernel(CudaKernelContext& ctx) {
    ReferenceView ref(ctx);
    KILN_ASSIGN_OR_RETURN(cpu::CompressPlan plan, cpu::planCompress(ref.context()));
    const DeviceTensor& x = ctx.input(0);
    KILN_RETURN_IF_ERROR(requireDeviceCopyable(x, "input 0"));
    KILN_ASSIGN_OR_RETURN(DeviceTensor * y, ctx.allocateOutput(0, x.dtype, plan.outShape));
    const auto ax = static_cast<size_t>(plan.axis);
    const size_t elem = dataTypeSize(x.dtype);
    const int64_t outer = dimProduct(plan.srcShape, 0, ax);
    const int64_t inner = dimProduct(plan.srcShape, ax + 1, plan.srcShape.size());
    const int64_t srcRow = plan.srcShape[ax] * inner;
    const int64_t dstRow = plan.outShape[ax] * inner;
    // Each run of consecutive selected indices is one block copy.
    std::vector<CopyPart> parts;
    for (size_t i = 0; i < plan.selected.size();) {
        size_t end = i + 1;
        while (end < plan.selected.size() && plan.selected[end] == plan.selected[end - 1] + 1) ++end;
        const auto run = static_cast<int64_t>(end - i);
        parts.push_back(
            CopyPart{static_cast<const char*>(x.data) + static_cast<size_t>(plan.selected[i] * inner) * elem,
                     static_cast<char*>(y->data) + static_cast<size_t>(static_cast<int64_t>(i) * inner) * elem, outer,
                     run * inner, srcRow, dstRow});
        i = end;
    }
    KILN_CUDA_CHECK(launchBatchedCopy(parts, elem, ctx.stream()));
    return Status::ok();
}

Status reverseSequenceKernel(CudaKernelContext& ctx) {
    ReferenceView ref(ctx);
    KILN_ASSIGN_OR_RETURN(cpu::ReverseSequencePlan plan, cpu::planReverseSequence(ref.context()));
    const DeviceTensor& x = ctx.input(0);
    KILN_RETURN_IF_ERROR(requireDeviceCopyable(x, "input 0"));
    if (const ir::Value* lens = ctx.node.input(1); lens->isConstant()) {
        KILN_ASSIGN_OR_RETURN(auto values, cpu::readIndexVector(lens->constant(), "sequence_lens"));
        KILN_RETURN_IF_ERROR(cpu::checkSequenceLens(values, x.shape[static_cast<size_t>(plan.timeAxis)]));
    }
    KILN_ASSIGN_OR_RETURN(DeviceTensor * y, ctx.allocateOutput(0, x.dtype, x.shape));
    KILN_ASSIGN_OR_RETURN(DeviceErrorRecord * errors, errorRecordFor(ctx));
    const IndexInput lens{ctx.input(1).data, ctx.input(1).dtype == DataType::kInt64, errors, nodeTag(ctx)};
    KILN_CUDA_CHECK(launchReverseSequence(x.data, y->data, dataTypeSize(x.dtype), x.shape[0], x.shape[1],
                                          dimProduct(x.shape, 2, x.shape.size()), plan.batchAxis == 0, lens,
                                          ctx.stream()));
    return Status::ok();
}

}  // namespace

Status requireDeviceCopyable(const DeviceTensor& t, const char* what) {
    if (t.dtype == DataType::kString) {
        return unsupported(std::string(what) + " is a string tensor; strings stay on the host");
    }
    const size_t size = dataTypeSize(t.dtype);
    if (size == 1 || size == 2 || size == 4 || size == 8) return Status::ok();
    return unsupported(std::string(what) + " has unsupported dtype " + dataTypeName(t.dtype));
}

Status permuteToOutput(CudaKernelContext& ctx, const DeviceTensor& x, const cpu::PermuteViewPlan& plan) {
    KILN_RETURN_IF_ERROR(requireDeviceCopyable(x, "input 0"));
    const std::vector<int64_t> strides = cpu::stridesOf(plan.view);
    std::vector<GatherDim> dims(plan.perm.size());
    for (size_t d = 0; d < dims.size(); ++d) {
        const auto axis = static_cast<size_t>(plan.perm[d]);
        dims[d] = GatherDim{plan.view[axis], strides[axis]};
    }
    return gatherToOutput(ctx, x, plan.outShape, 0, std::move(dims));
}

void registerDataMovementKernels(KernelRegistry& r) {
    r.add(ir::OpKind::kTranspose, transposeKernel);
    r.add(ir::OpKind::kConcat, concatKernel);
    r.add(ir::OpKind::kSplit, splitKernel, hostMask({1}));
    r.add(ir::OpKind::kSlice, sliceKernel, hostMask({1, 2, 3, 4}));
    r.add(ir::OpKind::kExpand, expandKernel, hostMask({1}));
    r.add(ir::OpKind::kTile, tileKernel, hostMask({1}));
    r.add(ir::OpKind::kPad, padKernel, hostMask({1, 2, 3}));
    r.add(ir::OpKind::kCompress, compressKernel, hostMask({1}));
    r.add(ir::OpKind::kReverseSequence, reverseSequenceKernel);
    registerGatherScatterKernels(r);
    registerTensorFillKernels(r);
}

}  // namespace kiln::cuda
