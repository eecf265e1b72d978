// Index-driven data movement: Gather, GatherElements, GatherND, Scatter, ScatterElements, ScatterND.
//
// Plain copies move raw element bytes (any fixed-size dtype); scatter reductions dispatch on the dtype. Validation and
// output shapes come from the plans in op_plans.h (shared with the CUDA kernels); index values are checked here.
#include <cstring>

#include "backends/cpu/indexing.h"
#include "backends/cpu/op_plans.h"
#include "common/dispatch.h"

namespace kiln::cpu {

namespace {

//! Writes `count` consecutive elements of `src` into `dst` (both element offsets), combined by `reduction`.
Status scatterCombine(Tensor& out, int64_t dstOffset, const Tensor& src, int64_t srcOffset, int64_t count,
                      ScatterReduction reduction) {
    const size_t elem = dataTypeSize(out.dtype());
    if (reduction == ScatterReduction::kNone) {
        std::memcpy(static_cast<char*>(out.raw()) + dstOffset * elem,
                    static_cast<const char*>(src.raw()) + srcOffset * elem, static_cast<size_t>(count) * elem);
        return Status::ok();
    }
    return dispatchAll(out.dtype(), [&]<typename T>() {
        using C = ComputeT<T>;
        T* d = out.data<T>() + dstOffset;
        const T* s = src.data<T>() + srcOffset;
        for (int64_t i = 0; i < count; ++i) {
            const C a = static_cast<C>(d[i]);
            const C b = static_cast<C>(s[i]);
            C r;
            switch (reduction) {
                case ScatterReduction::kAdd: r = static_cast<C>(a + b); break;
                case ScatterReduction::kMul: r = static_cast<C>(a * b); break;
                case ScatterReduction::kMax: r = a < b ? b : a; break;
                default: r = b < a ? b : a; break;
            }
            d[i] = fromCompute<T>(r);
        }
        return Status::ok();
    });
}

//! Shared by GatherElements and ScatterElements: for every position of `indices`, the element offset in a tensor of
//! shape `target` where the axis coordinate is replaced by the (wrapped) index value. The plan checked the shapes.
Result<std::vector<int64_t>> elementOffsets(const Shape& target, const Tensor& indices, int64_t axis,
                                            const std::vector<int64_t>& idx) {
    const Shape& ishape = indices.shape();
    const std::vector<int64_t> tstrides = stridesOf(target);
    const int64_t rank = static_cast<int64_t>(ishape.size());
    std::vector<int64_t> coord(ishape.size(), 0);
    std::vector<int64_t> offsets(idx.size());
    int64_t base = 0;  // offset of `coord` without the axis term
    for (size_t i = 0; i < idx.size(); ++i) {
        KILN_ASSIGN_OR_RETURN(int64_t j, wrapIndex(idx[i], target[static_cast<size_t>(axis)], "input 'indices'", axis));
        offsets[i] = base + j * tstrides[static_cast<size_t>(axis)];
        for (int64_t d = rank - 1; d >= 0; --d) {
            const auto du = static_cast<size_t>(d);
            if (++coord[du] < ishape[du]) {
                if (d != axis) base += tstrides[du];
                break;
            }
            if (d != axis) base -= (coord[du] - 1) * tstrides[du];
            coord[du] = 0;
        }
    }
    return offsets;
}

//! For ScatterND/GatherND: element offsets (within one batch slab of `shape[batchDims:]`) of the index tuples.
Result<std::vector<int64_t>> tupleOffsets(const Shape& shape, size_t batchDims, const std::vector<int64_t>& idx,
                                          int64_t k) {
    const std::vector<int64_t> strides = stridesOf(shape);
    const size_t tuples = k == 0 ? 0 : idx.size() / static_cast<size_t>(k);
    std::vector<int64_t> offsets(tuples, 0);
    for (size_t t = 0; t < tuples; ++t) {
        int64_t off = 0;
        for (int64_t j = 0; j < k; ++j) {
            const size_t d = batchDims + static_cast<size_t>(j);
            KILN_ASSIGN_OR_RETURN(int64_t v, wrapIndex(idx[t * static_cast<size_t>(k) + static_cast<size_t>(j)],
                                                       shape[d], "input 1 'indices'", static_cast<int64_t>(d)));
            off += v * strides[d];
        }
        offsets[t] = off;
    }
    return offsets;
}

Status scatterElements(KernelContext& ctx) {
    KILN_ASSIGN_OR_RETURN(ScatterElementsPlan plan, planScatterElements(ctx));
    const Tensor& data = ctx.input(0);
    const Tensor& indices = ctx.input(1);
    const Tensor& updates = ctx.input(2);
    KILN_ASSIGN_OR_RETURN(std::vector<int64_t> idx, readIndexTensor(indices, "input 1 'indices'"));
    KILN_ASSIGN_OR_RETURN(std::vector<int64_t> offsets, elementOffsets(data.shape(), indices, plan.axis, idx));
    ctx.outputs[0] = data.clone();
    for (size_t i = 0; i < offsets.size(); ++i) {
        KILN_RETURN_IF_ERROR(
            scatterCombine(ctx.outputs[0], offsets[i], updates, static_cast<int64_t>(i), 1, plan.reduction));
    }
    return Status::ok();
}

}  // namespace

Status kernelGather(KernelContext& ctx) {
    KILN_ASSIGN_OR_RETURN(GatherPlan plan, planGather(ctx));
    const Tensor& data = ctx.input(0);
    const int64_t axis = plan.axis;
    KILN_ASSIGN_OR_RETURN(std::vector<int64_t> idx, readIndexTensor(ctx.input(1), "input 1 'indices'"));
    const Shape& ds = data.shape();
    const auto ax = static_cast<size_t>(axis);
    for (auto& i : idx) {
        KILN_ASSIGN_OR_RETURN(i, wrapIndex(i, ds[ax], "input 1 'indices'", axis));
    }
    KILN_ASSIGN_OR_RETURN(Tensor * y, ctx.allocateOutput(0, data.dtype(), plan.outShape));
    const int64_t outer = dimProduct(ds, 0, ax);
    const auto inner = static_cast<size_t>(dimProduct(ds, ax + 1, ds.size())) * dataTypeSize(data.dtype());
    const auto* src = static_cast<const char*>(data.raw());
    auto* dst = static_cast<char*>(y->raw());
    for (int64_t o = 0; o < outer; ++o) {
        for (int64_t i : idx) {
            std::memcpy(dst, src + static_cast<size_t>(o * ds[ax] + i) * inner, inner);
            dst += inner;
        }
    }
    return Status::ok();
}

Status kernelGatherElements(KernelContext& ctx) {
    KILN_ASSIGN_OR_RETURN(int64_t axis, planGatherElements(ctx));
    const Tensor& data = ctx.input(0);
    const Tensor& indices = ctx.input(1);
    KILN_ASSIGN_OR_RETURN(std::vector<int64_t> idx, readIndexTensor(indices, "input 1 'indices'"));
    KILN_ASSIGN_OR_RETURN(std::vector<int64_t> offsets, elementOffsets(data.shape(), indices, axis, idx));
    KILN_ASSIGN_OR_RETURN(Tensor * y, ctx.allocateOutput(0, data.dtype(), indices.shape()));
    const size_t elem = dataTypeSize(data.dtype());
    const auto* src = static_cast<const char*>(data.raw());
    auto* dst = static_cast<char*>(y->raw());
    for (size_t i = 0; i < offsets.size(); ++i) {
        std::memcpy(dst + i * elem, src + static_cast<size_t>(offsets[i]) * elem, elem);
    }
    return Status::ok();
}

Status kernelGatherND(KernelContext& ctx) {
    KILN_ASSIGN_OR_RETURN(GatherNDPlan plan, planGatherND(ctx));
    const Tensor& data = ctx.input(0);
    const int64_t k = plan.k;
    KILN_ASSIGN_OR_RETURN(std::vector<int64_t> idx, readIndexTensor(ctx.input(1), "input 1 'indices'"));
    const auto bu = static_cast<size_t>(plan.batchDims);
    KILN_ASSIGN_OR_RETURN(std::vector<int64_t> offsets, tupleOffsets(data.shape(), bu, idx, k));
    KILN_ASSIGN_OR_RETURN(Tensor * y, ctx.allocateOutput(0, data.dtype(), plan.outShape));
    const size_t elem = dataTypeSize(data.dtype());
    const int64_t batches = dimProduct(data.shape(), 0, bu);
    const int64_t slab = dimProduct(data.shape(), bu, data.shape().size());
    const auto slice = static_cast<size_t>(dimProduct(data.shape(), bu + static_cast<size_t>(k), data.shape().size()));
    const size_t perBatch = batches == 0 ? 0 : offsets.size() / static_cast<size_t>(batches);
    const auto* src = static_cast<const char*>(data.raw());
    auto* dst = static_cast<char*>(y->raw());
    for (size_t t = 0; t < offsets.size(); ++t) {
        const auto batch = static_cast<int64_t>(t / perBatch);
        std::memcpy(dst + t * slice * elem, src + static_cast<size_t>(batch * slab + offsets[t]) * elem, slice * elem);
    }
    return Status::ok();
}

Status kernelScatter(KernelContext& ctx) { return scatterElements(ctx); }

Status kernelScatterElements(KernelContext& ctx) { return scatterElements(ctx); }

Status kernelScatterND(KernelContext& ctx) {
    KILN_ASSIGN_OR_RETURN(ScatterNDPlan plan, planScatterND(ctx));
    const Tensor& data = ctx.input(0);
    const Tensor& updates = ctx.input(2);
    KILN_ASSIGN_OR_RETURN(std::vector<int64_t> idx, readIndexTensor(ctx.input(1), "input 1 'indices'"));
    KILN_ASSIGN_OR_RETURN(std::vector<int64_t> offsets, tupleOffsets(data.shape(), 0, idx, plan.k));
    const int64_t slice = dimProduct(data.shape(), static_cast<size_t>(plan.k), data.shape().size());
    ctx.outputs[0] = data.clone();
    for (size_t t = 0; t < offsets.size(); ++t) {
        KILN_RETURN_IF_ERROR(scatterCombine(ctx.outputs[0], offsets[t], updates, static_cast<int64_t>(t) * slice, slice,
                                            plan.reduction));
    }
    return Status::ok();
}

}  // namespace kiln::cpu
