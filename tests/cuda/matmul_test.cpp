// CUDA MatMul, Gemm, FusedGemm and FusedMatMul against the CPU reference: cuBLASLt's batch layouts (one strided
// call, runs of trailing batch dims, one GEMM over batch * M rows), 1-D operands, odd sizes, every transpose and C
// broadcast of Gemm, the epilogues (cuBLASLt's and Kiln's), integer kernels, TF32, and the error paths.
#include "cuda/cuda_op_tester.h"

namespace kiln::testing {
namespace {

Tensor random(DataType t, Shape s) {
    if (isInteger(t)) return randomTensor(t, std::move(s), seed(), -9, 9);
    return randomTensor(t, std::move(s), seed());
}

void expectMatches(const OpTester& op, DataType t) {
    if (isFloatingPoint(t)) {
        expectCudaMatchesCpuScaled(op, scaledTolerance(t));
    } else {
        expectCudaMatchesCpu(op);
    }
}

OpTester matMul(DataType t, Shape a, Shape b) {
    OpTester op("MatMul");
    op.input(random(t, std::move(a))).input(random(t, std::move(b)));
    return op;
}

TEST(CudaMatMul, OddSizesAndDtypes) {
    KILN_REQUIRE_GPU();
    for (DataType t : {DataType::kFloat32, DataType::kFloat16, DataType::kBFloat16, DataType::kFloat64,
                       DataType::kInt32, DataType::kInt64, DataType::kInt8, DataType::kUInt8}) {
        SCOPED_TRACE(dataTypeName(t));
        expectMatches(matMul(t, {1, 127}, {127, 129}), t);
        expectMatches(matMul(t, {5, 6}, {6, 7}), t);
        expectMatches(matMul(t, {33, 1}, {1, 17}), t);
    }
}

TEST(CudaMatMul, BroadcastBatchDims) {
    KILN_REQUIRE_GPU();
    for (DataType t : {DataType::kFloat32, DataType::kFloat16, DataType::kInt32}) {
        SCOPED_TRACE(dataTypeName(t));
        expectMatches(matMul(t, {2, 3, 5, 6}, {2, 3, 6, 7}), t);  // same batch: one strided call
        expectMatches(matMul(t, {4, 5, 6}, {6, 7}), t);           // B shared: one GEMM over 20 rows
        expectMatches(matMul(t, {5, 6}, {4, 6, 7}), t);           // A shared: batch stride 0
        expectMatches(matMul(t, {2, 1, 5, 6}, {3, 6, 7}), t);     // A broadcast over the inner batch dim
        expectMatches(matMul(t, {2, 1, 5, 6}, {1, 3, 6, 7}), t);  // both broadcast: runs of the last batch dim
        expectMatches(matMul(t, {3, 1, 2, 5, 6}, {4, 1, 6, 7}), t);
    }
}

TEST(CudaMatMul, OneDimensionalOperandsAndEmptyDims) {
    KILN_REQUIRE_GPU();
    for (DataType t : {DataType::kFloat32, DataType::kFloat16, DataType::kInt64}) {
        SCOPED_TRACE(dataTypeName(t));
        expectMatches(matMul(t, {6}, {6, 7}), t);
        expectMatches(matMul(t, {4, 5, 6}, {6}), t);
        expectMatches(matMul(t, {6}, {6}), t);
        expectMatches(matMul(t, {6}, {2, 6, 7}), t);
        expectMatches(matMul(t, {3, 0}, {0, 4}), t);  // K = 0: zeros
        expectMatches(matMul(t, {0, 5}, {5, 3}), t);
        expectMatches(matMul(t, {2, 0, 5}, {5, 3}), t);
    }
}

//! Gemm, or with `fused` Kiln's FusedGemm (which keeps the base op's opset, as the fusion pass makes it).
OpTester gemm(DataType t, Shape a, Shape b, std::optional<Shape> c, bool transA, bool transB, float alpha, float beta,
              bool fused = false) {
    OpTester op(fused ? "FusedGemm" : "Gemm", 13, fused ? "kiln" : "");
    op.input(random(t, std::move(a))).input(random(t, std::move(b)));
    if (c) op.constInput(random(t, *c));
    op.attr("transA", int64_t{transA}).attr("transB", int64_t{transB}).attr("alpha", alpha).attr("beta", beta);
    return op;
}

TEST(CudaGemm, EveryTransposeAlphaBetaAndCBroadcast) {
    KILN_REQUIRE_GPU();
    const int64_t m = 7, n = 9, k = 11;
    const std::optional<Shape> cShapes[] = {std::nullopt, Shape{n}, Shape{1, n}, Shape{m, 1},
                                            Shape{m, n},  Shape{},  Shape{1, 1}};
    for (DataType t : {DataType::kFloat32, DataType::kFloat16, DataType::kFloat64}) {
        for (int trans = 0; trans < 4; ++trans) {
            const bool ta = trans & 1, tb = trans & 2;
            for (const auto& c : cShapes) {
                // Every beta for float32; the 16-bit and 64-bit types share the C handling, so beta 0.5 covers them.
                for (float beta : {1.0f, 0.5f, 0.0f}) {
                    if (t != DataType::kFloat32 && beta != 0.5f) continue;
                    SCOPED_TRACE(std::string(dataTypeName(t)) + " transA " + std::to_string(ta) + " transB " +
                                 std::to_string(tb) + " C " + (c ? shapeToString(*c) : "none") + " beta " +
                                 std::to_string(beta));
                    expectMatches(gemm(t, ta ? Shape{k, m} : Shape{m, k}, tb ? Shape{n, k} : Shape{k, n}, c, ta, tb,
                                       ta ? 0.75f : 1.0f, beta),
                                  t);
                }
            }
        }
    }
}

TEST(CudaGemm, LargerBiasedIntegerAndEmpty) {
    KILN_REQUIRE_GPU();
    expectMatches(gemm(DataType::kFloat32, {64, 127}, {129, 127}, Shape{129}, false, true, 1.0f, 1.0f),
                  DataType::kFloat32);
    expectMatches(gemm(DataType::kBFloat16, {31, 64}, {64, 48}, Shape{48}, false, false, 1.0f, 1.0f),
                  DataType::kBFloat16);
    for (DataType t : {DataType::kInt32, DataType::kInt64}) {
        expectMatches(gemm(t, {5, 4}, {3, 4}, Shape{5, 1}, false, true, 2.0f, 3.0f), t);
        expectMatches(gemm(t, {4, 5}, {4, 3}, std::nullopt, true, false, 1.0f, 1.0f), t);
    }
    expectMatches(gemm(DataType::kFloat32, {5, 0}, {0, 3}, Shape{3}, false, false, 1.0f, 0.5f), DataType::kFloat32);
    expectMatches(gemm(DataType::kFloat32, {0, 4}, {4, 3}, Shape{3}, false, false, 1.0f, 1.0f), DataType::kFloat32);
}

struct Act {
    const char* name;
    std::vector<float> params;
};
const Act kActs[] = {{"", {}},        {"Relu", {}}, {"LeakyRelu", {0.1f}},         {"Clip", {-0.25f, 0.5f}},
                     {"Sigmoid", {}}, {"Tanh", {}}, {"HardSigmoid", {0.3f, 0.4f}}, {"HardSwish", {}}};

void setActivation(OpTester& op, const Act& act) {
    op.attr("activation", std::string(act.name));
    if (!act.params.empty()) op.attr("activation_params", act.params);
}

TEST(CudaFusedGemm, EveryActivationWithBiasAndResidual) {
    KILN_REQUIRE_GPU();
    const int64_t m = 6, n = 10, k = 13;
    for (DataType t : {DataType::kFloat32, DataType::kFloat16}) {
        for (const Act& act : kActs) {
            SCOPED_TRACE(std::string(dataTypeName(t)) + " " + act.name);
            // Bias along N (cuBLASLt's bias epilogue), then with a residual (cuBLASLt's C).
            OpTester biased = gemm(t, {m, k}, {k, n}, Shape{n}, false, false, 1.0f, 1.0f, true);
            setActivation(biased, act);
            expectMatches(biased, t);
            OpTester residual = gemm(t, {k, m}, {n, k}, Shape{1, n}, true, true, 0.5f, 1.0f, true);
            residual.input(random(t, {m, n}));
            setActivation(residual, act);
            expectMatches(residual, t);
            // A full C with beta 2 and a residual: C in cuBLASLt, the residual in Kiln's epilogue.
            OpTester both = gemm(t, {m, k}, {k, n}, Shape{m, n}, false, false, 1.0f, 2.0f, true);
            both.input(random(t, {m, n}));
            setActivation(both, act);
            expectMatches(both, t);
        }
    }
}

OpTester fusedMatMul(DataType t, Shape a, Shape b, std::optional<Shape> bias, std::optional<Shape> z, const Act& act) {
    OpTester op("FusedMatMul", 1, "kiln");
    op.input(random(t, std::move(a))).input(random(t, std::move(b)));
    if (bias) {
        op.constInput(random(t, *bias));
    } else if (z) {
        op.absentInput();
    }
    if (z) op.input(random(t, *z));
    setActivation(op, act);
    return op;
}

TEST(CudaFusedMatMul, EveryActivationWithBiasAndResidual) {
    KILN_REQUIRE_GPU();
    for (DataType t : {DataType::kFloat32, DataType::kFloat16, DataType::kBFloat16}) {
        for (const Act& act : kActs) {
            // bfloat16: Relu (cuBLASLt's epilogue) and the parameterized ones (Kiln's).
            if (t == DataType::kBFloat16 && act.params.empty() && std::string(act.name) != "Relu") continue;
            SCOPED_TRACE(std::string(dataTypeName(t)) + " " + act.name);
            expectMatches(fusedMatMul(t, {2, 8, 16}, {16, 24}, Shape{24}, std::nullopt, act), t);
            expectMatches(fusedMatMul(t, {2, 3, 5, 16}, {2, 3, 16, 7}, Shape{7}, Shape{2, 3, 5, 7}, act), t);
            expectMatches(fusedMatMul(t, {2, 1, 5, 6}, {1, 3, 6, 7}, std::nullopt, Shape{2, 3, 5, 7}, act), t);
            // B 1-D: the output's last dim is M, and so is the bias (Kiln's epilogue adds it).
            expectMatches(fusedMatMul(t, {4, 5, 6}, {6}, Shape{5}, std::nullopt, act), t);
        }
    }
}

TEST(CudaMatMul, Tf32StaysWithinTwoThousandths) {
    KILN_REQUIRE_GPU();
    expectCudaMatchesCpuScaled(matMul(DataType::kFloat32, {3, 64, 256}, {256, 96}), 2e-3, /*allowTf32=*/true);
    expectCudaMatchesCpuScaled(gemm(DataType::kFloat32, {256, 64}, {96, 256}, Shape{96}, true, true, 1.0f, 1.0f), 2e-3,
                               /*allowTf32=*/true);
}

TEST(CudaMatMul, ErrorsMatchTheReference) {
    KILN_REQUIRE_GPU();
    const DataType f = DataType::kFloat32;
    expectCudaMatchesCpu(matMul(f, {3, 4}, {5, 6}));        // inner dims differ
    expectCudaMatchesCpu(matMul(f, {2, 3, 4}, {3, 4, 5}));  // batch dims do not broadcast
    OpTester mixed("MatMul");
    mixed.input(random(f, {3, 4})).input(random(DataType::kFloat16, {4, 5}));
    expectCudaMatchesCpu(mixed);
    expectCudaMatchesCpu(gemm(f, {3, 4}, {4, 5}, Shape{3}, false, false, 1.0f, 1.0f));  // C does not broadcast
    expectCudaMatchesCpu(gemm(f, {3, 4}, {5, 4}, std::nullopt, false, false, 1.0f, 1.0f));
    expectCudaMatchesCpu(gemm(f, {3, 4, 1}, {4, 5}, std::nullopt, false, false, 1.0f, 1.0f));
    OpTester noC("Gemm", 9);  // C is required before opset 11
    noC.input(random(f, {3, 4})).input(random(f, {4, 5}));
    expectCudaMatchesCpu(noC);
    expectCudaMatchesCpu(fusedMatMul(f, {3, 4}, {4, 5}, Shape{4}, std::nullopt, kActs[0]));          // bias size
    expectCudaMatchesCpu(fusedMatMul(f, {3, 4}, {4, 5}, std::nullopt, Shape{3, 4}, kActs[0]));       // residual
    expectCudaMatchesCpu(fusedMatMul(f, {3, 4}, {4, 5}, std::nullopt, std::nullopt, {"Gelu", {}}));  // activation
    OpTester intEpilogue = fusedMatMul(DataType::kInt32, {3, 4}, {4, 5}, std::nullopt, std::nullopt, kActs[1]);
    expectCudaMatchesCpu(intEpilogue);  // fused epilogues are floating-point only
}

}  // namespace
}  // namespace kiln::testing
