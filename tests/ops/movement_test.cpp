// Data movement: Transpose, Concat, Split, Slice, Expand, Tile, Pad, DepthToSpace, SpaceToDepth, ReverseSequence,
// Compress, NonZero. Expectations come from naive per-coordinate formulas (tensor_test_util.h).
#include <algorithm>
#include <limits>

#include "ops/tensor_test_util.h"

namespace kiln::testing {
namespace {

constexpr int64_t kInt64Max = std::numeric_limits<int64_t>::max();
constexpr int64_t kInt64Min = std::numeric_limits<int64_t>::min();

TEST(Transpose, PermutationEveryDtype) {
    const Shape in{5, 6, 7};
    for (DataType t : allCopyableDtypes()) {
        Tensor x = patternTensor(t, in);
        auto out = OpTester("Transpose").attr("perm", std::vector<int64_t>{2, 0, 1}).input(x).run();
        KILN_ASSERT_OK(out);
        expectGather((*out)[0], x, {7, 5, 6}, [&](const std::vector<int64_t>& c) {
            return flatOf({c[1], c[2], c[0]}, in);
        });
    }
}

TEST(Transpose, DefaultReversesAndEdgeCases) {
    Tensor x = patternTensor(DataType::kFloat32, {2, 3, 1, 5});
    auto out = OpTester("Transpose").input(x).run();
    KILN_ASSERT_OK(out);
    expectGather((*out)[0], x, {5, 1, 3, 2}, [&](const std::vector<int64_t>& c) {
        return flatOf({c[3], c[2], c[1], c[0]}, x.shape());
    });
    auto empty = OpTester("Transpose").input(Tensor(DataType::kInt64, {4, 0})).run();
    KILN_ASSERT_OK(empty);
    EXPECT_EQ((*empty)[0].shape(), (Shape{0, 4}));
    auto scalar = OpTester("Transpose").input(Tensor::scalar<int32_t>(5)).run();
    KILN_ASSERT_OK(scalar);
    expectTensorEq((*scalar)[0], Tensor::scalar<int32_t>(5));
    auto strings = OpTester("Transpose").input(stringTensor({"a", "b", "c", "d", "e", "f"}, {2, 3})).run();
    KILN_ASSERT_OK(strings);
    EXPECT_EQ((*strings)[0].shape(), (Shape{3, 2}));
    EXPECT_EQ((*strings)[0].strings()[1], "d");
    EXPECT_FALSE(OpTester("Transpose").attr("perm", std::vector<int64_t>{0, 0, 1}).input(x).run().isOk());
    EXPECT_FALSE(OpTester("Transpose").attr("perm", std::vector<int64_t>{0, 1}).input(x).run().isOk());
}

TEST(Concat, NegativeAxisWithEmptyInputsEveryDtype) {
    for (DataType t : allCopyableDtypes()) {
        Tensor a = patternTensor(t, {2, 3, 5}, 1);
        Tensor b(t, {2, 3, 0});
        Tensor c = patternTensor(t, {2, 3, 2}, 2);
        auto out = OpTester("Concat").attr("axis", int64_t{-1}).input(a).input(b).input(c).run();
        KILN_ASSERT_OK(out);
        const Tensor& y = (*out)[0];
        ASSERT_EQ(y.shape(), (Shape{2, 3, 7}));
        for (int64_t o = 0; o < y.numel(); ++o) {
            auto co = coordsOf(o, y.shape());
            const double want = co[2] < 5 ? a.getDouble(flatOf(co, a.shape()))
                                          : c.getDouble(flatOf({co[0], co[1], co[2] - 5}, c.shape()));
            ASSERT_EQ(y.getDouble(o), want) << dataTypeName(t);
        }
    }
}

TEST(Concat, AxisZeroAndErrors) {
    auto out =
        OpTester("Concat").attr("axis", int64_t{0}).input(int64s({1, 2})).input(int64s({})).input(int64s({3})).run();
    KILN_ASSERT_OK(out);
    expectTensorEq((*out)[0], int64s({1, 2, 3}));
    Tensor a(DataType::kFloat32, {2, 3});
    auto mismatch =
        OpTester("Concat").attr("axis", int64_t{0}).input(a).input(Tensor(DataType::kFloat32, {2, 4})).run();
    ASSERT_FALSE(mismatch.isOk());
    EXPECT_NE(mismatch.status().message().find("2x4"), std::string::npos) << mismatch.status().message();
    EXPECT_FALSE(OpTester("Concat").attr("axis", int64_t{2}).input(a).input(a).run().isOk());
    EXPECT_FALSE(
        OpTester("Concat").attr("axis", int64_t{0}).input(a).input(Tensor(DataType::kInt32, {2, 3})).run().isOk());
    EXPECT_FALSE(OpTester("Concat").input(a).run().isOk());
}

TEST(Split, VariablePartsWithZeroSize) {
    for (DataType t : allCopyableDtypes()) {
        Tensor x = patternTensor(t, {3, 7});
        auto out = OpTester("Split").attr("axis", int64_t{-1}).outputs(3).input(x).input(int64s({2, 0, 5})).run();
        KILN_ASSERT_OK(out);
        expectGather((*out)[0], x, {3, 2}, [](const std::vector<int64_t>& c) { return c[0] * 7 + c[1]; });
        EXPECT_EQ((*out)[1].shape(), (Shape{3, 0}));
        expectGather((*out)[2], x, {3, 5}, [](const std::vector<int64_t>& c) { return c[0] * 7 + c[1] + 2; });
    }
}

TEST(Split, EqualPartsAndErrors) {
    Tensor x = patternTensor(DataType::kInt64, {6, 5});
    auto out = OpTester("Split").outputs(3).input(x).run();
    KILN_ASSERT_OK(out);
    for (int64_t p = 0; p < 3; ++p) {
        expectGather((*out)[static_cast<size_t>(p)], x, {2, 5},
                     [&](const std::vector<int64_t>& c) { return (c[0] + 2 * p) * 5 + c[1]; });
    }
    auto uneven = OpTester("Split").outputs(4).input(x).run();
    ASSERT_FALSE(uneven.isOk());
    EXPECT_NE(uneven.status().message().find("equal"), std::string::npos) << uneven.status().message();
    EXPECT_FALSE(OpTester("Split").outputs(2).input(x).input(int64s({2, 3})).run().isOk());
    EXPECT_FALSE(OpTester("Split").outputs(2).input(x).input(int64s({7, -1})).run().isOk());
}

TEST(Slice, NegativeStepsSentinelsAndClamping) {
    const Shape in{5, 6, 7};
    for (DataType t : allCopyableDtypes()) {
        Tensor x = patternTensor(t, in);
        // axis 0: [1:INT64_MAX:2] -> 1,3; axis 2: [-1:INT64_MIN:-3] -> 6,3,0; axis 1: [-100:4] -> 0..3.
        auto out = OpTester("Slice")
                       .input(x)
                       .input(int64s({1, -1, -100}))
                       .input(int64s({kInt64Max, kInt64Min, 4}))
                       .input(int64s({0, -1, 1}))
                       .input(int64s({2, -3, 1}))
                       .run();
        KILN_ASSERT_OK(out);
        expectGather((*out)[0], x, {2, 4, 3}, [&](const std::vector<int64_t>& c) {
            return flatOf({1 + 2 * c[0], c[1], 6 - 3 * c[2]}, in);
        });
    }
}

TEST(Slice, DefaultsEmptyAndInt32Indices) {
    Tensor x = patternTensor(DataType::kFloat32, {4, 5});
    auto out = OpTester("Slice")
                   .input(x)
                   .input(Tensor::fromVector<int32_t>({1}, {1}))
                   .input(Tensor::fromVector<int32_t>({3}, {1}))
                   .run();
    KILN_ASSERT_OK(out);
    expectGather((*out)[0], x, {2, 5}, [](const std::vector<int64_t>& c) { return (c[0] + 1) * 5 + c[1]; });
    auto empty = OpTester("Slice").input(x).input(int64s({3})).input(int64s({1})).input(int64s({1})).run();
    KILN_ASSERT_OK(empty);
    EXPECT_EQ((*empty)[0].shape(), (Shape{4, 0}));
    auto backwardsAll = OpTester("Slice")
                            .input(x)
                            .input(int64s({kInt64Max}))
                            .input(int64s({-kInt64Max}))
                            .input(int64s({1}))
                            .input(int64s({-1}))
                            .run();
    KILN_ASSERT_OK(backwardsAll);
    expectGather((*backwardsAll)[0], x, {4, 5}, [](const std::vector<int64_t>& c) { return c[0] * 5 + 4 - c[1]; });
}

TEST(Slice, Errors) {
    Tensor x(DataType::kFloat32, {4, 5});
    EXPECT_FALSE(OpTester("Slice")
                     .input(x)
                     .input(int64s({0}))
                     .input(int64s({1}))
                     .input(int64s({0}))
                     .input(int64s({0}))
                     .run()
                     .isOk());
    EXPECT_FALSE(OpTester("Slice").input(x).input(int64s({0, 0})).input(int64s({1})).run().isOk());
    EXPECT_FALSE(OpTester("Slice").input(x).input(int64s({0})).input(int64s({1})).input(int64s({2})).run().isOk());
    EXPECT_FALSE(
        OpTester("Slice").input(x).input(int64s({0, 0})).input(int64s({1, 1})).input(int64s({1, -1})).run().isOk());
    EXPECT_FALSE(OpTester("Slice").input(x).input(Tensor::fromVector<float>({0.0F})).input(int64s({1})).run().isOk());
}

TEST(Expand, BidirectionalBroadcast) {
    for (DataType t : allCopyableDtypes()) {
        Tensor x = patternTensor(t, {3, 1});
        auto out = OpTester("Expand").input(x).input(int64s({2, 1, 6})).run();
        KILN_ASSERT_OK(out);
        expectGather((*out)[0], x, {2, 3, 6}, [](const std::vector<int64_t>& c) { return c[1]; });
    }
    Tensor x = patternTensor(DataType::kFloat32, {5, 1});
    auto shorter = OpTester("Expand").input(x).input(int64s({7})).run();
    KILN_ASSERT_OK(shorter);
    expectGather((*shorter)[0], x, {5, 7}, [](const std::vector<int64_t>& c) { return c[0]; });
    auto zero = OpTester("Expand").input(x).input(int64s({0, 1, 1})).run();
    KILN_ASSERT_OK(zero);
    EXPECT_EQ((*zero)[0].shape(), (Shape{0, 5, 1}));
    auto scalar = OpTester("Expand").input(Tensor::scalar<int64_t>(4)).input(int64s({3})).run();
    KILN_ASSERT_OK(scalar);
    expectTensorEq((*scalar)[0], int64s({4, 4, 4}));
    EXPECT_FALSE(OpTester("Expand").input(x).input(int64s({4, 7})).run().isOk());
    EXPECT_FALSE(OpTester("Expand").input(x).input(int64s({-1, 1})).run().isOk());
}

TEST(Tile, RepeatsPerDim) {
    for (DataType t : allCopyableDtypes()) {
        Tensor x = patternTensor(t, {2, 3});
        auto out = OpTester("Tile").input(x).input(int64s({3, 2})).run();
        KILN_ASSERT_OK(out);
        expectGather((*out)[0], x, {6, 6}, [](const std::vector<int64_t>& c) { return (c[0] % 2) * 3 + c[1] % 3; });
    }
    auto zero = OpTester("Tile").input(Tensor(DataType::kFloat32, {2, 3})).input(int64s({0, 5})).run();
    KILN_ASSERT_OK(zero);
    EXPECT_EQ((*zero)[0].shape(), (Shape{0, 15}));
    EXPECT_FALSE(OpTester("Tile").input(Tensor(DataType::kFloat32, {2, 3})).input(int64s({2})).run().isOk());
    EXPECT_FALSE(OpTester("Tile").input(Tensor(DataType::kFloat32, {2, 3})).input(int64s({2, -1})).run().isOk());
}

TEST(Pad, ConstantWithValueAndNegativeCrop) {
    for (DataType t : allCopyableDtypes()) {
        Tensor x = patternTensor(t, {5, 7});
        Tensor value = patternTensor(t, {}, 99);
        // dim 0: 2 before, crop 1 after; dim 1: crop 3 before, 1 after.
        auto out = OpTester("Pad").input(x).input(int64s({2, -3, -1, 1})).input(value).run();
        KILN_ASSERT_OK(out);
        expectGather((*out)[0], x, {6, 5},
                     [](const std::vector<int64_t>& c) {
                         const int64_t r = c[0] - 2, col = c[1] + 3;
                         return r >= 0 && r < 5 && col < 7 ? r * 7 + col : int64_t{-1};
                     },
                     value.getDouble(0));
    }
}

TEST(Pad, ReflectAndEdge) {
    Tensor x = patternTensor(DataType::kFloat32, {5, 7});
    const std::vector<int64_t> pads{3, 1, 2, 6};
    const Shape shape{10, 14};
    auto reflect = OpTester("Pad").attr("mode", std::string("reflect")).input(x).input(int64s(pads)).run();
    KILN_ASSERT_OK(reflect);
    auto reflectIndex = [](int64_t i, int64_t n) {
        while (i < 0 || i >= n) i = i < 0 ? -i : 2 * (n - 1) - i;
        return i;
    };
    expectGather((*reflect)[0], x, shape, [&](const std::vector<int64_t>& c) {
        return reflectIndex(c[0] - 3, 5) * 7 + reflectIndex(c[1] - 1, 7);
    });
    auto edge = OpTester("Pad").attr("mode", std::string("edge")).input(x).input(int64s(pads)).run();
    KILN_ASSERT_OK(edge);
    expectGather((*edge)[0], x, shape, [](const std::vector<int64_t>& c) {
        return std::clamp<int64_t>(c[0] - 3, 0, 4) * 7 + std::clamp<int64_t>(c[1] - 1, 0, 6);
    });
}

TEST(Pad, DefaultZeroAxesAndErrors) {
    auto out = OpTester("Pad").input(Tensor::fromVector<int32_t>({1, 2})).input(int64s({1, 2})).run();
    KILN_ASSERT_OK(out);
    expectTensorEq((*out)[0], Tensor::fromVector<int32_t>({0, 1, 2, 0, 0}));
    auto axes = OpTester("Pad", 18)
                    .input(Tensor::fromVector<int32_t>({1, 2}, {1, 2}))
                    .input(int64s({1, 0}))
                    .absentInput()
                    .input(int64s({-1}))
                    .run();
    KILN_ASSERT_OK(axes);
    expectTensorEq((*axes)[0], Tensor::fromVector<int32_t>({0, 1, 2}, {1, 3}));
    Tensor x(DataType::kFloat32, {2, 3});
    EXPECT_FALSE(OpTester("Pad").input(x).input(int64s({1, 1})).run().isOk());
    EXPECT_FALSE(OpTester("Pad").input(x).input(int64s({-3, 0, 0, 0})).run().isOk());
    EXPECT_FALSE(OpTester("Pad").input(x).input(int64s({0, 0, 0, 0})).input(Tensor::scalar(1.0)).run().isOk());
    EXPECT_FALSE(OpTester("Pad")
                     .attr("mode", std::string("edge"))
                     .input(Tensor(DataType::kFloat32, {0, 3}))
                     .input(int64s({1, 0, 0, 0}))
                     .run()
                     .isOk());
    auto wrap = OpTester("Pad").attr("mode", std::string("wrap")).input(x).input(int64s({0, 0, 0, 0})).run();
    ASSERT_FALSE(wrap.isOk());
    EXPECT_EQ(wrap.status().code(), ErrorCode::kUnsupported);
}

TEST(DepthToSpace, DcrAndCrdAgainstNaive) {
    const int64_t b = 2, n = 2, c = 12, h = 3, w = 5, oc = 3;
    for (DataType t : allCopyableDtypes()) {
        Tensor x = patternTensor(t, {n, c, h, w});
        for (const std::string mode : {"DCR", "CRD"}) {
            auto out = OpTester("DepthToSpace").attr("blocksize", b).attr("mode", mode).input(x).run();
            KILN_ASSERT_OK(out);
            expectGather((*out)[0], x, {n, oc, h * b, w * b}, [&](const std::vector<int64_t>& o) {
                const int64_t i = o[2] % b, j = o[3] % b;
                const int64_t ch = mode == "DCR" ? (i * b + j) * oc + o[1] : o[1] * b * b + i * b + j;
                return flatOf({o[0], ch, o[2] / b, o[3] / b}, x.shape());
            });
        }
    }
    EXPECT_FALSE(OpTester("DepthToSpace")
                     .attr("blocksize", int64_t{2})
                     .input(Tensor(DataType::kFloat32, {1, 6, 2, 2}))
                     .run()
                     .isOk());
    EXPECT_FALSE(OpTester("DepthToSpace")
                     .attr("blocksize", int64_t{0})
                     .input(Tensor(DataType::kFloat32, {1, 4, 2, 2}))
                     .run()
                     .isOk());
}

TEST(SpaceToDepth, AgainstNaive) {
    const int64_t b = 3, n = 1, c = 2, h = 6, w = 9;
    for (DataType t : allCopyableDtypes()) {
        Tensor x = patternTensor(t, {n, c, h, w});
        auto out = OpTester("SpaceToDepth").attr("blocksize", b).input(x).run();
        KILN_ASSERT_OK(out);
        expectGather((*out)[0], x, {n, c * b * b, h / b, w / b}, [&](const std::vector<int64_t>& o) {
            const int64_t blk = o[1] / c, ch = o[1] % c;
            return flatOf({o[0], ch, o[2] * b + blk / b, o[3] * b + blk % b}, x.shape());
        });
    }
    EXPECT_FALSE(OpTester("SpaceToDepth")
                     .attr("blocksize", int64_t{2})
                     .input(Tensor(DataType::kFloat32, {1, 1, 3, 4}))
                     .run()
                     .isOk());
    EXPECT_FALSE(
        OpTester("SpaceToDepth").attr("blocksize", int64_t{2}).input(Tensor(DataType::kFloat32, {4, 4})).run().isOk());
}

TEST(ReverseSequence, BothLayouts) {
    const std::vector<int64_t> lens{4, 1, 0, 3};
    for (int64_t batchAxis : {0, 1}) {
        const Shape in = batchAxis == 0 ? Shape{4, 5, 3} : Shape{5, 4, 3};
        Tensor x = patternTensor(DataType::kInt16, in);
        auto out = OpTester("ReverseSequence")
                       .attr("batch_axis", batchAxis)
                       .attr("time_axis", 1 - batchAxis)
                       .input(x)
                       .input(int64s(lens))
                       .run();
        KILN_ASSERT_OK(out);
        expectGather((*out)[0], x, in, [&](std::vector<int64_t> c) {
            const int64_t b = c[static_cast<size_t>(batchAxis)];
            int64_t& t = c[static_cast<size_t>(1 - batchAxis)];
            if (t < lens[static_cast<size_t>(b)]) t = lens[static_cast<size_t>(b)] - 1 - t;
            return flatOf(c, in);
        });
    }
    Tensor x(DataType::kFloat32, {5, 4});
    EXPECT_FALSE(OpTester("ReverseSequence").input(x).input(int64s({6, 1, 1, 1})).run().isOk());
    EXPECT_FALSE(OpTester("ReverseSequence").input(x).input(int64s({1, 1})).run().isOk());
    EXPECT_FALSE(
        OpTester("ReverseSequence").attr("batch_axis", int64_t{0}).input(x).input(int64s({1, 1, 1, 1})).run().isOk());
}

TEST(Compress, AxisAndFlattened) {
    Tensor cond = Tensor::fromVector<bool>({false, true, true, false, true});
    for (DataType t : allCopyableDtypes()) {
        Tensor x = patternTensor(t, {3, 7});
        auto out = OpTester("Compress").attr("axis", int64_t{-1}).input(x).input(cond).run();
        KILN_ASSERT_OK(out);
        const int64_t cols[] = {1, 2, 4};
        expectGather((*out)[0], x, {3, 3}, [&](const std::vector<int64_t>& c) { return c[0] * 7 + cols[c[1]]; });
        auto flat = OpTester("Compress").input(x).input(cond).run();
        KILN_ASSERT_OK(flat);
        expectGather((*flat)[0], x, {3}, [&](const std::vector<int64_t>& c) { return cols[c[0]]; });
    }
    Tensor x(DataType::kFloat32, {2, 2});
    auto none =
        OpTester("Compress").attr("axis", int64_t{0}).input(x).input(Tensor::fromVector<bool>({false}, {1})).run();
    KILN_ASSERT_OK(none);
    EXPECT_EQ((*none)[0].shape(), (Shape{0, 2}));
    EXPECT_FALSE(OpTester("Compress")
                     .attr("axis", int64_t{0})
                     .input(x)
                     .input(Tensor::fromVector<bool>({false, false, true}))
                     .run()
                     .isOk());
    EXPECT_FALSE(OpTester("Compress").input(x).input(Tensor::fromVector<int64_t>({1})).run().isOk());
    EXPECT_FALSE(OpTester("Compress")
                     .attr("axis", int64_t{2})
                     .input(x)
                     .input(Tensor::fromVector<bool>({true}, {1}))
                     .run()
                     .isOk());
}

TEST(NonZero, RowMajorIndices) {
    for (DataType t : allCopyableDtypes()) {
        Tensor x = randomTensor(t, {3, 5, 7}, 11, -1.0, 1.0);  // integers get zeros too
        auto out = OpTester("NonZero").input(x).run();
        KILN_ASSERT_OK(out);
        std::vector<int64_t> hits;
        for (int64_t i = 0; i < x.numel(); ++i) {
            if (x.getDouble(i) != 0.0) hits.push_back(i);
        }
        const auto n = static_cast<int64_t>(hits.size());
        const Tensor& y = (*out)[0];
        ASSERT_EQ(y.dtype(), DataType::kInt64);
        ASSERT_EQ(y.shape(), (Shape{3, n})) << dataTypeName(t);
        for (int64_t j = 0; j < n; ++j) {
            const auto c = coordsOf(hits[static_cast<size_t>(j)], x.shape());
            for (int64_t d = 0; d < 3; ++d) ASSERT_EQ(y.data<int64_t>()[d * n + j], c[static_cast<size_t>(d)]);
        }
    }
    auto none = OpTester("NonZero").input(Tensor(DataType::kFloat32, {2, 3})).run();
    KILN_ASSERT_OK(none);
    EXPECT_EQ((*none)[0].shape(), (Shape{2, 0}));
    auto scalar = OpTester("NonZero").input(Tensor::scalar(3.0F)).run();
    KILN_ASSERT_OK(scalar);
    expectTensorEq((*scalar)[0], Tensor::fromVector<int64_t>({0}, {1, 1}));
    EXPECT_FALSE(OpTester("NonZero").input(stringTensor({"a"}, {1})).run().isOk());
}

}  // namespace
}  // namespace kiln::testing
