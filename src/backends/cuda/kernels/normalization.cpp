// The normalization family on the GPU: BatchNormalization (inference and training mode), InstanceNormalization,
// LayerNormalization (and kiln FusedAddLayerNorm), MeanVarianceNormalization, LpNormalization, LRN.
// (GroupNormalization is opset 18: not in Kiln's op table.) LayerNormalization over float32/16/bf16 rows with
// Scale and B of the data's dtype takes one warp per row (layer_norm_rows.h).
//
// Host side: the CPU reference's checks and messages, then parameters converted (and, for LayerNorm, broadcast)
// into float or double scratch so that one kernel serves any mix of parameter dtypes; statistics accumulate in
// double when any tensor involved is float64, else in float.
#include "backends/cuda/kernels/normalization.h"

#include <string>

#include "backends/cpu/broadcast.h"
#include "backends/cpu/kernel.h"
#include "backends/cpu/reduce_plan.h"
#include "backends/cuda/check.h"
#include "backends/cuda/kernels/conv_gemm_epilogue.h"
#include "backends/cuda/kernels/elementwise.h"
#include "backends/cuda/kernels/families.h"
#include "backends/cuda/kernels/layer_norm_rows.h"
#include "backends/cuda/kernels/reduction_plan.h"

namespace kiln::cuda {

namespace {

std::string describe(const DeviceTensor& t) { return Tensor::wrap(t.dtype, t.shape, nullptr).describe(); }

//! The CPU's inputAsDouble checks: input 0 is a float tensor of rank >= minRank.
Status checkFloatInput(const DeviceTensor& x, int64_t minRank) {
    if (!isFloatingPoint(x.dtype)) {
        return invalidArgument(std::string("input 0 'X' must be a float tensor, got ") + dataTypeName(x.dtype));
    }
    if (x.rank() < minRank) {
        return invalidArgument("input 0 'X' must have rank >= " + std::to_string(minRank) + ", got shape " +
                               shapeToString(x.shape));
    }
    return Status::ok();
}

//! The CPU's paramVector checks: input `index` is a float tensor of `count` elements.
Status checkParam(const CudaKernelContext& ctx, size_t index, const char* name, int64_t count) {
    const DeviceTensor& t = ctx.input(index);
    if (!isFloatingPoint(t.dtype)) {
        return invalidArgument("input " + std::to_string(index) + " '" + name + "' must be a float tensor, got " +
                               dataTypeName(t.dtype));
    }
    if (t.numel() != count) {
        return invalidArgument("input " + std::to_string(index) + " '" + name + "' has shape " +
                               shapeToString(t.shape) + ", expected " + std::to_string(count) + " elements");
    }
    return Status::ok();
}

size_t accBytes(bool accDouble, int64_t count) {
    return static_cast<size_t>(count) * (accDouble ? sizeof(double) : sizeof(float));
}

DimIndexer contiguous(int64_t count) {
    DimIndexer index;
    index.rank = 1;
    index.sizes[0] = count;
    index.strides[0] = 1;
    return index;
}

//! Reads a tensor of shape `from` broadcast (numpy rules, right-aligned) to `to`, row-major over `to`.
Result<DimIndexer> broadcastIndexer(const Shape& from, const Shape& to) {
    const std::vector<int64_t> strides = cpu::rowMajorStrides(from);
    const auto lead = static_cast<int64_t>(to.size()) - static_cast<int64_t>(from.size());
    DimIndexer index;
    for (size_t d = 0; d < to.size(); ++d) {
        if (to[d] == 1) continue;
        if (index.rank == kMaxReduceDims) {
            return unsupported("broadcasting " + shapeToString(from) + " to " + shapeToString(to) +
                               " on the CUDA backend: more than " + std::to_string(kMaxReduceDims) + " dims");
        }
        const int64_t fd = static_cast<int64_t>(d) - lead;
        index.sizes[index.rank] = to[d];
        index.strides[index.rank] =
            fd >= 0 && from[static_cast<size_t>(fd)] != 1 ? strides[static_cast<size_t>(fd)] : 0;
        ++index.rank;
    }
    return index;
}

//! `count` accumulation-type values in scratch, read from the float tensor `t` through `index`.
Result<void*> toAcc(CudaKernelContext& ctx, const DeviceTensor& t, bool accDouble, int64_t count,
                    const DimIndexer& index) {
    KILN_ASSIGN_OR_RETURN(void* p, ctx.workspace(accBytes(accDouble, count)));
    KILN_CUDA_CHECK(launchToAcc(t.dtype, t.data, accDouble, p, count, index, ctx.stream()));
    return p;
}

//! Output `index` of `type` and `shape`, converted from accumulation-type values.
Status writeFromAcc(CudaKernelContext& ctx, size_t index, DataType type, Shape shape, bool accDouble,
                    const void* values) {
    KILN_ASSIGN_OR_RETURN(DeviceTensor * t, ctx.allocateOutput(index, type, std::move(shape)));
    KILN_CUDA_CHECK(launchFromAcc(accDouble, values, type, t->data, t->numel(), ctx.stream()));
    return Status::ok();
}

Status batchNormalization(CudaKernelContext& ctx) {
    KILN_RETURN_IF_ERROR(ctx.requireInputs(5, 5));
    const DeviceTensor& x = ctx.input(0);
    KILN_RETURN_IF_ERROR(checkFloatInput(x, 2));
    const int64_t n = x.shape[0];
    const int64_t c = x.shape[1];
    const int64_t spatial = cpu::dimProduct(x.shape, 2, x.rank());
    // Before opset 9, spatial=0 gave every activation (channel and position) its own statistics.
    const bool perActivation = ctx.opset() < 9 && ctx.attrs().getInt("spatial", 1) == 0;
    BatchNormArgs args;
    args.numel = x.numel();
    args.period = perActivation ? c * spatial : c;  // parameter index = (flat index / stride) % period
    args.stride = perActivation ? 1 : spatial;
    const char* const names[] = {"scale", "B", "input_mean", "input_var"};
    bool accDouble = x.dtype == DataType::kFloat64;
    for (size_t i = 1; i < 5; ++i) {
        KILN_RETURN_IF_ERROR(checkParam(ctx, i, names[i - 1], args.period));
        accDouble = accDouble || ctx.input(i).dtype == DataType::kFloat64;
    }
    args.epsilon = ctx.attrs().getFloat("epsilon", 1e-5f);
    const double momentum = ctx.attrs().getFloat("momentum", 0.9f);
    // Opset 14 made training explicit; before, asking for the statistics outputs meant training.
    bool training = ctx.attrs().getInt("training_mode", 0) != 0;
    if (ctx.opset() < 14) {
        for (size_t i = 1; i < 5; ++i) training = training || ctx.wantsOutput(i);
    }
    if (ctx.opset() < 7 && ctx.attrs().getInt("is_test", 0) != 0) training = false;  // opset 1-6's explicit flag

    const DimIndexer all = contiguous(args.period);
    const void* params[4];
    for (size_t i = 1; i < 5; ++i) {
        KILN_ASSIGN_OR_RETURN(params[i - 1], toAcc(ctx, ctx.input(i), accDouble, args.period, all));
    }
    args.scale = params[0];
    args.bias = params[1];
    args.mean = params[2];
    args.var = params[3];
    void* batchMean = nullptr;
    void* batchVar = nullptr;
    if (training) {
        // Batch statistics over every axis but the channel (population variance, as numpy's var).
        NormArgs stats;
        KILN_ASSIGN_OR_RETURN(stats.g, planReduction({n, args.period, args.stride}, {true, false, true}));
        KILN_ASSIGN_OR_RETURN(batchMean, ctx.workspace(accBytes(accDouble, args.period)));
        KILN_ASSIGN_OR_RETURN(batchVar, ctx.workspace(accBytes(accDouble, args.period)));
        stats.mean = batchMean;
        stats.spread = batchVar;
        KILN_CUDA_CHECK(
            launchNormalize(NormKind::kBatchStats, x.dtype, accDouble, x.data, nullptr, stats, ctx.stream()));
        args.mean = batchMean;
        args.var = batchVar;
    }
    KILN_ASSIGN_OR_RETURN(DeviceTensor * y, ctx.allocateOutput(0, x.dtype, x.shape));
    KILN_CUDA_CHECK(launchBatchNorm(x.dtype, accDouble, x.data, y->data, args, ctx.stream()));
    if (!training) return Status::ok();

    const DataType statType = ctx.input(3).dtype;
    const Shape& statShape = ctx.input(3).shape;
    const struct {
        const void* running;  // the input statistic blended with the batch's, or null for the batch's own
        const void* batch;
    } stats[] = {{params[2], batchMean}, {params[3], batchVar}, {nullptr, batchMean}, {nullptr, batchVar}};
    for (size_t o = 1; o < 5; ++o) {
        if (!ctx.wantsOutput(o)) continue;
        const void* values = stats[o - 1].batch;
        if (stats[o - 1].running != nullptr) {
            KILN_ASSIGN_OR_RETURN(void* blended, ctx.workspace(accBytes(accDouble, args.period)));
            KILN_CUDA_CHECK(
                launchBlend(accDouble, stats[o - 1].running, values, blended, args.period, momentum, ctx.stream()));
            values = blended;
        }
        KILN_RETURN_IF_ERROR(writeFromAcc(ctx, o, statType, statShape, accDouble, values));
    }
    return Status::ok();
}

Status instanceNormalization(CudaKernelContext& ctx) {
    KILN_RETURN_IF_ERROR(ctx.requireInputs(3, 3));
    const DeviceTensor& x = ctx.input(0);
    KILN_RETURN_IF_ERROR(checkFloatInput(x, 2));
    const int64_t c = x.shape[1];
    KILN_RETURN_IF_ERROR(checkParam(ctx, 1, "scale", c));
    KILN_RETURN_IF_ERROR(checkParam(ctx, 2, "B", c));
    const bool accDouble = x.dtype == DataType::kFloat64 || ctx.input(1).dtype == DataType::kFloat64 ||
                           ctx.input(2).dtype == DataType::kFloat64;
    NormArgs args;
    args.epsilon = ctx.attrs().getFloat("epsilon", 1e-5f);
    args.channels = c;
    std::vector<bool> flags(static_cast<size_t>(x.rank()), true);
    flags[0] = flags[1] = false;  // one segment per (image, channel) plane: o = n * C + c
    KILN_ASSIGN_OR_RETURN(args.g, planReduction(x.shape, flags));
    KILN_ASSIGN_OR_RETURN(args.scale, toAcc(ctx, ctx.input(1), accDouble, c, contiguous(c)));
    KILN_ASSIGN_OR_RETURN(args.bias, toAcc(ctx, ctx.input(2), accDouble, c, contiguous(c)));
    KILN_ASSIGN_OR_RETURN(DeviceTensor * y, ctx.allocateOutput(0, x.dtype, x.shape));
    KILN_CUDA_CHECK(launchNormalize(NormKind::kInstance, x.dtype, accDouble, x.data, y->data, args, ctx.stream()));
    return Status::ok();
}

//! FusedAddLayerNorm's R (input 1) against X: R itself when the shapes are equal (the kernels add it); else X + R
//! with numpy broadcasting into scratch, which replaces `x`, and null.
Result<const DeviceTensor*> addResidual(CudaKernelContext& ctx, DeviceTensor& x) {
    const DeviceTensor& r = ctx.input(1);
    if (r.dtype != x.dtype) {
        return invalidArgument("inputs 'X' and 'R' must have the same dtype, got " + describe(x) + " and " +
                               describe(r));
    }
    if (r.shape == x.shape) return &r;
    auto shape = cpu::broadcastShapes({x.shape, r.shape});
    if (!shape.isOk()) {
        return invalidArgument("input 1 'R' " + describe(r) + " does not broadcast with input 0 'X' " + describe(x));
    }
    DeviceTensor sum;
    sum.dtype = x.dtype;
    sum.shape = *shape;
    KILN_ASSIGN_OR_RETURN(sum.data, ctx.workspace(sum.byteSize()));
    if (sum.numel() > 0) {
        KILN_RETURN_IF_ERROR(
            launchBinary(BinaryOp::kAdd, x.dtype, x.data, x.shape, r.data, r.shape, sum.data, sum.shape, ctx.stream()));
    }
    x = std::move(sum);
    return nullptr;
}

//! LayerNormalization, or (fused) kiln FusedAddLayerNorm: LayerNormalization(X + R) with Scale and B one input later.
Status layerNormalization(CudaKernelContext& ctx, bool fused) {
    const size_t p0 = fused ? 2 : 1;  // index of Scale
    KILN_RETURN_IF_ERROR(ctx.requireInputs(p0 + 1, p0 + 2));
    DeviceTensor x = ctx.input(0);
    const DeviceTensor* residual = nullptr;
    if (fused) {
        KILN_RETURN_IF_ERROR(checkFloatInput(x, 0));
        KILN_ASSIGN_OR_RETURN(residual, addResidual(ctx, x));
    }
    KILN_RETURN_IF_ERROR(checkFloatInput(x, 1));
    KILN_ASSIGN_OR_RETURN(int64_t axis, cpu::normalizeAxis(ctx.attrs().getInt("axis", -1), x.rank()));
    const auto stashType = static_cast<DataType>(ctx.attrs().getInt("stash_type", 1));
    if (!isFloatingPoint(stashType)) {
        return invalidArgument("attribute stash_type " + std::to_string(static_cast<int>(stashType)) +
                               " is not a float type");
    }
    const Shape normShape(x.shape.begin() + axis, x.shape.end());
    const int64_t cols = shapeNumel(normShape);
    bool accDouble = x.dtype == DataType::kFloat64 || stashType == DataType::kFloat64;
    // Scale and B broadcast (unidirectionally) to the normalized shape x.shape[axis:].
    DimIndexer paramIndex[2];
    bool rowParams = true;  // Scale and B hold X's dtype, one value per normalized position: the row kernel's case
    for (size_t j = 0; j < 2; ++j) {
        const size_t i = p0 + j;
        if (!ctx.hasInput(i)) continue;
        const DeviceTensor& p = ctx.input(i);
        auto shape = cpu::broadcastShapes({p.shape, normShape});
        if (!isFloatingPoint(p.dtype) || !shape.isOk() || *shape != normShape) {
            return invalidArgument("input " + std::to_string(i) + " '" + (j == 0 ? "Scale" : "B") + "' (" +
                                   describe(p) + ") must be a float tensor broadcastable to the normalized shape " +
                                   shapeToString(normShape));
        }
        KILN_ASSIGN_OR_RETURN(paramIndex[j], broadcastIndexer(p.shape, normShape));
        accDouble = accDouble || p.dtype == DataType::kFloat64;
        rowParams = rowParams && p.dtype == x.dtype && p.numel() == cols;
    }
    const float epsilon = ctx.attrs().getFloat("epsilon", 1e-5f);
    if (rowParams && rowLayerNormSupports(x.dtype) && !ctx.wantsOutput(1) && !ctx.wantsOutput(2)) {
        KILN_ASSIGN_OR_RETURN(DeviceTensor * y, ctx.allocateOutput(0, x.dtype, x.shape));
        RowLayerNormArgs rows;
        rows.x = x.data;
        rows.residual = residual ? residual->data : nullptr;
        rows.scale = ctx.input(p0).data;
        rows.bias = ctx.hasInput(p0 + 1) ? ctx.input(p0 + 1).data : nullptr;
        rows.y = y->data;
        rows.cols = cols;
        rows.rows = cols > 0 ? x.numel() / cols : 0;
        rows.epsilon = epsilon;
        KILN_CUDA_CHECK(launchRowLayerNorm(x.dtype, rows, ctx.stream()));
        return Status::ok();
    }
    const void* xData = x.data;
    if (residual) {  // float64 or mixed parameter dtypes: X + R into scratch first, then the general kernel
        KILN_ASSIGN_OR_RETURN(void* sum, ctx.workspace(x.byteSize()));
        EpilogueArgs add;
        add.x = x.data;
        add.y = sum;
        add.count = x.numel();
        add.z = residual->data;
        KILN_CUDA_CHECK(launchEpilogue(x.dtype, add, ctx.stream()));
        xData = sum;
    }
    NormArgs args;
    args.epsilon = epsilon;
    std::vector<bool> flags(static_cast<size_t>(x.rank()), false);
    for (int64_t d = axis; d < x.rank(); ++d) flags[static_cast<size_t>(d)] = true;
    KILN_ASSIGN_OR_RETURN(args.g, planReduction(x.shape, flags));
    KILN_ASSIGN_OR_RETURN(args.scale, toAcc(ctx, ctx.input(p0), accDouble, cols, paramIndex[0]));
    if (ctx.hasInput(p0 + 1)) {
        KILN_ASSIGN_OR_RETURN(args.bias, toAcc(ctx, ctx.input(p0 + 1), accDouble, cols, paramIndex[1]));
    } else {
        KILN_ASSIGN_OR_RETURN(void* zeros, ctx.workspace(accBytes(accDouble, cols)));
        if (cols > 0) KILN_CUDA_CHECK(cudaMemsetAsync(zeros, 0, accBytes(accDouble, cols), ctx.stream()));
        args.bias = zeros;
    }
    const int64_t rows = args.g.outCount;
    if (ctx.wantsOutput(1)) {
        KILN_ASSIGN_OR_RETURN(args.mean, ctx.workspace(accBytes(accDouble, rows)));
    }
    if (ctx.wantsOutput(2)) {
        KILN_ASSIGN_OR_RETURN(args.spread, ctx.workspace(accBytes(accDouble, rows)));
    }
    KILN_ASSIGN_OR_RETURN(DeviceTensor * y, ctx.allocateOutput(0, x.dtype, x.shape));
    KILN_CUDA_CHECK(launchNormalize(NormKind::kLayer, x.dtype, accDouble, xData, y->data, args, ctx.stream()));
    Shape statShape(x.shape.begin(), x.shape.begin() + axis);
    statShape.resize(static_cast<size_t>(x.rank()), 1);
    if (ctx.wantsOutput(1)) KILN_RETURN_IF_ERROR(writeFromAcc(ctx, 1, stashType, statShape, accDouble, args.mean));
    if (ctx.wantsOutput(2)) KILN_RETURN_IF_ERROR(writeFromAcc(ctx, 2, stashType, statShape, accDouble, args.spread));
    return Status::ok();
}

Status layerNormalizationKernel(CudaKernelContext& ctx) { return layerNormalization(ctx, false); }
Status fusedAddLayerNormKernel(CudaKernelContext& ctx) { return layerNormalization(ctx, true); }

Status lpNormalization(CudaKernelContext& ctx) {
    KILN_RETURN_IF_ERROR(ctx.requireInputs(1, 1));
    const DeviceTensor& x = ctx.input(0);
    KILN_RETURN_IF_ERROR(checkFloatInput(x, 1));
    KILN_ASSIGN_OR_RETURN(int64_t axis, cpu::normalizeAxis(ctx.attrs().getInt("axis", -1), x.rank()));
    const int64_t p = ctx.attrs().getInt("p", 2);
    if (p != 1 && p != 2) return invalidArgument("attribute p must be 1 or 2, got " + std::to_string(p));
    std::vector<bool> flags(static_cast<size_t>(x.rank()), false);
    flags[static_cast<size_t>(axis)] = true;
    NormArgs args;
    KILN_ASSIGN_OR_RETURN(args.g, planReduction(x.shape, flags));
    KILN_ASSIGN_OR_RETURN(DeviceTensor * y, ctx.allocateOutput(0, x.dtype, x.shape));
    KILN_CUDA_CHECK(launchNormalize(p == 1 ? NormKind::kLp1 : NormKind::kLp2, x.dtype, x.dtype == DataType::kFloat64,
                                    x.data, y->data, args, ctx.stream()));
    return Status::ok();
}

Status meanVarianceNormalization(CudaKernelContext& ctx) {
    KILN_RETURN_IF_ERROR(ctx.requireInputs(1, 1));
    const DeviceTensor& x = ctx.input(0);
    KILN_RETURN_IF_ERROR(checkFloatInput(x, 1));
    const std::vector<int64_t> axes = ctx.attrs().getInts("axes").value_or(std::vector<int64_t>{0, 2, 3});
    KILN_ASSIGN_OR_RETURN(std::vector<bool> flags, cpu::axesToFlags(axes, x.rank(), "attribute axes"));
    NormArgs args;
    KILN_ASSIGN_OR_RETURN(args.g, planReduction(x.shape, flags));
    KILN_ASSIGN_OR_RETURN(DeviceTensor * y, ctx.allocateOutput(0, x.dtype, x.shape));
    KILN_CUDA_CHECK(launchNormalize(NormKind::kMeanVariance, x.dtype, x.dtype == DataType::kFloat64, x.data, y->data,
                                    args, ctx.stream()));
    return Status::ok();
}

Status lrn(CudaKernelContext& ctx) {
    KILN_RETURN_IF_ERROR(ctx.requireInputs(1, 1));
    const DeviceTensor& x = ctx.input(0);
    KILN_RETURN_IF_ERROR(checkFloatInput(x, 2));
    const auto size = ctx.attrs().get<int64_t>("size");
    if (!size || *size < 1) return invalidArgument("attribute size must be a positive integer");
    const double alpha = ctx.attrs().getFloat("alpha", 1e-4f);
    const double beta = ctx.attrs().getFloat("beta", 0.75f);
    const double bias = ctx.attrs().getFloat("bias", 1.0f);
    KILN_ASSIGN_OR_RETURN(DeviceTensor * y, ctx.allocateOutput(0, x.dtype, x.shape));
    KILN_CUDA_CHECK(launchLrn(x.dtype, x.data, y->data, x.shape[0], x.shape[1], cpu::dimProduct(x.shape, 2, x.rank()),
                              *size, alpha, beta, bias, ctx.stream()));
    return Status::ok();
}

}  // namespace

void registerNormalizationKernels(KernelRegistry& r) {
    r.add(ir::OpKind::kBatchNormalization, batchNormalization);
    r.add(ir::OpKind::kInstanceNormalization, instanceNormalization);
    r.add(ir::OpKind::kLayerNormalization, layerNormalizationKernel);
    r.add(ir::OpKind::kFusedAddLayerNorm, fusedAddLayerNormKernel);
    r.add(ir::OpKind::kLpNormalization, lpNormalization);
    r.add(ir::OpKind::kMeanVarianceNormalization, meanVarianceNormalization);
    r.add(ir::OpKind::kLRN, lrn);
}

}  // namespace kiln::cuda
