#include <algorithm>
#include <numeric>

#include "ops/op_tester.h"

namespace kiln::testing {
namespace {

const std::vector<DataType> kAllTypes = {
    DataType::kFloat32, DataType::kFloat64, DataType::kFloat16, DataType::kBFloat16, DataType::kInt8,
    DataType::kInt16,   DataType::kInt32,   DataType::kInt64,   DataType::kUInt8,    DataType::kUInt16,
    DataType::kUInt32,  DataType::kUInt64,  DataType::kBool};

Tensor iotaF(Shape shape) {
    Tensor t(DataType::kFloat32, std::move(shape));
    for (int64_t i = 0; i < t.numel(); ++i) t.data<float>()[i] = static_cast<float>(i);
    return t;
}

TEST(Gather, OddShapeMiddleAxisNegativeIndices) {
    Tensor data = randomTensor(DataType::kFloat32, {5, 6, 7}, 11);
    Tensor idx = Tensor::fromVector<int32_t>({3, -1, 0, 5}, {2, 2});
    for (int64_t axisAttr : {1, -2}) {
        auto out = OpTester("Gather").input(data).input(idx).attr("axis", axisAttr).run();
        ASSERT_TRUE(out.isOk()) << out.status().message();
        const Tensor& y = (*out)[0];
        ASSERT_EQ(y.shape(), (Shape{5, 2, 2, 7}));
        const int64_t pick[4] = {3, 5, 0, 5};
        for (int64_t a = 0; a < 5; ++a)
            for (int64_t j = 0; j < 4; ++j)
                for (int64_t c = 0; c < 7; ++c)
                    EXPECT_EQ(y.data<float>()[(a * 4 + j) * 7 + c], data.data<float>()[(a * 6 + pick[j]) * 7 + c]);
    }
}

TEST(Gather, ScalarAndEmptyIndices) {
    Tensor data = iotaF({5, 3});
    auto out = OpTester("Gather").input(data).input(Tensor::scalar<int64_t>(-2)).run();
    ASSERT_TRUE(out.isOk()) << out.status().message();
    expectTensorEq((*out)[0], Tensor::fromVector<float>({9, 10, 11}, {3}));
    out = OpTester("Gather").input(data).input(Tensor(DataType::kInt64, {0})).attr("axis", int64_t{1}).run();
    ASSERT_TRUE(out.isOk()) << out.status().message();
    EXPECT_EQ((*out)[0].shape(), (Shape{5, 0}));
}

TEST(Gather, EveryDtype) {
    for (DataType t : kAllTypes) {
        Tensor data = randomTensor(t, {127}, 5, 0, 9);
        auto out = OpTester("Gather").input(data).input(Tensor::fromVector<int64_t>({126, 0, 64}, {3})).run();
        ASSERT_TRUE(out.isOk()) << dataTypeName(t) << ": " << out.status().message();
        EXPECT_EQ((*out)[0].dtype(), t);
        EXPECT_EQ((*out)[0].getDouble(0), data.getDouble(126)) << dataTypeName(t);
        EXPECT_EQ((*out)[0].getDouble(2), data.getDouble(64)) << dataTypeName(t);
    }
}

TEST(Gather, RejectsOutOfRangeAndBadIndexType) {
    auto out = OpTester("Gather").input(iotaF({5, 3})).input(Tensor::fromVector<int64_t>({0, 5}, {2})).run();
    ASSERT_FALSE(out.isOk());
    EXPECT_NE(out.status().message().find("out of range"), std::string::npos) << out.status().message();
    out = OpTester("Gather").input(iotaF({5, 3})).input(Tensor::fromVector<int64_t>({-6}, {1})).run();
    ASSERT_FALSE(out.isOk());
    out = OpTester("Gather").input(iotaF({5, 3})).input(Tensor::fromVector<float>({0.0F}, {1})).run();
    ASSERT_FALSE(out.isOk());
    EXPECT_NE(out.status().message().find("int32 or int64"), std::string::npos) << out.status().message();
}

TEST(GatherElements, NaiveLoopBothAxes) {
    Tensor data = randomTensor(DataType::kFloat64, {5, 6}, 3);
    for (int64_t axis : {0, 1, -1}) {
        const int64_t ax = axis < 0 ? axis + 2 : axis;
        Tensor idx(DataType::kInt64, {4, 3});
        const int64_t dim = ax == 0 ? 5 : 6;
        for (int64_t i = 0; i < 12; ++i) idx.data<int64_t>()[i] = (i * 7) % (2 * dim) - dim;  // in [-dim, dim)
        auto out = OpTester("GatherElements").input(data).input(idx).attr("axis", axis).run();
        ASSERT_TRUE(out.isOk()) << out.status().message();
        const Tensor& y = (*out)[0];
        ASSERT_EQ(y.shape(), (Shape{4, 3}));
        for (int64_t i = 0; i < 4; ++i) {
            for (int64_t j = 0; j < 3; ++j) {
                int64_t k = idx.data<int64_t>()[i * 3 + j];
                if (k < 0) k += dim;
                const double want = ax == 0 ? data.data<double>()[k * 6 + j] : data.data<double>()[i * 6 + k];
                EXPECT_EQ(y.data<double>()[i * 3 + j], want);
            }
        }
    }
}

TEST(GatherElements, RejectsOutOfRange) {
    auto out = OpTester("GatherElements").input(iotaF({2, 2})).input(Tensor::fromVector<int32_t>({0, 2}, {1, 2})).run();
    ASSERT_FALSE(out.isOk());
}

TEST(GatherND, BatchDimsAndSlices) {
    // ONNX spec examples.
    Tensor data = Tensor::fromVector<int32_t>({0, 1, 2, 3, 4, 5, 6, 7}, {2, 2, 2});
    auto out = OpTester("GatherND")
                   .input(data)
                   .input(Tensor::fromVector<int64_t>({1, 0}, {2, 1}))
                   .attr("batch_dims", int64_t{1})
                   .run();
    ASSERT_TRUE(out.isOk()) << out.status().message();
    expectTensorEq((*out)[0], Tensor::fromVector<int32_t>({2, 3, 4, 5}, {2, 2}));
    out = OpTester("GatherND").input(data).input(Tensor::fromVector<int64_t>({0, 1, 1, 0}, {2, 2})).run();
    ASSERT_TRUE(out.isOk()) << out.status().message();
    expectTensorEq((*out)[0], Tensor::fromVector<int32_t>({2, 3, 4, 5}, {2, 2}));
    out = OpTester("GatherND").input(data).input(Tensor::fromVector<int64_t>({-1, 0, 1}, {1, 3})).run();
    ASSERT_TRUE(out.isOk()) << out.status().message();
    expectTensorEq((*out)[0], Tensor::fromVector<int32_t>({5}, {1}));
}

TEST(GatherND, RejectsBadShapes) {
    Tensor data = iotaF({2, 3});
    EXPECT_FALSE(OpTester("GatherND").input(data).input(Tensor::fromVector<int64_t>({0, 0, 0}, {1, 3})).run().isOk());
    EXPECT_FALSE(OpTester("GatherND").input(data).input(Tensor::fromVector<int64_t>({0, 3}, {1, 2})).run().isOk());
}

TEST(ScatterElements, ReductionsMatchNaiveLoop) {
    Tensor data = randomTensor(DataType::kFloat32, {5, 7}, 21);
    Tensor idx(DataType::kInt64, {5, 4});
    for (int64_t i = 0; i < 20; ++i) idx.data<int64_t>()[i] = (i * 3) % 7 - (i % 2 == 0 ? 7 : 0);  // duplicates too
    Tensor upd = randomTensor(DataType::kFloat32, {5, 4}, 22);
    for (const char* red : {"none", "add", "mul", "max", "min"}) {
        auto out = OpTester("ScatterElements", 16)
                       .input(data)
                       .input(idx)
                       .input(upd)
                       .attr("axis", int64_t{-1})
                       .attr("reduction", std::string(red))
                       .run();
        ASSERT_TRUE(out.isOk()) << red << ": " << out.status().message();
        std::vector<float> want(data.data<float>(), data.data<float>() + 35);
        for (int64_t i = 0; i < 5; ++i) {
            for (int64_t j = 0; j < 4; ++j) {
                int64_t k = idx.data<int64_t>()[i * 4 + j];
                if (k < 0) k += 7;
                float& w = want[static_cast<size_t>(i * 7 + k)];
                const float u = upd.data<float>()[i * 4 + j];
                const std::string r = red;
                w = r == "none"  ? u
                    : r == "add" ? w + u
                    : r == "mul" ? w * u
                    : r == "max" ? std::max(w, u)
                                 : std::min(w, u);
            }
        }
        expectTensorEq((*out)[0], Tensor::fromVector<float>(want, {5, 7}));
    }
    EXPECT_EQ(data.getDouble(0), randomTensor(DataType::kFloat32, {5, 7}, 21).getDouble(0));  // input untouched
}

TEST(ScatterElements, EveryDtypeAndErrors) {
    for (DataType t : kAllTypes) {
        Tensor data(t, {3});
        Tensor upd = randomTensor(t, {1}, 4, 1, 5);
        auto out =
            OpTester("ScatterElements").input(data).input(Tensor::fromVector<int32_t>({2}, {1})).input(upd).run();
        ASSERT_TRUE(out.isOk()) << dataTypeName(t) << ": " << out.status().message();
        EXPECT_EQ((*out)[0].getDouble(2), upd.getDouble(0)) << dataTypeName(t);
        EXPECT_EQ((*out)[0].getDouble(0), 0.0) << dataTypeName(t);
    }
    EXPECT_FALSE(OpTester("ScatterElements")
                     .input(iotaF({3}))
                     .input(Tensor::fromVector<int64_t>({3}, {1}))
                     .input(iotaF({1}))
                     .run()
                     .isOk());
    EXPECT_FALSE(OpTester("ScatterElements")
                     .input(iotaF({3}))
                     .input(Tensor::fromVector<int64_t>({0}, {1}))
                     .input(iotaF({1}))
                     .attr("reduction", std::string("bogus"))
                     .run()
                     .isOk());
}

TEST(Scatter, DeprecatedAliasOpset10) {
    Tensor data = iotaF({2, 3});
    auto out = OpTester("Scatter", 10)
                   .input(data)
                   .input(Tensor::fromVector<int64_t>({2, 0}, {1, 2}))
                   .input(Tensor::fromVector<float>({-1, -2}, {1, 2}))
                   .attr("axis", int64_t{1})
                   .run();
    ASSERT_TRUE(out.isOk()) << out.status().message();
    expectTensorEq((*out)[0], Tensor::fromVector<float>({-2, 1, -1, 3, 4, 5}, {2, 3}));
}

TEST(ScatterND, SlicesAndReductions) {
    Tensor data = iotaF({4, 3});
    Tensor idx = Tensor::fromVector<int64_t>({1, -1, 1}, {3, 1});
    Tensor upd = Tensor::fromVector<float>({1, 1, 1, 2, 2, 2, 3, 3, 3}, {3, 3});
    auto out = OpTester("ScatterND", 16).input(data).input(idx).input(upd).attr("reduction", std::string("add")).run();
    ASSERT_TRUE(out.isOk()) << out.status().message();
    expectTensorEq((*out)[0], Tensor::fromVector<float>({0, 1, 2, 7, 8, 9, 6, 7, 8, 11, 12, 13}, {4, 3}));
    out = OpTester("ScatterND", 16)
              .input(data)
              .input(Tensor::fromVector<int64_t>({0, 2, 3, 0}, {2, 2}))
              .input(Tensor::fromVector<float>({10, 10}, {2}))
              .attr("reduction", std::string("mul"))
              .run();
    ASSERT_TRUE(out.isOk()) << out.status().message();
    expectTensorEq((*out)[0], Tensor::fromVector<float>({0, 1, 20, 3, 4, 5, 6, 7, 8, 90, 10, 11}, {4, 3}));
    EXPECT_FALSE(OpTester("ScatterND").input(data).input(idx).input(iotaF({3, 2})).run().isOk());
    EXPECT_FALSE(OpTester("ScatterND")
                     .input(data)
                     .input(Tensor::fromVector<int64_t>({4}, {1, 1}))
                     .input(iotaF({1, 3}))
                     .run()
                     .isOk());
}

TEST(OneHot, AxesAndNegativeIndices) {
    Tensor idx = Tensor::fromVector<int64_t>({0, -1, 5, 2, -3, -4}, {2, 3});
    Tensor values = Tensor::fromVector<float>({-1, 7}, {2});
    auto out = OpTester("OneHot").input(idx).input(Tensor::scalar<int64_t>(3)).input(values).run();
    ASSERT_TRUE(out.isOk()) << out.status().message();
    const Tensor& y = (*out)[0];
    ASSERT_EQ(y.shape(), (Shape{2, 3, 3}));
    const int64_t hot[6] = {0, 2, -1, 2, 0, -1};  // 5 and -4 are out of range: all off
    for (int64_t i = 0; i < 6; ++i)
        for (int64_t d = 0; d < 3; ++d) EXPECT_EQ(y.data<float>()[i * 3 + d], d == hot[i] ? 7.0F : -1.0F);
    out = OpTester("OneHot")
              .input(idx)
              .input(Tensor::fromVector<float>({3.0F}, {1}))
              .input(values)
              .attr("axis", int64_t{0})
              .run();
    ASSERT_TRUE(out.isOk()) << out.status().message();
    const Tensor& z = (*out)[0];
    ASSERT_EQ(z.shape(), (Shape{3, 2, 3}));
    for (int64_t d = 0; d < 3; ++d)
        for (int64_t i = 0; i < 6; ++i) EXPECT_EQ(z.data<float>()[d * 6 + i], d == hot[i] ? 7.0F : -1.0F);
    EXPECT_FALSE(OpTester("OneHot").input(idx).input(Tensor::scalar<int64_t>(3)).input(iotaF({3})).run().isOk());
}

TEST(Unique, SortedUnsortedAndAxis) {
    Tensor x = Tensor::fromVector<int32_t>({2, 1, 1, 3, 4, 3}, {6});
    auto out = OpTester("Unique").input(x).outputs(4).run();
    ASSERT_TRUE(out.isOk()) << out.status().message();
    expectTensorEq((*out)[0], Tensor::fromVector<int32_t>({1, 2, 3, 4}, {4}));
    expectTensorEq((*out)[1], Tensor::fromVector<int64_t>({1, 0, 3, 4}, {4}));
    expectTensorEq((*out)[2], Tensor::fromVector<int64_t>({1, 0, 0, 2, 3, 2}, {6}));
    expectTensorEq((*out)[3], Tensor::fromVector<int64_t>({2, 1, 2, 1}, {4}));
    out = OpTester("Unique").input(x).attr("sorted", int64_t{0}).outputs(4).run();
    ASSERT_TRUE(out.isOk()) << out.status().message();
    expectTensorEq((*out)[0], Tensor::fromVector<int32_t>({2, 1, 3, 4}, {4}));
    expectTensorEq((*out)[1], Tensor::fromVector<int64_t>({0, 1, 3, 4}, {4}));
    expectTensorEq((*out)[2], Tensor::fromVector<int64_t>({0, 1, 1, 2, 3, 2}, {6}));
    expectTensorEq((*out)[3], Tensor::fromVector<int64_t>({1, 2, 2, 1}, {4}));
    // Columns of a 2x4 matrix along axis -1: [1,0] [0,1] [1,0] [0,0] -> sorted [0,0] [0,1] [1,0].
    Tensor m = Tensor::fromVector<float>({1, 0, 1, 0, 0, 1, 0, 0}, {2, 4});
    out = OpTester("Unique").input(m).attr("axis", int64_t{-1}).outputs(4).run();
    ASSERT_TRUE(out.isOk()) << out.status().message();
    expectTensorEq((*out)[0], Tensor::fromVector<float>({0, 0, 1, 0, 1, 0}, {2, 3}));
    expectTensorEq((*out)[1], Tensor::fromVector<int64_t>({3, 1, 0}, {3}));
    expectTensorEq((*out)[2], Tensor::fromVector<int64_t>({2, 1, 2, 0}, {4}));
    expectTensorEq((*out)[3], Tensor::fromVector<int64_t>({1, 1, 2}, {3}));
    out = OpTester("Unique").input(Tensor(DataType::kFloat16, {0})).outputs(4).run();
    ASSERT_TRUE(out.isOk()) << out.status().message();
    EXPECT_EQ((*out)[0].shape(), (Shape{0}));
    EXPECT_FALSE(OpTester("Unique").input(m).attr("axis", int64_t{2}).run().isOk());
}

TEST(CumSum, ExclusiveReverseNaive) {
    for (DataType t : {DataType::kFloat32, DataType::kFloat64, DataType::kInt32, DataType::kInt64, DataType::kUInt32,
                       DataType::kFloat16}) {
        Tensor x = randomTensor(t, {5, 7}, 9, 0, 3);
        for (int exclusive = 0; exclusive < 2; ++exclusive) {
            for (int reverse = 0; reverse < 2; ++reverse) {
                auto out = OpTester("CumSum", 14)
                               .input(x)
                               .input(Tensor::scalar<int32_t>(-1))
                               .attr("exclusive", int64_t{exclusive})
                               .attr("reverse", int64_t{reverse})
                               .run();
                ASSERT_TRUE(out.isOk()) << out.status().message();
                for (int64_t r = 0; r < 5; ++r) {
                    for (int64_t c = 0; c < 7; ++c) {
                        double want = 0;
                        for (int64_t k = 0; k < 7; ++k) {
                            const bool in = reverse ? (exclusive ? k > c : k >= c) : (exclusive ? k < c : k <= c);
                            if (in) want += x.getDouble(r * 7 + k);
                        }
                        EXPECT_NEAR((*out)[0].getDouble(r * 7 + c), want, 0.02) << dataTypeName(t);
                    }
                }
            }
        }
    }
    EXPECT_FALSE(OpTester("CumSum").input(iotaF({3})).input(Tensor::scalar<int64_t>(1)).run().isOk());
}

TEST(TopK, LargestSmallestAgainstSort) {
    Tensor x = randomTensor(DataType::kFloat32, {5, 127}, 42, -3, 3);
    for (int largest = 0; largest < 2; ++largest) {
        // Only the values output requested.
        auto out = OpTester("TopK", 11)
                       .input(x)
                       .input(Tensor::fromVector<int64_t>({7}, {1}))
                       .attr("largest", int64_t{largest})
                       .run();
        ASSERT_TRUE(out.isOk()) << out.status().message();
        EXPECT_EQ((*out)[0].shape(), (Shape{5, 7}));
    }
    for (int largest = 0; largest < 2; ++largest) {
        auto out = OpTester("TopK", 11)
                       .input(x)
                       .input(Tensor::fromVector<int64_t>({7}, {1}))
                       .attr("largest", int64_t{largest})
                       .outputs(2)
                       .run();
        ASSERT_TRUE(out.isOk()) << out.status().message();
        ASSERT_EQ((*out)[0].shape(), (Shape{5, 7}));
        for (int64_t r = 0; r < 5; ++r) {
            std::vector<int64_t> order(127);
            std::iota(order.begin(), order.end(), 0);
            const float* row = x.data<float>() + r * 127;
            std::stable_sort(order.begin(), order.end(),
                             [&](int64_t a, int64_t b) { return largest ? row[a] > row[b] : row[a] < row[b]; });
            for (int64_t i = 0; i < 7; ++i) {
                EXPECT_EQ((*out)[1].data<int64_t>()[r * 7 + i], order[static_cast<size_t>(i)]);
                EXPECT_EQ((*out)[0].data<float>()[r * 7 + i], row[order[static_cast<size_t>(i)]]);
            }
        }
    }
}

TEST(TopK, TiesPreferSmallerIndexAxis0AndErrors) {
    Tensor x = Tensor::fromVector<int32_t>({1, 5, 3, 5, 1, 5}, {6, 1});
    auto out = OpTester("TopK")
                   .input(x)
                   .input(Tensor::fromVector<int64_t>({4}, {1}))
                   .attr("axis", int64_t{0})
                   .outputs(2)
                   .run();
    ASSERT_TRUE(out.isOk()) << out.status().message();
    expectTensorEq((*out)[0], Tensor::fromVector<int32_t>({5, 5, 5, 3}, {4, 1}));
    expectTensorEq((*out)[1], Tensor::fromVector<int64_t>({1, 3, 5, 2}, {4, 1}));
    out = OpTester("TopK")
              .input(x)
              .input(Tensor::fromVector<int64_t>({0}, {1}))
              .attr("axis", int64_t{0})
              .outputs(2)
              .run();
    ASSERT_TRUE(out.isOk()) << out.status().message();
    EXPECT_EQ((*out)[0].shape(), (Shape{0, 1}));
    EXPECT_FALSE(OpTester("TopK").input(x).input(Tensor::fromVector<int64_t>({2}, {1})).outputs(2).run().isOk());
}

}  // namespace
}  // namespace kiln::testing
