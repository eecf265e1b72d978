#include <cmath>

#include "ops/op_tester.h"

namespace kiln::testing {
namespace {

Tensor toDouble(const Tensor& t) {
    Tensor d(DataType::kFloat64, t.shape());
    for (int64_t i = 0; i < t.numel(); ++i) d.data<double>()[i] = t.getDouble(i);
    return d;
}

//! x[n, c, s] of a tensor viewed as N x C x S.
struct Ncs {
    const Tensor& t;
    int64_t c, s;
    double operator()(int64_t n, int64_t ch, int64_t sp) const { return t.getDouble((n * c + ch) * s + sp); }
};

TEST(BatchNormalization, InferenceOddShape) {
    const int64_t n = 2, c = 3, s = 5 * 7;
    Tensor x = randomTensor(DataType::kFloat32, {n, c, 5, 7}, 51, -2, 2);
    Tensor scale = randomTensor(DataType::kFloat32, {c}, 52);
    Tensor bias = randomTensor(DataType::kFloat32, {c}, 53);
    Tensor mean = randomTensor(DataType::kFloat32, {c}, 54);
    Tensor var = randomTensor(DataType::kFloat32, {c}, 55, 0.1, 2);
    auto out = OpTester("BatchNormalization", 15)
                   .input(x)
                   .input(scale)
                   .input(bias)
                   .input(mean)
                   .input(var)
                   .attr("epsilon", 1e-3f)
                   .run();
    ASSERT_TRUE(out.isOk()) << out.status().message();
    Tensor want(DataType::kFloat64, x.shape());
    Ncs in{x, c, s};
    for (int64_t i = 0; i < n; ++i)
        for (int64_t ch = 0; ch < c; ++ch)
            for (int64_t p = 0; p < s; ++p)
                want.data<double>()[(i * c + ch) * s + p] =
                    scale.getDouble(ch) * (in(i, ch, p) - mean.getDouble(ch)) / std::sqrt(var.getDouble(ch) + 1e-3f) +
                    bias.getDouble(ch);
    expectTensorNear(toDouble((*out)[0]), want, 1e-5, 1e-6);
}

TEST(BatchNormalization, TrainingModeOutputs) {
    const int64_t n = 3, c = 2, s = 5;
    Tensor x = randomTensor(DataType::kFloat32, {n, c, s}, 56, -2, 2);
    Tensor scale = randomTensor(DataType::kFloat32, {c}, 57);
    Tensor bias = randomTensor(DataType::kFloat32, {c}, 58);
    Tensor mean = randomTensor(DataType::kFloat32, {c}, 59);
    Tensor var = randomTensor(DataType::kFloat32, {c}, 60, 0.1, 2);
    auto out = OpTester("BatchNormalization", 15)
                   .input(x)
                   .input(scale)
                   .input(bias)
                   .input(mean)
                   .input(var)
                   .attr("training_mode", int64_t{1})
                   .attr("momentum", 0.8f)
                   .outputs(3)
                   .run();
    ASSERT_TRUE(out.isOk()) << out.status().message();
    Ncs in{x, c, s};
    Tensor y(DataType::kFloat64, x.shape()), rm(DataType::kFloat64, {c}), rv(DataType::kFloat64, {c});
    for (int64_t ch = 0; ch < c; ++ch) {
        double m = 0, v = 0;
        for (int64_t i = 0; i < n; ++i)
            for (int64_t p = 0; p < s; ++p) m += in(i, ch, p);
        m /= n * s;
        for (int64_t i = 0; i < n; ++i)
            for (int64_t p = 0; p < s; ++p) v += (in(i, ch, p) - m) * (in(i, ch, p) - m);
        v /= n * s;
        for (int64_t i = 0; i < n; ++i)
            for (int64_t p = 0; p < s; ++p)
                y.data<double>()[(i * c + ch) * s + p] =
                    scale.getDouble(ch) * (in(i, ch, p) - m) / std::sqrt(v + 1e-5f) + bias.getDouble(ch);
        rm.data<double>()[ch] = mean.getDouble(ch) * 0.8f + m * (1 - 0.8f);
        rv.data<double>()[ch] = var.getDouble(ch) * 0.8f + v * (1 - 0.8f);
    }
    expectTensorNear(toDouble((*out)[0]), y, 1e-5, 1e-5);
    expectTensorNear(toDouble((*out)[1]), rm, 1e-5, 1e-6);
    expectTensorNear(toDouble((*out)[2]), rv, 1e-5, 1e-6);
}

TEST(BatchNormalization, HalfRank2AndErrors) {
    Tensor x = randomTensor(DataType::kFloat16, {4, 3}, 61);
    Tensor ones = Tensor::fromVector<float>({1, 1, 1});
    Tensor zeros = Tensor::fromVector<float>({0, 0, 0});
    // Opset 15 lets scale/bias/mean/var have another float type than X.
    auto out = OpTester("BatchNormalization", 15)
                   .input(x)
                   .input(ones)
                   .input(zeros)
                   .input(zeros)
                   .input(ones)
                   .attr("epsilon", 0.0f)
                   .run();
    ASSERT_TRUE(out.isOk()) << out.status().message();
    expectTensorNear((*out)[0], x, 1e-3, 1e-3);
    auto bad = OpTester("BatchNormalization", 15)
                   .input(x)
                   .input(Tensor::fromVector<float>({1, 1}))
                   .input(zeros)
                   .input(zeros)
                   .input(ones)
                   .run();
    ASSERT_FALSE(bad.isOk());
    EXPECT_NE(bad.status().message().find("scale"), std::string::npos) << bad.status().message();
    auto rank1 = OpTester("BatchNormalization", 15)
                     .input(Tensor(DataType::kFloat32, {3}))
                     .input(ones)
                     .input(zeros)
                     .input(zeros)
                     .input(ones)
                     .run();
    ASSERT_FALSE(rank1.isOk());
}

TEST(InstanceNormalization, OddShape) {
    const int64_t n = 2, c = 3, s = 5 * 7;
    Tensor x = randomTensor(DataType::kFloat32, {n, c, 5, 7}, 62, -2, 2);
    Tensor scale = randomTensor(DataType::kFloat32, {c}, 63);
    Tensor bias = randomTensor(DataType::kFloat32, {c}, 64);
    auto out = OpTester("InstanceNormalization", 6).input(x).input(scale).input(bias).run();
    ASSERT_TRUE(out.isOk()) << out.status().message();
    Ncs in{x, c, s};
    Tensor want(DataType::kFloat64, x.shape());
    for (int64_t i = 0; i < n; ++i)
        for (int64_t ch = 0; ch < c; ++ch) {
            double m = 0, v = 0;
            for (int64_t p = 0; p < s; ++p) m += in(i, ch, p);
            m /= s;
            for (int64_t p = 0; p < s; ++p) v += (in(i, ch, p) - m) * (in(i, ch, p) - m);
            v /= s;
            for (int64_t p = 0; p < s; ++p)
                want.data<double>()[(i * c + ch) * s + p] =
                    scale.getDouble(ch) * (in(i, ch, p) - m) / std::sqrt(v + 1e-5f) + bias.getDouble(ch);
        }
    expectTensorNear(toDouble((*out)[0]), want, 1e-5, 1e-5);
    auto bad = OpTester("InstanceNormalization", 6).input(x).input(Tensor::fromVector<float>({1})).input(bias).run();
    ASSERT_FALSE(bad.isOk());
}

//! Naive layer norm of x viewed as rows x cols, scale/bias per column.
void naiveLayerNorm(const Tensor& x, int64_t rows, int64_t cols, const std::vector<double>& scale,
                    const std::vector<double>& bias, Tensor& y, Tensor& mean, Tensor& inv) {
    for (int64_t r = 0; r < rows; ++r) {
        double m = 0, v = 0;
        for (int64_t i = 0; i < cols; ++i) m += x.getDouble(r * cols + i);
        m /= cols;
        for (int64_t i = 0; i < cols; ++i) v += std::pow(x.getDouble(r * cols + i) - m, 2);
        v /= cols;
        mean.data<double>()[r] = m;
        inv.data<double>()[r] = 1 / std::sqrt(v + 1e-5f);
        for (int64_t i = 0; i < cols; ++i)
            y.data<double>()[r * cols + i] =
                (x.getDouble(r * cols + i) - m) / std::sqrt(v + 1e-5f) * scale[static_cast<size_t>(i)] +
                bias[static_cast<size_t>(i)];
    }
}

TEST(LayerNormalization, AxesAndStatistics) {
    Tensor x = randomTensor(DataType::kFloat32, {5, 6, 7}, 65, -2, 2);
    for (int64_t axis : {1, -1}) {
        const int64_t rows = axis == 1 ? 5 : 30, cols = axis == 1 ? 42 : 7;
        const Shape norm = axis == 1 ? Shape{6, 7} : Shape{7};
        Tensor scale = randomTensor(DataType::kFloat32, norm, 66);
        Tensor bias = randomTensor(DataType::kFloat32, norm, 67);
        auto out =
            OpTester("LayerNormalization", 17).input(x).input(scale).input(bias).attr("axis", axis).outputs(3).run();
        ASSERT_TRUE(out.isOk()) << out.status().message();
        std::vector<double> sc(static_cast<size_t>(cols)), bi(static_cast<size_t>(cols));
        for (int64_t i = 0; i < cols; ++i) {
            sc[static_cast<size_t>(i)] = scale.getDouble(i);
            bi[static_cast<size_t>(i)] = bias.getDouble(i);
        }
        const Shape statShape = axis == 1 ? Shape{5, 1, 1} : Shape{5, 6, 1};
        Tensor y(DataType::kFloat64, x.shape()), mean(DataType::kFloat64, statShape),
            inv(DataType::kFloat64, statShape);
        naiveLayerNorm(x, rows, cols, sc, bi, y, mean, inv);
        expectTensorNear(toDouble((*out)[0]), y, 1e-5, 1e-5);
        expectTensorNear(toDouble((*out)[1]), mean, 1e-5, 1e-6);
        expectTensorNear(toDouble((*out)[2]), inv, 1e-5, 1e-6);
        EXPECT_EQ((*out)[1].dtype(), DataType::kFloat32);
    }
}

TEST(LayerNormalization, BroadcastScaleNoBiasAndErrors) {
    Tensor x = randomTensor(DataType::kFloat64, {3, 5, 7}, 68, -2, 2);
    Tensor scale = randomTensor(DataType::kFloat64, {1, 7}, 69);  // broadcasts over the normalized 5x7
    auto out = OpTester("LayerNormalization", 17).input(x).input(scale).attr("axis", int64_t{-2}).run();
    ASSERT_TRUE(out.isOk()) << out.status().message();
    std::vector<double> sc(35), bi(35, 0.0);
    for (int64_t i = 0; i < 35; ++i) sc[static_cast<size_t>(i)] = scale.getDouble(i % 7);
    Tensor y(DataType::kFloat64, x.shape()), mean(DataType::kFloat64, {3}), inv(DataType::kFloat64, {3});
    naiveLayerNorm(x, 3, 35, sc, bi, y, mean, inv);
    expectTensorNear((*out)[0], y, 1e-10, 1e-10);
    auto bad = OpTester("LayerNormalization", 17).input(x).input(Tensor(DataType::kFloat64, {5})).run();
    ASSERT_FALSE(bad.isOk());
    EXPECT_NE(bad.status().message().find("Scale"), std::string::npos) << bad.status().message();
}

TEST(LpNormalization, P1P2AndZeroVector) {
    Tensor x = randomTensor(DataType::kFloat32, {5, 6, 7}, 70, -2, 2);
    for (int64_t p : {1, 2}) {
        auto out = OpTester("LpNormalization", 1).input(x).attr("axis", int64_t{1}).attr("p", p).run();
        ASSERT_TRUE(out.isOk()) << out.status().message();
        Tensor want(DataType::kFloat64, x.shape());
        for (int64_t a = 0; a < 5; ++a)
            for (int64_t c = 0; c < 7; ++c) {
                double norm = 0;
                for (int64_t b = 0; b < 6; ++b) {
                    const double v = x.getDouble((a * 6 + b) * 7 + c);
                    norm += p == 1 ? std::fabs(v) : v * v;
                }
                if (p == 2) norm = std::sqrt(norm);
                for (int64_t b = 0; b < 6; ++b)
                    want.data<double>()[(a * 6 + b) * 7 + c] = x.getDouble((a * 6 + b) * 7 + c) / norm;
            }
        expectTensorNear(toDouble((*out)[0]), want, 1e-5, 1e-6);
    }
    auto zero = OpTester("LpNormalization", 1).input(Tensor::fromVector<float>({0, 0, 3, 4}, {2, 2})).run();
    ASSERT_TRUE(zero.isOk()) << zero.status().message();
    expectTensorNear((*zero)[0], Tensor::fromVector<float>({0, 0, 0.6f, 0.8f}, {2, 2}));
    auto bad = OpTester("LpNormalization", 1).input(x).attr("p", int64_t{3}).run();
    ASSERT_FALSE(bad.isOk());
}

TEST(MeanVarianceNormalization, DefaultAndCustomAxes) {
    Tensor x = randomTensor(DataType::kFloat32, {2, 3, 5, 7}, 71, -2, 2);
    for (bool custom : {false, true}) {
        OpTester t("MeanVarianceNormalization", 13);
        t.input(x);
        if (custom) t.attr("axes", std::vector<int64_t>{-1});
        auto out = t.run();
        ASSERT_TRUE(out.isOk()) << out.status().message();
        // Groups: default axes {0,2,3} leave one group per channel; axes {3} one per (n, c, h).
        Tensor want(DataType::kFloat64, x.shape());
        auto group = [&](int64_t i) { return custom ? i / 7 : (i / 35) % 3; };
        const int64_t groups = custom ? 30 : 3;
        for (int64_t g = 0; g < groups; ++g) {
            double m = 0, m2 = 0, cnt = 0;
            for (int64_t i = 0; i < x.numel(); ++i)
                if (group(i) == g) {
                    m += x.getDouble(i);
                    m2 += x.getDouble(i) * x.getDouble(i);
                    ++cnt;
                }
            m /= cnt;
            m2 /= cnt;
            for (int64_t i = 0; i < x.numel(); ++i)
                if (group(i) == g) want.data<double>()[i] = (x.getDouble(i) - m) / (std::sqrt(m2 - m * m) + 1e-9);
        }
        expectTensorNear(toDouble((*out)[0]), want, 1e-4, 1e-5);
    }
    auto bad = OpTester("MeanVarianceNormalization", 13).input(Tensor(DataType::kFloat32, {2, 3})).run();
    ASSERT_FALSE(bad.isOk());  // default axes need rank 4
}

TEST(LRN, AcrossChannels) {
    const int64_t n = 2, c = 5, s = 3 * 3;
    Tensor x = randomTensor(DataType::kFloat32, {n, c, 3, 3}, 72, -2, 2);
    for (int64_t size : {1, 2, 3, 4}) {
        auto out = OpTester("LRN", 13)
                       .input(x)
                       .attr("size", size)
                       .attr("alpha", 0.002f)
                       .attr("beta", 0.5f)
                       .attr("bias", 2.0f)
                       .run();
        ASSERT_TRUE(out.isOk()) << out.status().message();
        Ncs in{x, c, s};
        Tensor want(DataType::kFloat64, x.shape());
        for (int64_t i = 0; i < n; ++i)
            for (int64_t ch = 0; ch < c; ++ch)
                for (int64_t p = 0; p < s; ++p) {
                    double sq = 0;
                    for (int64_t k = ch - (size - 1) / 2; k <= ch + size / 2; ++k)
                        if (k >= 0 && k < c) sq += in(i, k, p) * in(i, k, p);
                    want.data<double>()[(i * c + ch) * s + p] =
                        in(i, ch, p) / std::pow(2.0f + 0.002f / size * sq, 0.5f);
                }
        expectTensorNear(toDouble((*out)[0]), want, 1e-5, 1e-6);
    }
    auto bad = OpTester("LRN", 13).input(x).run();
    ASSERT_FALSE(bad.isOk());
    EXPECT_NE(bad.status().message().find("size"), std::string::npos) << bad.status().message();
}

}  // namespace
}  // namespace kiln::testing
