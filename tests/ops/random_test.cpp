// Random generators: shape, dtype, range, determinism for a fixed seed, and sample statistics over 10k draws.
#include "ops/op_tester.h"

namespace kiln::testing {
namespace {

struct Stats {
    double mean = 0;
    double var = 0;
    double min = INFINITY;
    double max = -INFINITY;
};

Stats stats(const Tensor& t) {
    Stats s;
    for (int64_t i = 0; i < t.numel(); ++i) {
        const double v = t.getDouble(i);
        s.mean += v;
        s.min = std::min(s.min, v);
        s.max = std::max(s.max, v);
    }
    s.mean /= static_cast<double>(t.numel());
    for (int64_t i = 0; i < t.numel(); ++i) s.var += (t.getDouble(i) - s.mean) * (t.getDouble(i) - s.mean);
    s.var /= static_cast<double>(t.numel() - 1);
    return s;
}

bool sameValues(const Tensor& a, const Tensor& b) {
    if (a.shape() != b.shape() || a.dtype() != b.dtype()) return false;
    for (int64_t i = 0; i < a.numel(); ++i)
        if (a.getDouble(i) != b.getDouble(i)) return false;
    return true;
}

Result<std::vector<Tensor>> randomUniform(std::vector<int64_t> shape, float low, float high, std::optional<float> seed,
                                          int64_t dtype = 1) {
    OpTester t("RandomUniform");
    t.attr("shape", shape).attr("low", low).attr("high", high).attr("dtype", dtype);
    if (seed) t.attr("seed", *seed);
    return t.run();
}

TEST(RandomUniform, RangeStatisticsAndDeterminism) {
    auto a = randomUniform({100, 101}, -2.0f, 3.0f, 1.5f);
    ASSERT_TRUE(a.isOk()) << a.status().message();
    const Tensor& y = (*a)[0];
    ASSERT_EQ(y.dtype(), DataType::kFloat32);
    ASSERT_EQ(y.shape(), (Shape{100, 101}));
    const Stats s = stats(y);
    EXPECT_GE(s.min, -2.0);
    EXPECT_LT(s.max, 3.0);
    EXPECT_NEAR(s.mean, 0.5, 0.05);         // standard error 0.014
    EXPECT_NEAR(s.var, 25.0 / 12.0, 0.08);  // uniform variance (high - low)^2 / 12
    auto again = randomUniform({100, 101}, -2.0f, 3.0f, 1.5f);
    ASSERT_TRUE(again.isOk());
    EXPECT_TRUE(sameValues(y, (*again)[0]));
    auto other = randomUniform({100, 101}, -2.0f, 3.0f, 2.5f);
    ASSERT_TRUE(other.isOk());
    EXPECT_FALSE(sameValues(y, (*other)[0]));
    auto unseeded1 = randomUniform({64}, 0, 1, std::nullopt);
    auto unseeded2 = randomUniform({64}, 0, 1, std::nullopt);
    ASSERT_TRUE(unseeded1.isOk() && unseeded2.isOk());
    EXPECT_FALSE(sameValues((*unseeded1)[0], (*unseeded2)[0]));
}

TEST(RandomUniform, DtypesAndEmpty) {
    for (int64_t dt : {10, 11}) {
        auto out = randomUniform({5, 6, 7}, 1.0f, 2.0f, 0.0f, dt);
        ASSERT_TRUE(out.isOk()) << out.status().message();
        EXPECT_EQ((*out)[0].dtype(), static_cast<DataType>(dt));
        const Stats s = stats((*out)[0]);
        EXPECT_GE(s.min, 1.0);
        EXPECT_LE(s.max, 2.0);  // float16 rounding may reach the upper bound
    }
    auto empty = randomUniform({3, 0}, 0, 1, 0.0f);
    ASSERT_TRUE(empty.isOk());
    EXPECT_EQ((*empty)[0].shape(), (Shape{3, 0}));
    auto scalar = randomUniform({}, 0, 1, 0.0f);
    ASSERT_TRUE(scalar.isOk());
    EXPECT_EQ((*scalar)[0].shape(), Shape{});
}

TEST(RandomUniform, RejectsBadAttributes) {
    EXPECT_FALSE(OpTester("RandomUniform").run().isOk());     // no shape
    EXPECT_FALSE(randomUniform({2, -1}, 0, 1, 0.0f).isOk());  // negative dim
    EXPECT_FALSE(randomUniform({2}, 0, 1, 0.0f, 6).isOk());   // int32 output
    EXPECT_FALSE(randomUniform({2}, 2, 1, 0.0f).isOk());      // high < low
}

TEST(RandomNormal, StatisticsAndDeterminism) {
    auto run = [](float seed) {
        return OpTester("RandomNormal")
            .attr("shape", std::vector<int64_t>{10007})
            .attr("mean", 3.0f)
            .attr("scale", 2.0f)
            .attr("seed", seed)
            .attr("dtype", int64_t{11})
            .run();
    };
    auto a = run(7.0f);
    ASSERT_TRUE(a.isOk()) << a.status().message();
    ASSERT_EQ((*a)[0].dtype(), DataType::kFloat64);
    const Stats s = stats((*a)[0]);
    EXPECT_NEAR(s.mean, 3.0, 0.07);  // standard error 0.02
    EXPECT_NEAR(std::sqrt(s.var), 2.0, 0.05);
    // About 68% within one standard deviation.
    int64_t within = 0;
    for (int64_t i = 0; i < (*a)[0].numel(); ++i) within += std::fabs((*a)[0].getDouble(i) - 3.0) < 2.0;
    EXPECT_NEAR(static_cast<double>(within) / 10007.0, 0.6827, 0.02);
    auto b = run(7.0f);
    ASSERT_TRUE(b.isOk());
    EXPECT_TRUE(sameValues((*a)[0], (*b)[0]));
    EXPECT_FALSE(OpTester("RandomNormal").attr("shape", std::vector<int64_t>{2}).attr("scale", -1.0f).run().isOk());
}

TEST(RandomLike, ShapeAndDtypeFromInput) {
    Tensor in(DataType::kInt32, {7, 11});
    auto u = OpTester("RandomUniformLike").input(in).attr("dtype", int64_t{11}).attr("seed", 1.0f).run();
    ASSERT_TRUE(u.isOk()) << u.status().message();
    EXPECT_EQ((*u)[0].shape(), (Shape{7, 11}));
    EXPECT_EQ((*u)[0].dtype(), DataType::kFloat64);
    // Without dtype the input's dtype is used; an integer input then has no valid output type.
    EXPECT_FALSE(OpTester("RandomUniformLike").input(in).run().isOk());
    auto n = OpTester("RandomNormalLike")
                 .input(randomTensor(DataType::kFloat16, {100, 100}, 1))
                 .attr("seed", 4.0f)
                 .attr("mean", -1.0f)
                 .attr("scale", 0.5f)
                 .run();
    ASSERT_TRUE(n.isOk()) << n.status().message();
    EXPECT_EQ((*n)[0].dtype(), DataType::kFloat16);
    const Stats s = stats((*n)[0]);
    EXPECT_NEAR(s.mean, -1.0, 0.02);
    EXPECT_NEAR(std::sqrt(s.var), 0.5, 0.02);
    auto lo = OpTester("RandomUniformLike")
                  .input(Tensor(DataType::kFloat32, {10000}))
                  .attr("low", 5.0f)
                  .attr("high", 6.0f)
                  .attr("seed", 2.0f)
                  .run();
    ASSERT_TRUE(lo.isOk());
    EXPECT_NEAR(stats((*lo)[0]).mean, 5.5, 0.01);
    auto empty = OpTester("RandomNormalLike").input(Tensor(DataType::kFloat32, {0, 3})).run();
    ASSERT_TRUE(empty.isOk());
    EXPECT_EQ((*empty)[0].shape(), (Shape{0, 3}));
}

TEST(Bernoulli, ProbabilitiesAndDtypes) {
    std::vector<float> p(10000, 0.3f);
    auto out = OpTester("Bernoulli").input(Tensor::fromVector<float>(p, {100, 100})).attr("seed", 3.0f).run();
    ASSERT_TRUE(out.isOk()) << out.status().message();
    const Tensor& y = (*out)[0];
    ASSERT_EQ(y.dtype(), DataType::kFloat32);
    ASSERT_EQ(y.shape(), (Shape{100, 100}));
    for (int64_t i = 0; i < y.numel(); ++i) ASSERT_TRUE(y.getDouble(i) == 0.0 || y.getDouble(i) == 1.0);
    EXPECT_NEAR(stats(y).mean, 0.3, 0.015);  // standard error 0.0046
    auto again = OpTester("Bernoulli").input(Tensor::fromVector<float>(p, {100, 100})).attr("seed", 3.0f).run();
    ASSERT_TRUE(again.isOk());
    EXPECT_TRUE(sameValues(y, (*again)[0]));
    // p = 0 and p = 1 are certain; dtype overrides the output type.
    Tensor edges = Tensor::fromVector<double>({0, 1, 0, 1, 1});
    for (int64_t dt : {9, 6, 7, 2, 11, 10}) {
        auto e = OpTester("Bernoulli").input(edges).attr("dtype", dt).run();
        ASSERT_TRUE(e.isOk()) << e.status().message();
        ASSERT_EQ((*e)[0].dtype(), static_cast<DataType>(dt));
        for (int64_t i = 0; i < 5; ++i) EXPECT_EQ((*e)[0].getDouble(i), edges.getDouble(i));
    }
    auto h = OpTester("Bernoulli").input(Tensor(DataType::kFloat16, {3, 0})).run();
    ASSERT_TRUE(h.isOk());
    EXPECT_EQ((*h)[0].shape(), (Shape{3, 0}));
}

TEST(Bernoulli, RejectsBadInputs) {
    EXPECT_FALSE(OpTester("Bernoulli").input(Tensor::fromVector<float>({0.5f, 1.5f})).run().isOk());
    EXPECT_FALSE(OpTester("Bernoulli").input(Tensor::fromVector<float>({NAN})).run().isOk());
    EXPECT_FALSE(OpTester("Bernoulli").input(Tensor::fromVector<int32_t>({0, 1})).run().isOk());
}

TEST(Multinomial, FrequenciesFollowSoftmax) {
    // Row 0: log-probabilities of 0.2, 0.3, 0.5 (shifted by a constant, which softmax ignores); row 1: one class.
    Tensor logits = Tensor::fromVector<float>(
        {std::log(0.2f) + 4, std::log(0.3f) + 4, std::log(0.5f) + 4, -1e30f, 0.0f, -INFINITY}, {2, 3});
    auto out = OpTester("Multinomial").input(logits).attr("sample_size", int64_t{10000}).attr("seed", 5.0f).run();
    ASSERT_TRUE(out.isOk()) << out.status().message();
    const Tensor& y = (*out)[0];
    ASSERT_EQ(y.dtype(), DataType::kInt32);
    ASSERT_EQ(y.shape(), (Shape{2, 10000}));
    std::vector<int> counts(3, 0);
    for (int64_t s = 0; s < 10000; ++s) {
        const int64_t c = y.getInt(s);
        ASSERT_TRUE(c >= 0 && c < 3);
        ++counts[c];
        ASSERT_EQ(y.getInt(10000 + s), 1);
    }
    EXPECT_NEAR(counts[0] / 10000.0, 0.2, 0.015);
    EXPECT_NEAR(counts[1] / 10000.0, 0.3, 0.015);
    EXPECT_NEAR(counts[2] / 10000.0, 0.5, 0.015);
    auto again = OpTester("Multinomial").input(logits).attr("sample_size", int64_t{10000}).attr("seed", 5.0f).run();
    ASSERT_TRUE(again.isOk());
    EXPECT_TRUE(sameValues(y, (*again)[0]));
    auto i64 = OpTester("Multinomial").input(Tensor(DataType::kFloat64, {4, 5})).attr("dtype", int64_t{7}).run();
    ASSERT_TRUE(i64.isOk()) << i64.status().message();
    EXPECT_EQ((*i64)[0].dtype(), DataType::kInt64);
    EXPECT_EQ((*i64)[0].shape(), (Shape{4, 1}));
}

TEST(Multinomial, RejectsBadInputs) {
    EXPECT_FALSE(OpTester("Multinomial").input(Tensor(DataType::kFloat32, {5})).run().isOk());
    EXPECT_FALSE(
        OpTester("Multinomial").input(Tensor(DataType::kFloat32, {2, 3})).attr("dtype", int64_t{1}).run().isOk());
    EXPECT_FALSE(OpTester("Multinomial").input(Tensor::fromVector<float>({-INFINITY, -INFINITY}, {1, 2})).run().isOk());
    EXPECT_FALSE(OpTester("Multinomial")
                     .input(Tensor(DataType::kFloat32, {2, 3}))
                     .attr("sample_size", int64_t{-1})
                     .run()
                     .isOk());
}

}  // namespace
}  // namespace kiln::testing
