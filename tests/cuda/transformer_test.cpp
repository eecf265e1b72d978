// CUDA kernels for transformer encoders against the CPU reference: Gelu (both forms), the GELU epilogues of
// FusedMatMul / FusedGemm (cuBLASLt's GELU_BIAS for the tanh form and for 16-bit erf GELU, Kiln's epilogue for
// float32 erf GELU), kiln FusedAddLayerNorm and LayerNormalization's row kernel (registers, 8-byte loads, the
// streamed path for long rows, the general kernel for float64 and mixed dtypes), matmul-merge's stacked FusedMatMul
// ([1, .., K] x [G, 1, K, N] with a grouped bias: one batched GEMM) and Split along a leading axis (views).
#include "cuda/cuda_op_tester.h"

namespace kiln::testing {
namespace {

constexpr DataType kFloats[] = {DataType::kFloat32, DataType::kFloat16, DataType::kBFloat16};

Tensor random(DataType t, Shape s) { return randomTensor(t, std::move(s), seed()); }

TEST(CudaGelu, BothFormsEveryFloatDtype) {
    KILN_REQUIRE_GPU();
    for (DataType t : {DataType::kFloat32, DataType::kFloat16, DataType::kBFloat16, DataType::kFloat64}) {
        for (const char* approximate : {"none", "tanh"}) {
            SCOPED_TRACE(std::string(dataTypeName(t)) + " " + approximate);
            for (const Shape& s : {Shape{5, 6, 7}, Shape{1031}, Shape{}, Shape{3, 0}}) {
                OpTester op("Gelu", 20);
                op.input(randomTensor(t, s, seed(), -4.0, 4.0)).attr("approximate", std::string(approximate));
                expectCudaMatchesCpu(op);
            }
        }
    }
}

TEST(CudaGelu, Errors) {
    KILN_REQUIRE_GPU();
    OpTester bad("Gelu", 20);
    bad.input(random(DataType::kFloat32, {4})).attr("approximate", std::string("sigmoid"));
    expectCudaMatchesCpu(bad);  // both fail
    OpTester integer("Gelu", 20);
    integer.input(randomTensor(DataType::kInt32, {4}, seed(), -3, 3));
    expectCudaMatchesCpu(integer);
}

OpTester fusedMatMul(DataType t, Shape a, Shape b, std::optional<Shape> bias, const char* act) {
    OpTester op("FusedMatMul", 1, "kiln");
    op.input(random(t, std::move(a))).constInput(random(t, std::move(b)));
    if (bias) op.constInput(random(t, *bias));
    op.attr("activation", std::string(act));
    return op;
}

TEST(CudaFusedMatMul, GeluEpilogues) {
    KILN_REQUIRE_GPU();
    for (DataType t : kFloats) {
        for (const char* act : {"Gelu", "GeluTanh"}) {
            SCOPED_TRACE(std::string(dataTypeName(t)) + " " + act);
            const double tol = scaledTolerance(t);
            expectCudaMatchesCpuScaled(fusedMatMul(t, {2, 16, 64}, {64, 96}, Shape{96}, act), tol);    // GELU_BIAS
            expectCudaMatchesCpuScaled(fusedMatMul(t, {3, 5, 24}, {24, 40}, std::nullopt, act), tol);  // GELU
            expectCudaMatchesCpuScaled(fusedMatMul(t, {7, 13}, {13, 5}, Shape{5}, act), tol);          // odd sizes
        }
    }
}

TEST(CudaFusedGemm, GeluEpilogue) {
    KILN_REQUIRE_GPU();
    for (DataType t : kFloats) {
        for (const char* act : {"Gelu", "GeluTanh"}) {
            SCOPED_TRACE(std::string(dataTypeName(t)) + " " + act);
            OpTester op("FusedGemm", 1, "kiln");
            op.input(random(t, {24, 32})).constInput(random(t, {48, 32})).constInput(random(t, {48}));
            op.attr("transB", int64_t{1}).attr("activation", std::string(act));
            expectCudaMatchesCpuScaled(op, scaledTolerance(t));
        }
    }
}

TEST(CudaFusedMatMul, StackedWeightsWithGroupedBias) {
    KILN_REQUIRE_GPU();
    for (DataType t : kFloats) {
        SCOPED_TRACE(dataTypeName(t));
        const double tol = scaledTolerance(t);
        // matmul-merge's q/k/v form: [1, B, S, K] x [3, 1, K, N], bias [3, 1, 1, N] → one batched GEMM of B*S rows.
        expectCudaMatchesCpuScaled(fusedMatMul(t, {1, 2, 8, 32}, {3, 1, 32, 48}, Shape{3, 1, 1, 48}, ""), tol);
        expectCudaMatchesCpuScaled(fusedMatMul(t, {1, 5, 16}, {2, 16, 24}, Shape{2, 1, 24}, "Gelu"), tol);
        // Without bias, and a grouped bias cuBLASLt cannot take (the batch is not the leading slice): Kiln's epilogue.
        expectCudaMatchesCpuScaled(fusedMatMul(t, {1, 3, 7, 16}, {2, 1, 16, 9}, std::nullopt, "Relu"), tol);
        expectCudaMatchesCpuScaled(fusedMatMul(t, {2, 1, 5, 16}, {2, 3, 16, 8}, Shape{2, 1, 1, 8}, ""), tol);
    }
    OpTester badBias = fusedMatMul(DataType::kFloat32, {1, 2, 4, 8}, {3, 1, 8, 6}, Shape{2, 1, 1, 6}, "");
    expectCudaMatchesCpu(badBias);  // G = 2 != 3: both fail
}

OpTester addLayerNorm(DataType t, const Shape& x, int64_t axis, bool bias, DataType paramType) {
    Shape norm(x.begin() + (axis < 0 ? static_cast<int64_t>(x.size()) + axis : axis), x.end());
    OpTester op("FusedAddLayerNorm", 1, "kiln");
    op.input(random(t, x)).input(random(t, x)).constInput(randomTensor(paramType, norm, seed(), 0.5, 1.5));
    if (bias) op.constInput(random(paramType, norm));
    op.attr("axis", axis).attr("epsilon", 1e-5f);
    return op;
}

TEST(CudaFusedAddLayerNorm, RowKernelPaths) {
    KILN_REQUIRE_GPU();
    for (DataType t : kFloats) {
        SCOPED_TRACE(dataTypeName(t));
        expectCudaMatchesCpu(addLayerNorm(t, {2, 16, 768}, -1, true, t));  // BERT-base rows: registers, 8-byte loads
        expectCudaMatchesCpu(addLayerNorm(t, {5, 1024}, -1, true, t));     // the largest register row
        expectCudaMatchesCpu(addLayerNorm(t, {3, 64}, -1, false, t));      // no B, 2 chunks
        expectCudaMatchesCpu(addLayerNorm(t, {5, 6, 7}, -1, true, t));     // odd: scalar loads
        expectCudaMatchesCpu(addLayerNorm(t, {5, 6, 7}, 1, true, t));      // two normalized dims (42)
        expectCudaMatchesCpu(addLayerNorm(t, {3, 1031}, -1, true, t));     // long odd rows: streamed
        expectCudaMatchesCpu(addLayerNorm(t, {2, 4100}, -1, true, t));     // long rows of 4-multiples: streamed
        expectCudaMatchesCpu(addLayerNorm(t, {0, 768}, -1, true, t));      // no rows
    }
}

TEST(CudaFusedAddLayerNorm, GeneralKernelAndErrors) {
    KILN_REQUIRE_GPU();
    expectCudaMatchesCpu(addLayerNorm(DataType::kFloat64, {4, 33}, -1, true, DataType::kFloat64));
    // float16 data with float32 parameters: the sum in scratch, then the general kernel.
    expectCudaMatchesCpu(addLayerNorm(DataType::kFloat16, {4, 48}, -1, true, DataType::kFloat32));
    for (DataType t : kFloats) {  // R broadcast against X: the sum in scratch, then the row kernel
        OpTester broadcast("FusedAddLayerNorm", 1, "kiln");
        broadcast.input(random(t, {2, 5, 64})).input(random(t, {1, 64})).constInput(random(t, {64}));
        expectCudaMatchesCpu(broadcast);
        OpTester wider("FusedAddLayerNorm", 1, "kiln");  // R the larger one
        wider.input(random(t, {5, 1})).input(random(t, {3, 5, 8})).constInput(random(t, {8}));
        expectCudaMatchesCpu(wider);
    }
    OpTester mismatch("FusedAddLayerNorm", 1, "kiln");
    mismatch.input(random(DataType::kFloat32, {2, 8})).input(random(DataType::kFloat32, {3, 8}));
    mismatch.constInput(random(DataType::kFloat32, {8}));
    expectCudaMatchesCpu(mismatch);  // does not broadcast: both fail
}

TEST(CudaLayerNormalization, RowKernelAndGeneralKernel) {
    KILN_REQUIRE_GPU();
    for (DataType t : kFloats) {
        SCOPED_TRACE(dataTypeName(t));
        for (const Shape& x : {Shape{4, 128, 768}, Shape{7, 13}, Shape{2, 2000}}) {
            OpTester op("LayerNormalization");
            op.input(random(t, x)).constInput(random(t, {x.back()})).constInput(random(t, {x.back()}));
            expectCudaMatchesCpu(op);
        }
        // Scale broadcast from [1]: the general kernel.
        OpTester broadcast("LayerNormalization");
        broadcast.input(random(t, {3, 40})).constInput(random(t, {1}));
        expectCudaMatchesCpu(broadcast);
    }
}

TEST(CudaSplit, LeadingAxisViews) {
    KILN_REQUIRE_GPU();
    for (DataType t : {DataType::kFloat16, DataType::kFloat32, DataType::kInt64}) {
        SCOPED_TRACE(dataTypeName(t));
        OpTester op("Split");
        op.input(randomTensor(t, {3, 2, 5, 8}, seed(), -9, 9)).constInput(Tensor::fromVector<int64_t>({1, 1, 1}));
        op.attr("axis", int64_t{0}).outputs(3);
        expectCudaMatchesCpu(op);
        OpTester uneven("Split");  // leading dims of 1 before the axis are views too
        uneven.input(randomTensor(t, {1, 7, 6}, seed(), -9, 9)).constInput(Tensor::fromVector<int64_t>({2, 0, 5}));
        uneven.attr("axis", int64_t{1}).outputs(3);
        expectCudaMatchesCpu(uneven);
    }
}

}  // namespace
}  // namespace kiln::testing
