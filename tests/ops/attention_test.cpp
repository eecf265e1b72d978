// The CPU reference of kiln Attention: a hand-computed case, the layouts (seq-major storage is the transposed
// head-major one), causal as an explicit -inf mask, masks broadcast and in float32, empty sequences, and errors.
// The fused-versus-unfused comparison on graphs is in tests/unit/passes_attention_test.cpp.
#include <cmath>
#include <limits>

#include "ops/op_tester.h"

namespace kiln::testing {
namespace {

OpTester attention(Tensor q, Tensor k, Tensor v) {
    OpTester t("Attention", 1, "kiln");
    t.input(std::move(q)).input(std::move(k)).input(std::move(v));
    return t;
}

//! x [B, H, S, D] → [B, S, H, D] (float32).
Tensor toSeqMajor(const Tensor& x) {
    const int64_t b = x.dim(0), h = x.dim(1), s = x.dim(2), d = x.dim(3);
    Tensor y(DataType::kFloat32, {b, s, h, d});
    for (int64_t i = 0; i < b; ++i)
        for (int64_t j = 0; j < h; ++j)
            for (int64_t l = 0; l < s; ++l)
                for (int64_t c = 0; c < d; ++c)
                    y.data<float>()[((i * s + l) * h + j) * d + c] = x.data<float>()[((i * h + j) * s + l) * d + c];
    return y;
}

TEST(AttentionOp, HandComputed) {
    // One head, two queries, two keys, D = 1: scores = scale·q·k.
    auto out = attention(Tensor::fromVector<float>({1.0f, 0.0f}, {1, 2, 1}),
                         Tensor::fromVector<float>({std::log(3.0f), 0.0f}, {1, 2, 1}),
                         Tensor::fromVector<float>({10.0f, 20.0f}, {1, 2, 1}))
                   .attr("scale", 1.0f)
                   .run();
    ASSERT_TRUE(out.isOk()) << out.status().message();
    // Query 0: weights 3/4, 1/4 → 12.5; query 1: scores 0, 0 → 15.
    expectTensorNear((*out)[0], Tensor::fromVector<float>({12.5f, 15.0f}, {1, 2, 1}), 1e-6, 1e-6);
}

TEST(AttentionOp, SeqMajorLayoutsAreTheTransposedHeadMajorOnes) {
    const Tensor q = randomTensor(DataType::kFloat32, {2, 3, 5, 4}, 1);
    const Tensor k = randomTensor(DataType::kFloat32, {2, 3, 7, 4}, 2);
    const Tensor v = randomTensor(DataType::kFloat32, {2, 3, 7, 6}, 3);
    auto plain = attention(q, k, v).run();
    auto seq = attention(toSeqMajor(q), toSeqMajor(k), toSeqMajor(v))
                   .attr("q_layout", int64_t{1})
                   .attr("k_layout", int64_t{1})
                   .attr("v_layout", int64_t{1})
                   .attr("out_layout", int64_t{1})
                   .run();
    ASSERT_TRUE(plain.isOk() && seq.isOk());
    EXPECT_EQ((*seq)[0].shape(), (Shape{2, 5, 3, 6}));
    expectTensorNear((*seq)[0], toSeqMajor((*plain)[0]), 0.0, 0.0);
}

TEST(AttentionOp, OneKeyValueHeadBroadcastsOverTheQueryHeads) {
    // Multi-query attention: K and V with H = 1 read by every head of Q, as MatMul broadcasts.
    const Tensor q = randomTensor(DataType::kFloat32, {2, 3, 5, 4}, 13);
    const Tensor k = randomTensor(DataType::kFloat32, {2, 1, 6, 4}, 14);
    const Tensor v = randomTensor(DataType::kFloat32, {2, 1, 6, 4}, 15);
    Tensor k3(DataType::kFloat32, {2, 3, 6, 4}), v3(DataType::kFloat32, {2, 3, 6, 4});
    for (int64_t b = 0; b < 2; ++b)
        for (int64_t h = 0; h < 3; ++h)
            for (int64_t i = 0; i < 24; ++i) {
                k3.data<float>()[(b * 3 + h) * 24 + i] = k.data<float>()[b * 24 + i];
                v3.data<float>()[(b * 3 + h) * 24 + i] = v.data<float>()[b * 24 + i];
            }
    auto shared = attention(q, k, v).run();
    auto expanded = attention(q, k3, v3).run();
    ASSERT_TRUE(shared.isOk()) << shared.status().message();
    ASSERT_TRUE(expanded.isOk());
    expectTensorNear((*shared)[0], (*expanded)[0], 0.0, 0.0);
}

TEST(AttentionOp, CausalIsAnUpperTriangleOfMinusInfinity) {
    const Tensor q = randomTensor(DataType::kFloat32, {1, 2, 6, 4}, 4);
    const Tensor k = randomTensor(DataType::kFloat32, {1, 2, 9, 4}, 5);
    const Tensor v = randomTensor(DataType::kFloat32, {1, 2, 9, 4}, 6);
    Tensor mask(DataType::kFloat32, {6, 9});
    for (int64_t i = 0; i < 6; ++i)
        for (int64_t j = 0; j < 9; ++j)
            mask.data<float>()[i * 9 + j] = j > i ? -std::numeric_limits<float>::infinity() : 0.0f;
    auto causal = attention(q, k, v).attr("causal", int64_t{1}).run();
    auto masked = attention(q, k, v).input(mask).run();
    ASSERT_TRUE(causal.isOk() && masked.isOk());
    expectTensorNear((*causal)[0], (*masked)[0], 0.0, 0.0);
}

TEST(AttentionOp, Float32MaskOnFloat16AndEmptySequences) {
    auto out = attention(randomTensor(DataType::kFloat16, {2, 3, 4}, 7), randomTensor(DataType::kFloat16, {2, 5, 4}, 8),
                         randomTensor(DataType::kFloat16, {2, 5, 4}, 9))
                   .input(randomTensor(DataType::kFloat32, {1, 5}, 10))
                   .run();
    ASSERT_TRUE(out.isOk()) << out.status().message();
    EXPECT_EQ((*out)[0].dtype(), DataType::kFloat16);
    auto noKeys = attention(randomTensor(DataType::kFloat32, {2, 3, 4}, 11), Tensor(DataType::kFloat32, {2, 0, 4}),
                            Tensor(DataType::kFloat32, {2, 0, 4}))
                      .run();
    ASSERT_TRUE(noKeys.isOk()) << noKeys.status().message();
    expectTensorNear((*noKeys)[0], Tensor(DataType::kFloat32, {2, 3, 4}), 0.0, 0.0);
}

TEST(AttentionOp, Errors) {
    const Tensor x = randomTensor(DataType::kFloat32, {1, 2, 4, 8}, 12);
    auto expectError = [](const OpTester& t, const std::string& text) {
        auto r = t.run();
        ASSERT_FALSE(r.isOk());
        EXPECT_NE(r.status().message().find(text), std::string::npos) << r.status().message();
    };
    expectError(attention(randomTensor(DataType::kInt32, {1, 2, 4, 8}, 1), x, x), "input 0 'Q' has dtype int32");
    expectError(attention(x, randomTensor(DataType::kFloat32, {1, 2, 4, 7}, 1), x), "head size");
    expectError(attention(x, x, randomTensor(DataType::kFloat32, {1, 2, 5, 8}, 1)), "sequence length");
    expectError(attention(x, x, x).input(randomTensor(DataType::kFloat32, {3, 4}, 1)), "does not broadcast");
    expectError(attention(x, x, x).attr("out_layout", int64_t{3}), "attribute 'out_layout'");
    expectError(attention(randomTensor(DataType::kFloat32, {4, 8}, 1), x, x), "rank 3 or 4");
}

}  // namespace
}  // namespace kiln::testing
