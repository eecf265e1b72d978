// Data movement: Transpose, Concat, Split, Slice, Expand, Tile, Pad, DepthToSpace, SpaceToDepth, ReverseSequence,
// Compress, NonZero. All but NonZero copy elements without reading them, so they take every dtype (strings too);
// most are a per-dim gather (data_movement.h). Validation and output shapes come from the plans in op_plans.h,
// which the CUDA kernels share.
#include <algorithm>
#include <string>

#include "backends/cpu/broadcast.h"
#include "backends/cpu/data_movement.h"
#include "backends/cpu/kernel.h"
#include "backends/cpu/op_plans.h"
#include "common/dispatch.h"

namespace kiln::cpu {

namespace {

//! Product of shape[begin, end).
int64_t dimProduct(const Shape& shape, size_t begin, size_t end) {
    int64_t n = 1;
    for (size_t i = begin; i < end; ++i) n *= shape[i];
    return n;
}

//! Allocates output 0 with `shape` and fills it by gathering from input `src` with `offsets`.
Status gatherToOutput(KernelContext& ctx, const Tensor& src, const Shape& shape, const DimOffsets& offsets,
                      const Tensor* fill = nullptr) {
    KILN_ASSIGN_OR_RETURN(Tensor * y, ctx.allocateOutput(0, src.dtype(), shape));
    gatherByDimOffsets(src, 0, offsets, *y, fill);
    return Status::ok();
}

//! Transposes `x` viewed as plan.view by plan.perm into a tensor of plan.outShape (a reshape of the permuted view).
Status permuteView(KernelContext& ctx, const Tensor& x, const PermuteViewPlan& plan) {
    Shape permuted(plan.perm.size());
    for (size_t d = 0; d < plan.perm.size(); ++d) permuted[d] = plan.view[static_cast<size_t>(plan.perm[d])];
    KILN_ASSIGN_OR_RETURN(Tensor y, Tensor::allocate(x.dtype(), permuted));
    gatherByDimOffsets(x, 0, transposeOffsets(plan.view, plan.perm), y);
    KILN_ASSIGN_OR_RETURN(ctx.outputs[0], y.reshaped(plan.outShape));
    return Status::ok();
}

}  // namespace

Status kernelTranspose(KernelContext& ctx) {
    KILN_ASSIGN_OR_RETURN(TransposePlan plan, planTranspose(ctx));
    const Tensor& x = ctx.input(0);
    return gatherToOutput(ctx, x, plan.outShape, transposeOffsets(x.shape(), plan.perm));
}

Status kernelConcat(KernelContext& ctx) {
    KILN_ASSIGN_OR_RETURN(ConcatPlan plan, planConcat(ctx));
    const Shape& shape = plan.outShape;
    const auto ax = static_cast<size_t>(plan.axis);
    KILN_ASSIGN_OR_RETURN(Tensor * y, ctx.allocateOutput(0, ctx.input(0).dtype(), shape));
    const int64_t outer = dimProduct(shape, 0, ax);
    const int64_t inner = dimProduct(shape, ax + 1, shape.size());
    const int64_t outRow = shape[ax] * inner;
    int64_t column = 0;
    for (size_t i = 0; i < ctx.numInputs(); ++i) {
        const Tensor& t = ctx.input(i);
        const int64_t chunk = t.shape()[ax] * inner;
        for (int64_t o = 0; o < outer; ++o) copyElements(t, o * chunk, *y, o * outRow + column, chunk);
        column += chunk;
    }
    return Status::ok();
}

Status kernelSplit(KernelContext& ctx) {
    KILN_ASSIGN_OR_RETURN(SplitPlan plan, planSplit(ctx));
    const Tensor& x = ctx.input(0);
    const auto ax = static_cast<size_t>(plan.axis);
    const int64_t dim = x.shape()[ax];
    const int64_t outer = dimProduct(x.shape(), 0, ax);
    const int64_t inner = dimProduct(x.shape(), ax + 1, x.shape().size());
    int64_t column = 0;
    for (size_t i = 0; i < plan.sizes.size(); ++i) {
        const int64_t chunk = plan.sizes[i] * inner;
        if (ctx.wantsOutput(i)) {
            Shape shape = x.shape();
            shape[ax] = plan.sizes[i];
            KILN_ASSIGN_OR_RETURN(Tensor * y, ctx.allocateOutput(i, x.dtype(), shape));
            for (int64_t o = 0; o < outer; ++o) copyElements(x, o * dim * inner + column, *y, o * chunk, chunk);
        }
        column += chunk;
    }
    return Status::ok();
}

Status kernelSlice(KernelContext& ctx) {
    KILN_ASSIGN_OR_RETURN(SlicePlan plan, planSlice(ctx));
    const Tensor& x = ctx.input(0);
    const std::vector<int64_t> strides = stridesOf(x.shape());
    DimOffsets offsets(strides.size());
    for (size_t d = 0; d < offsets.size(); ++d) {
        offsets[d].resize(static_cast<size_t>(plan.outShape[d]));
        for (int64_t i = 0; i < plan.outShape[d]; ++i) {
            offsets[d][static_cast<size_t>(i)] = (plan.begin[d] + i * plan.step[d]) * strides[d];
        }
    }
    return gatherToOutput(ctx, x, plan.outShape, offsets);
}

Status kernelExpand(KernelContext& ctx) {
    KILN_ASSIGN_OR_RETURN(Shape shape, planExpand(ctx));
    const Tensor& x = ctx.input(0);
    const std::vector<int64_t> strides = stridesOf(x.shape());
    const size_t lead = shape.size() - x.shape().size();
    DimOffsets offsets(shape.size());
    for (size_t d = 0; d < shape.size(); ++d) {
        const bool broadcast = d < lead || x.shape()[d - lead] == 1;
        offsets[d].resize(static_cast<size_t>(shape[d]));
        for (size_t i = 0; i < offsets[d].size(); ++i) {
            offsets[d][i] = broadcast ? 0 : static_cast<int64_t>(i) * strides[d - lead];
        }
    }
    return gatherToOutput(ctx, x, shape, offsets);
}

Status kernelTile(KernelContext& ctx) {
    KILN_ASSIGN_OR_RETURN(TilePlan plan, planTile(ctx));
    const Tensor& x = ctx.input(0);
    const std::vector<int64_t> strides = stridesOf(x.shape());
    DimOffsets offsets(plan.outShape.size());
    for (size_t d = 0; d < offsets.size(); ++d) {
        const int64_t dim = x.shape()[d];
        offsets[d].resize(static_cast<size_t>(plan.outShape[d]));
        for (int64_t i = 0; i < plan.outShape[d]; ++i) offsets[d][static_cast<size_t>(i)] = (i % dim) * strides[d];
    }
    return gatherToOutput(ctx, x, plan.outShape, offsets);
}

Status kernelPad(KernelContext& ctx) {
    KILN_ASSIGN_OR_RETURN(PadPlan plan, planPad(ctx));
    const Tensor& x = ctx.input(0);
    const std::vector<int64_t> strides = stridesOf(x.shape());
    DimOffsets offsets(plan.outShape.size());
    for (size_t d = 0; d < offsets.size(); ++d) {
        offsets[d].resize(static_cast<size_t>(plan.outShape[d]));
        for (int64_t i = 0; i < plan.outShape[d]; ++i) {
            const int64_t src = padSource(plan.mode, i, plan.padBegin[d], x.shape()[d]);
            offsets[d][static_cast<size_t>(i)] = src < 0 ? kFillOffset : src * strides[d];
        }
    }
    return gatherToOutput(ctx, x, plan.outShape, offsets, plan.fill);
}

Status kernelDepthToSpace(KernelContext& ctx) {
    KILN_ASSIGN_OR_RETURN(PermuteViewPlan plan, planDepthToSpace(ctx));
    return permuteView(ctx, ctx.input(0), plan);
}

Status kernelSpaceToDepth(KernelContext& ctx) {
    KILN_ASSIGN_OR_RETURN(PermuteViewPlan plan, planSpaceToDepth(ctx));
    return permuteView(ctx, ctx.input(0), plan);
}

Status kernelReverseSequence(KernelContext& ctx) {
    KILN_ASSIGN_OR_RETURN(ReverseSequencePlan plan, planReverseSequence(ctx));
    const Tensor& x = ctx.input(0);
    const int64_t batch = x.dim(plan.batchAxis);
    const int64_t time = x.dim(plan.timeAxis);
    KILN_ASSIGN_OR_RETURN(auto lens, readIndexVector(ctx.input(1), "sequence_lens"));
    KILN_RETURN_IF_ERROR(checkSequenceLens(lens, time));
    KILN_ASSIGN_OR_RETURN(Tensor * y, ctx.allocateOutput(0, x.dtype(), x.shape()));
    // Dims 0 and 1 are batch and time; each (d0, d1) pair owns one contiguous block of the remaining dims.
    const int64_t block = dimProduct(x.shape(), 2, x.shape().size());
    const int64_t d1 = x.dim(1);
    for (int64_t b = 0; b < batch; ++b) {
        const int64_t len = lens[static_cast<size_t>(b)];
        for (int64_t t = 0; t < time; ++t) {
            const int64_t src = t < len ? len - 1 - t : t;
            const int64_t outPair = plan.batchAxis == 0 ? b * d1 + t : t * d1 + b;
            const int64_t inPair = plan.batchAxis == 0 ? b * d1 + src : src * d1 + b;
            copyElements(x, inPair * block, *y, outPair * block, block);
        }
    }
    return Status::ok();
}

Status kernelCompress(KernelContext& ctx) {
    KILN_ASSIGN_OR_RETURN(CompressPlan plan, planCompress(ctx));
    KILN_ASSIGN_OR_RETURN(Tensor src, ctx.input(0).reshaped(plan.srcShape));
    const auto ax = static_cast<size_t>(plan.axis);
    const std::vector<int64_t> strides = stridesOf(plan.srcShape);
    DimOffsets offsets(plan.outShape.size());
    for (size_t d = 0; d < offsets.size(); ++d) {
        offsets[d].resize(static_cast<size_t>(plan.outShape[d]));
        for (size_t i = 0; i < offsets[d].size(); ++i) {
            offsets[d][i] = (d == ax ? plan.selected[i] : static_cast<int64_t>(i)) * strides[d];
        }
    }
    return gatherToOutput(ctx, src, plan.outShape, offsets);
}

Status kernelNonZero(KernelContext& ctx) {
    KILN_RETURN_IF_ERROR(ctx.requireInputs(1, 1));
    const Tensor& x = ctx.input(0);
    // A scalar counts as a 1-element vector (numpy's behaviour, as ONNX Runtime does).
    const Shape shape = x.rank() == 0 ? Shape{1} : x.shape();
    std::vector<int64_t> hits;
    KILN_RETURN_IF_ERROR(dispatchAll(
        x.dtype(),
        [&]<typename T>() {
            for (int64_t i = 0; i < x.numel(); ++i) {
                if (static_cast<ComputeT<T>>(x.data<T>()[i]) != ComputeT<T>(0)) hits.push_back(i);
            }
            return Status::ok();
        },
        "NonZero"));
    const auto rank = static_cast<int64_t>(shape.size());
    const auto count = static_cast<int64_t>(hits.size());
    KILN_ASSIGN_OR_RETURN(Tensor * y, ctx.allocateOutput(0, DataType::kInt64, {rank, count}));
    for (int64_t j = 0; j < count; ++j) {
        int64_t flat = hits[static_cast<size_t>(j)];
        for (int64_t d = rank - 1; d >= 0; --d) {
            y->data<int64_t>()[d * count + j] = flat % shape[static_cast<size_t>(d)];
            flat /= shape[static_cast<size_t>(d)];
        }
    }
    return Status::ok();
}

}  // namespace kiln::cpu
