#include <algorithm>
#include <cmath>
#include <functional>
#include <limits>

#include "ops/op_tester.h"

namespace kiln::testing {
namespace {

//! Folds x over `axes` (non-negative) by walking every input multi-index; returns one fold per output element in
//! row-major order of the kept axes, together with the number of elements folded into each.
std::vector<std::vector<double>> naiveGroups(const Tensor& x, const std::vector<int64_t>& axes) {
    const Shape& s = x.shape();
    std::vector<bool> red(s.size(), false);
    for (int64_t a : axes) red[static_cast<size_t>(a)] = true;
    int64_t outCount = 1;
    for (size_t i = 0; i < s.size(); ++i)
        if (!red[i]) outCount *= s[i];
    std::vector<std::vector<double>> groups(static_cast<size_t>(outCount));
    std::vector<int64_t> idx(s.size(), 0);
    for (int64_t flat = 0; flat < x.numel(); ++flat) {
        int64_t rem = flat;
        for (size_t i = s.size(); i-- > 0;) {
            idx[i] = rem % s[i];
            rem /= s[i];
        }
        int64_t o = 0;
        for (size_t i = 0; i < s.size(); ++i)
            if (!red[i]) o = o * s[i] + idx[i];
        groups[static_cast<size_t>(o)].push_back(x.getDouble(flat));
    }
    return groups;
}

using Fold = std::function<double(const std::vector<double>&)>;

double sumOf(const std::vector<double>& v) {
    double s = 0;
    for (double e : v) s += e;
    return s;
}

struct Case {
    const char* op;
    Fold fold;
};

const std::vector<Case>& allReductions() {
    static const std::vector<Case> kCases = {
        {"ReduceSum", sumOf},
        {"ReduceMean", [](const auto& v) { return sumOf(v) / static_cast<double>(v.size()); }},
        {"ReduceMax", [](const auto& v) { return *std::max_element(v.begin(), v.end()); }},
        {"ReduceMin", [](const auto& v) { return *std::min_element(v.begin(), v.end()); }},
        {"ReduceProd",
         [](const auto& v) {
             double p = 1;
             for (double e : v) p *= e;
             return p;
         }},
        {"ReduceL1",
         [](const auto& v) {
             double s = 0;
             for (double e : v) s += std::fabs(e);
             return s;
         }},
        {"ReduceL2",
         [](const auto& v) {
             double s = 0;
             for (double e : v) s += e * e;
             return std::sqrt(s);
         }},
        {"ReduceLogSum", [](const auto& v) { return std::log(sumOf(v)); }},
        {"ReduceLogSumExp",
         [](const auto& v) {
             double s = 0;
             for (double e : v) s += std::exp(e);
             return std::log(s);
         }},
        {"ReduceSumSquare",
         [](const auto& v) {
             double s = 0;
             for (double e : v) s += e * e;
             return s;
         }},
    };
    return kCases;
}

Tensor expected(const Tensor& x, const std::vector<int64_t>& axes, const Fold& fold, Shape outShape) {
    auto groups = naiveGroups(x, axes);
    Tensor want(DataType::kFloat64, std::move(outShape));
    for (size_t i = 0; i < groups.size(); ++i) want.data<double>()[i] = fold(groups[i]);
    return want;
}

Tensor toDouble(const Tensor& t) {
    Tensor d(DataType::kFloat64, t.shape());
    for (int64_t i = 0; i < t.numel(); ++i) d.data<double>()[i] = t.getDouble(i);
    return d;
}

TEST(Reduce, EveryKindOverOddShapeKeepdims) {
    // Positive inputs keep LogSum defined.
    Tensor x = randomTensor(DataType::kFloat32, {5, 6, 7}, 11, 0.1, 1.5);
    for (const Case& c : allReductions()) {
        const int64_t opset = std::string(c.op) == "ReduceSum" ? 11 : 13;  // attribute form
        auto out = OpTester(c.op, opset).input(x).attr("axes", std::vector<int64_t>{0, -1}).run();
        ASSERT_TRUE(out.isOk()) << c.op << ": " << out.status().message();
        expectTensorNear(toDouble((*out)[0]), expected(x, {0, 2}, c.fold, {1, 6, 1}), 1e-5, 1e-6);
    }
}

TEST(Reduce, EveryKindNoKeepdimsAndAllAxes) {
    Tensor x = randomTensor(DataType::kFloat64, {3, 127}, 12, 0.5, 1.0);
    for (const Case& c : allReductions()) {
        auto out = OpTester(c.op, 13).input(x).attr("axes", std::vector<int64_t>{1}).attr("keepdims", int64_t{0}).run();
        if (std::string(c.op) == "ReduceSum") {  // ReduceSum-13 takes axes as an input
            out = OpTester(c.op, 13)
                      .input(x)
                      .constInput(Tensor::fromVector<int64_t>({1}))
                      .attr("keepdims", int64_t{0})
                      .run();
        }
        ASSERT_TRUE(out.isOk()) << c.op << ": " << out.status().message();
        expectTensorNear((*out)[0], expected(x, {1}, c.fold, {3}), 1e-12, 1e-12);
        auto all = OpTester(c.op, 13).input(x).run();  // no axes: every axis
        ASSERT_TRUE(all.isOk()) << c.op << ": " << all.status().message();
        expectTensorNear((*all)[0], expected(x, {0, 1}, c.fold, {1, 1}), 1e-12, 1e-12);
    }
}

TEST(Reduce, SumAxesInputAndNoop) {
    Tensor x = randomTensor(DataType::kFloat32, {2, 3, 4}, 13);
    auto noop = OpTester("ReduceSum", 13)
                    .input(x)
                    .constInput(Tensor(DataType::kInt64, {0}))
                    .attr("noop_with_empty_axes", int64_t{1})
                    .run();
    ASSERT_TRUE(noop.isOk()) << noop.status().message();
    expectTensorEq((*noop)[0], x);
    auto all = OpTester("ReduceSum", 13).input(x).constInput(Tensor(DataType::kInt64, {0})).run();
    ASSERT_TRUE(all.isOk()) << all.status().message();
    expectTensorNear(toDouble((*all)[0]), expected(x, {0, 1, 2}, sumOf, {1, 1, 1}));
    auto neg = OpTester("ReduceSum", 13).input(x).input(Tensor::fromVector<int64_t>({-2})).run();
    ASSERT_TRUE(neg.isOk()) << neg.status().message();
    expectTensorNear(toDouble((*neg)[0]), expected(x, {1}, sumOf, {2, 1, 4}));
}

TEST(Reduce, EmptyReductionGivesIdentity) {
    Tensor x(DataType::kFloat32, {2, 0, 3});
    const double inf = std::numeric_limits<double>::infinity();
    const std::vector<std::pair<const char*, double>> cases = {
        {"ReduceSum", 0.0},        {"ReduceProd", 1.0},         {"ReduceMax", -inf},      {"ReduceMin", inf},
        {"ReduceL1", 0.0},         {"ReduceL2", 0.0},           {"ReduceSumSquare", 0.0}, {"ReduceLogSum", -inf},
        {"ReduceLogSumExp", -inf}, {"ReduceMean", std::nan("")}};
    for (const auto& [op, value] : cases) {
        auto out = OpTester(op, 13).input(x).attr("axes", std::vector<int64_t>{1}).run();
        if (std::string(op) == "ReduceSum")
            out = OpTester(op, 13).input(x).input(Tensor::fromVector<int64_t>({1})).run();
        ASSERT_TRUE(out.isOk()) << op << ": " << out.status().message();
        Tensor want(DataType::kFloat32, {2, 1, 3});
        for (int64_t i = 0; i < 6; ++i) want.data<float>()[i] = static_cast<float>(value);
        expectTensorEq((*out)[0], want);
    }
    // Reducing a kept size-0 dim leaves an empty output.
    auto out =
        OpTester("ReduceMax", 13).input(x).attr("axes", std::vector<int64_t>{2}).attr("keepdims", int64_t{0}).run();
    ASSERT_TRUE(out.isOk()) << out.status().message();
    EXPECT_EQ((*out)[0].shape(), (Shape{2, 0}));
}

TEST(Reduce, ScalarInput) {
    auto out = OpTester("ReduceMean", 13).input(Tensor::scalar<float>(2.5f)).run();
    ASSERT_TRUE(out.isOk()) << out.status().message();
    expectTensorEq((*out)[0], Tensor::scalar<float>(2.5f));
}

TEST(Reduce, DtypeSweep) {
    const std::vector<DataType> types = {DataType::kFloat32,  DataType::kFloat64, DataType::kFloat16,
                                         DataType::kBFloat16, DataType::kInt8,    DataType::kInt16,
                                         DataType::kInt32,    DataType::kInt64,   DataType::kUInt8,
                                         DataType::kUInt16,   DataType::kUInt32,  DataType::kUInt64};
    for (DataType t : types) {
        Tensor x = randomTensor(t, {3, 5}, 21, 0, 3);
        for (const char* op : {"ReduceSum", "ReduceMax", "ReduceMin", "ReduceProd", "ReduceSumSquare", "ReduceL1"}) {
            auto out = OpTester(op, 11).input(x).attr("axes", std::vector<int64_t>{1}).run();
            ASSERT_TRUE(out.isOk()) << op << " " << dataTypeName(t) << ": " << out.status().message();
            const Case& c = *std::find_if(allReductions().begin(), allReductions().end(),
                                          [&](const Case& k) { return std::string(k.op) == op; });
            const double tol = (t == DataType::kFloat16 || t == DataType::kBFloat16) ? 1e-2 : 1e-6;
            expectTensorNear(toDouble((*out)[0]), expected(x, {1}, c.fold, {3, 1}), tol, tol);
            EXPECT_EQ((*out)[0].dtype(), t);
        }
    }
}

TEST(Reduce, IntegerMeanTruncates) {
    auto out = OpTester("ReduceMean", 13)
                   .input(Tensor::fromVector<int32_t>({1, 2, -7, 1}, {2, 2}))
                   .attr("axes", std::vector<int64_t>{1})
                   .run();
    ASSERT_TRUE(out.isOk()) << out.status().message();
    expectTensorEq((*out)[0], Tensor::fromVector<int32_t>({1, -3}, {2, 1}));
}

TEST(Reduce, RejectsBadAxes) {
    Tensor x(DataType::kFloat32, {2, 3});
    auto range = OpTester("ReduceMean", 13).input(x).attr("axes", std::vector<int64_t>{2}).run();
    ASSERT_FALSE(range.isOk());
    EXPECT_NE(range.status().message().find("out of range"), std::string::npos) << range.status().message();
    auto repeat = OpTester("ReduceMax", 13).input(x).attr("axes", std::vector<int64_t>{1, -1}).run();
    ASSERT_FALSE(repeat.isOk());
    auto type = OpTester("ReduceSum", 13).input(x).input(Tensor::fromVector<float>({1.0f})).run();
    ASSERT_FALSE(type.isOk());
    EXPECT_NE(type.status().message().find("axes"), std::string::npos) << type.status().message();
    auto str = OpTester("ReduceSum", 13).input(Tensor(DataType::kBool, {2})).run();
    ASSERT_FALSE(str.isOk());
}

//! Naive argmax/argmin of a 3-D tensor along `axis`.
Tensor naiveArg(const Tensor& x, int64_t axis, bool isMax, bool last, bool keepdims) {
    const Shape& s = x.shape();
    Shape out = s;
    out[static_cast<size_t>(axis)] = 1;
    Tensor want(DataType::kInt64, out);
    for (int64_t a = 0; a < out[0]; ++a)
        for (int64_t b = 0; b < out[1]; ++b)
            for (int64_t c = 0; c < out[2]; ++c) {
                int64_t best = 0;
                double bv = 0;
                for (int64_t k = 0; k < s[static_cast<size_t>(axis)]; ++k) {
                    int64_t i[3] = {a, b, c};
                    i[axis] = k;
                    const double v = x.getDouble((i[0] * s[1] + i[1]) * s[2] + i[2]);
                    if (k == 0 || (isMax ? v > bv : v < bv) || (last && v == bv)) {
                        best = k;
                        bv = v;
                    }
                }
                want.data<int64_t>()[(a * out[1] + b) * out[2] + c] = best;
            }
    if (!keepdims) {
        out.erase(out.begin() + axis);
        return want.reshaped(out).value();
    }
    return want;
}

TEST(ArgMaxMin, OddShapesAxesKeepdimsTies) {
    for (DataType t : {DataType::kFloat32, DataType::kFloat64, DataType::kFloat16, DataType::kBFloat16, DataType::kInt8,
                       DataType::kInt32, DataType::kInt64, DataType::kUInt8, DataType::kUInt32}) {
        Tensor x = randomTensor(t, {5, 6, 7}, 31, 0, 3);  // small integer range: many ties
        for (bool isMax : {true, false}) {
            for (int64_t axis : {0, 1, -1}) {
                for (int64_t keep : {0, 1}) {
                    for (int64_t last : {0, 1}) {
                        auto out = OpTester(isMax ? "ArgMax" : "ArgMin", 13)
                                       .input(x)
                                       .attr("axis", axis)
                                       .attr("keepdims", keep)
                                       .attr("select_last_index", last)
                                       .run();
                        ASSERT_TRUE(out.isOk()) << out.status().message();
                        expectTensorEq((*out)[0], naiveArg(x, axis < 0 ? axis + 3 : axis, isMax, last != 0, keep != 0));
                    }
                }
            }
        }
    }
}

TEST(ArgMaxMin, DefaultsAndErrors) {
    auto out = OpTester("ArgMax", 13).input(Tensor::fromVector<float>({1, 9, 3, 7}, {2, 2})).run();
    ASSERT_TRUE(out.isOk()) << out.status().message();
    expectTensorEq((*out)[0], Tensor::fromVector<int64_t>({1, 0}, {1, 2}));  // axis 0, keepdims 1
    auto empty = OpTester("ArgMin", 13).input(Tensor(DataType::kFloat32, {3, 0})).attr("axis", int64_t{1}).run();
    ASSERT_FALSE(empty.isOk());
    EXPECT_NE(empty.status().message().find("size 0"), std::string::npos) << empty.status().message();
    auto axis = OpTester("ArgMin", 13).input(Tensor(DataType::kFloat32, {3, 2})).attr("axis", int64_t{2}).run();
    ASSERT_FALSE(axis.isOk());
    auto emptyOut = OpTester("ArgMax", 13).input(Tensor(DataType::kFloat32, {0, 4})).attr("axis", int64_t{1}).run();
    ASSERT_TRUE(emptyOut.isOk()) << emptyOut.status().message();
    EXPECT_EQ((*emptyOut)[0].shape(), (Shape{0, 1}));
}

}  // namespace
}  // namespace kiln::testing
