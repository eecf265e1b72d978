#include <cmath>

#include "ops/op_tester.h"

namespace kiln::testing {
namespace {

TEST(NegativeLogLikelihoodLoss, ReductionsWeightsIgnoreIndex) {
    // input (N=2, C=3, d=2), target (2, 2).
    Tensor x = Tensor::fromVector<float>({-1, -2, -3, -4, -5, -6, -7, -8, -9, -10, -11, -12}, {2, 3, 2});
    Tensor target = Tensor::fromVector<int64_t>({0, 2, 1, 1}, {2, 2});
    // -x[n, t, d]: (0,0,0)=-1→1, (0,2,1)=-6→6, (1,1,0)=-9→9, (1,1,1)=-10→10.
    auto none =
        OpTester("NegativeLogLikelihoodLoss", 13).input(x).input(target).attr("reduction", std::string("none")).run();
    ASSERT_TRUE(none.isOk()) << none.status().message();
    expectTensorEq((*none)[0], Tensor::fromVector<float>({1, 6, 9, 10}, {2, 2}));
    auto mean = OpTester("NegativeLogLikelihoodLoss", 13).input(x).input(target).run();
    ASSERT_TRUE(mean.isOk()) << mean.status().message();
    expectTensorNear((*mean)[0], Tensor::scalar<float>(6.5f));
    Tensor w = Tensor::fromVector<float>({0.5f, 2.0f, 1.0f});
    auto sum = OpTester("NegativeLogLikelihoodLoss", 13)
                   .input(x)
                   .input(target)
                   .input(w)
                   .attr("reduction", std::string("sum"))
                   .run();
    ASSERT_TRUE(sum.isOk()) << sum.status().message();
    expectTensorNear((*sum)[0], Tensor::scalar<float>(0.5f * 1 + 6 + 2 * 9 + 2 * 10));
    // Weighted mean divides by the weights in play; ignored targets drop out (and may be out of range).
    Tensor ignored = Tensor::fromVector<int64_t>({0, -1, 1, -1}, {2, 2});
    auto ii = OpTester("NegativeLogLikelihoodLoss", 13)
                  .input(x)
                  .input(ignored)
                  .input(w)
                  .attr("ignore_index", int64_t{-1})
                  .run();
    ASSERT_TRUE(ii.isOk()) << ii.status().message();
    expectTensorNear((*ii)[0], Tensor::scalar<float>((0.5f * 1 + 2 * 9) / 2.5f));
}

TEST(NegativeLogLikelihoodLoss, Rank2DoubleAndErrors) {
    Tensor x = Tensor::fromVector<double>({-0.5, -1.5, -2.5, -3.5}, {2, 2});
    auto out = OpTester("NegativeLogLikelihoodLoss", 13)
                   .input(x)
                   .input(Tensor::fromVector<int32_t>({1, 0}))
                   .attr("reduction", std::string("none"))
                   .run();
    ASSERT_TRUE(out.isOk()) << out.status().message();
    expectTensorEq((*out)[0], Tensor::fromVector<double>({1.5, 2.5}));
    auto range = OpTester("NegativeLogLikelihoodLoss", 13).input(x).input(Tensor::fromVector<int64_t>({2, 0})).run();
    ASSERT_FALSE(range.isOk());
    EXPECT_NE(range.status().message().find("out of range"), std::string::npos) << range.status().message();
    auto shape = OpTester("NegativeLogLikelihoodLoss", 13).input(x).input(Tensor::fromVector<int64_t>({0, 0, 0})).run();
    ASSERT_FALSE(shape.isOk());
    auto red = OpTester("NegativeLogLikelihoodLoss", 13)
                   .input(x)
                   .input(Tensor::fromVector<int64_t>({0, 0}))
                   .attr("reduction", std::string("max"))
                   .run();
    ASSERT_FALSE(red.isOk());
}

TEST(SoftmaxCrossEntropyLoss, LossAndLogProb) {
    const int64_t n = 3, c = 5, d = 7;
    Tensor x = randomTensor(DataType::kFloat32, {n, c, d}, 81, -3, 3);
    Tensor target(DataType::kInt64, {n, d});
    for (int64_t i = 0; i < n * d; ++i) target.data<int64_t>()[i] = (i * 3) % c;
    target.data<int64_t>()[4] = -100;  // ignored
    auto out = OpTester("SoftmaxCrossEntropyLoss", 13)
                   .input(x)
                   .input(target)
                   .attr("ignore_index", int64_t{-100})
                   .outputs(2)
                   .run();
    ASSERT_TRUE(out.isOk()) << out.status().message();
    Tensor logp(DataType::kFloat64, x.shape());
    double total = 0;
    int64_t counted = 0;
    for (int64_t i = 0; i < n; ++i)
        for (int64_t k = 0; k < d; ++k) {
            double sum = 0;
            for (int64_t j = 0; j < c; ++j) sum += std::exp(x.getDouble((i * c + j) * d + k));
            for (int64_t j = 0; j < c; ++j)
                logp.data<double>()[(i * c + j) * d + k] = x.getDouble((i * c + j) * d + k) - std::log(sum);
            const int64_t t = target.getInt(i * d + k);
            if (t == -100) continue;
            total -= logp.data<double>()[(i * c + t) * d + k];
            ++counted;
        }
    expectTensorNear((*out)[0], Tensor::scalar<float>(static_cast<float>(total / counted)), 1e-5, 1e-6);
    Tensor got(DataType::kFloat64, x.shape());
    for (int64_t i = 0; i < x.numel(); ++i) got.data<double>()[i] = (*out)[1].getDouble(i);
    expectTensorNear(got, logp, 1e-5, 1e-6);
    auto ints = OpTester("SoftmaxCrossEntropyLoss", 13)
                    .input(Tensor(DataType::kInt32, {2, 2}))
                    .input(Tensor::fromVector<int64_t>({0, 1}))
                    .run();
    ASSERT_FALSE(ints.isOk());
}

}  // namespace
}  // namespace kiln::testing
