#include "backends/cuda/kernels/mat_mul_lt.h"

#include <algorithm>
#include <climits>
#include <initializer_list>

#include "backends/cuda/check.h"
#include "backends/cuda/kernels/conv_gemm_common.h"

namespace kiln::cuda {

namespace {

// cuBLASLt picks split-K and stream-K algorithms with up to this much workspace (NVIDIA's advice for Hopper).
constexpr size_t kWorkspaceCap = size_t{32} << 20;

using MatmulDesc = LibraryObject<cublasLtMatmulDesc_t, cublasLtMatmulDescDestroy>;
using Layout = LibraryObject<cublasLtMatrixLayout_t, cublasLtMatrixLayoutDestroy>;
using Preference = LibraryObject<cublasLtMatmulPreference_t, cublasLtMatmulPreferenceDestroy>;

struct LtAlgo {
    bool found = false;
    cublasLtMatmulAlgo_t algo{};
    size_t workspace = 0;
};

AlgoCache<LtAlgo>& algoCache() {
    static AlgoCache<LtAlgo> cache;
    return cache;
}

cudaDataType_t cudaType(DataType t) {
    switch (t) {
        case DataType::kFloat16: return CUDA_R_16F;
        case DataType::kBFloat16: return CUDA_R_16BF;
        case DataType::kFloat64: return CUDA_R_64F;
        default: return CUDA_R_32F;
    }
}

//! The largest power of two up to 256 that divides the address and every byte stride of a matrix operand.
uint32_t alignmentOf(const void* p, std::initializer_list<int64_t> byteStrides) {
    uint64_t bits = reinterpret_cast<uintptr_t>(p);
    for (int64_t s : byteStrides) bits |= static_cast<uint64_t>(s);
    uint32_t a = 256;
    while (a > 1 && (bits & (a - 1)) != 0) a >>= 1;
    return a;
}

Status makeLayout(Layout& l, cudaDataType_t type, int64_t rows, int64_t cols, int64_t ld, int64_t batch,
                  int64_t stride) {
    KILN_CUBLAS_CHECK(
        cublasLtMatrixLayoutCreate(l.put(), type, static_cast<uint64_t>(rows), static_cast<uint64_t>(cols), ld));
    if (batch > 1) {
        const int32_t count = static_cast<int32_t>(batch);
        KILN_CUBLAS_CHECK(
            cublasLtMatrixLayoutSetAttribute(l.get(), CUBLASLT_MATRIX_LAYOUT_BATCH_COUNT, &count, sizeof(count)));
        KILN_CUBLAS_CHECK(cublasLtMatrixLayoutSetAttribute(l.get(), CUBLASLT_MATRIX_LAYOUT_STRIDED_BATCH_OFFSET,
                                                           &stride, sizeof(stride)));
    }
    return Status::ok();
}

template <typename T>
Status setDesc(const MatmulDesc& d, cublasLtMatmulDescAttributes_t attr, const T& value) {
    KILN_CUBLAS_CHECK(cublasLtMatmulDescSetAttribute(d.get(), attr, &value, sizeof(value)));
    return Status::ok();
}

template <typename T>
Status setPref(const Preference& p, cublasLtMatmulPreferenceAttributes_t attr, const T& value) {
    KILN_CUBLAS_CHECK(cublasLtMatmulPreferenceSetAttribute(p.get(), attr, &value, sizeof(value)));
    return Status::ok();
}

}  // namespace

Status runLtGemm(CudaKernelContext& ctx, const LtGemm& g) {
    if (g.batch > INT_MAX) return unsupported("cuBLASLt batch count " + std::to_string(g.batch) + " exceeds int32");
    const cudaDataType_t type = cudaType(g.dtype);
    const bool f64 = g.dtype == DataType::kFloat64;
    const cublasComputeType_t compute = f64 ? CUBLAS_COMPUTE_64F
                                        : (g.dtype == DataType::kFloat32 && ctx.tf32Allowed())
                                            ? CUBLAS_COMPUTE_32F_FAST_TF32
                                            : CUBLAS_COMPUTE_32F;
    const cudaDataType_t scaleType = f64 ? CUDA_R_64F : CUDA_R_32F;
    if (g.relu && g.gelu) return invalidArgument("a cuBLASLt epilogue applies Relu or GELU, not both");
    const cublasLtEpilogue_t epilogue = g.bias ? (g.relu   ? CUBLASLT_EPILOGUE_RELU_BIAS
                                                  : g.gelu ? CUBLASLT_EPILOGUE_GELU_BIAS
                                                           : CUBLASLT_EPILOGUE_BIAS)
                                               : (g.relu   ? CUBLASLT_EPILOGUE_RELU
                                                  : g.gelu ? CUBLASLT_EPILOGUE_GELU
                                                           : CUBLASLT_EPILOGUE_DEFAULT);

    // Row-major D = op(A) op(B) is column-major Dᵀ = op(B)ᵀ op(A)ᵀ: cuBLASLt's "A" is our B and its "B" our A,
    // each read as the transpose of what is stored, which is the stored bytes themselves.
    MatmulDesc desc;
    KILN_CUBLAS_CHECK(cublasLtMatmulDescCreate(desc.put(), compute, scaleType));
    KILN_RETURN_IF_ERROR(setDesc(desc, CUBLASLT_MATMUL_DESC_TRANSA, g.transB ? CUBLAS_OP_T : CUBLAS_OP_N));
    KILN_RETURN_IF_ERROR(setDesc(desc, CUBLASLT_MATMUL_DESC_TRANSB, g.transA ? CUBLAS_OP_T : CUBLAS_OP_N));
    KILN_RETURN_IF_ERROR(setDesc(desc, CUBLASLT_MATMUL_DESC_EPILOGUE, epilogue));
    if (g.bias) KILN_RETURN_IF_ERROR(setDesc(desc, CUBLASLT_MATMUL_DESC_BIAS_POINTER, g.bias));
    const int64_t biasStride = g.bias && g.batch > 1 ? g.biasBatchStride : 0;
    if (biasStride != 0) KILN_RETURN_IF_ERROR(setDesc(desc, CUBLASLT_MATMUL_DESC_BIAS_BATCH_STRIDE, biasStride));
    Layout la, lb, lc;
    KILN_RETURN_IF_ERROR(makeLayout(la, type, g.transB ? g.k : g.n, g.transB ? g.n : g.k, g.ldb, g.batch, g.strideB));
    KILN_RETURN_IF_ERROR(makeLayout(lb, type, g.transA ? g.m : g.k, g.transA ? g.k : g.m, g.lda, g.batch, g.strideA));
    KILN_RETURN_IF_ERROR(makeLayout(lc, type, g.n, g.m, g.n, g.batch, g.m * g.n));

    const int64_t elem = static_cast<int64_t>(dataTypeSize(g.dtype));
    const bool batched = g.batch > 1;
    const uint32_t alignA = alignmentOf(g.b, {g.ldb * elem, batched ? g.strideB * elem : 0});
    const uint32_t alignB = alignmentOf(g.a, {g.lda * elem, batched ? g.strideA * elem : 0});
    const void* c = g.c ? g.c : g.d;
    const uint32_t alignC = alignmentOf(c, {g.n * elem});
    const uint32_t alignD = alignmentOf(g.d, {g.n * elem});
    const size_t budget = std::min(workspaceBudget(ctx, 0, kWorkspaceCap), kWorkspaceCap);

    CacheKey key;
    key.add(currentDevice()).add(static_cast<int64_t>(g.dtype)).add(compute).add(epilogue);
    key.add(g.transA).add(g.transB).add(g.m).add(g.n).add(g.k).add(g.lda).add(g.ldb);
    key.add(g.batch).add(g.strideA).add(g.strideB).add(g.c != nullptr).add(biasStride);
    key.add(alignA).add(alignB).add(alignC).add(alignD).add(static_cast<int64_t>(budget));
    std::shared_ptr<LtAlgo> algo = algoCache().find(key);
    if (!algo) {
        Preference pref;
        KILN_CUBLAS_CHECK(cublasLtMatmulPreferenceCreate(pref.put()));
        KILN_RETURN_IF_ERROR(setPref(pref, CUBLASLT_MATMUL_PREF_MAX_WORKSPACE_BYTES, static_cast<uint64_t>(budget)));
        KILN_RETURN_IF_ERROR(setPref(pref, CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_A_BYTES, alignA));
        KILN_RETURN_IF_ERROR(setPref(pref, CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_B_BYTES, alignB));
        KILN_RETURN_IF_ERROR(setPref(pref, CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_C_BYTES, alignC));
        KILN_RETURN_IF_ERROR(setPref(pref, CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_D_BYTES, alignD));
        cublasLtMatmulHeuristicResult_t result{};
        int returned = 0;
        const cublasStatus_t st = cublasLtMatmulAlgoGetHeuristic(ctx.run.cublasLt, desc.get(), la.get(), lb.get(),
                                                                 lc.get(), lc.get(), pref.get(), 1, &result, &returned);
        if (st != CUBLAS_STATUS_SUCCESS && st != CUBLAS_STATUS_NOT_SUPPORTED) {
            return cublasFailure(st, "cublasLtMatmulAlgoGetHeuristic");
        }
        auto found = std::make_shared<LtAlgo>();
        if (st == CUBLAS_STATUS_SUCCESS && returned > 0 && result.state == CUBLAS_STATUS_SUCCESS) {
            found->found = true;
            found->algo = result.algo;
            found->workspace = result.workspaceSize;
        }
        algo = algoCache().insert(key, std::move(found));
    }
    if (!algo->found) {
        return unsupported(std::string("cuBLASLt has no algorithm for a ") + dataTypeName(g.dtype) + " GEMM " +
                           std::to_string(g.m) + "x" + std::to_string(g.n) + "x" + std::to_string(g.k) +
                           (epilogue != CUBLASLT_EPILOGUE_DEFAULT ? " with this epilogue" : ""));
    }
    KILN_ASSIGN_OR_RETURN(void* workspace, ctx.workspace(algo->workspace));
    const float alpha32 = static_cast<float>(g.alpha), beta32 = g.c ? static_cast<float>(g.beta) : 0.0f;
    const double alpha64 = g.alpha, beta64 = g.c ? g.beta : 0.0;
    const void* alpha = f64 ? static_cast<const void*>(&alpha64) : &alpha32;
    const void* beta = f64 ? static_cast<const void*>(&beta64) : &beta32;
    const cublasStatus_t st =
        cublasLtMatmul(ctx.run.cublasLt, desc.get(), alpha, g.b, la.get(), g.a, lb.get(), beta, c, lc.get(), g.d,
                       lc.get(), &algo->algo, workspace, algo->workspace, ctx.stream());
    if (st != CUBLAS_STATUS_SUCCESS) return cublasFailure(st, "cublasLtMatmul");
    return Status::ok();
}

}  // namespace kiln::cuda
