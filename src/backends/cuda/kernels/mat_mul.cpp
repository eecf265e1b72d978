// MatMul, Gemm and Kiln's FusedGemm / FusedMatMul on the GPU.
//
// Floating-point products run in cuBLASLt (mat_mul_lt.cpp). MatMul's numpy batch broadcasting becomes one strided
// batched call when the batch offsets of A and B are arithmetic progressions (same batch dims, or one side
// broadcast whole), one call per run of the trailing batch dims otherwise, and one plain GEMM over batch * M rows
// when B is a single matrix. Epilogues fold into cuBLASLt where they match: a bias along the last dim (FusedMatMul's
// bias, Gemm's C of shape [N] or [1, N] with beta 1) is CUBLASLT_EPILOGUE_BIAS, a residual Z of the output's shape
// is cuBLASLt's C with beta 1, Relu is CUBLASLT_EPILOGUE_RELU(_BIAS) and GELU CUBLASLT_EPILOGUE_GELU(_BIAS) (see
// ltActivation for which GELU). Everything else (other activations, a broadcast C, an epilogue cuBLASLt refuses at a
// dtype) is Kiln's epilogue pass after the product.
// Trailing batches over which B is one matrix fold into the GEMM's rows (foldBatches): [1, B, S, K] x [G, 1, K, N]
// is G batches of M = B * S. FusedMatMul's grouped bias [G, 1, ..., N] (matmul-merge) is cuBLASLt's per-batch bias
// (CUBLASLT_MATMUL_DESC_BIAS_BATCH_STRIDE) when those G batches are one call, else Kiln's epilogue.
// Integer MatMul / Gemm use Kiln's kernels (mat_mul.cu) with 64-bit accumulation, as the CPU reference does.
#include "backends/cuda/kernels/mat_mul.h"
#include <type_traits>

#include "backends/cpu/broadcast.h"
#include "backends/cpu/nn_common.h"
#include "backends/cuda/check.h"
#include "backends/cuda/kernels/conv_gemm_common.h"
#include "backends/cuda/kernels/families.h"
#include "backends/cuda/kernels/mat_mul_lt.h"

namespace kiln::cuda {

namespace {

namespace nn = cpu::nn;

Status sameDtype(const DeviceTensor& a, const DeviceTensor& b, const char* nameA, const char* nameB) {
    if (a.dtype == b.dtype) return Status::ok();
    return invalidArgument(std::string("inputs '") + nameA + "' and '" + nameB + "' must have the same dtype, got " +
                           dataTypeName(a.dtype) + " and " + dataTypeName(b.dtype));
}

Status checkResidual(const DeviceTensor* z, DataType dtype, const Shape& outShape) {
    if (!z || (z->dtype == dtype && z->shape == outShape)) return Status::ok();
    return invalidArgument("residual input 'Z' " + shapeView(*z).describe() + " must match the output " +
                           Tensor::wrap(dtype, outShape, nullptr).describe());
}

Status noIntegerEpilogue(DataType dtype, const DeviceTensor* bias, const DeviceTensor* z, EpilogueActivation act) {
    if (!bias && !z && act.kind == EpilogueAct::kNone) return Status::ok();
    return unsupported(std::string("dtype ") + dataTypeName(dtype) + " is not supported by fused epilogue");
}

enum class LtAct { kNone, kRelu, kGelu };

//! The activation cuBLASLt's epilogue applies for `act`: Relu, and GELU's tanh form, exactly; GELU's erf form only
//! for float16/bfloat16, where cuBLASLt's tanh form is within half an ulp of the result at the forms' largest gap
//! (4.7e-4 at |x| = 2.7; docs/cuda.md). float32/float64 erf-GELU stays exact in Kiln's epilogue.
LtAct ltActivation(EpilogueAct act, DataType dtype) {
    if (act == EpilogueAct::kRelu) return LtAct::kRelu;
    if (act == EpilogueAct::kGeluTanh) return LtAct::kGelu;
    const bool halfWidth = dtype == DataType::kFloat16 || dtype == DataType::kBFloat16;
    return act == EpilogueAct::kGelu && halfWidth ? LtAct::kGelu : LtAct::kNone;
}

Status fillZero(CudaKernelContext& ctx, DeviceTensor& y) {
    if (y.byteSize() > 0) KILN_CUDA_CHECK(cudaMemsetAsync(y.data, 0, y.byteSize(), ctx.stream()));
    return Status::ok();
}

//! `p` advanced by `elements` of `t`.
template <typename Void>
Void* offsetBytes(Void* p, int64_t elements, DataType t) {
    using Byte = std::conditional_t<std::is_const_v<Void>, const char, char>;
    return static_cast<Byte*>(p) + elements * static_cast<int64_t>(dataTypeSize(t));
}

//! D (m x n) = A (m x k) B (k x n), all packed; callers add transposes, batches, C, bias and Relu.
LtGemm ltProduct(DataType dtype, int64_t m, int64_t n, int64_t k, const void* a, const void* b, void* d) {
    LtGemm g;
    g.dtype = dtype;
    g.m = m;
    g.n = n;
    g.k = k;
    g.lda = k;
    g.ldb = n;
    g.a = a;
    g.b = b;
    g.d = d;
    return g;
}

// ---- Gemm / FusedGemm ----

//! Element strides that read C (rank <= 2) broadcast over an m x n matrix.
std::pair<int64_t, int64_t> broadcastStrides(const Shape& c) {
    const int64_t rows = c.size() == 2 ? c[0] : 1;
    const int64_t cols = c.empty() ? 1 : c.back();
    return {rows == 1 ? 0 : cols, cols == 1 ? 0 : 1};
}

Status gemm(CudaKernelContext& ctx, bool fused) {
    KILN_RETURN_IF_ERROR(ctx.requireInputs(ctx.opset() < 11 ? 3 : 2, fused ? 4 : 3));
    const DeviceTensor& a = ctx.input(0);
    const DeviceTensor& b = ctx.input(1);
    const DeviceTensor* c = optionalInput(ctx, 2);
    KILN_RETURN_IF_ERROR(sameDtype(a, b, "A", "B"));
    if (c) KILN_RETURN_IF_ERROR(sameDtype(a, *c, "A", "C"));
    if (a.rank() != 2 || b.rank() != 2) {
        return invalidArgument("inputs 'A' and 'B' must be 2-D, got " + shapeView(a).describe() + " and " +
                               shapeView(b).describe());
    }
    const bool transA = ctx.attrs().getInt("transA", 0) != 0;
    const bool transB = ctx.attrs().getInt("transB", 0) != 0;
    const float alpha = ctx.attrs().getFloat("alpha", 1.0f);
    const float beta = ctx.attrs().getFloat("beta", 1.0f);
    const int64_t m = transA ? a.shape[1] : a.shape[0];
    const int64_t k = transA ? a.shape[0] : a.shape[1];
    const int64_t n = transB ? b.shape[0] : b.shape[1];
    if ((transB ? b.shape[1] : b.shape[0]) != k) {
        return invalidArgument("inner dims differ: A " + shapeView(a).describe() + (transA ? " (transposed)" : "") +
                               ", B " + shapeView(b).describe() + (transB ? " (transposed)" : ""));
    }
    const Shape outShape{m, n};
    if (c) {
        auto bc = cpu::broadcastShapes({c->shape, outShape});
        if (!bc.isOk() || *bc != outShape) {
            return invalidArgument("input 'C' " + shapeView(*c).describe() + " cannot be broadcast to " +
                                   shapeToString(outShape));
        }
    }
    EpilogueActivation act;
    const DeviceTensor* z = nullptr;
    if (fused) {
        KILN_ASSIGN_OR_RETURN(act, parseFusedActivation(ctx.attrs()));
        z = optionalInput(ctx, 3);
        KILN_RETURN_IF_ERROR(checkResidual(z, a.dtype, outShape));
    }
    KILN_ASSIGN_OR_RETURN(DeviceTensor * y, ctx.allocateOutput(0, a.dtype, outShape));
    if (m == 0 || n == 0) return Status::ok();
    const auto [cStrideM, cStrideN] = c ? broadcastStrides(c->shape) : std::pair<int64_t, int64_t>{0, 0};

    if (!isFloatingPoint(a.dtype)) {
        KILN_RETURN_IF_ERROR(noIntegerEpilogue(a.dtype, nullptr, z, act));
        KILN_CUDA_CHECK(launchIntegerGemm(a.dtype, a.data, b.data, c ? c->data : nullptr, y->data, m, n, k, transA,
                                          transB, alpha, beta, cStrideM, cStrideN, ctx.stream()));
        return Status::ok();
    }
    const bool cTerm = c && beta != 0.0f;
    if (k == 0) {  // no products: y = beta * C, then the epilogue
        if (cTerm) {
            KILN_CUDA_CHECK(
                launchBroadcastMatrix(a.dtype, c->data, y->data, m, n, cStrideM, cStrideN, beta, ctx.stream()));
        } else {
            KILN_RETURN_IF_ERROR(fillZero(ctx, *y));
        }
        return runEpilogue(ctx, *y, nullptr, 1, z, act);
    }

    LtGemm g = ltProduct(a.dtype, m, n, k, a.data, b.data, y->data);
    g.transA = transA;
    g.transB = transB;
    g.lda = a.shape[1];
    g.ldb = b.shape[1];
    g.alpha = alpha;
    const bool biasVector =
        cTerm && beta == 1.0f &&
        ((c->rank() == 1 && c->shape[0] == n) || (c->rank() == 2 && c->shape[0] == 1 && c->shape[1] == n));
    const DeviceTensor* kilnZ = z;
    EpilogueActivation kilnAct = act;
    if (cTerm && !biasVector) {
        if (c->shape == outShape) {
            g.c = c->data;
        } else {
            KILN_CUDA_CHECK(
                launchBroadcastMatrix(a.dtype, c->data, y->data, m, n, cStrideM, cStrideN, 1.0, ctx.stream()));
            g.c = y->data;
        }
        g.beta = beta;
    } else if (z) {
        g.c = z->data;
        g.beta = 1.0;
        kilnZ = nullptr;
    }
    if (biasVector) g.bias = c->data;
    const LtAct ltAct = kilnZ ? LtAct::kNone : ltActivation(act.kind, a.dtype);
    if (ltAct != LtAct::kNone) {
        g.relu = ltAct == LtAct::kRelu;
        g.gelu = ltAct == LtAct::kGelu;
        kilnAct = EpilogueActivation{};
    }
    Status st = runLtGemm(ctx, g);
    const DeviceTensor* kilnBias = nullptr;
    if (st.code() == ErrorCode::kUnsupported && (g.bias || g.relu || g.gelu)) {
        // cuBLASLt cannot fuse this epilogue here: the plain product, then Kiln's epilogue.
        kilnBias = g.bias ? c : nullptr;
        kilnAct = act;
        g.bias = nullptr;
        g.relu = false;
        g.gelu = false;
        st = runLtGemm(ctx, g);
    }
    KILN_RETURN_IF_ERROR(st);
    return runEpilogue(ctx, *y, kilnBias, 1, kilnZ, kilnAct);
}

// ---- MatMul / FusedMatMul ----

//! A run of batches whose A and B offsets are arithmetic progressions (one strided batched call).
struct BatchRun {
    int64_t first = 0, count = 1;
    int64_t strideA = 0, strideB = 0;
};

//! Splits the plan's batches into as few runs as possible: the whole batch if it is one progression, else runs over
//! fewer and fewer trailing batch dims (down to single matrices).
std::vector<BatchRun> batchRuns(const nn::MatMulPlan& plan, const Shape& batchShape) {
    const int64_t total = static_cast<int64_t>(plan.aOffsets.size());
    for (size_t lead = 0; lead <= batchShape.size(); ++lead) {
        int64_t inner = 1;
        for (size_t d = lead; d < batchShape.size(); ++d) inner *= batchShape[d];
        if (inner < 1) return {};
        const int64_t sA = inner > 1 ? plan.aOffsets[1] - plan.aOffsets[0] : 0;
        const int64_t sB = inner > 1 ? plan.bOffsets[1] - plan.bOffsets[0] : 0;
        bool progression = true;
        for (int64_t i = 0; i < total && progression; ++i) {
            const int64_t base = i - i % inner;
            progression = plan.aOffsets[i] == plan.aOffsets[base] + (i - base) * sA &&
                          plan.bOffsets[i] == plan.bOffsets[base] + (i - base) * sB;
        }
        if (!progression) continue;
        std::vector<BatchRun> runs;
        for (int64_t first = 0; first < total; first += inner) runs.push_back({first, inner, sA, sB});
        return runs;
    }
    return {};
}

//! The plan with its trailing batches folded into the rows: the largest trailing block of batch dims over which B
//! stays one matrix and A's matrices are consecutive becomes [fold * m, k] x [k, n], one GEMM (MatMul of
//! [1, B, S, K] by [G, 1, K, N], as matmul-merge writes it: M = B * S, and G batches left). Returns fold; `folded`
//! keeps one offset pair per remaining batch and `foldedShape` the remaining batch dims.
int64_t foldBatches(const nn::MatMulPlan& plan, const Shape& batchShape, nn::MatMulPlan& folded, Shape& foldedShape) {
    const int64_t total = static_cast<int64_t>(plan.aOffsets.size());
    for (size_t lead = 0; lead < batchShape.size(); ++lead) {
        int64_t inner = 1;
        for (size_t d = lead; d < batchShape.size(); ++d) inner *= batchShape[d];
        if (inner < 2) break;
        bool consecutive = true;
        for (int64_t i = 0; i < total && consecutive; ++i) {
            const int64_t base = i - i % inner;
            consecutive = plan.bOffsets[i] == plan.bOffsets[base] &&
                          plan.aOffsets[i] == plan.aOffsets[base] + (i - base) * plan.m * plan.k;
        }
        if (!consecutive) continue;
        folded = plan;
        folded.aOffsets.clear();
        folded.bOffsets.clear();
        for (int64_t i = 0; i < total; i += inner) {
            folded.aOffsets.push_back(plan.aOffsets[i]);
            folded.bOffsets.push_back(plan.bOffsets[i]);
        }
        foldedShape.assign(batchShape.begin(), batchShape.begin() + static_cast<std::ptrdiff_t>(lead));
        return inner;
    }
    folded = plan;
    foldedShape = batchShape;
    return 1;
}

//! FusedMatMul's bias: 1-D along the last dim, or grouped [G, 1, ..., 1, N] (one bias row per leading slice).
bool isGroupedBias(const DeviceTensor& bias, const Shape& out) {
    if (bias.rank() < 2 || bias.shape.size() != out.size() || bias.shape[0] != out[0] ||
        bias.shape.back() != out.back())
        return false;
    for (size_t d = 1; d + 1 < out.size(); ++d) {
        if (bias.shape[d] != 1) return false;
    }
    return true;
}

//! Kiln's epilogue for a MatMul output, with a 1-D or grouped bias.
Status matMulEpilogue(CudaKernelContext& ctx, const DeviceTensor& y, const DeviceTensor* bias, const DeviceTensor* z,
                      EpilogueActivation act) {
    if (!bias || bias->rank() < 2 || y.numel() == 0) return runEpilogue(ctx, y, bias, 1, z, act);
    EpilogueArgs e;
    e.y = y.data;
    e.count = y.numel();
    e.bias = bias->data;
    e.biasCount = bias->shape.back();
    e.biasGroup = y.numel() / y.shape[0];
    e.z = z ? z->data : nullptr;
    e.act = act;
    KILN_CUDA_CHECK(launchEpilogue(y.dtype, e, ctx.stream()));
    return Status::ok();
}

Status matMul(CudaKernelContext& ctx, bool fused) {
    KILN_RETURN_IF_ERROR(ctx.requireInputs(2, fused ? 4 : 2));
    const DeviceTensor& a = ctx.input(0);
    const DeviceTensor& b = ctx.input(1);
    KILN_RETURN_IF_ERROR(sameDtype(a, b, "A", "B"));
    KILN_ASSIGN_OR_RETURN(nn::MatMulPlan plan, nn::planMatMul(a.shape, b.shape));
    EpilogueActivation act;
    const DeviceTensor* bias = nullptr;
    const DeviceTensor* z = nullptr;
    if (fused) {
        KILN_ASSIGN_OR_RETURN(act, parseFusedActivation(ctx.attrs()));
        z = optionalInput(ctx, 3);
        KILN_RETURN_IF_ERROR(checkResidual(z, a.dtype, plan.outShape));
        bias = optionalInput(ctx, 2);
        // Along the output's last dim, which is N unless B is 1-D.
        const int64_t last = plan.outShape.empty() ? 1 : plan.outShape.back();
        if (bias && (bias->dtype != a.dtype ||
                     ((bias->rank() != 1 || bias->shape[0] != last) && !isGroupedBias(*bias, plan.outShape)))) {
            return invalidArgument("input 'bias' " + shapeView(*bias).describe() + " must be 1-D of size " +
                                   std::to_string(last) + " (or [dim 0, 1, ..., " + std::to_string(last) +
                                   "]) and dtype " + dataTypeName(a.dtype));
        }
    }
    KILN_ASSIGN_OR_RETURN(DeviceTensor * y, ctx.allocateOutput(0, a.dtype, plan.outShape));
    if (y->numel() == 0) return Status::ok();
    const int64_t m = plan.m, n = plan.n, k = plan.k;
    const Shape batchShape(plan.outShape.begin(),
                           plan.outShape.end() - (a.rank() > 1 ? 1 : 0) - (b.rank() > 1 ? 1 : 0));
    std::vector<BatchRun> runs = plan.bShared ? std::vector<BatchRun>{} : batchRuns(plan, batchShape);

    if (!isFloatingPoint(a.dtype)) {
        KILN_RETURN_IF_ERROR(noIntegerEpilogue(a.dtype, bias, z, act));
        if (plan.bShared) runs = {BatchRun{0, 1, 0, 0}};
        const int64_t rows = plan.bShared ? static_cast<int64_t>(plan.aOffsets.size()) * m : m;
        for (const BatchRun& r : runs) {
            KILN_CUDA_CHECK(launchIntegerMatMul(a.dtype, offsetBytes(a.data, plan.aOffsets[r.first], a.dtype),
                                                offsetBytes(b.data, plan.bOffsets[r.first], a.dtype),
                                                offsetBytes(y->data, r.first * m * n, a.dtype), r.count, rows, n, k,
                                                r.strideA, r.strideB, ctx.stream()));
        }
        return Status::ok();
    }
    if (k == 0) {
        KILN_RETURN_IF_ERROR(fillZero(ctx, *y));
        return matMulEpilogue(ctx, *y, bias, z, act);
    }

    nn::MatMulPlan folded;
    Shape foldedShape;
    const int64_t fold = plan.bShared ? 1 : foldBatches(plan, batchShape, folded, foldedShape);
    if (!plan.bShared) runs = batchRuns(folded, foldedShape);
    const nn::MatMulPlan& p = plan.bShared ? plan : folded;
    const int64_t rows = plan.bShared ? static_cast<int64_t>(plan.aOffsets.size()) * m : fold * m;
    const bool grouped = bias && bias->rank() > 1;
    // A grouped bias goes to cuBLASLt (a bias per batch) when one batched call's batches are the leading slices.
    const bool groupsAreBatches = grouped && !plan.bShared && runs.size() == 1 && runs[0].count == plan.outShape[0] &&
                                  runs[0].count * rows * n == y->numel();
    // cuBLASLt's bias runs along N, which is the output's last dim only when B is a matrix.
    const bool ltBias = bias && b.rank() > 1 && (!grouped || groupsAreBatches);
    // An activation after a bias cuBLASLt does not add would come too early.
    const LtAct ltAct = !bias || ltBias ? ltActivation(act.kind, a.dtype) : LtAct::kNone;
    auto products = [&](bool epilogue) -> Status {
        auto call = [&](const BatchRun& r) {
            LtGemm g = ltProduct(a.dtype, rows, n, k, offsetBytes(a.data, p.aOffsets[r.first], a.dtype),
                                 offsetBytes(b.data, p.bOffsets[r.first], a.dtype),
                                 offsetBytes(y->data, r.first * rows * n, a.dtype));
            g.batch = r.count;
            g.strideA = r.strideA;
            g.strideB = r.strideB;
            if (z) {
                g.c = offsetBytes(z->data, r.first * rows * n, a.dtype);
                g.beta = 1.0;
            }
            g.bias = epilogue && ltBias ? bias->data : nullptr;
            g.biasBatchStride = grouped ? n : 0;
            g.relu = epilogue && ltAct == LtAct::kRelu;
            g.gelu = epilogue && ltAct == LtAct::kGelu;
            return runLtGemm(ctx, g);
        };
        if (plan.bShared) return call(BatchRun{});
        for (const BatchRun& r : runs) KILN_RETURN_IF_ERROR(call(r));
        return Status::ok();
    };
    bool fusedInLt = ltBias || ltAct != LtAct::kNone;
    Status st = products(fusedInLt);
    if (st.code() == ErrorCode::kUnsupported && fusedInLt) {
        fusedInLt = false;  // cuBLASLt cannot fuse the epilogue here: the plain products, then Kiln's epilogue
        st = products(false);
    }
    KILN_RETURN_IF_ERROR(st);
    return matMulEpilogue(ctx, *y, fusedInLt && ltBias ? nullptr : bias, nullptr,
                          fusedInLt && ltAct != LtAct::kNone ? EpilogueActivation{} : act);
}

Status matMulKernel(CudaKernelContext& ctx) { return matMul(ctx, false); }
Status fusedMatMulKernel(CudaKernelContext& ctx) { return matMul(ctx, true); }
Status gemmKernel(CudaKernelContext& ctx) { return gemm(ctx, false); }
Status fusedGemmKernel(CudaKernelContext& ctx) { return gemm(ctx, true); }

}  // namespace

void registerMatMulKernels(KernelRegistry& r) {
    r.add(ir::OpKind::kMatMul, matMulKernel);
    r.add(ir::OpKind::kGemm, gemmKernel);
    r.add(ir::OpKind::kFusedGemm, fusedGemmKernel);
    r.add(ir::OpKind::kFusedMatMul, fusedMatMulKernel);
}

}  // namespace kiln::cuda
