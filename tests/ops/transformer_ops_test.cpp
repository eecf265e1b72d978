// Reference kernels of the transformer ops: ONNX Gelu (opset 20, both `approximate` forms), kiln FusedMatMul's
// grouped bias and kiln FusedAddLayerNorm (LayerNormalization of X + R), against hand-computed values and naive loops.
#include <gtest/gtest.h>

#include <cmath>

#include "ops/op_tester.h"

namespace kiln::testing {
namespace {

const std::vector<float> kX = {-3.0f, -1.0f, -0.5f, 0.0f, 0.5f, 1.0f, 2.0f, 3.0f};

TEST(GeluOp, ErfForm) {
    // 0.5 x (1 + erf(x / sqrt(2))), from Python's math.erf.
    const std::vector<float> want = {-0.00404969f, -0.15865525f, -0.15426877f, 0.0f,
                                     0.34573123f,  0.84134475f,  1.95449974f,  2.99595031f};
    for (bool explicitNone : {false, true}) {
        OpTester op("Gelu", 20);
        op.input(Tensor::fromVector<float>(kX, {2, 4}));
        if (explicitNone) op.attr("approximate", std::string("none"));
        auto out = op.run();
        ASSERT_TRUE(out.isOk()) << out.status().message();
        expectTensorNear((*out)[0], Tensor::fromVector<float>(want, {2, 4}), 1e-6, 1e-7);
    }
}

TEST(GeluOp, TanhFormAndDtypes) {
    const std::vector<float> want = {-0.00363739f, -0.15880801f, -0.15428599f, 0.0f,
                                     0.34571401f,  0.84119199f,  1.95459769f,  2.99636261f};
    for (DataType t : {DataType::kFloat32, DataType::kFloat64, DataType::kFloat16, DataType::kBFloat16}) {
        SCOPED_TRACE(dataTypeName(t));
        Tensor x(t, {8});
        for (int64_t i = 0; i < 8; ++i) {
            const float v = kX[static_cast<size_t>(i)];
            switch (t) {
                case DataType::kFloat64: x.data<double>()[i] = v; break;
                case DataType::kFloat16: x.data<Half>()[i] = Half(v); break;
                case DataType::kBFloat16: x.data<BFloat16>()[i] = BFloat16(v); break;
                default: x.data<float>()[i] = v; break;
            }
        }
        auto out = OpTester("Gelu", 20).input(x).attr("approximate", std::string("tanh")).run();
        ASSERT_TRUE(out.isOk()) << out.status().message();
        ASSERT_EQ((*out)[0].dtype(), t);
        const double tol = t == DataType::kBFloat16 ? 1e-2 : t == DataType::kFloat16 ? 2e-3 : 1e-6;
        for (int64_t i = 0; i < 8; ++i) EXPECT_NEAR((*out)[0].getDouble(i), want[static_cast<size_t>(i)], tol);
    }
}

TEST(GeluOp, EmptyAndErrors) {
    auto empty = OpTester("Gelu", 20).input(Tensor(DataType::kFloat32, {3, 0})).run();
    ASSERT_TRUE(empty.isOk()) << empty.status().message();
    EXPECT_EQ((*empty)[0].shape(), (Shape{3, 0}));
    auto bad =
        OpTester("Gelu", 20).input(Tensor::fromVector<float>({1.0f})).attr("approximate", std::string("x")).run();
    ASSERT_FALSE(bad.isOk());
    EXPECT_NE(bad.status().message().find("approximate"), std::string::npos) << bad.status().message();
    auto integer = OpTester("Gelu", 20).input(Tensor::fromVector<int32_t>({1, 2})).run();
    ASSERT_FALSE(integer.isOk());
    EXPECT_NE(integer.status().message().find("int32"), std::string::npos) << integer.status().message();
}

TEST(FusedMatMulOp, GroupedBias) {
    // matmul-merge's form: [1, M, K] x [G, K, N] + bias [G, 1, N]: bias row g added to output slice g.
    Tensor a = randomTensor(DataType::kFloat32, {1, 3, 4}, 1);
    Tensor w = randomTensor(DataType::kFloat32, {2, 4, 5}, 2);
    Tensor bias = randomTensor(DataType::kFloat32, {2, 1, 5}, 3);
    auto out = OpTester("FusedMatMul", 1, "kiln").input(a).constInput(w).constInput(bias).run();
    ASSERT_TRUE(out.isOk()) << out.status().message();
    ASSERT_EQ((*out)[0].shape(), (Shape{2, 3, 5}));
    for (int64_t g = 0; g < 2; ++g) {
        for (int64_t i = 0; i < 3; ++i) {
            for (int64_t j = 0; j < 5; ++j) {
                double want = bias.getDouble(g * 5 + j);
                for (int64_t k = 0; k < 4; ++k) want += a.getDouble(i * 4 + k) * w.getDouble(g * 20 + k * 5 + j);
                EXPECT_NEAR((*out)[0].getDouble(g * 15 + i * 5 + j), want, 1e-5);
            }
        }
    }
    // A bias whose leading dim is not the output's is refused.
    auto bad = OpTester("FusedMatMul", 1, "kiln")
                   .input(a)
                   .constInput(w)
                   .constInput(randomTensor(DataType::kFloat32, {3, 1, 5}, 4))
                   .run();
    ASSERT_FALSE(bad.isOk());
    EXPECT_NE(bad.status().message().find("'bias'"), std::string::npos) << bad.status().message();
}

//! LayerNormalization of x + r over the last `cols` elements, naively in double.
std::vector<double> naiveAddLayerNorm(const Tensor& x, const Tensor& r, const Tensor& scale, const Tensor* bias,
                                      int64_t cols, double epsilon) {
    std::vector<double> y(static_cast<size_t>(x.numel()));
    for (int64_t row = 0; row * cols < x.numel(); ++row) {
        std::vector<double> v(static_cast<size_t>(cols));
        double mean = 0, var = 0;
        for (int64_t i = 0; i < cols; ++i) {
            v[static_cast<size_t>(i)] = x.getDouble(row * cols + i) + r.getDouble(row * cols + i);
            mean += v[static_cast<size_t>(i)] / static_cast<double>(cols);
        }
        for (double e : v) var += (e - mean) * (e - mean) / static_cast<double>(cols);
        for (int64_t i = 0; i < cols; ++i) {
            y[static_cast<size_t>(row * cols + i)] =
                (v[static_cast<size_t>(i)] - mean) / std::sqrt(var + epsilon) * scale.getDouble(i) +
                (bias ? bias->getDouble(i) : 0.0);
        }
    }
    return y;
}

TEST(FusedAddLayerNormOp, MatchesNaiveLoop) {
    struct Case {
        Shape x;
        int64_t axis, cols;
        bool bias;
    };
    for (const Case& c : {Case{{5, 6, 7}, -1, 7, true}, Case{{5, 6, 7}, 1, 42, false}, Case{{2, 127}, -1, 127, true},
                          Case{{1, 1}, 0, 1, true}}) {
        SCOPED_TRACE(shapeToString(c.x) + " axis " + std::to_string(c.axis));
        const Shape norm(c.x.end() - (c.axis < 0 ? 1 : static_cast<int64_t>(c.x.size()) - c.axis), c.x.end());
        Tensor x = randomTensor(DataType::kFloat32, c.x, 1);
        Tensor r = randomTensor(DataType::kFloat32, c.x, 2);
        Tensor scale = randomTensor(DataType::kFloat32, norm, 3, 0.5, 1.5);
        Tensor bias = randomTensor(DataType::kFloat32, norm, 4);
        OpTester op("FusedAddLayerNorm", 1, "kiln");
        op.input(x).input(r).constInput(scale);
        if (c.bias) op.constInput(bias);
        op.attr("axis", c.axis).attr("epsilon", 1e-3f);
        auto out = op.run();
        ASSERT_TRUE(out.isOk()) << out.status().message();
        const std::vector<double> want = naiveAddLayerNorm(x, r, scale, c.bias ? &bias : nullptr, c.cols, 1e-3);
        ASSERT_EQ((*out)[0].shape(), c.x);
        for (int64_t i = 0; i < x.numel(); ++i) EXPECT_NEAR((*out)[0].getDouble(i), want[static_cast<size_t>(i)], 1e-5);
    }
}

TEST(FusedAddLayerNormOp, BroadcastingResidual) {
    // R [4] broadcast over X [2, 3, 4], as Add does: the sum is [2, 3, 4].
    Tensor x = randomTensor(DataType::kFloat32, {2, 3, 4}, 5);
    Tensor r = randomTensor(DataType::kFloat32, {4}, 6);
    Tensor scale = randomTensor(DataType::kFloat32, {4}, 7, 0.5, 1.5);
    auto out = OpTester("FusedAddLayerNorm", 1, "kiln").input(x).input(r).constInput(scale).run();
    ASSERT_TRUE(out.isOk()) << out.status().message();
    Tensor rFull(DataType::kFloat32, {2, 3, 4});
    for (int64_t i = 0; i < rFull.numel(); ++i) rFull.data<float>()[i] = r.data<float>()[i % 4];
    const std::vector<double> want = naiveAddLayerNorm(x, rFull, scale, nullptr, 4, 1e-5);
    for (int64_t i = 0; i < x.numel(); ++i) EXPECT_NEAR((*out)[0].getDouble(i), want[static_cast<size_t>(i)], 1e-5);
}

TEST(FusedAddLayerNormOp, Errors) {
    OpTester mismatch("FusedAddLayerNorm", 1, "kiln");
    mismatch.input(randomTensor(DataType::kFloat32, {2, 4}, 1)).input(randomTensor(DataType::kFloat32, {3}, 2));
    mismatch.constInput(randomTensor(DataType::kFloat32, {4}, 3));
    auto out = mismatch.run();
    ASSERT_FALSE(out.isOk());
    EXPECT_NE(out.status().message().find("X + R"), std::string::npos) << out.status().message();
    OpTester scale("FusedAddLayerNorm", 1, "kiln");
    scale.input(randomTensor(DataType::kFloat32, {2, 4}, 1)).input(randomTensor(DataType::kFloat32, {2, 4}, 2));
    scale.constInput(randomTensor(DataType::kFloat32, {3}, 3));
    auto bad = scale.run();
    ASSERT_FALSE(bad.isOk());
    EXPECT_NE(bad.status().message().find("Scale"), std::string::npos) << bad.status().message();
}

}  // namespace
}  // namespace kiln::testing
