// kiln TransposeCast on the GPU (made by src/passes/transpose_cast_fusion.cpp): validation and the output shape come
// from the CPU reference's Transpose plan on a data-less view (the same messages as the reference). A permutation
// that is a batched 2-D transpose — leading dims kept, then two blocks of dims swapped, as the channels-last edges'
// (0,2,3,1) and (0,3,1,2) are — between float32, float16 and bfloat16 runs launchTransposeCast's one pass; anything
// else moves the data with Transpose's gather into workspace and converts it with Cast's kernel.
#include "backends/cuda/kernels/transpose_cast.h"

#include <optional>
#include <string>

#include "backends/cpu/broadcast.h"
#include "backends/cpu/op_plans.h"
#include "backends/cuda/check.h"
#include "backends/cuda/kernels/data_movement.h"
#include "backends/cuda/kernels/elementwise.h"
#include "backends/cuda/kernels/families.h"
#include "backends/cuda/kernels/movement_host.h"
#include "backends/cuda/kernels/reference_view.h"

namespace kiln::cuda {

namespace {

//! A permutation read as src [batches, rows, cols] → dst [batches, cols, rows].
struct BatchedTranspose {
    int64_t batches = 1, rows = 1, cols = 1;
};

int64_t product(const Shape& s, size_t begin, size_t end) {
    int64_t n = 1;
    for (size_t i = begin; i < end; ++i) n *= s[i];
    return n;
}

//! `perm` as (0, ..., k-1, k+m, ..., r-1, k, ..., k+m-1) for some k and 0 < m < r-k: dims [0, k) are batches,
//! [k, k+m) the rows and [k+m, r) the columns of `shape`. nullopt for other permutations (identity included).
std::optional<BatchedTranspose> asBatchedTranspose(const std::vector<int64_t>& perm, const Shape& shape) {
    const size_t r = perm.size();
    size_t k = 0;
    while (k < r && perm[k] == static_cast<int64_t>(k)) ++k;
    if (k == r) return std::nullopt;
    const auto colsBegin = static_cast<size_t>(perm[k]);  // k + m
    if (colsBegin <= k || colsBegin >= r) return std::nullopt;
    for (size_t i = k; i < r; ++i) {
        const size_t want = i < k + (r - colsBegin) ? colsBegin + (i - k) : k + (i - k - (r - colsBegin));
        if (perm[i] != static_cast<int64_t>(want)) return std::nullopt;
    }
    return BatchedTranspose{product(shape, 0, k), product(shape, k, colsBegin), product(shape, colsBegin, r)};
}

Result<DataType> targetType(const CudaKernelContext& ctx) {
    if (!ctx.attrs().has("to")) return invalidArgument("attribute 'to' is required");
    const int64_t to = ctx.attrs().getInt("to", 0);
    const auto t = static_cast<DataType>(to);
    if (to <= 0 || to > 16 || t == DataType::kString || dataTypeSize(t) == 0) {
        return unsupported("attribute 'to' = " + std::to_string(to) + " is not a type TransposeCast converts to");
    }
    return t;
}

Status transposeCastKernel(CudaKernelContext& ctx) {
    KILN_RETURN_IF_ERROR(ctx.requireInputs(1, 1));
    KILN_ASSIGN_OR_RETURN(const DataType to, targetType(ctx));
    ReferenceView ref(ctx);
    KILN_ASSIGN_OR_RETURN(cpu::TransposePlan plan, cpu::planTranspose(ref.context()));
    const DeviceTensor& x = ctx.input(0);
    KILN_RETURN_IF_ERROR(requireDeviceCopyable(x, "input 0"));
    KILN_ASSIGN_OR_RETURN(DeviceTensor * y, ctx.allocateOutput(0, to, plan.outShape));
    const int64_t count = product(x.shape, 0, x.shape.size());
    if (count == 0) return Status::ok();
    if (transposeCastConverts(x.dtype, to)) {
        if (const std::optional<BatchedTranspose> t = asBatchedTranspose(plan.perm, x.shape)) {
            KILN_CUDA_CHECK(
                launchTransposeCast(x.data, x.dtype, y->data, to, t->batches, t->rows, t->cols, ctx.stream()));
            return Status::ok();
        }
    }
    // Other permutations and dtypes: Transpose's gather into workspace, then Cast's kernel.
    const size_t elem = dataTypeSize(x.dtype);
    KILN_ASSIGN_OR_RETURN(void* moved, ctx.workspace(static_cast<size_t>(count) * elem));
    const std::vector<int64_t> strides = cpu::stridesOf(x.shape);
    std::vector<GatherDim> dims(plan.perm.size());
    for (size_t d = 0; d < dims.size(); ++d) {
        dims[d] = GatherDim{plan.outShape[d], strides[static_cast<size_t>(plan.perm[d])]};
    }
    KILN_CUDA_CHECK(launchStridedGather(x.data, moved, elem, 0, std::move(dims), nullptr, ctx.stream()));
    return launchCast(x.dtype, to, moved, y->data, count, ctx.stream());
}

}  // namespace

void registerTransposeCastKernels(KernelRegistry& r) { r.add(ir::OpKind::kTransposeCast, transposeCastKernel); }

}  // namespace kiln::cuda
