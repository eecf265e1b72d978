// Tensor creation on the GPU: ConstantOfShape, Range, EyeLike, Trilu, OneHot. Shape-like inputs (the shape, Range's
// scalars, Trilu's k, OneHot's depth and values) are read on the host; the elements are written on the device.
#include <cstring>

#include "backends/cuda/check.h"
#include "backends/cuda/kernels/data_movement.h"
#include "backends/cuda/kernels/movement_host.h"
#include "backends/cuda/kernels/reference_view.h"
#include "common/dispatch.h"

namespace kiln::cuda {

namespace {

Status requireFixedSize(const Tensor& t, const char* what) {
    if (t.dtype() == DataType::kString) {
        return unsupported(std::string(what) + " is a string tensor; strings stay on the host");
    }
    return Status::ok();
}

Status constantOfShapeKernel(CudaKernelContext& ctx) {
    ReferenceView ref(ctx);
    KILN_ASSIGN_OR_RETURN(cpu::ConstantOfShapePlan plan, cpu::planConstantOfShape(ref.context()));
    KILN_RETURN_IF_ERROR(requireFixedSize(plan.value, "attribute 'value'"));
    KILN_ASSIGN_OR_RETURN(DeviceTensor * y, ctx.allocateOutput(0, plan.value.dtype(), plan.shape));
    KILN_CUDA_CHECK(launchFill(y->data, y->numel(), plan.value.raw(), dataTypeSize(y->dtype), ctx.stream()));
    return Status::ok();
}

Status rangeKernel(CudaKernelContext& ctx) {
    ReferenceView ref(ctx);
    KILN_ASSIGN_OR_RETURN(cpu::RangePlan plan, cpu::planRange(ref.context()));
    KILN_ASSIGN_OR_RETURN(DeviceTensor * y, ctx.allocateOutput(0, plan.type, {plan.count}));
    KILN_CUDA_CHECK(
        launchRange(y->data, plan.type, plan.count, plan.startF, plan.deltaF, plan.startI, plan.deltaI, ctx.stream()));
    return Status::ok();
}

Status eyeLikeKernel(CudaKernelContext& ctx) {
    ReferenceView ref(ctx);
    KILN_ASSIGN_OR_RETURN(cpu::EyeLikePlan plan, cpu::planEyeLike(ref.context()));
    uint64_t one = 0;  // the bytes of 1 in the output dtype
    KILN_RETURN_IF_ERROR(dispatchAll(plan.type, [&]<typename T>() {
        const T v = fromCompute<T>(ComputeT<T>(1));
        std::memcpy(&one, &v, sizeof(T));
        return Status::ok();
    }));
    const DeviceTensor& x = ctx.input(0);
    KILN_ASSIGN_OR_RETURN(DeviceTensor * y, ctx.allocateOutput(0, plan.type, x.shape));
    KILN_CUDA_CHECK(
        launchEyeLike(y->data, x.shape[0], x.shape[1], plan.k, &one, dataTypeSize(plan.type), ctx.stream()));
    return Status::ok();
}

Status triluKernel(CudaKernelContext& ctx) {
    ReferenceView ref(ctx);
    KILN_ASSIGN_OR_RETURN(cpu::TriluPlan plan, cpu::planTrilu(ref.context()));
    const DeviceTensor& x = ctx.input(0);
    KILN_RETURN_IF_ERROR(requireDeviceCopyable(x, "input 0"));
    const int64_t rows = x.shape[x.shape.size() - 2];
    const int64_t cols = x.shape.back();
    KILN_ASSIGN_OR_RETURN(DeviceTensor * y, ctx.allocateOutput(0, x.dtype, x.shape));
    const int64_t matrices = rows * cols == 0 ? 0 : x.numel() / (rows * cols);
    KILN_CUDA_CHECK(
        launchTrilu(x.data, y->data, matrices, rows, cols, plan.k, plan.upper, dataTypeSize(x.dtype), ctx.stream()));
    return Status::ok();
}

Status oneHotKernel(CudaKernelContext& ctx) {
    ReferenceView ref(ctx);
    KILN_ASSIGN_OR_RETURN(cpu::OneHotPlan plan, cpu::planOneHot(ref.context()));
    const DeviceTensor& indices = ctx.input(0);
    const Tensor& values = ctx.hostInput(2);
    KILN_ASSIGN_OR_RETURN(DeviceTensor * y, ctx.allocateOutput(0, values.dtype(), plan.outShape));
    const size_t elem = dataTypeSize(values.dtype());
    int64_t outer = 1;
    for (int64_t d = 0; d < plan.axis; ++d) outer *= indices.shape[static_cast<size_t>(d)];
    const int64_t inner = outer == 0 ? 0 : indices.numel() / outer;
    const auto* off = static_cast<const char*>(values.raw());
    KILN_CUDA_CHECK(launchOneHot(indices.data, indices.dtype, y->data, outer, plan.depth, inner, off, off + elem, elem,
                                 ctx.stream()));
    return Status::ok();
}

}  // namespace

void registerTensorFillKernels(KernelRegistry& r) {
    r.add(ir::OpKind::kConstantOfShape, constantOfShapeKernel, hostMask({0}));
    r.add(ir::OpKind::kRange, rangeKernel, hostMask({0, 1, 2}));
    r.add(ir::OpKind::kEyeLike, eyeLikeKernel);
    r.add(ir::OpKind::kTrilu, triluKernel, hostMask({1}));
    r.add(ir::OpKind::kOneHot, oneHotKernel, hostMask({1, 2}));
}

}  // namespace kiln::cuda
