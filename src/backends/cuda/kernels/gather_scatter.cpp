// Gather, GatherElements, GatherND, Scatter, ScatterElements and ScatterND on the GPU. Index tensors stay on the
// device (they are runtime data: embedding lookups, top-k results); their values are checked there and a bad one
// is reported through the device error record (device_errors.h). When the indices are a graph constant they are
// also checked on the host first, so the node fails at once with the CPU reference's message.
#include <optional>

#include "backends/cpu/broadcast.h"
#include "backends/cpu/indexing.h"
#include "backends/cuda/check.h"
#include "backends/cuda/kernels/gather_scatter.h"
#include "backends/cuda/kernels/movement_host.h"
#include "backends/cuda/kernels/reference_view.h"

namespace kiln::cuda {

namespace {

//! The values of input `i` when it is a graph constant.
Result<std::optional<std::vector<int64_t>>> constantIndices(const CudaKernelContext& ctx, size_t i) {
    const ir::Value* v = ctx.node.input(i);
    if (v == nullptr || !v->isConstant()) return std::optional<std::vector<int64_t>>();
    KILN_ASSIGN_OR_RETURN(std::vector<int64_t> values, cpu::readIndexTensor(v->constant(), "input 1 'indices'"));
    return std::optional<std::vector<int64_t>>(std::move(values));
}

//! Checks constant indices along one axis as the reference does.
Status checkConstantAxisIndices(const CudaKernelContext& ctx, int64_t dim, const char* what, int64_t axis) {
    KILN_ASSIGN_OR_RETURN(auto values, constantIndices(ctx, 1));
    if (!values) return Status::ok();
    for (int64_t v : *values) {
        KILN_RETURN_IF_ERROR(cpu::wrapIndex(v, dim, what, axis).status());
    }
    return Status::ok();
}

//! Checks constant index tuples of length k addressing dims [first, first + k) of `shape`.
Status checkConstantTuples(const CudaKernelContext& ctx, const Shape& shape, int64_t first, int64_t k) {
    KILN_ASSIGN_OR_RETURN(auto values, constantIndices(ctx, 1));
    if (!values) return Status::ok();
    for (size_t i = 0; i < values->size(); ++i) {
        const int64_t axis = first + static_cast<int64_t>(i % static_cast<size_t>(k));
        KILN_RETURN_IF_ERROR(
            cpu::wrapIndex((*values)[i], shape[static_cast<size_t>(axis)], "input 1 'indices'", axis).status());
    }
    return Status::ok();
}

Result<IndexInput> indexInput(CudaKernelContext& ctx) {
    KILN_ASSIGN_OR_RETURN(DeviceErrorRecord * errors, errorRecordFor(ctx));
    return IndexInput{ctx.input(1).data, ctx.input(1).dtype == DataType::kInt64, errors, nodeTag(ctx)};
}

//! GatherElements / ScatterElements geometry; non-axis dims that the indices cover fully merge with their outer
//! (non-axis) neighbour, so only unusual shapes exceed kMaxIndexDims.
Result<ElementsGeometry> elementsGeometry(const Shape& data, const Shape& indices, int64_t axis) {
    const std::vector<int64_t> strides = cpu::stridesOf(data);
    struct Dim {
        int64_t index, stride;
        bool isAxis;
    };
    std::vector<Dim> dims;
    for (size_t d = 0; d < data.size(); ++d) {
        const bool isAxis = static_cast<int64_t>(d) == axis;
        // A dim the indices cover fully continues its outer neighbour's walk through the data.
        if (!isAxis && !dims.empty() && !dims.back().isAxis && indices[d] == data[d]) {
            dims.back().index *= indices[d];
            dims.back().stride = strides[d];
            continue;
        }
        dims.push_back(Dim{indices[d], strides[d], isAxis});
    }
    if (dims.size() > static_cast<size_t>(kMaxIndexDims)) {
        return unsupported("indices of shape " + shapeToString(indices) + " into data of shape " + shapeToString(data) +
                           " need more than " + std::to_string(kMaxIndexDims) + " dims");
    }
    ElementsGeometry g;
    g.rank = static_cast<int32_t>(dims.size());
    g.dataAxis = static_cast<int32_t>(axis);
    g.axisDim = data[static_cast<size_t>(axis)];
    for (size_t d = 0; d < dims.size(); ++d) {
        g.indexDim[d] = dims[d].index;
        g.dataStride[d] = dims[d].stride;
        if (dims[d].isAxis) g.axis = static_cast<int32_t>(d);
    }
    return g;
}

//! GatherND / ScatterND geometry for tuples of k indices into dims [batchDims, batchDims + k) of `data`.
Result<TupleGeometry> tupleGeometry(const Shape& data, int64_t batchDims, int64_t k) {
    if (k > kMaxIndexDims) {
        return unsupported("index tuples of " + std::to_string(k) + " values (more than " +
                           std::to_string(kMaxIndexDims) + ") are not supported on the GPU");
    }
    const std::vector<int64_t> strides = cpu::stridesOf(data);
    const auto b = static_cast<size_t>(batchDims);
    TupleGeometry g;
    g.k = static_cast<int32_t>(k);
    g.firstAxis = static_cast<int32_t>(batchDims);
    g.slice = 1;
    for (size_t d = b + static_cast<size_t>(k); d < data.size(); ++d) g.slice *= data[d];
    g.slab = 1;
    for (size_t d = b; d < data.size(); ++d) g.slab *= data[d];
    for (int64_t j = 0; j < k; ++j) {
        g.dim[j] = data[b + static_cast<size_t>(j)];
        g.stride[j] = g.slice == 0 ? 0 : strides[b + static_cast<size_t>(j)] / g.slice;
    }
    return g;
}

ScatterOp scatterOp(cpu::ScatterReduction r) {
    switch (r) {
        case cpu::ScatterReduction::kAdd: return ScatterOp::kAdd;
        case cpu::ScatterReduction::kMul: return ScatterOp::kMul;
        case cpu::ScatterReduction::kMax: return ScatterOp::kMax;
        case cpu::ScatterReduction::kMin: return ScatterOp::kMin;
        default: return ScatterOp::kNone;
    }
}

//! Allocates output 0 as a copy of input 0 (the scatters' starting point).
Result<DeviceTensor*> copyOfData(CudaKernelContext& ctx) {
    const DeviceTensor& data = ctx.input(0);
    KILN_ASSIGN_OR_RETURN(DeviceTensor * y, ctx.allocateOutput(0, data.dtype, data.shape));
    if (y->byteSize() > 0) {
        KILN_CUDA_CHECK(cudaMemcpyAsync(y->data, data.data, y->byteSize(), cudaMemcpyDeviceToDevice, ctx.stream()));
    }
    return y;
}

int64_t dimProduct(const Shape& shape, size_t begin, size_t end) {
    int64_t n = 1;
    for (size_t i = begin; i < end; ++i) n *= shape[i];
    return n;
}

Status gatherKernel(CudaKernelContext& ctx) {
    ReferenceView ref(ctx);
    KILN_ASSIGN_OR_RETURN(cpu::GatherPlan plan, cpu::planGather(ref.context()));
    const DeviceTensor& data = ctx.input(0);
    KILN_RETURN_IF_ERROR(requireDeviceCopyable(data, "input 0 'data'"));
    const auto ax = static_cast<size_t>(plan.axis);
    KILN_RETURN_IF_ERROR(checkConstantAxisIndices(ctx, data.shape[ax], "input 1 'indices'", plan.axis));
    KILN_ASSIGN_OR_RETURN(DeviceTensor * y, ctx.allocateOutput(0, data.dtype, plan.outShape));
    KILN_ASSIGN_OR_RETURN(IndexInput indices, indexInput(ctx));
    KILN_CUDA_CHECK(launchGather(data.data, y->data, dataTypeSize(data.dtype), dimProduct(data.shape, 0, ax),
                                 data.shape[ax], dimProduct(data.shape, ax + 1, data.shape.size()), indices,
                                 ctx.input(1).numel(), static_cast<int32_t>(plan.axis), ctx.stream()));
    return Status::ok();
}

Status gatherElementsKernel(CudaKernelContext& ctx) {
    ReferenceView ref(ctx);
    KILN_ASSIGN_OR_RETURN(int64_t axis, cpu::planGatherElements(ref.context()));
    const DeviceTensor& data = ctx.input(0);
    KILN_RETURN_IF_ERROR(requireDeviceCopyable(data, "input 0 'data'"));
    KILN_RETURN_IF_ERROR(checkConstantAxisIndices(ctx, data.shape[static_cast<size_t>(axis)], "input 'indices'", axis));
    KILN_ASSIGN_OR_RETURN(ElementsGeometry g, elementsGeometry(data.shape, ctx.input(1).shape, axis));
    KILN_ASSIGN_OR_RETURN(DeviceTensor * y, ctx.allocateOutput(0, data.dtype, ctx.input(1).shape));
    KILN_ASSIGN_OR_RETURN(IndexInput indices, indexInput(ctx));
    KILN_CUDA_CHECK(launchGatherElements(data.data, y->data, dataTypeSize(data.dtype), g, indices, ctx.stream()));
    return Status::ok();
}

Status gatherNDKernel(CudaKernelContext& ctx) {
    ReferenceView ref(ctx);
    KILN_ASSIGN_OR_RETURN(cpu::GatherNDPlan plan, cpu::planGatherND(ref.context()));
    const DeviceTensor& data = ctx.input(0);
    KILN_RETURN_IF_ERROR(requireDeviceCopyable(data, "input 0 'data'"));
    KILN_RETURN_IF_ERROR(checkConstantTuples(ctx, data.shape, plan.batchDims, plan.k));
    KILN_ASSIGN_OR_RETURN(TupleGeometry g, tupleGeometry(data.shape, plan.batchDims, plan.k));
    const Shape& ishape = ctx.input(1).shape;
    const int64_t tuples = dimProduct(ishape, 0, ishape.size() - 1);
    const int64_t batches = dimProduct(data.shape, 0, static_cast<size_t>(plan.batchDims));
    g.perBatch = batches == 0 ? 1 : tuples / batches;
    if (g.perBatch == 0) g.perBatch = 1;
    KILN_ASSIGN_OR_RETURN(DeviceTensor * y, ctx.allocateOutput(0, data.dtype, plan.outShape));
    KILN_ASSIGN_OR_RETURN(IndexInput indices, indexInput(ctx));
    KILN_CUDA_CHECK(launchGatherND(data.data, y->data, dataTypeSize(data.dtype), g, indices, tuples, ctx.stream()));
    return Status::ok();
}

Status scatterElementsKernel(CudaKernelContext& ctx) {
    ReferenceView ref(ctx);
    KILN_ASSIGN_OR_RETURN(cpu::ScatterElementsPlan plan, cpu::planScatterElements(ref.context()));
    const DeviceTensor& data = ctx.input(0);
    KILN_RETURN_IF_ERROR(requireDeviceCopyable(data, "input 0 'data'"));
    KILN_RETURN_IF_ERROR(
        checkConstantAxisIndices(ctx, data.shape[static_cast<size_t>(plan.axis)], "input 'indices'", plan.axis));
    KILN_ASSIGN_OR_RETURN(ElementsGeometry g, elementsGeometry(data.shape, ctx.input(1).shape, plan.axis));
    KILN_ASSIGN_OR_RETURN(DeviceTensor * y, copyOfData(ctx));
    KILN_ASSIGN_OR_RETURN(IndexInput indices, indexInput(ctx));
    KILN_CUDA_CHECK(launchScatterElements(y->data, ctx.input(2).data, data.dtype, g, indices, scatterOp(plan.reduction),
                                          ctx.stream()));
    return Status::ok();
}

Status scatterNDKernel(CudaKernelContext& ctx) {
    ReferenceView ref(ctx);
    KILN_ASSIGN_OR_RETURN(cpu::ScatterNDPlan plan, cpu::planScatterND(ref.context()));
    const DeviceTensor& data = ctx.input(0);
    KILN_RETURN_IF_ERROR(requireDeviceCopyable(data, "input 0 'data'"));
    KILN_RETURN_IF_ERROR(checkConstantTuples(ctx, data.shape, 0, plan.k));
    KILN_ASSIGN_OR_RETURN(TupleGeometry g, tupleGeometry(data.shape, 0, plan.k));
    const Shape& ishape = ctx.input(1).shape;
    const int64_t tuples = dimProduct(ishape, 0, ishape.size() - 1);
    KILN_ASSIGN_OR_RETURN(DeviceTensor * y, copyOfData(ctx));
    KILN_ASSIGN_OR_RETURN(IndexInput indices, indexInput(ctx));
    KILN_CUDA_CHECK(launchScatterND(y->data, ctx.input(2).data, data.dtype, g, indices, tuples,
                                    scatterOp(plan.reduction), ctx.stream()));
    return Status::ok();
}

}  // namespace

void registerGatherScatterKernels(KernelRegistry& r) {
    r.add(ir::OpKind::kGather, gatherKernel);
    r.add(ir::OpKind::kGatherElements, gatherElementsKernel);
    r.add(ir::OpKind::kGatherND, gatherNDKernel);
    r.add(ir::OpKind::kScatter, scatterElementsKernel);
    r.add(ir::OpKind::kScatterElements, scatterElementsKernel);
    r.add(ir::OpKind::kScatterND, scatterNDKernel);
}

}  // namespace kiln::cuda
