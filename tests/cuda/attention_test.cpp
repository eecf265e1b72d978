// kiln Attention on the GPU against the CPU reference: float16/bfloat16 (the pipelined tensor-core kernel where
// D == Dv is 32 or 64, the one-tile one at 128; the simple kernel otherwise) and float32/float64 (simple kernel);
// sequence lengths that fill no tile, one tile and a tile plus one, and that end mid tile (1, 7, 17, 127, 128, 129,
// 200, 300); B·H = 1, 24, 36 and 144 (where an H100 gets the 8-warp pipelined CTA); both layouts; masks broadcast
// [B, 1, 1, Sk] and full [Sq, Sk], float32 masks on float16 Q; causal; rows masked entirely (NaN, as Softmax
// gives) or masked over a whole first key tile; empty sequences; and the errors the reference raises.
//
// Tolerances. Both sides read the same rounded inputs (OpTester feeds one tensor to both); the CPU computes in double
// and rounds once. The tensor-core kernel accumulates Q·Kᵀ and P·V in float32 (error ~D·2⁻²⁴, negligible), but
// rounds the probabilities P to the input dtype before P·V: each p/l is off by at most one half-ulp relative, so
// the output moves by at most u·max|V| (Σ p/l = 1), u = 2⁻¹¹ for float16 and 2⁻⁸ for bfloat16. The two outputs are
// each rounded once more (u·|y| ≤ u·max|V| each). With V in [-1, 1] that bounds |Δ| by 3u: 1.5e-3 (float16) and
// 1.2e-2 (bfloat16); the atol below adds a third for exp2f's approximation and summation order. float32 sums up to
// 300 products in float: 1e-5 relative + 1e-5 absolute.
#include <cmath>
#include <limits>

#include "backends/cuda/kernels/attention.h"
#include "cuda/cuda_op_tester.h"

namespace kiln::testing {
namespace {

Tolerance attentionTolerance(DataType type) {
    switch (type) {
        case DataType::kFloat16: return {0.0, 2e-3};
        case DataType::kBFloat16: return {0.0, 1.6e-2};
        case DataType::kFloat64: return {1e-12, 1e-12};
        default: return {1e-5, 1e-5};
    }
}

//! [B, H, S, D] stored in `layout` (0: as is, 1: [B, S, H, D]); B == 0 makes a rank-3 shape ([N, S, D] / [S, N, D]).
Shape stored(int64_t b, int64_t h, int64_t s, int64_t d, int64_t layout) {
    Shape shape = layout == 0 ? Shape{h, s, d} : Shape{s, h, d};
    if (b > 0) shape.insert(shape.begin(), b);
    return shape;
}

struct Case {
    DataType type = DataType::kFloat16;
    int64_t b = 1, h = 1, sq = 128, sk = 128, d = 64, dv = 64;
    int64_t layout = 1;  //!< for q, k, v and the output alike
    int maskKind = 0;    //!< 0 none, 1 [B, 1, 1, Sk] of Q's dtype, 2 [Sq, Sk] float32
    bool causal = false;
};

OpTester attention(const Case& c) {
    OpTester t("Attention", 1, "kiln");
    t.input(randomTensor(c.type, stored(c.b, c.h, c.sq, c.d, c.layout), seed(), -1.0, 1.0));
    t.input(randomTensor(c.type, stored(c.b, c.h, c.sk, c.d, c.layout), seed(), -1.0, 1.0));
    t.input(randomTensor(c.type, stored(c.b, c.h, c.sk, c.dv, c.layout), seed(), -1.0, 1.0));
    if (c.maskKind == 1) {
        const Shape ms = c.b > 0 ? Shape{c.b, 1, 1, c.sk} : Shape{1, c.sk};
        t.input(randomTensor(c.type, ms, seed(), -4.0, 0.0));
    } else if (c.maskKind == 2) {
        t.input(randomTensor(DataType::kFloat32, {c.sq, c.sk}, seed(), -4.0, 0.0));
    }
    // Scores of order 1 after the scale keep the softmax away from one-hot, so every V row matters.
    t.attr("scale", 1.0f / std::sqrt(static_cast<float>(c.d)));
    for (const char* name : {"q_layout", "k_layout", "v_layout", "out_layout"}) t.attr(name, c.layout);
    if (c.causal) t.attr("causal", int64_t{1});
    return t;
}

void expectMatches(const Case& c) {
    SCOPED_TRACE(std::string(dataTypeName(c.type)) + " B=" + std::to_string(c.b) + " H=" + std::to_string(c.h) +
                 " Sq=" + std::to_string(c.sq) + " Sk=" + std::to_string(c.sk) + " D=" + std::to_string(c.d) +
                 " Dv=" + std::to_string(c.dv) + " layout=" + std::to_string(c.layout) +
                 " mask=" + std::to_string(c.maskKind) + (c.causal ? " causal" : ""));
    expectCudaMatchesCpu(attention(c), attentionTolerance(c.type));
}

TEST(CudaAttention, EveryDtypeHeadSizeAndSequenceTail) {
    KILN_REQUIRE_GPU();
    for (DataType type : {DataType::kFloat16, DataType::kBFloat16, DataType::kFloat32}) {
        for (int64_t d : {64, 32, 128}) {
            for (int64_t s : {1, 7, 128, 129, 300}) {
                // B·H = 24 (BERT's 12 heads, batch 2) where the CPU reference stays fast; 1 at S = 300.
                const bool wide = s <= 129;
                for (int mask = 0; mask < 2; ++mask) {
                    Case c;
                    c.type = type;
                    c.b = wide ? 2 : 1;
                    c.h = wide ? 12 : 1;
                    c.sq = c.sk = s;
                    c.d = c.dv = d;
                    c.layout = (s + mask) % 2;
                    c.maskKind = mask;
                    expectMatches(c);
                }
            }
        }
    }
}

TEST(CudaAttention, BertBaseShapeWithFloat32MaskAndCausal) {
    KILN_REQUIRE_GPU();
    for (DataType type : {DataType::kFloat16, DataType::kBFloat16}) {
        Case c;
        c.type = type;
        c.b = 2;
        c.h = 12;
        c.maskKind = 2;
        expectMatches(c);
        c.maskKind = 0;
        c.causal = true;
        c.sq = c.sk = 129;
        expectMatches(c);
        c.sq = 7;  // fewer queries than keys (cross attention), causal top-left aligned
        expectMatches(c);
    }
    Case f32;
    f32.type = DataType::kFloat32;
    f32.causal = true;
    f32.sq = f32.sk = 70;
    expectMatches(f32);
}

TEST(CudaAttention, PipelinedPathTailsMasksAndBertOnAFullGpu) {
    KILN_REQUIRE_GPU();
    // D = 32 and 64 take the pipelined kernel; these sequence lengths end mid key tile or mid CTA.
    int variant = 0;
    for (DataType type : {DataType::kFloat16, DataType::kBFloat16}) {
        for (int64_t d : {64, 32}) {
            for (int64_t s : {17, 127, 200}) {
                Case c;
                c.type = type;
                c.b = 3;
                c.h = 12;
                c.sq = c.sk = s;
                c.d = c.dv = d;
                c.maskKind = variant % 3;
                c.causal = variant % 2 == 1;
                c.layout = variant % 2;
                ++variant;
                expectMatches(c);
            }
        }
    }
    // Enough (batch, head) pairs that, on an H100 (132 SMs), the launcher picks the 8-warp CTA of 128 queries.
    Case bert;
    bert.b = 12;
    bert.h = 12;
    bert.maskKind = 1;
    expectMatches(bert);
    bert.type = DataType::kBFloat16;
    bert.b = 6;
    bert.sq = bert.sk = 200;
    bert.d = bert.dv = 32;
    bert.maskKind = 0;
    bert.causal = true;
    expectMatches(bert);
}

TEST(CudaAttention, SimplePathShapes) {
    KILN_REQUIRE_GPU();
    // Head sizes the tensor-core kernel does not take, Dv != D, rank 3, float64.
    for (DataType type : {DataType::kFloat16, DataType::kBFloat16, DataType::kFloat32, DataType::kFloat64}) {
        Case c;
        c.type = type;
        c.h = 3;
        c.sq = 33;
        c.sk = 45;
        c.d = 40;
        c.dv = 24;
        c.maskKind = 1;
        expectMatches(c);
        c.b = 0;  // rank 3, [S, N, D]
        c.d = c.dv = 200;
        c.layout = 1;
        expectMatches(c);
    }
    EXPECT_EQ(cuda::chooseAttentionPath(DataType::kFloat16, cuda::AttentionParams{}), cuda::AttentionPath::kSimple);
}

TEST(CudaAttention, MaskedRowsAndFirstKeyTileMasked) {
    KILN_REQUIRE_GPU();
    const float inf = std::numeric_limits<float>::infinity();
    for (DataType type : {DataType::kFloat16, DataType::kFloat32}) {
        const int64_t s = 129;
        Tensor mask(DataType::kFloat32, {s, s});
        for (int64_t i = 0; i < s; ++i) {
            for (int64_t j = 0; j < s; ++j) {
                // Row 3: every key masked (NaN on both sides). Other rows: the first 64 keys (a whole key tile)
                // masked, so the running max stays -inf through a tile before the first finite score.
                mask.data<float>()[i * s + j] = (i == 3 || j < 64) ? -inf : 0.0f;
            }
        }
        OpTester t("Attention", 1, "kiln");
        t.input(randomTensor(type, {1, 2, s, 64}, seed()));
        t.input(randomTensor(type, {1, 2, s, 64}, seed()));
        t.input(randomTensor(type, {1, 2, s, 64}, seed()));
        t.input(mask);
        t.attr("scale", 0.125f);
        expectCudaMatchesCpu(t, attentionTolerance(type));
    }
}

TEST(CudaAttention, EmptySequences) {
    KILN_REQUIRE_GPU();
    for (DataType type : {DataType::kFloat16, DataType::kFloat32}) {
        Case c;
        c.type = type;
        c.sq = 0;
        expectMatches(c);
        c.sq = 5;
        c.sk = 0;  // no keys: zeros, as the unfused MatMul gives
        expectMatches(c);
    }
}

TEST(CudaAttention, ErrorsMatchTheReference) {
    KILN_REQUIRE_GPU();
    OpTester badDtype("Attention", 1, "kiln");
    badDtype.input(randomTensor(DataType::kFloat16, {1, 2, 4, 8}, seed()))
        .input(randomTensor(DataType::kFloat32, {1, 2, 4, 8}, seed()))
        .input(randomTensor(DataType::kFloat16, {1, 2, 4, 8}, seed()));
    expectCudaMatchesCpu(badDtype);
    OpTester badShape("Attention", 1, "kiln");
    badShape.input(randomTensor(DataType::kFloat16, {1, 2, 4, 8}, seed()))
        .input(randomTensor(DataType::kFloat16, {1, 2, 5, 8}, seed()))
        .input(randomTensor(DataType::kFloat16, {1, 2, 6, 8}, seed()));
    expectCudaMatchesCpu(badShape);
    OpTester badMask("Attention", 1, "kiln");
    badMask.input(randomTensor(DataType::kFloat16, {1, 2, 4, 8}, seed()))
        .input(randomTensor(DataType::kFloat16, {1, 2, 4, 8}, seed()))
        .input(randomTensor(DataType::kFloat16, {1, 2, 4, 8}, seed()))
        .input(randomTensor(DataType::kFloat16, {3, 4}, seed()));
    expectCudaMatchesCpu(badMask);
    OpTester badLayout("Attention", 1, "kiln");
    badLayout.input(randomTensor(DataType::kFloat32, {2, 4, 8}, seed()))
        .input(randomTensor(DataType::kFloat32, {2, 4, 8}, seed()))
        .input(randomTensor(DataType::kFloat32, {2, 4, 8}, seed()))
        .attr("q_layout", int64_t{2});
    expectCudaMatchesCpu(badLayout);
    // A head size past the GPU kernels' limit: the reference runs it, the CUDA backend refuses by name.
    OpTester wide("Attention", 1, "kiln");
    wide.input(randomTensor(DataType::kFloat32, {1, 2, 300}, seed()))
        .input(randomTensor(DataType::kFloat32, {1, 2, 300}, seed()))
        .input(randomTensor(DataType::kFloat32, {1, 2, 300}, seed()));
    auto built = wide.build();
    ASSERT_TRUE(built.isOk()) << built.status().message();
    auto got = runOnCuda(*built->graph, built->feeds);
    ASSERT_FALSE(got.isOk());
    EXPECT_NE(got.status().message().find("head sizes up to 256"), std::string::npos) << got.status().message();
}

}  // namespace
}  // namespace kiln::testing
