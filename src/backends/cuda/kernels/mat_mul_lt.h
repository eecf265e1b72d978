// Floating-point GEMMs through cuBLASLt: row-major problems (Kiln's tensors) mapped onto cuBLASLt's column-major
// API by computing Dᵀ = op(B)ᵀ op(A)ᵀ, strided batches, and the BIAS / RELU(_BIAS) / GELU(_BIAS) epilogues.
// cuBLASLt's GELU is the tanh approximation 0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3))), which differs from
// the erf form by at most 4.7e-4 (at |x| = 2.7, under half an FP16 ulp of the result there).
//
// Precision: float32 computes in CUBLAS_COMPUTE_32F, or CUBLAS_COMPUTE_32F_FAST_TF32 when the run allows TF32;
// float16 / bfloat16 in CUBLAS_COMPUTE_32F (FP32 accumulation); float64 in CUBLAS_COMPUTE_64F.
// Algorithm choice: the node's tactic (../tactics.h: timed among cuBLASLt's heuristic list at build, checked with
// cublasLtMatmulAlgoCheck) when the call's signature is the recorded one; otherwise cuBLASLt's heuristic
// (cublasLtMatmulAlgoGetHeuristic) for the problem, its pointer alignments and the workspace budget, cached per
// problem signature (conv_gemm_common.h).
#pragma once

#include "backends/cuda/kernel.h"

namespace kiln::cuda {

//! D[b] = act(alpha * op(A[b]) op(B[b]) + beta * C[b] + bias) for b < batch, every matrix row-major; act is Relu,
//! GELU (tanh form) or none. D's row and batch strides are free, so a caller can write into a strided part of a
//! larger tensor (conv_transpose_gemm.cpp scatters a ConvTranspose's taps that way).
struct LtGemm {
    DataType dtype = DataType::kFloat32;
    bool transA = false;  //!< A is stored k x m (lda >= m) instead of m x k (lda >= k).
    bool transB = false;  //!< B is stored n x k (ldb >= k) instead of k x n (ldb >= n).
    int64_t m = 0, n = 0, k = 0;
    int64_t lda = 0, ldb = 0;
    int64_t batch = 1;
    int64_t strideA = 0, strideB = 0;  //!< Elements between batches (0: one matrix shared by all).
    double alpha = 1.0, beta = 0.0;
    const void* a = nullptr;
    const void* b = nullptr;
    const void* c = nullptr;      //!< m x n per batch in D's layout (ldd, strideD), or null for no C term.
    void* d = nullptr;            //!< m x n per batch, rows ldd apart, batches strideD apart; may equal c.
    int64_t ldd = 0;              //!< Elements between rows of D (and C); 0: n (packed rows).
    int64_t strideD = 0;          //!< Elements between the D (and C) matrices of consecutive batches; 0: m * ldd.
    const void* bias = nullptr;   //!< n values added to every row, or null.
    int64_t biasBatchStride = 0;  //!< Elements between the bias vectors of consecutive batches (0: one shared).
    bool relu = false;
    bool gelu = false;  //!< CUBLASLT_EPILOGUE_GELU(_BIAS); not together with relu.
};

//! Runs the GEMM on ctx's stream. kUnsupported when cuBLASLt has no algorithm for it (for instance an epilogue at
//! this dtype): nothing has been written then, and the caller can retry without the epilogue.
Status runLtGemm(CudaKernelContext& ctx, const LtGemm& g);

}  // namespace kiln::cuda
