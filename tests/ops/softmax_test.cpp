#include <cmath>

#include "ops/op_tester.h"

namespace kiln::testing {
namespace {

enum class Kind { kSoftmax, kLogSoftmax, kHardmax };

//! Naive (log)softmax/hardmax of x viewed as [outer, n, inner], normalizing over n.
Tensor naive(const Tensor& x, int64_t outer, int64_t n, int64_t inner, Kind kind) {
    Tensor y(DataType::kFloat64, x.shape());
    for (int64_t o = 0; o < outer; ++o)
        for (int64_t i = 0; i < inner; ++i) {
            auto at = [&](int64_t k) { return (o * n + k) * inner + i; };
            double mx = x.getDouble(at(0));
            int64_t arg = 0;
            for (int64_t k = 1; k < n; ++k)
                if (x.getDouble(at(k)) > mx) {
                    mx = x.getDouble(at(k));
                    arg = k;
                }
            double sum = 0;
            for (int64_t k = 0; k < n; ++k) sum += std::exp(x.getDouble(at(k)) - mx);
            for (int64_t k = 0; k < n; ++k) {
                const double e = x.getDouble(at(k)) - mx;
                double v = kind == Kind::kSoftmax ? std::exp(e) / sum : e - std::log(sum);
                if (kind == Kind::kHardmax) v = k == arg ? 1.0 : 0.0;
                y.data<double>()[at(k)] = v;
            }
        }
    return y;
}

Tensor toDouble(const Tensor& t) {
    Tensor d(DataType::kFloat64, t.shape());
    for (int64_t i = 0; i < t.numel(); ++i) d.data<double>()[i] = t.getDouble(i);
    return d;
}

const char* opName(Kind k) {
    return k == Kind::kSoftmax ? "Softmax" : k == Kind::kLogSoftmax ? "LogSoftmax" : "Hardmax";
}

TEST(Softmax, Opset13AlongAxis) {
    Tensor x = randomTensor(DataType::kFloat32, {5, 6, 7}, 41, -3, 3);
    for (Kind k : {Kind::kSoftmax, Kind::kLogSoftmax, Kind::kHardmax}) {
        auto mid = OpTester(opName(k), 13).input(x).attr("axis", int64_t{1}).run();
        ASSERT_TRUE(mid.isOk()) << mid.status().message();
        expectTensorNear(toDouble((*mid)[0]), naive(x, 5, 6, 7, k), 1e-6, 1e-7);
        auto last = OpTester(opName(k), 13).input(x).run();  // default axis -1
        ASSERT_TRUE(last.isOk()) << last.status().message();
        expectTensorNear(toDouble((*last)[0]), naive(x, 30, 7, 1, k), 1e-6, 1e-7);
        auto first = OpTester(opName(k), 13).input(x).attr("axis", int64_t{-3}).run();
        ASSERT_TRUE(first.isOk()) << first.status().message();
        expectTensorNear(toDouble((*first)[0]), naive(x, 1, 5, 42, k), 1e-6, 1e-7);
    }
}

TEST(Softmax, LegacyOpsetFlattensTrailingBlock) {
    Tensor x = randomTensor(DataType::kFloat32, {5, 6, 7}, 42, -3, 3);
    for (Kind k : {Kind::kSoftmax, Kind::kLogSoftmax, Kind::kHardmax}) {
        auto def = OpTester(opName(k), 11).input(x).run();  // default axis 1: rows of 6*7
        ASSERT_TRUE(def.isOk()) << def.status().message();
        expectTensorNear(toDouble((*def)[0]), naive(x, 5, 42, 1, k), 1e-6, 1e-7);
        auto two = OpTester(opName(k), 1).input(x).attr("axis", int64_t{2}).run();
        ASSERT_TRUE(two.isOk()) << two.status().message();
        expectTensorNear(toDouble((*two)[0]), naive(x, 30, 7, 1, k), 1e-6, 1e-7);
    }
}

TEST(Softmax, LargeNumbersAreStable) {
    Tensor x = Tensor::fromVector<float>({1000, 1001, 1002, -1000}, {1, 4});
    auto out = OpTester("Softmax", 13).input(x).run();
    ASSERT_TRUE(out.isOk()) << out.status().message();
    expectTensorNear((*out)[0], Tensor::fromVector<float>({0.09003057f, 0.24472847f, 0.66524096f, 0.0f}, {1, 4}));
    auto log = OpTester("LogSoftmax", 13).input(x).run();
    ASSERT_TRUE(log.isOk()) << log.status().message();
    expectTensorNear((*log)[0],
                     Tensor::fromVector<float>({-2.40760596f, -1.40760596f, -0.40760596f, -2002.40760596f}, {1, 4}));
}

TEST(Softmax, HardmaxTiesPickFirst) {
    auto out = OpTester("Hardmax", 13).input(Tensor::fromVector<float>({3, 3, 1, 2, 5, 5}, {2, 3})).run();
    ASSERT_TRUE(out.isOk()) << out.status().message();
    expectTensorEq((*out)[0], Tensor::fromVector<float>({1, 0, 0, 0, 1, 0}, {2, 3}));
}

TEST(Softmax, DtypesSizeOneAndEmpty) {
    for (DataType t : {DataType::kFloat64, DataType::kFloat16, DataType::kBFloat16}) {
        Tensor x = randomTensor(t, {3, 127}, 43, -2, 2);
        auto out = OpTester("Softmax", 13).input(x).run();
        ASSERT_TRUE(out.isOk()) << out.status().message();
        EXPECT_EQ((*out)[0].dtype(), t);
        const double tol = t == DataType::kFloat64 ? 1e-12 : 1e-2;
        expectTensorNear(toDouble((*out)[0]), naive(x, 3, 127, 1, Kind::kSoftmax), tol, tol);
    }
    auto one = OpTester("Softmax", 13).input(randomTensor(DataType::kFloat32, {4, 1}, 44)).run();
    ASSERT_TRUE(one.isOk()) << one.status().message();
    expectTensorEq((*one)[0], Tensor::fromVector<float>({1, 1, 1, 1}, {4, 1}));
    auto empty = OpTester("LogSoftmax", 13).input(Tensor(DataType::kFloat32, {0, 3})).run();
    ASSERT_TRUE(empty.isOk()) << empty.status().message();
    EXPECT_EQ((*empty)[0].shape(), (Shape{0, 3}));
}

TEST(Softmax, RejectsBadInput) {
    auto ints = OpTester("Softmax", 13).input(Tensor(DataType::kInt32, {2, 3})).run();
    ASSERT_FALSE(ints.isOk());
    EXPECT_NE(ints.status().message().find("int32"), std::string::npos) << ints.status().message();
    auto axis = OpTester("LogSoftmax", 13).input(Tensor(DataType::kFloat32, {2, 3})).attr("axis", int64_t{2}).run();
    ASSERT_FALSE(axis.isOk());
    auto scalar = OpTester("Hardmax", 13).input(Tensor::scalar<float>(1.0f)).run();
    ASSERT_FALSE(scalar.isOk());
}

}  // namespace
}  // namespace kiln::testing
