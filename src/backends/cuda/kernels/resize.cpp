// The resize family on the GPU: Resize, Upsample, GridSample, DepthToSpace and SpaceToDepth. roi, scales and sizes
// are read on the host; the plans (cpu/op_plans.h) are the CPU reference's, run on data-less views of the inputs.
#include "backends/cuda/kernels/resize.h"

#include <cstring>
#include <string>

#include "backends/cpu/broadcast.h"
#include "backends/cuda/check.h"
#include "backends/cuda/kernels/families.h"
#include "backends/cuda/kernels/movement_host.h"
#include "backends/cuda/kernels/reference_view.h"
#include "common/dispatch.h"

namespace kiln::cuda {

namespace {

int32_t modeCode(cpu::ResizeMode m) {
    switch (m) {
        case cpu::ResizeMode::kLinear: return kResizeLinear;
        case cpu::ResizeMode::kCubic: return kResizeCubic;
        default: return kResizeNearest;
    }
}

int32_t coordCode(cpu::CoordMode m) {
    switch (m) {
        case cpu::CoordMode::kPytorchHalfPixel: return kCoordPytorchHalfPixel;
        case cpu::CoordMode::kAlignCorners: return kCoordAlignCorners;
        case cpu::CoordMode::kAsymmetric: return kCoordAsymmetric;
        case cpu::CoordMode::kTfHalfPixelForNn: return kCoordTfHalfPixelForNn;
        case cpu::CoordMode::kTfCropAndResize: return kCoordTfCropAndResize;
        default: return kCoordHalfPixel;
    }
}

int32_t nearestCode(cpu::NearestMode m) {
    switch (m) {
        case cpu::NearestMode::kRoundPreferCeil: return kNearestRoundPreferCeil;
        case cpu::NearestMode::kFloor: return kNearestFloor;
        case cpu::NearestMode::kCeil: return kNearestCeil;
        case cpu::NearestMode::kSimple: return kNearestSimple;
        default: return kNearestRoundPreferFloor;
    }
}

Status runResize(CudaKernelContext& ctx, const cpu::ResizePlan& plan) {
    const DeviceTensor& x = ctx.input(0);
    KILN_RETURN_IF_ERROR(requireDeviceCopyable(x, "input 0 'X'"));
    KILN_ASSIGN_OR_RETURN(DeviceTensor * y, ctx.allocateOutput(0, x.dtype, plan.outShape));
    if (y->numel() == 0) return Status::ok();
    if (plan.mode != cpu::ResizeMode::kNearest && !isFloatingPoint(x.dtype) && !isInteger(x.dtype)) {
        return unsupported(std::string("dtype ") + dataTypeName(x.dtype) + " is not supported by this op");
    }
    const auto rank = static_cast<size_t>(x.rank());
    if (rank > static_cast<size_t>(kMaxResizeDims)) {
        return unsupported("Resize of rank " + std::to_string(rank) + " is not supported on the GPU (at most " +
                           std::to_string(kMaxResizeDims) + ")");
    }
    ResizeDesc desc;
    desc.rank = static_cast<int32_t>(rank);
    desc.mode = modeCode(plan.mode);
    desc.coord = coordCode(plan.coord);
    desc.nearest = nearestCode(plan.nearest);
    desc.cubicA = plan.cubicA;
    desc.excludeOutside = plan.excludeOutside;
    desc.extrapolation = plan.extrapolation;
    const std::vector<int64_t> strides = cpu::stridesOf(x.shape);
    for (size_t d = 0; d < rank; ++d) {
        desc.axes[d] = ResizeAxis{x.shape[d],         plan.outShape[d], strides[d],         plan.scales[d],
                                  plan.resizedLen[d], plan.roi[d],      plan.roi[rank + d], plan.interpolate[d]};
    }
    // Nearest mode extrapolates with extrapolation_value cast to the element type (as the reference does).
    uint64_t fill = 0;
    if (plan.mode == cpu::ResizeMode::kNearest && plan.coord == cpu::CoordMode::kTfCropAndResize) {
        KILN_RETURN_IF_ERROR(dispatchAll(x.dtype, [&]<typename T>() {
            const auto v = static_cast<T>(plan.extrapolation);
            std::memcpy(&fill, &v, sizeof(T));
            return Status::ok();
        }));
    }
    KILN_ASSIGN_OR_RETURN(void* workspace, ctx.workspace(resizeWorkspaceBytes(desc)));
    KILN_CUDA_CHECK(launchResize(x.data, y->data, x.dtype, desc, &fill, workspace, ctx.stream()));
    return Status::ok();
}

Status resizeKernel(CudaKernelContext& ctx) {
    ReferenceView ref(ctx);
    KILN_ASSIGN_OR_RETURN(cpu::ResizePlan plan, cpu::planResize(ref.context()));
    return runResize(ctx, plan);
}

Status upsampleKernel(CudaKernelContext& ctx) {
    ReferenceView ref(ctx);
    KILN_ASSIGN_OR_RETURN(cpu::ResizePlan plan, cpu::planUpsample(ref.context()));
    return runResize(ctx, plan);
}

Status gridSampleKernel(CudaKernelContext& ctx) {
    ReferenceView ref(ctx);
    KILN_ASSIGN_OR_RETURN(cpu::GridSamplePlan plan, cpu::planGridSample(ref.context()));
    const DeviceTensor& x = ctx.input(0);
    const DeviceTensor& grid = ctx.input(1);
    KILN_ASSIGN_OR_RETURN(DeviceTensor * y, ctx.allocateOutput(0, x.dtype, plan.outShape));
    if (y->numel() == 0) return Status::ok();
    if (!isFloatingPoint(x.dtype) && !isInteger(x.dtype)) {
        return unsupported(std::string("dtype ") + dataTypeName(x.dtype) + " is not supported by this op");
    }
    int32_t mode = kSampleBilinear;
    if (plan.mode == cpu::SampleMode::kNearest) mode = kSampleNearest;
    if (plan.mode == cpu::SampleMode::kBicubic) mode = kSampleBicubic;
    int32_t padding = kPadZeros;
    if (plan.padding == cpu::SamplePadding::kBorder) padding = kPadBorder;
    if (plan.padding == cpu::SamplePadding::kReflection) padding = kPadReflection;
    KILN_CUDA_CHECK(launchGridSample(x.data, x.dtype, grid.data, grid.dtype, y->data, x.shape[0], x.shape[1],
                                     x.shape[2], x.shape[3], grid.shape[1], grid.shape[2], mode, padding,
                                     plan.alignCorners, ctx.stream()));
    return Status::ok();
}

Status depthToSpaceKernel(CudaKernelContext& ctx) {
    ReferenceView ref(ctx);
    KILN_ASSIGN_OR_RETURN(cpu::PermuteViewPlan plan, cpu::planDepthToSpace(ref.context()));
    return permuteToOutput(ctx, ctx.input(0), plan);
}

Status spaceToDepthKernel(CudaKernelContext& ctx) {
    ReferenceView ref(ctx);
    KILN_ASSIGN_OR_RETURN(cpu::PermuteViewPlan plan, cpu::planSpaceToDepth(ref.context()));
    return permuteToOutput(ctx, ctx.input(0), plan);
}

}  // namespace

void registerResizeKernels(KernelRegistry& r) {
    r.add(ir::OpKind::kResize, resizeKernel, hostMask({1, 2, 3}));
    r.add(ir::OpKind::kUpsample, upsampleKernel, hostMask({1}));
    r.add(ir::OpKind::kGridSample, gridSampleKernel);
    r.add(ir::OpKind::kDepthToSpace, depthToSpaceKernel);
    r.add(ir::OpKind::kSpaceToDepth, spaceToDepthKernel);
}

}  // namespace kiln::cuda
