// The pooling family on the GPU: MaxPool (+ Indices), AveragePool, LpPool, GlobalAveragePool, GlobalMaxPool,
// GlobalLpPool, MaxUnpool. Windows (strides, dilations, pads, auto_pad, ceil_mode) are resolved by the CPU
// reference's nn::resolveWindow, so both backends agree on output shapes and errors; the kernels are Kiln's own
// (pooling.cu says why not cuDNN's). MaxRoiPool runs on the host (rare, Caffe-era).
#include "backends/cuda/kernels/pooling.h"

#include <algorithm>
#include <string>

#include "backends/cpu/broadcast.h"
#include "backends/cpu/nn_common.h"
#include "backends/cuda/check.h"
#include "backends/cuda/kernels/common.h"
#include "backends/cuda/kernels/families.h"
#include "backends/cuda/kernels/pooling_window.h"

namespace kiln::cuda {

Result<PoolWindow> resolvePoolWindow(const ir::Attributes& attrs, const Shape& spatial, Shape& outSpatial) {
    KILN_ASSIGN_OR_RETURN(auto kernel, cpu::nn::kernelShapeAttr(attrs, spatial.size()));
    KILN_ASSIGN_OR_RETURN(cpu::nn::Window win,
                          cpu::nn::resolveWindow(attrs, spatial, kernel, attrs.getInt("ceil_mode", 0) != 0));
    PoolWindow w{};
    for (int d = 0; d < 3; ++d) {
        w.in[d] = win.in[d];
        w.kernel[d] = win.kernel[d];
        w.stride[d] = win.stride[d];
        w.dilation[d] = win.dilation[d];
        w.padBegin[d] = win.padBegin[d];
        w.padEnd[d] = win.padEnd[d];
        w.out[d] = win.out[d];
    }
    outSpatial = win.outShape();
    return w;
}

namespace {

//! A data-less host view, for the CPU helpers that check shapes and the messages that describe tensors.
Tensor shapeView(const DeviceTensor& t) { return Tensor::wrap(t.dtype, t.shape, nullptr); }

//! Resolves a pooling op's window from kernel_shape and the common attributes (the CPU's poolWindow).
Result<PoolWindow> poolWindow(const CudaKernelContext& ctx, const DeviceTensor& x, Shape& outShape) {
    KILN_RETURN_IF_ERROR(cpu::nn::checkSpatialInput(shapeView(x), "X"));
    const Shape spatial(x.shape.begin() + 2, x.shape.end());
    Shape outSpatial;
    KILN_ASSIGN_OR_RETURN(PoolWindow w, resolvePoolWindow(ctx.attrs(), spatial, outSpatial));
    outShape = {x.shape[0], x.shape[1]};
    outShape.insert(outShape.end(), outSpatial.begin(), outSpatial.end());
    return w;
}

Status maxPool(CudaKernelContext& ctx) {
    KILN_RETURN_IF_ERROR(ctx.requireInputs(1, 1));
    const DeviceTensor& x = ctx.input(0);
    if (!isFloatingPoint(x.dtype) && x.dtype != DataType::kInt8 && x.dtype != DataType::kUInt8) {
        return unsupported("MaxPool input 'X' must be a float type, int8 or uint8, got " + shapeView(x).describe());
    }
    const int64_t storageOrder = ctx.attrs().getInt("storage_order", 0);
    if (storageOrder != 0 && storageOrder != 1) {
        return invalidArgument("attribute 'storage_order' must be 0 or 1, got " + std::to_string(storageOrder));
    }
    Shape outShape;
    KILN_ASSIGN_OR_RETURN(PoolWindow w, poolWindow(ctx, x, outShape));
    KILN_ASSIGN_OR_RETURN(DeviceTensor * y, ctx.allocateOutput(0, x.dtype, outShape));
    int64_t* indices = nullptr;
    if (ctx.wantsOutput(1)) {
        KILN_ASSIGN_OR_RETURN(DeviceTensor * t, ctx.allocateOutput(1, DataType::kInt64, outShape));
        indices = t->as<int64_t>();
    }
    KILN_CUDA_CHECK(launchPool(PoolOp::kMax, x.dtype, x.data, y->data, indices, x.shape[0] * x.shape[1], w,
                               storageOrder == 1, 0, ctx.stream()));
    return Status::ok();
}

Status averagePool(CudaKernelContext& ctx) {
    KILN_RETURN_IF_ERROR(ctx.requireInputs(1, 1));
    const DeviceTensor& x = ctx.input(0);
    const bool includePad = ctx.attrs().getInt("count_include_pad", 0) != 0;
    Shape outShape;
    KILN_ASSIGN_OR_RETURN(PoolWindow w, poolWindow(ctx, x, outShape));
    KILN_RETURN_IF_ERROR(checkDtype(x.dtype, dtypes::kFloat, "AveragePool"));
    KILN_ASSIGN_OR_RETURN(DeviceTensor * y, ctx.allocateOutput(0, x.dtype, outShape));
    KILN_CUDA_CHECK(launchPool(includePad ? PoolOp::kAverageIncludePad : PoolOp::kAverage, x.dtype, x.data, y->data,
                               nullptr, x.shape[0] * x.shape[1], w, false, 0, ctx.stream()));
    return Status::ok();
}

Status lpPool(CudaKernelContext& ctx) {
    KILN_RETURN_IF_ERROR(ctx.requireInputs(1, 1));
    const DeviceTensor& x = ctx.input(0);
    const int64_t p = ctx.attrs().getInt("p", 2);
    if (p < 1) return invalidArgument("attribute 'p' must be positive, got " + std::to_string(p));
    Shape outShape;
    KILN_ASSIGN_OR_RETURN(PoolWindow w, poolWindow(ctx, x, outShape));
    KILN_RETURN_IF_ERROR(checkDtype(x.dtype, dtypes::kFloat, "LpPool"));
    KILN_ASSIGN_OR_RETURN(DeviceTensor * y, ctx.allocateOutput(0, x.dtype, outShape));
    KILN_CUDA_CHECK(
        launchPool(PoolOp::kLp, x.dtype, x.data, y->data, nullptr, x.shape[0] * x.shape[1], w, false, p, ctx.stream()));
    return Status::ok();
}

//! Global pooling over all dims after (N, C): y[n, c, 1, ...].
Status globalPool(CudaKernelContext& ctx, GlobalPoolOp op, int64_t p) {
    KILN_RETURN_IF_ERROR(ctx.requireInputs(1, 1));
    const DeviceTensor& x = ctx.input(0);
    if (x.rank() < 2) return invalidArgument("input 'X' must be (N, C, ...), got " + shapeView(x).describe());
    Shape outShape{x.shape[0], x.shape[1]};
    outShape.resize(static_cast<size_t>(x.rank()), 1);
    KILN_RETURN_IF_ERROR(checkDtype(x.dtype, dtypes::kFloat));
    KILN_ASSIGN_OR_RETURN(DeviceTensor * y, ctx.allocateOutput(0, x.dtype, outShape));
    const int64_t planes = x.shape[0] * x.shape[1];
    const int64_t size = planes > 0 ? x.numel() / planes : 0;
    KILN_CUDA_CHECK(launchGlobalPool(op, x.dtype, x.data, y->data, planes, size, p, ctx.stream()));
    return Status::ok();
}

Status globalAveragePool(CudaKernelContext& ctx) { return globalPool(ctx, GlobalPoolOp::kAverage, 0); }
Status globalMaxPool(CudaKernelContext& ctx) { return globalPool(ctx, GlobalPoolOp::kMax, 0); }
Status globalLpPool(CudaKernelContext& ctx) {
    const int64_t p = ctx.attrs().getInt("p", 2);
    if (p < 1) return invalidArgument("attribute 'p' must be positive, got " + std::to_string(p));
    return globalPool(ctx, GlobalPoolOp::kLp, p);
}

//! MaxUnpool. The indices (input 1) and output_shape (input 2) are read on the host: every index is validated
//! as the CPU does (an out-of-range index is an error, not a stray write), re-addressed into the output shape,
//! and repeated targets resolved to the last writer (the CPU's sequential order) before a plain scatter.
Status maxUnpool(CudaKernelContext& ctx) {
    KILN_RETURN_IF_ERROR(ctx.requireInputs(2, 3));
    const DeviceTensor& x = ctx.input(0);
    const Tensor& idx = ctx.hostInput(1);
    KILN_RETURN_IF_ERROR(cpu::nn::checkSpatialInput(shapeView(x), "X"));
    if (idx.dtype() != DataType::kInt64 || idx.shape() != x.shape) {
        return invalidArgument("input 'I' must be int64 with the shape of 'X' " + shapeView(x).describe() + ", got " +
                               idx.describe());
    }
    const auto r = static_cast<size_t>(x.rank() - 2);
    KILN_ASSIGN_OR_RETURN(auto kernel, cpu::nn::kernelShapeAttr(ctx.attrs(), r));
    const auto strides = ctx.attrs().getInts("strides").value_or(std::vector<int64_t>(r, 1));
    const auto pads = ctx.attrs().getInts("pads").value_or(std::vector<int64_t>(2 * r, 0));
    if (strides.size() != r || pads.size() != 2 * r) {
        return invalidArgument("attributes 'strides'/'pads' must have " + std::to_string(r) + "/" +
                               std::to_string(2 * r) + " values");
    }
    // The indices address the shape MaxPool's input had (the inferred shape); an explicit output_shape only pads
    // that shape at the end, so each index is re-addressed into it.
    Shape inferred{x.shape[0], x.shape[1]};
    for (size_t i = 0; i < r; ++i) {
        const int64_t d = (x.shape[i + 2] - 1) * strides[i] + kernel[i] - pads[i] - pads[i + r];
        if (d < 0) return invalidArgument("computed output dim " + std::to_string(i) + " is negative");
        inferred.push_back(d);
    }
    Shape outShape = inferred;
    if (ctx.hasInput(2)) {
        outShape = ctx.hostInput(2).toInt64Vector();
        if (static_cast<int64_t>(outShape.size()) != x.rank() || outShape[0] != x.shape[0] ||
            outShape[1] != x.shape[1]) {
            return invalidArgument("input 'output_shape' " + shapeToString(outShape) + " must be [N, C, ...] for 'X' " +
                                   shapeView(x).describe());
        }
        for (size_t i = 0; i < outShape.size(); ++i) {
            if (outShape[i] < inferred[i]) {
                return invalidArgument("input 'output_shape' " + shapeToString(outShape) +
                                       " is smaller than the unpooled shape " + shapeToString(inferred));
            }
        }
    }
    const int64_t total = shapeNumel(inferred);
    const auto inStrides = cpu::stridesOf(inferred);
    const auto outStrides = cpu::stridesOf(outShape);
    const int64_t count = idx.numel();
    std::vector<int64_t> target(static_cast<size_t>(count));
    const int64_t* pi = idx.data<int64_t>();
    for (int64_t i = 0; i < count; ++i) {
        if (pi[i] < 0 || pi[i] >= total) {
            return outOfRange("input 'I' value " + std::to_string(pi[i]) + " at " + std::to_string(i) +
                              " is outside the unpooled shape " + shapeToString(inferred));
        }
        int64_t rest = pi[i], at = 0;
        for (size_t d = 0; d < inferred.size(); ++d) {
            at += rest / inStrides[d] * outStrides[d];
            rest %= inStrides[d];
        }
        target[static_cast<size_t>(i)] = at;
    }
    KILN_RETURN_IF_ERROR(checkDtype(x.dtype, dtypes::kNumeric, "MaxUnpool"));
    // Last writer wins: walk backwards and keep the first sighting of each target. Pairs are laid out as
    // [src..., dst...] for one upload.
    std::vector<int64_t> order(static_cast<size_t>(count));
    for (int64_t i = 0; i < count; ++i) order[static_cast<size_t>(i)] = count - 1 - i;
    std::stable_sort(order.begin(), order.end(), [&](int64_t a, int64_t b) {
        return target[static_cast<size_t>(a)] < target[static_cast<size_t>(b)];
    });
    std::vector<int64_t> src, dst;
    for (size_t k = 0; k < order.size(); ++k) {
        const int64_t i = order[k];
        if (k > 0 && target[static_cast<size_t>(order[k - 1])] == target[static_cast<size_t>(i)]) continue;
        src.push_back(i);
        dst.push_back(target[static_cast<size_t>(i)]);
    }
    const auto pairs = static_cast<int64_t>(src.size());
    src.insert(src.end(), dst.begin(), dst.end());
    KILN_ASSIGN_OR_RETURN(DeviceTensor * y, ctx.allocateOutput(0, x.dtype, outShape));
    if (y->byteSize() > 0) KILN_CUDA_CHECK(cudaMemsetAsync(y->data, 0, y->byteSize(), ctx.stream()));
    if (pairs == 0) return Status::ok();
    const size_t bytes = src.size() * sizeof(int64_t);
    KILN_ASSIGN_OR_RETURN(void* table, ctx.workspace(bytes));
    // From pageable memory the copy returns once the bytes are staged, so `src` may be released afterwards.
    KILN_CUDA_CHECK(cudaMemcpyAsync(table, src.data(), bytes, cudaMemcpyHostToDevice, ctx.stream()));
    const auto* pairTable = static_cast<const int64_t*>(table);
    KILN_CUDA_CHECK(launchScatter(x.dtype, x.data, y->data, pairTable, pairTable + pairs, pairs, ctx.stream()));
    return Status::ok();
}

}  // namespace

void registerPoolingKernels(KernelRegistry& r) {
    r.add(ir::OpKind::kMaxPool, maxPool);
    r.add(ir::OpKind::kAveragePool, averagePool);
    r.add(ir::OpKind::kLpPool, lpPool);
    r.add(ir::OpKind::kGlobalAveragePool, globalAveragePool);
    r.add(ir::OpKind::kGlobalMaxPool, globalMaxPool);
    r.add(ir::OpKind::kGlobalLpPool, globalLpPool);
    r.add(ir::OpKind::kMaxUnpool, maxUnpool, hostMask({1, 2}));
}

}  // namespace kiln::cuda
