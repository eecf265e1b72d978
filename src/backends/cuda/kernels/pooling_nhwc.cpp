// Kiln's channels-last pools on the GPU: MaxPoolNhwc, AveragePoolNhwc and GlobalAveragePoolNhwc (made by the
// nhwc-layout pass). Windows are the CPU reference's (nn::resolveWindow over (H, W)); the sliding pools run
// pooling_nhwc.cu's vectorized kernel (16 bytes of channels per thread) when the channels fill whole 16-byte
// vectors and the tensors are aligned, else pooling.cu's general kernel with channels innermost; both walk the
// taps in the reference's order with its accumulator, so they match it bit for bit. The global average splits the
// positions of an image over several blocks when there are few channels (PP-OCR's squeeze-excite layers: 96
// channels over 160 x 160).
#include "backends/cuda/check.h"
#include "backends/cuda/kernels/common.h"
#include "backends/cuda/kernels/conv_gemm_common.h"
#include "backends/cuda/kernels/families.h"
#include "backends/cuda/kernels/pooling.h"
#include "backends/cuda/kernels/pooling_window.h"

namespace kiln::cuda {

namespace {

//! Input 0 is 4-D [N, H, W, C]; the message is the CPU reference's.
Status requireChannelsLast(const DeviceTensor& x) {
    if (x.rank() == 4) return Status::ok();
    return invalidArgument("input 0 'X' must be 4-D channels-last, got " + shapeView(x).describe());
}

//! The window over (H, W) from kernel_shape and the common attributes; `outShape` gets [N, OH, OW, C].
Result<PoolWindow> poolWindowNhwc(const CudaKernelContext& ctx, const DeviceTensor& x, Shape& outShape) {
    KILN_RETURN_IF_ERROR(requireChannelsLast(x));
    Shape out;
    KILN_ASSIGN_OR_RETURN(PoolWindow w, resolvePoolWindow(ctx.attrs(), {x.shape[1], x.shape[2]}, out));
    outShape = {x.shape[0], out[0], out[1], x.shape[3]};
    return w;
}

Status slidingPool(CudaKernelContext& ctx, bool max) {
    KILN_RETURN_IF_ERROR(ctx.requireInputs(1, 1));
    const DeviceTensor& x = ctx.input(0);
    const int64_t storageOrder = ctx.attrs().getInt("storage_order", 0);
    if (max && storageOrder != 0 && storageOrder != 1) {
        return invalidArgument("attribute 'storage_order' must be 0 or 1, got " + std::to_string(storageOrder));
    }
    Shape outShape;
    KILN_ASSIGN_OR_RETURN(PoolWindow w, poolWindowNhwc(ctx, x, outShape));
    const uint32_t types =
        max ? dtypes::kFloat | dtypes::bit(DataType::kInt8) | dtypes::bit(DataType::kUInt8) : dtypes::kFloat;
    KILN_RETURN_IF_ERROR(checkDtype(x.dtype, types, max ? "MaxPoolNhwc" : "AveragePoolNhwc"));
    KILN_ASSIGN_OR_RETURN(DeviceTensor * y, ctx.allocateOutput(0, x.dtype, outShape));
    const bool includePad = ctx.attrs().getInt("count_include_pad", 0) != 0;
    const PoolOp op = max ? PoolOp::kMax : includePad ? PoolOp::kAverageIncludePad : PoolOp::kAverage;
    KILN_CUDA_CHECK(launchPoolChannelsLast(op, x.dtype, x.data, y->data, x.shape[0], x.shape[3], w, ctx.stream()));
    return Status::ok();
}

Status maxPoolNhwc(CudaKernelContext& ctx) { return slidingPool(ctx, true); }
Status averagePoolNhwc(CudaKernelContext& ctx) { return slidingPool(ctx, false); }

Status globalAveragePoolNhwc(CudaKernelContext& ctx) {
    KILN_RETURN_IF_ERROR(ctx.requireInputs(1, 1));
    const DeviceTensor& x = ctx.input(0);
    KILN_RETURN_IF_ERROR(requireChannelsLast(x));
    KILN_RETURN_IF_ERROR(checkDtype(x.dtype, dtypes::kFloat, "GlobalAveragePoolNhwc"));
    const int64_t batch = x.shape[0], size = x.shape[1] * x.shape[2], channels = x.shape[3];
    KILN_ASSIGN_OR_RETURN(DeviceTensor * y, ctx.allocateOutput(0, x.dtype, {batch, 1, 1, channels}));
    const int64_t splits = globalAverageSplits(batch, size, channels);
    void* partial = nullptr;
    if (splits > 1) {
        const size_t accBytes = x.dtype == DataType::kFloat64 ? sizeof(double) : sizeof(float);
        auto ws = ctx.workspace(static_cast<size_t>(batch * splits * channels) * accBytes);
        if (ws) partial = *ws;
    }
    // Without room for the partial sums, one block row per image and channel group does it all.
    KILN_CUDA_CHECK(launchGlobalAverageChannelsLast(x.dtype, x.data, y->data, batch, size, channels,
                                                    partial ? splits : 1, partial, ctx.stream()));
    return Status::ok();
}

}  // namespace

void registerNhwcPoolKernels(KernelRegistry& r) {
    r.add(ir::OpKind::kMaxPoolNhwc, maxPoolNhwc);
    r.add(ir::OpKind::kAveragePoolNhwc, averagePoolNhwc);
    r.add(ir::OpKind::kGlobalAveragePoolNhwc, globalAveragePoolNhwc);
}

}  // namespace kiln::cuda
