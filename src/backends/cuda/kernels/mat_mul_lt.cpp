#include "backends/cuda/kernels/mat_mul_lt.h"

#include <algorithm>
#include <array>
#include <climits>
#include <cstdio>
#include <initializer_list>
#include <optional>
#include <vector>

#include "backends/cuda/check.h"
#include "backends/cuda/kernels/conv_gemm_common.h"
#include "backends/cuda/tactics.h"

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

//! Tactics recorded in engines, decoded and checked by cuBLASLt once per problem and tactic.
AlgoCache<LtAlgo>& tacticCache() {
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

//! The operands of one call as cuBLASLt sees them.
struct LtCall {
    cublasLtHandle_t handle = nullptr;
    const MatmulDesc* desc = nullptr;
    const Layout* la = nullptr;
    const Layout* lb = nullptr;
    const Layout* lc = nullptr;
};

//! cuBLASLt's heuristic: up to `count` algorithms for the problem within `budget` bytes of workspace and for
//! operands of these alignments, best first (none when it has no algorithm for it).
Result<std::vector<cublasLtMatmulHeuristicResult_t>> rankAlgorithms(const LtCall& call, size_t budget,
                                                                    const std::array<uint32_t, 4>& align, int count) {
    Preference pref;
    KILN_CUBLAS_CHECK(cublasLtMatmulPreferenceCreate(pref.put()));
    KILN_RETURN_IF_ERROR(setPref(pref, CUBLASLT_MATMUL_PREF_MAX_WORKSPACE_BYTES, static_cast<uint64_t>(budget)));
    KILN_RETURN_IF_ERROR(setPref(pref, CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_A_BYTES, align[0]));
    KILN_RETURN_IF_ERROR(setPref(pref, CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_B_BYTES, align[1]));
    KILN_RETURN_IF_ERROR(setPref(pref, CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_C_BYTES, align[2]));
    KILN_RETURN_IF_ERROR(setPref(pref, CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_D_BYTES, align[3]));
    std::vector<cublasLtMatmulHeuristicResult_t> results(static_cast<size_t>(count));
    int returned = 0;
    const cublasStatus_t st =
        cublasLtMatmulAlgoGetHeuristic(call.handle, call.desc->get(), call.la->get(), call.lb->get(), call.lc->get(),
                                       call.lc->get(), pref.get(), count, results.data(), &returned);
    if (st != CUBLAS_STATUS_SUCCESS && st != CUBLAS_STATUS_NOT_SUPPORTED) {
        return cublasFailure(st, "cublasLtMatmulAlgoGetHeuristic");
    }
    std::vector<cublasLtMatmulHeuristicResult_t> usable;
    for (int i = 0; st == CUBLAS_STATUS_SUCCESS && i < returned; ++i) {
        if (results[static_cast<size_t>(i)].state == CUBLAS_STATUS_SUCCESS)
            usable.push_back(results[static_cast<size_t>(i)]);
    }
    return usable;
}

//! A tactic is the algorithm's opaque bytes in hex and its workspace: "algo=<128 hex digits> workspace=N".
std::string encodeTactic(const cublasLtMatmulAlgo_t& algo, size_t workspace) {
    static constexpr char kHex[] = "0123456789abcdef";
    std::string text = "algo=";
    const auto* bytes = reinterpret_cast<const unsigned char*>(&algo);
    for (size_t i = 0; i < sizeof(algo); ++i) {
        text += kHex[bytes[i] >> 4];
        text += kHex[bytes[i] & 15];
    }
    return text + " workspace=" + std::to_string(workspace);
}

std::optional<LtAlgo> decodeTactic(const std::string& text) {
    constexpr size_t kHexDigits = 2 * sizeof(cublasLtMatmulAlgo_t);
    const std::string prefix = "algo=", middle = " workspace=";
    if (text.size() <= prefix.size() + kHexDigits + middle.size() || text.compare(0, prefix.size(), prefix) != 0 ||
        text.compare(prefix.size() + kHexDigits, middle.size(), middle) != 0) {
        return std::nullopt;
    }
    LtAlgo out;
    auto* bytes = reinterpret_cast<unsigned char*>(&out.algo);
    auto nibble = [](char c) { return c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1; };
    for (size_t i = 0; i < sizeof(out.algo); ++i) {
        const int hi = nibble(text[prefix.size() + 2 * i]), lo = nibble(text[prefix.size() + 2 * i + 1]);
        if (hi < 0 || lo < 0) return std::nullopt;
        bytes[i] = static_cast<unsigned char>(hi << 4 | lo);
    }
    unsigned long long workspace = 0;
    int consumed = 0;
    const std::string rest = text.substr(prefix.size() + kHexDigits + middle.size());
    if (std::sscanf(rest.c_str(), "%llu%n", &workspace, &consumed) != 1 ||
        static_cast<size_t>(consumed) != rest.size()) {
        return std::nullopt;
    }
    out.found = true;
    out.workspace = static_cast<size_t>(workspace);
    return out;
}

//! The recorded tactic as an algorithm cuBLASLt accepts for this problem (cublasLtMatmulAlgoCheck), checked once
//! per problem and tactic; not found when it does not decode or cuBLASLt rejects it.
Result<std::shared_ptr<LtAlgo>> tacticAlgo(const LtCall& call, const CacheKey& problem, const std::string& tactic,
                                           size_t budget) {
    CacheKey key = problem;
    key.add(tactic);
    if (std::shared_ptr<LtAlgo> known = tacticCache().find(key)) return known;
    auto algo = std::make_shared<LtAlgo>();
    if (std::optional<LtAlgo> decoded = decodeTactic(tactic); decoded && decoded->workspace <= budget) {
        cublasLtMatmulHeuristicResult_t check{};
        const cublasStatus_t st = cublasLtMatmulAlgoCheck(call.handle, call.desc->get(), call.la->get(), call.lb->get(),
                                                          call.lc->get(), call.lc->get(), &decoded->algo, &check);
        if (st == CUBLAS_STATUS_SUCCESS && check.workspaceSize <= budget) {
            *algo = *decoded;
            algo->workspace = std::max(decoded->workspace, check.workspaceSize);
        } else if (st != CUBLAS_STATUS_SUCCESS && st != CUBLAS_STATUS_NOT_SUPPORTED &&
                   st != CUBLAS_STATUS_INVALID_VALUE) {
            return cublasFailure(st, "cublasLtMatmulAlgoCheck");
        }
    }
    return tacticCache().insert(key, std::move(algo));
}

//! D's (and C's) row and batch strides, the defaults resolved.
struct DLayout {
    int64_t ld = 0, stride = 0;
    explicit DLayout(const LtGemm& g) : ld(g.ldd ? g.ldd : g.n), stride(g.strideD ? g.strideD : ld * g.m) {}
    bool packed(const LtGemm& g) const { return ld == g.n && (g.batch <= 1 || stride == g.m * g.n); }
    //! Elements from D's first element to one past its last.
    int64_t span(const LtGemm& g) const { return (g.batch - 1) * stride + (g.m - 1) * ld + g.n; }
};

//! The problem as a timing-cache signature (tactics.h): the fields of the algorithm cache's key but the device.
std::string signatureOf(const LtGemm& g, const DLayout& dl, cublasComputeType_t compute, cublasLtEpilogue_t epilogue,
                        const std::array<uint32_t, 4>& align, size_t budget) {
    Signature sig("cublaslt.matmul");
    sig.add("dtype", dataTypeName(g.dtype)).add("compute", static_cast<int64_t>(compute));
    sig.add("epilogue", static_cast<int64_t>(epilogue))
        .add("trans", std::string(g.transA ? "T" : "N") + (g.transB ? "T" : "N"));
    sig.add("mnk", std::to_string(g.m) + "x" + std::to_string(g.n) + "x" + std::to_string(g.k));
    sig.add("ld", std::to_string(g.lda) + "," + std::to_string(g.ldb)).add("batch", g.batch);
    sig.add("batch_stride", std::to_string(g.strideA) + "," + std::to_string(g.strideB)).add("c", g.c != nullptr);
    // Only a strided D names its layout, so the signatures (and timing caches) of packed calls stay as they were.
    if (!dl.packed(g)) sig.add("d_layout", std::to_string(dl.ld) + "," + std::to_string(dl.stride));
    sig.dims("align", align, align.size()).add("workspace", budgetText(budget));
    return sig.text();
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
    const DLayout dl(g);
    if (dl.ld < g.n) {
        return invalidArgument("cuBLASLt D row stride " + std::to_string(dl.ld) + " is below its " +
                               std::to_string(g.n) + " columns");
    }
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
    KILN_RETURN_IF_ERROR(makeLayout(lc, type, g.n, g.m, dl.ld, g.batch, dl.stride));

    const int64_t elem = static_cast<int64_t>(dataTypeSize(g.dtype));
    const bool batched = g.batch > 1;
    const uint32_t alignA = alignmentOf(g.b, {g.ldb * elem, batched ? g.strideB * elem : 0});
    const uint32_t alignB = alignmentOf(g.a, {g.lda * elem, batched ? g.strideA * elem : 0});
    const void* c = g.c ? g.c : g.d;
    // A packed D's batch stride m * n is a multiple of n: counting it changes no packed call's alignment.
    const uint32_t alignC = alignmentOf(c, {dl.ld * elem, batched ? dl.stride * elem : 0});
    const uint32_t alignD = alignmentOf(g.d, {dl.ld * elem, batched ? dl.stride * elem : 0});
    const size_t budget = std::min(workspaceBudget(ctx, 0, kWorkspaceCap), kWorkspaceCap);

    const std::array<uint32_t, 4> align{alignA, alignB, alignC, alignD};
    CacheKey key;
    key.add(currentDevice()).add(static_cast<int64_t>(g.dtype)).add(compute).add(epilogue);
    key.add(g.transA).add(g.transB).add(g.m).add(g.n).add(g.k).add(g.lda).add(g.ldb);
    key.add(g.batch).add(g.strideA).add(g.strideB).add(dl.ld).add(dl.stride).add(g.c != nullptr).add(biasStride);
    key.add(alignA).add(alignB).add(alignC).add(alignD).add(static_cast<int64_t>(budget));
    const LtCall call{ctx.run.cublasLt, &desc, &la, &lb, &lc};
    const float alpha32 = static_cast<float>(g.alpha), beta32 = g.c ? static_cast<float>(g.beta) : 0.0f;
    const double alpha64 = g.alpha, beta64 = g.c ? g.beta : 0.0;
    const void* alpha = f64 ? static_cast<const void*>(&alpha64) : &alpha32;
    const void* beta = f64 ? static_cast<const void*>(&beta64) : &beta32;

    // Build-time timing: cuBLASLt's heuristic list, as long as the level asks, each candidate run on the real
    // operands (into a scratch D when D is also C, which repeated runs would otherwise accumulate into).
    std::vector<cublasLtMatmulHeuristicResult_t> candidates;
    auto list = [&]() -> Result<TacticCandidates> {
        const size_t wanted = ctx.run.tuner ? ctx.run.tuner->effort().candidates : 1;
        const int count = static_cast<int>(std::min<size_t>(wanted, 64));
        KILN_ASSIGN_OR_RETURN(candidates, rankAlgorithms(call, budget, align, count));
        void* timingD = g.d;
        if (g.c == g.d && !candidates.empty()) {
            const size_t bytes = static_cast<size_t>(dl.span(g) * elem);
            KILN_ASSIGN_OR_RETURN(timingD, ctx.run.arena->allocate(bytes));
            DeviceArena* arena = ctx.run.arena;
            ctx.scratch.emplace_back(timingD, [arena](void* q) { arena->free(q); });
        }
        TacticCandidates t;
        t.count = candidates.size();
        t.workspace = [&](size_t i) { return candidates[i].workspaceSize; };
        t.run = [&, timingD](size_t i, void* ws) -> Status {
            const cublasLtMatmulHeuristicResult_t& r = candidates[i];
            const cublasStatus_t st =
                cublasLtMatmul(ctx.run.cublasLt, desc.get(), alpha, g.b, la.get(), g.a, lb.get(), beta, c, lc.get(),
                               timingD, lc.get(), &r.algo, ws, r.workspaceSize, ctx.stream());
            if (st == CUBLAS_STATUS_NOT_SUPPORTED) return unsupported("cublasLtMatmul refused the algorithm");
            if (st != CUBLAS_STATUS_SUCCESS) return cublasFailure(st, "cublasLtMatmul");
            return Status::ok();
        };
        t.encode = [&](size_t i) { return encodeTactic(candidates[i].algo, candidates[i].workspaceSize); };
        return t;
    };
    std::string tactic;
    if (mayHaveTactic(ctx)) {
        KILN_ASSIGN_OR_RETURN(tactic, chooseTactic(ctx, signatureOf(g, dl, compute, epilogue, align, budget), list));
    }

    std::shared_ptr<LtAlgo> algo;
    if (!tactic.empty()) {
        KILN_ASSIGN_OR_RETURN(algo, tacticAlgo(call, key, tactic, budget));
        if (!algo->found) algo = nullptr;
    }
    if (!algo) algo = algoCache().find(key);
    if (!algo) {
        KILN_ASSIGN_OR_RETURN(auto ranked, rankAlgorithms(call, budget, align, 1));
        auto found = std::make_shared<LtAlgo>();
        if (!ranked.empty()) {
            found->found = true;
            found->algo = ranked[0].algo;
            found->workspace = ranked[0].workspaceSize;
        }
        algo = algoCache().insert(key, std::move(found));
    }
    if (!algo->found) {
        return unsupported(std::string("cuBLASLt has no algorithm for a ") + dataTypeName(g.dtype) + " GEMM " +
                           std::to_string(g.m) + "x" + std::to_string(g.n) + "x" + std::to_string(g.k) +
                           (epilogue != CUBLASLT_EPILOGUE_DEFAULT ? " with this epilogue" : ""));
    }
    KILN_ASSIGN_OR_RETURN(void* workspace, ctx.workspace(algo->workspace));
    const cublasStatus_t st =
        cublasLtMatmul(ctx.run.cublasLt, desc.get(), alpha, g.b, la.get(), g.a, lb.get(), beta, c, lc.get(), g.d,
                       lc.get(), &algo->algo, workspace, algo->workspace, ctx.stream());
    if (st != CUBLAS_STATUS_SUCCESS) return cublasFailure(st, "cublasLtMatmul");
    return Status::ok();
}

}  // namespace kiln::cuda
