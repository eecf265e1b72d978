// Pooling ops against naive window loops and hand-computed values.
#include <cmath>
#include <limits>

#include "ops/op_tester.h"

namespace kiln::testing {
namespace {

using Ints = std::vector<int64_t>;

struct PoolSpec {
    Ints kernel, strides, dilations, pads;  // pads: h begin, w begin, h end, w end
    bool ceil = false;
};

enum class Kind { kMax, kAvg, kAvgIncludePad, kLp2 };

int64_t pooledDim(int64_t in, int64_t k, int64_t s, int64_t d, int64_t pb, int64_t pe, bool ceil) {
    const int64_t span = in + pb + pe - ((k - 1) * d + 1);
    int64_t out = (ceil ? (span + s - 1) / s : span / s) + 1;
    if (ceil && (out - 1) * s >= in + pb) --out;  // the last window must start inside the input or its begin pad
    return out;
}

//! 2-D pooling by definition; also returns the argmax (row-major flat index over the whole tensor).
Tensor naivePool2d(const Tensor& x, const PoolSpec& s, Kind kind, std::vector<int64_t>* argmax = nullptr) {
    const int64_t N = x.dim(0), C = x.dim(1), H = x.dim(2), W = x.dim(3);
    const int64_t OH = pooledDim(H, s.kernel[0], s.strides[0], s.dilations[0], s.pads[0], s.pads[2], s.ceil);
    const int64_t OW = pooledDim(W, s.kernel[1], s.strides[1], s.dilations[1], s.pads[1], s.pads[3], s.ceil);
    Tensor y(DataType::kFloat64, {N, C, OH, OW});
    for (int64_t p = 0; p < N * C; ++p) {
        for (int64_t oh = 0; oh < OH; ++oh) {
            for (int64_t ow = 0; ow < OW; ++ow) {
                double best = -std::numeric_limits<double>::infinity(), sum = 0;
                int64_t at = -1, valid = 0, padded = 0;
                for (int64_t kh = 0; kh < s.kernel[0]; ++kh) {
                    for (int64_t kw = 0; kw < s.kernel[1]; ++kw) {
                        const int64_t h = oh * s.strides[0] - s.pads[0] + kh * s.dilations[0];
                        const int64_t w = ow * s.strides[1] - s.pads[1] + kw * s.dilations[1];
                        if (h < H + s.pads[2] && w < W + s.pads[3]) ++padded;
                        if (h < 0 || h >= H || w < 0 || w >= W) continue;
                        const double v = x.getDouble((p * H + h) * W + w);
                        ++valid;
                        sum += kind == Kind::kLp2 ? v * v : v;
                        if (v > best) {
                            best = v;
                            at = (p * H + h) * W + w;
                        }
                    }
                }
                double r = 0;
                switch (kind) {
                    case Kind::kMax: r = best; break;
                    case Kind::kAvg: r = sum / static_cast<double>(valid); break;
                    case Kind::kAvgIncludePad: r = sum / static_cast<double>(padded); break;
                    case Kind::kLp2: r = std::sqrt(sum); break;
                }
                y.data<double>()[(p * OH + oh) * OW + ow] = r;
                if (argmax) argmax->push_back(at);
            }
        }
    }
    return y;
}

Tensor castTo(const Tensor& t, DataType type) {
    Tensor out(type, t.shape());
    for (int64_t i = 0; i < t.numel(); ++i) {
        const double v = t.getDouble(i);
        switch (type) {
            case DataType::kFloat32: out.data<float>()[i] = static_cast<float>(v); break;
            case DataType::kFloat64: out.data<double>()[i] = v; break;
            case DataType::kFloat16: out.data<Half>()[i] = Half(static_cast<float>(v)); break;
            case DataType::kBFloat16: out.data<BFloat16>()[i] = BFloat16(static_cast<float>(v)); break;
            case DataType::kInt8: out.data<int8_t>()[i] = static_cast<int8_t>(v); break;
            case DataType::kUInt8: out.data<uint8_t>()[i] = static_cast<uint8_t>(v); break;
            case DataType::kInt64: out.data<int64_t>()[i] = static_cast<int64_t>(v); break;
            default: break;
        }
    }
    return out;
}

const std::vector<PoolSpec>& poolSpecs() {
    static const std::vector<PoolSpec> specs = {
        {{3, 3}, {1, 1}, {1, 1}, {0, 0, 0, 0}, false}, {{3, 3}, {2, 2}, {1, 1}, {1, 1, 1, 1}, false},
        {{2, 3}, {2, 1}, {1, 1}, {0, 1, 1, 2}, false}, {{3, 2}, {2, 3}, {1, 1}, {1, 0, 1, 1}, true},
        {{2, 2}, {1, 2}, {2, 2}, {1, 1, 0, 1}, false}, {{3, 3}, {3, 3}, {1, 1}, {0, 0, 0, 0}, true},
        {{1, 1}, {2, 2}, {1, 1}, {0, 0, 0, 0}, false},
    };
    return specs;
}

OpTester poolTester(const char* op, const Tensor& x, const PoolSpec& s) {
    OpTester t(op, 17);
    t.input(x)
        .attr("kernel_shape", s.kernel)
        .attr("strides", s.strides)
        .attr("pads", s.pads)
        .attr("ceil_mode", int64_t{s.ceil});
    if (s.dilations != Ints{1, 1}) t.attr("dilations", s.dilations);
    return t;
}

TEST(MaxPool, MatchesWindowLoopWithIndices) {
    Tensor x = randomTensor(DataType::kFloat32, {3, 5, 11, 13}, 7);
    for (const auto& s : poolSpecs()) {
        std::vector<int64_t> argmax;
        Tensor want = naivePool2d(x, s, Kind::kMax, &argmax);
        auto out = poolTester("MaxPool", x, s).outputs(2).run();
        ASSERT_TRUE(out.isOk()) << out.status().message();
        expectTensorEq((*out)[0], castTo(want, DataType::kFloat32));
        expectTensorEq((*out)[1],
                       castTo(Tensor::fromVector(std::vector<double>(argmax.begin(), argmax.end()), want.shape()),
                              DataType::kInt64));
    }
}

TEST(MaxPool, EveryDtype) {
    for (DataType t :
         {DataType::kFloat64, DataType::kFloat16, DataType::kBFloat16, DataType::kInt8, DataType::kUInt8}) {
        Tensor x = randomTensor(t, {2, 3, 7, 6}, 8, -100, 100);
        const PoolSpec& s = poolSpecs()[1];
        auto out = poolTester("MaxPool", x, s).run();
        ASSERT_TRUE(out.isOk()) << dataTypeName(t) << ": " << out.status().message();
        expectTensorEq((*out)[0], castTo(naivePool2d(x, s, Kind::kMax), t));
    }
    EXPECT_FALSE(OpTester("MaxPool")
                     .input(randomTensor(DataType::kInt32, {1, 1, 3, 3}, 1))
                     .attr("kernel_shape", Ints{2, 2})
                     .run()
                     .isOk());
}

TEST(MaxPool, ColumnMajorIndices) {
    // storage_order = 1 numbers each plane column by column: index = plane * H * W + w * H + h.
    Tensor x = randomTensor(DataType::kFloat32, {2, 3, 5, 4}, 9);
    const PoolSpec s{{2, 2}, {2, 2}, {1, 1}, {0, 0, 0, 0}, false};
    std::vector<int64_t> argmax;
    naivePool2d(x, s, Kind::kMax, &argmax);
    auto out = poolTester("MaxPool", x, s).attr("storage_order", int64_t{1}).outputs(2).run();
    ASSERT_TRUE(out.isOk()) << out.status().message();
    for (size_t i = 0; i < argmax.size(); ++i) {
        const int64_t plane = argmax[i] / 20, h = argmax[i] % 20 / 4, w = argmax[i] % 4;
        EXPECT_EQ((*out)[1].data<int64_t>()[i], plane * 20 + w * 5 + h);
    }
}

TEST(MaxPool, OneDAndThreeD) {
    Tensor x1 = Tensor::fromVector<float>({1, 5, 2, 8, 3, 7, 4}, {1, 1, 7});
    auto out = OpTester("MaxPool")
                   .input(x1)
                   .attr("kernel_shape", Ints{3})
                   .attr("strides", Ints{2})
                   .attr("pads", Ints{1, 1})
                   .run();
    ASSERT_TRUE(out.isOk()) << out.status().message();
    // Windows [-1..1], [1..3], [3..5], [5..7].
    expectTensorEq((*out)[0], Tensor::fromVector<float>({5, 8, 8, 7}, {1, 1, 4}));

    Tensor x3 = randomTensor(DataType::kFloat32, {1, 2, 3, 4, 5}, 3);
    auto out3 = OpTester("MaxPool").input(x3).attr("kernel_shape", Ints{3, 1, 2}).attr("strides", Ints{1, 1, 2}).run();
    ASSERT_TRUE(out3.isOk()) << out3.status().message();
    ASSERT_EQ((*out3)[0].shape(), (Shape{1, 2, 1, 4, 2}));
    for (int64_t c = 0; c < 2; ++c) {
        for (int64_t h = 0; h < 4; ++h) {
            for (int64_t w = 0; w < 2; ++w) {
                float best = -1e30f;
                for (int64_t d = 0; d < 3; ++d) {
                    for (int64_t kw = 0; kw < 2; ++kw) {
                        best = std::max(best, x3.data<float>()[((c * 3 + d) * 4 + h) * 5 + w * 2 + kw]);
                    }
                }
                EXPECT_EQ((*out3)[0].data<float>()[(c * 4 + h) * 2 + w], best);
            }
        }
    }
}

TEST(MaxPool, AutoPadSameUpperAndLower) {
    Tensor x = randomTensor(DataType::kFloat32, {1, 2, 6, 7}, 5);
    // Stride 2, kernel 3: out = ceil(in/2) = 3x4; total pads 1 (H) and 2 (W).
    for (auto [mode, spec] : {std::pair{"SAME_UPPER", PoolSpec{{3, 3}, {2, 2}, {1, 1}, {0, 1, 1, 1}}},
                              std::pair{"SAME_LOWER", PoolSpec{{3, 3}, {2, 2}, {1, 1}, {1, 1, 0, 1}}}}) {
        auto out = OpTester("MaxPool")
                       .input(x)
                       .attr("kernel_shape", Ints{3, 3})
                       .attr("strides", Ints{2, 2})
                       .attr("auto_pad", std::string(mode))
                       .run();
        ASSERT_TRUE(out.isOk()) << out.status().message();
        expectTensorEq((*out)[0], castTo(naivePool2d(x, spec, Kind::kMax), DataType::kFloat32));
    }
}

TEST(MaxPool, RejectsBadAttributes) {
    Tensor x = randomTensor(DataType::kFloat32, {1, 1, 4, 4}, 1);
    EXPECT_FALSE(OpTester("MaxPool").input(x).run().isOk());  // no kernel_shape
    EXPECT_FALSE(OpTester("MaxPool").input(x).attr("kernel_shape", Ints{2}).run().isOk());
    EXPECT_FALSE(OpTester("MaxPool").input(x).attr("kernel_shape", Ints{5, 5}).run().isOk());
    EXPECT_FALSE(
        OpTester("MaxPool").input(x).attr("kernel_shape", Ints{2, 2}).attr("strides", Ints{0, 1}).run().isOk());
    EXPECT_FALSE(OpTester("MaxPool")
                     .input(x)
                     .attr("kernel_shape", Ints{2, 2})
                     .attr("auto_pad", std::string("BOGUS"))
                     .run()
                     .isOk());
    EXPECT_FALSE(
        OpTester("MaxPool").input(Tensor(DataType::kFloat32, {4, 4})).attr("kernel_shape", Ints{2, 2}).run().isOk());
}

TEST(AveragePool, MatchesWindowLoop) {
    Tensor x = randomTensor(DataType::kFloat32, {2, 3, 10, 9}, 17);
    for (const auto& s : poolSpecs()) {
        for (bool include : {false, true}) {
            auto out = poolTester("AveragePool", x, s).attr("count_include_pad", int64_t{include}).run();
            ASSERT_TRUE(out.isOk()) << out.status().message();
            expectTensorNear(
                (*out)[0], castTo(naivePool2d(x, s, include ? Kind::kAvgIncludePad : Kind::kAvg), DataType::kFloat32));
        }
    }
}

TEST(AveragePool, FloatDtypesAndEmptyBatch) {
    for (DataType t : {DataType::kFloat64, DataType::kFloat16, DataType::kBFloat16}) {
        Tensor x = randomTensor(t, {1, 2, 5, 5}, 4);
        const PoolSpec& s = poolSpecs()[1];
        auto out = poolTester("AveragePool", x, s).run();
        ASSERT_TRUE(out.isOk()) << out.status().message();
        expectTensorNear((*out)[0], castTo(naivePool2d(x, s, Kind::kAvg), t), 1e-2, 1e-2);
    }
    auto out =
        OpTester("AveragePool").input(Tensor(DataType::kFloat32, {0, 3, 4, 4})).attr("kernel_shape", Ints{2, 2}).run();
    ASSERT_TRUE(out.isOk()) << out.status().message();
    EXPECT_EQ((*out)[0].shape(), (Shape{0, 3, 3, 3}));
    EXPECT_FALSE(OpTester("AveragePool")
                     .input(randomTensor(DataType::kInt8, {1, 1, 3, 3}, 1))
                     .attr("kernel_shape", Ints{2, 2})
                     .run()
                     .isOk());
}

TEST(LpPool, MatchesWindowLoop) {
    Tensor x = randomTensor(DataType::kFloat32, {2, 3, 8, 7}, 21);
    for (const auto& s : poolSpecs()) {
        if (s.ceil || s.dilations != Ints{1, 1}) continue;  // LpPool-11 has neither
        auto out = OpTester("LpPool", 11)
                       .input(x)
                       .attr("kernel_shape", s.kernel)
                       .attr("strides", s.strides)
                       .attr("pads", s.pads)
                       .run();
        ASSERT_TRUE(out.isOk()) << out.status().message();
        expectTensorNear((*out)[0], castTo(naivePool2d(x, s, Kind::kLp2), DataType::kFloat32));
    }
    // p = 1 and p = 3 on one window.
    Tensor v = Tensor::fromVector<float>({1, -2, 3, -4}, {1, 1, 4});
    auto p1 = OpTester("LpPool", 11).input(v).attr("kernel_shape", Ints{4}).attr("p", int64_t{1}).run();
    ASSERT_TRUE(p1.isOk()) << p1.status().message();
    EXPECT_NEAR((*p1)[0].data<float>()[0], 10.0, 1e-5);
    auto p3 = OpTester("LpPool", 11).input(v).attr("kernel_shape", Ints{4}).attr("p", int64_t{3}).run();
    ASSERT_TRUE(p3.isOk()) << p3.status().message();
    EXPECT_NEAR((*p3)[0].data<float>()[0], std::cbrt(100.0), 1e-4);
}

TEST(GlobalPool, AverageMaxLp) {
    Tensor x = randomTensor(DataType::kFloat32, {3, 5, 7, 2}, 31);
    auto avg = OpTester("GlobalAveragePool").input(x).run();
    auto mx = OpTester("GlobalMaxPool").input(x).run();
    auto lp = OpTester("GlobalLpPool").input(x).attr("p", int64_t{2}).run();
    ASSERT_TRUE(avg.isOk() && mx.isOk() && lp.isOk());
    for (auto* r : {&avg, &mx, &lp}) EXPECT_EQ(r->value()[0].shape(), (Shape{3, 5, 1, 1}));
    for (int64_t p = 0; p < 15; ++p) {
        double sum = 0, sq = 0, best = -1e30;
        for (int64_t i = 0; i < 14; ++i) {
            const double v = x.data<float>()[p * 14 + i];
            sum += v;
            sq += v * v;
            best = std::max(best, v);
        }
        EXPECT_NEAR((*avg)[0].data<float>()[p], sum / 14, 1e-6);
        EXPECT_EQ((*mx)[0].data<float>()[p], static_cast<float>(best));
        EXPECT_NEAR((*lp)[0].data<float>()[p], std::sqrt(sq), 1e-5);
    }
    // 1-D spatial and float16.
    Tensor h = randomTensor(DataType::kFloat16, {2, 3, 11}, 32);
    auto havg = OpTester("GlobalAveragePool").input(h).run();
    ASSERT_TRUE(havg.isOk()) << havg.status().message();
    EXPECT_EQ((*havg)[0].shape(), (Shape{2, 3, 1}));
    for (int64_t p = 0; p < 6; ++p) {
        double sum = 0;
        for (int64_t i = 0; i < 11; ++i) sum += h.getDouble(p * 11 + i);
        EXPECT_NEAR((*havg)[0].getDouble(p), sum / 11, 2e-3);
    }
    EXPECT_FALSE(OpTester("GlobalMaxPool").input(Tensor(DataType::kFloat32, {4})).run().isOk());
}

TEST(MaxUnpool, InvertsMaxPool) {
    Tensor x = randomTensor(DataType::kFloat32, {2, 3, 6, 8}, 41);
    auto pooled =
        OpTester("MaxPool").input(x).attr("kernel_shape", Ints{2, 2}).attr("strides", Ints{2, 2}).outputs(2).run();
    ASSERT_TRUE(pooled.isOk());
    auto out = OpTester("MaxUnpool", 11)
                   .input((*pooled)[0])
                   .input((*pooled)[1])
                   .attr("kernel_shape", Ints{2, 2})
                   .attr("strides", Ints{2, 2})
                   .run();
    ASSERT_TRUE(out.isOk()) << out.status().message();
    const Tensor& y = (*out)[0];
    ASSERT_EQ(y.shape(), x.shape());
    // Every window keeps its max at the max's position and zeros elsewhere.
    int64_t nonzero = 0;
    for (int64_t i = 0; i < y.numel(); ++i) {
        if (y.data<float>()[i] != 0) {
            ++nonzero;
            EXPECT_EQ(y.data<float>()[i], x.data<float>()[i]);
        }
    }
    EXPECT_EQ(nonzero, (*pooled)[0].numel());

    // Explicit larger output_shape: same coordinates, zero padding at the end.
    auto padded = OpTester("MaxUnpool", 11)
                      .input((*pooled)[0])
                      .input((*pooled)[1])
                      .constInput(Tensor::fromVector<int64_t>({2, 3, 7, 9}))
                      .attr("kernel_shape", Ints{2, 2})
                      .attr("strides", Ints{2, 2})
                      .run();
    ASSERT_TRUE(padded.isOk()) << padded.status().message();
    for (int64_t p = 0; p < 6; ++p) {
        for (int64_t h = 0; h < 7; ++h) {
            for (int64_t w = 0; w < 9; ++w) {
                const float want = h < 6 && w < 8 ? y.data<float>()[(p * 6 + h) * 8 + w] : 0.0f;
                EXPECT_EQ((*padded)[0].data<float>()[(p * 7 + h) * 9 + w], want);
            }
        }
    }
}

TEST(MaxUnpool, RejectsOutOfRangeIndex) {
    auto out = OpTester("MaxUnpool", 11)
                   .input(Tensor::fromVector<float>({1, 2}, {1, 1, 1, 2}))
                   .input(Tensor::fromVector<int64_t>({0, 99}, {1, 1, 1, 2}))
                   .attr("kernel_shape", Ints{2, 2})
                   .attr("strides", Ints{2, 2})
                   .run();
    ASSERT_FALSE(out.isOk());
    EXPECT_NE(out.status().message().find("99"), std::string::npos) << out.status().message();
}

TEST(MaxRoiPool, PoolsScaledRegions) {
    // One 1x1x4x5 image, values 0..19; roi (x1=1, y1=0, x2=4, y2=3) at scale 1 covers rows 0..3, cols 1..4.
    std::vector<float> v(20);
    for (int i = 0; i < 20; ++i) v[i] = static_cast<float>(i);
    Tensor x = Tensor::fromVector<float>(v, {1, 1, 4, 5});
    Tensor rois = Tensor::fromVector<float>({0, 1, 0, 4, 3, 0, 0, 0, 1, 1}, {2, 5});
    auto out = OpTester("MaxRoiPool").input(x).input(rois).attr("pooled_shape", Ints{2, 2}).run();
    ASSERT_TRUE(out.isOk()) << out.status().message();
    // roi 0: 4x4 region, bins of 2x2: maxima at (1,2)=7, (1,4)=9, (3,2)=17, (3,4)=19.
    // roi 1: rows 0..1, cols 0..1: bins of 1x1: 0, 1, 5, 6.
    expectTensorEq((*out)[0], Tensor::fromVector<float>({7, 9, 17, 19, 0, 1, 5, 6}, {2, 1, 2, 2}));
    EXPECT_FALSE(OpTester("MaxRoiPool")
                     .input(x)
                     .input(Tensor::fromVector<float>({3, 0, 0, 1, 1}, {1, 5}))
                     .attr("pooled_shape", Ints{1, 1})
                     .run()
                     .isOk());
}

}  // namespace
}  // namespace kiln::testing
