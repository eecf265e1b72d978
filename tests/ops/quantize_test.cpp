// Quantization ops against hand-computed values and naive integer loops.
#include <cmath>

#include "ops/op_tester.h"

namespace kiln::testing {
namespace {

using Ints = std::vector<int64_t>;

TEST(QuantizeLinear, RoundsHalfToEvenAndSaturates) {
    Tensor x = Tensor::fromVector<float>({0.5f, 1.5f, 2.5f, -0.5f, -1.5f, -2.5f, 300.f, -300.f, 2.2f}, {9});
    auto u8 = OpTester("QuantizeLinear", 13)
                  .input(x)
                  .input(Tensor::scalar<float>(1.0f))
                  .input(Tensor::scalar<uint8_t>(10))
                  .run();
    ASSERT_TRUE(u8.isOk()) << u8.status().message();
    expectTensorEq((*u8)[0], Tensor::fromVector<uint8_t>({10, 12, 12, 10, 8, 8, 255, 0, 12}, {9}));
    auto i8 = OpTester("QuantizeLinear", 13)
                  .input(x)
                  .input(Tensor::scalar<float>(0.5f))
                  .input(Tensor::scalar<int8_t>(-1))
                  .run();
    ASSERT_TRUE(i8.isOk()) << i8.status().message();
    // x / 0.5 = 1, 3, 5, -1, -3, -5, 600, -600, 4.4 → rounded, minus 1, saturated.
    expectTensorEq((*i8)[0], Tensor::fromVector<int8_t>({0, 2, 4, -2, -4, -6, 127, -128, 3}, {9}));
    // No zero point: uint8 with zero point 0.
    auto def = OpTester("QuantizeLinear", 13).input(x).input(Tensor::scalar<float>(1.0f)).run();
    ASSERT_TRUE(def.isOk()) << def.status().message();
    expectTensorEq((*def)[0], Tensor::fromVector<uint8_t>({0, 2, 2, 0, 0, 0, 255, 0, 2}, {9}));
}

TEST(QuantizeLinear, PerAxisWithNegativeAxis) {
    Tensor x = randomTensor(DataType::kFloat32, {2, 3, 5}, 1, -10, 10);
    Tensor scale = Tensor::fromVector<float>({0.1f, 0.2f, 0.3f, 0.4f, 0.5f}, {5});
    Tensor zero = Tensor::fromVector<int8_t>({0, 1, -2, 3, -4}, {5});
    auto out = OpTester("QuantizeLinear", 13).input(x).input(scale).input(zero).attr("axis", int64_t{-1}).run();
    ASSERT_TRUE(out.isOk()) << out.status().message();
    for (int64_t i = 0; i < 30; ++i) {
        const int64_t c = i % 5;
        const double q = std::nearbyint(x.data<float>()[i] / scale.data<float>()[c]) + zero.data<int8_t>()[c];
        EXPECT_EQ((*out)[0].data<int8_t>()[i], static_cast<int8_t>(std::clamp(q, -128.0, 127.0))) << i;
    }
    // Per-axis along axis 1 (the default), int32 input.
    Tensor xi = Tensor::fromVector<int32_t>({10, 20, 30, 40, 50, 60}, {2, 3});
    auto oi = OpTester("QuantizeLinear", 13).input(xi).input(Tensor::fromVector<float>({10.f, 4.f, 100.f}, {3})).run();
    ASSERT_TRUE(oi.isOk()) << oi.status().message();
    expectTensorEq((*oi)[0], Tensor::fromVector<uint8_t>({1, 5, 0, 4, 12, 1}, {2, 3}));
    // Wrong per-axis size.
    EXPECT_FALSE(
        OpTester("QuantizeLinear", 13).input(x).input(Tensor::fromVector<float>({1.f, 2.f}, {2})).run().isOk());
}

TEST(DequantizeLinear, PerTensorPerAxisAndInt32) {
    Tensor x = Tensor::fromVector<uint8_t>({0, 3, 128, 255}, {4});
    auto out = OpTester("DequantizeLinear", 13)
                   .input(x)
                   .input(Tensor::scalar<float>(2.0f))
                   .input(Tensor::scalar<uint8_t>(128))
                   .run();
    ASSERT_TRUE(out.isOk()) << out.status().message();
    expectTensorEq((*out)[0], Tensor::fromVector<float>({-256, -250, 0, 254}, {4}));

    Tensor xi = Tensor::fromVector<int8_t>({-128, 0, 127, 5, 6, 7}, {1, 3, 2});
    auto pa = OpTester("DequantizeLinear", 13)
                  .input(xi)
                  .input(Tensor::fromVector<float>({1.f, 0.5f, 2.f}, {3}))
                  .input(Tensor::fromVector<int8_t>({0, 1, -1}, {3}))
                  .run();
    ASSERT_TRUE(pa.isOk()) << pa.status().message();
    expectTensorEq((*pa)[0], Tensor::fromVector<float>({-128, 0, 63, 2, 14, 16}, {1, 3, 2}));

    auto i32 = OpTester("DequantizeLinear", 13)
                   .input(Tensor::fromVector<int32_t>({-7, 100000}, {2}))
                   .input(Tensor::scalar<float>(0.5f))
                   .run();
    ASSERT_TRUE(i32.isOk()) << i32.status().message();
    expectTensorEq((*i32)[0], Tensor::fromVector<float>({-3.5f, 50000.f}, {2}));

    EXPECT_FALSE(OpTester("DequantizeLinear", 13)
                     .input(x)
                     .input(Tensor::scalar<float>(1.f))
                     .input(Tensor::scalar<int8_t>(0))
                     .run()
                     .isOk());
    EXPECT_FALSE(OpTester("DequantizeLinear", 13)
                     .input(Tensor::fromVector<float>({1.f}, {1}))
                     .input(Tensor::scalar<float>(1.f))
                     .run()
                     .isOk());
}

TEST(DynamicQuantizeLinear, ComputesScaleAndZeroPoint) {
    // Range [-1, 2.5] → scale 3.5/255, zero point round(1 / scale) = round(72.857) = 73.
    Tensor x = Tensor::fromVector<float>({-1.f, 0.f, 2.5f, 1.f, 0.3f}, {5});
    auto out = OpTester("DynamicQuantizeLinear", 11).input(x).outputs(3).run();
    ASSERT_TRUE(out.isOk()) << out.status().message();
    const float scale = 3.5f / 255.f;
    EXPECT_FLOAT_EQ((*out)[1].data<float>()[0], scale);
    EXPECT_EQ((*out)[2].data<uint8_t>()[0], 73);
    for (int64_t i = 0; i < 5; ++i) {
        const double q = std::clamp(std::nearbyint(x.data<float>()[i] / scale) + 73.0, 0.0, 255.0);
        EXPECT_EQ((*out)[0].data<uint8_t>()[i], static_cast<uint8_t>(q));
    }
    // All positive: the range is stretched to include 0, so the zero point is 0. All zero: scale falls back to 1.
    auto pos = OpTester("DynamicQuantizeLinear", 11).input(Tensor::fromVector<float>({1.f, 2.f}, {2})).outputs(3).run();
    ASSERT_TRUE(pos.isOk());
    EXPECT_EQ((*pos)[2].data<uint8_t>()[0], 0);
    EXPECT_EQ((*pos)[0].data<uint8_t>()[1], 255);
    auto zeros = OpTester("DynamicQuantizeLinear", 11).input(Tensor(DataType::kFloat32, {3})).outputs(3).run();
    ASSERT_TRUE(zeros.isOk());
    EXPECT_EQ((*zeros)[1].data<float>()[0], 1.0f);
    EXPECT_FALSE(OpTester("DynamicQuantizeLinear", 11).input(Tensor(DataType::kFloat64, {3})).outputs(3).run().isOk());
}

//! (A - za[row]) @ (B - zb[col]) per batch, for 2-D or 3-D A with 2-D B.
std::vector<int64_t> naiveIntMatMul(const Tensor& a, const std::vector<int64_t>& za, const Tensor& b,
                                    const std::vector<int64_t>& zb) {
    const int64_t M = a.dim(-2), K = a.dim(-1), N = b.dim(-1);
    const int64_t batches = a.numel() / (M * K);
    std::vector<int64_t> y;
    for (int64_t bi = 0; bi < batches; ++bi) {
        for (int64_t i = 0; i < M; ++i) {
            for (int64_t j = 0; j < N; ++j) {
                int64_t acc = 0;
                for (int64_t k = 0; k < K; ++k) {
                    acc += (a.getInt((bi * M + i) * K + k) - za[za.size() == 1 ? 0 : i]) *
                           (b.getInt(k * N + j) - zb[zb.size() == 1 ? 0 : j]);
                }
                y.push_back(acc);
            }
        }
    }
    return y;
}

TEST(MatMulInteger, ZeroPointsPerTensorRowAndColumn) {
    for (DataType at : {DataType::kUInt8, DataType::kInt8}) {
        for (DataType bt : {DataType::kUInt8, DataType::kInt8}) {
            const bool au = at == DataType::kUInt8, bu = bt == DataType::kUInt8;
            Tensor a = randomTensor(at, {2, 5, 7}, 1, au ? 0 : -128, au ? 255 : 127);
            Tensor b = randomTensor(bt, {7, 3}, 2, bu ? 0 : -128, bu ? 255 : 127);
            // Per-row A zero points (5) and per-column B zero points (3).
            Tensor za(at, {5}), zb(bt, {3});
            std::vector<int64_t> zav, zbv;
            for (int64_t i = 0; i < 5; ++i) {
                zav.push_back(i * 3 + 1);
                if (au) za.data<uint8_t>()[i] = static_cast<uint8_t>(zav.back());
                else za.data<int8_t>()[i] = static_cast<int8_t>(zav.back());
            }
            for (int64_t j = 0; j < 3; ++j) {
                zbv.push_back(2 - j);
                if (bu) zb.data<uint8_t>()[j] = static_cast<uint8_t>(zbv.back());
                else zb.data<int8_t>()[j] = static_cast<int8_t>(zbv.back());
            }
            auto out = OpTester("MatMulInteger", 10).input(a).input(b).input(za).input(zb).run();
            ASSERT_TRUE(out.isOk()) << out.status().message();
            ASSERT_EQ((*out)[0].shape(), (Shape{2, 5, 3}));
            ASSERT_EQ((*out)[0].dtype(), DataType::kInt32);
            const auto want = naiveIntMatMul(a, zav, b, zbv);
            for (size_t i = 0; i < want.size(); ++i) EXPECT_EQ((*out)[0].data<int32_t>()[i], want[i]);
            // Without zero points.
            auto plain = OpTester("MatMulInteger", 10).input(a).input(b).run();
            ASSERT_TRUE(plain.isOk());
            const auto want0 = naiveIntMatMul(a, {0}, b, {0});
            for (size_t i = 0; i < want0.size(); ++i) EXPECT_EQ((*plain)[0].data<int32_t>()[i], want0[i]);
        }
    }
    EXPECT_FALSE(OpTester("MatMulInteger", 10)
                     .input(Tensor(DataType::kFloat32, {2, 2}))
                     .input(Tensor(DataType::kUInt8, {2, 2}))
                     .run()
                     .isOk());
    EXPECT_FALSE(OpTester("MatMulInteger", 10)
                     .input(Tensor(DataType::kUInt8, {2, 3}))
                     .input(Tensor(DataType::kUInt8, {3, 2}))
                     .input(Tensor(DataType::kUInt8, {4}))
                     .run()
                     .isOk());
}

TEST(QLinearMatMul, RequantizesWithPerColumnScale) {
    Tensor a = randomTensor(DataType::kUInt8, {3, 6}, 3, 0, 255);
    Tensor b = randomTensor(DataType::kInt8, {6, 4}, 4, -128, 127);
    const float as = 0.02f, ys = 0.5f;
    const std::vector<float> bs = {0.01f, 0.02f, 0.03f, 0.04f};
    auto out = OpTester("QLinearMatMul", 10)
                   .input(a)
                   .input(Tensor::scalar<float>(as))
                   .input(Tensor::scalar<uint8_t>(100))
                   .input(b)
                   .input(Tensor::fromVector<float>(bs, {4}))
                   .input(Tensor::scalar<int8_t>(-3))
                   .input(Tensor::scalar<float>(ys))
                   .input(Tensor::scalar<int8_t>(5))
                   .run();
    ASSERT_TRUE(out.isOk()) << out.status().message();
    ASSERT_EQ((*out)[0].dtype(), DataType::kInt8);
    const auto acc = naiveIntMatMul(a, {100}, b, {-3});
    for (int64_t i = 0; i < 12; ++i) {
        const float mult = as * bs[i % 4] / ys;
        const double q = std::clamp(std::nearbyint(static_cast<float>(acc[i]) * mult) + 5.0, -128.0, 127.0);
        EXPECT_EQ((*out)[0].data<int8_t>()[i], static_cast<int8_t>(q)) << i;
    }
}

TEST(QLinearConv, RequantizesDirectConvolution) {
    // x 1x2x4x4 uint8 (zero point 3), w 3x2x2x2 int8 per-channel scales, bias, stride 2 and pad 1.
    Tensor x = randomTensor(DataType::kUInt8, {1, 2, 4, 4}, 5, 0, 20);
    Tensor w = randomTensor(DataType::kInt8, {3, 2, 2, 2}, 6, -10, 10);
    Tensor bias = Tensor::fromVector<int32_t>({-40, 0, 70}, {3});
    const std::vector<float> ws = {0.1f, 0.2f, 0.05f};
    auto out = OpTester("QLinearConv", 10)
                   .input(x)
                   .input(Tensor::scalar<float>(0.5f))
                   .input(Tensor::scalar<uint8_t>(3))
                   .input(w)
                   .input(Tensor::fromVector<float>(ws, {3}))
                   .input(Tensor::fromVector<int8_t>({0, 0, 0}, {3}))
                   .input(Tensor::scalar<float>(0.25f))
                   .input(Tensor::scalar<uint8_t>(128))
                   .input(bias)
                   .attr("strides", Ints{2, 2})
                   .attr("pads", Ints{1, 1, 1, 1})
                   .run();
    ASSERT_TRUE(out.isOk()) << out.status().message();
    ASSERT_EQ((*out)[0].shape(), (Shape{1, 3, 3, 3}));
    for (int64_t m = 0; m < 3; ++m) {
        for (int64_t oh = 0; oh < 3; ++oh) {
            for (int64_t ow = 0; ow < 3; ++ow) {
                int64_t acc = bias.data<int32_t>()[m];
                for (int64_t c = 0; c < 2; ++c) {
                    for (int64_t kh = 0; kh < 2; ++kh) {
                        for (int64_t kw = 0; kw < 2; ++kw) {
                            const int64_t h = oh * 2 - 1 + kh, wi = ow * 2 - 1 + kw;
                            if (h < 0 || h >= 4 || wi < 0 || wi >= 4) continue;
                            acc += (x.getInt((c * 4 + h) * 4 + wi) - 3) * w.getInt(((m * 2 + c) * 2 + kh) * 2 + kw);
                        }
                    }
                }
                const float mult = 0.5f * ws[m] / 0.25f;
                const double q = std::clamp(std::nearbyint(static_cast<float>(acc) * mult) + 128.0, 0.0, 255.0);
                EXPECT_EQ((*out)[0].data<uint8_t>()[(m * 3 + oh) * 3 + ow], static_cast<uint8_t>(q));
            }
        }
    }
    // A per-channel zero point of the wrong size is rejected.
    EXPECT_FALSE(OpTester("QLinearConv", 10)
                     .input(x)
                     .input(Tensor::scalar<float>(0.5f))
                     .input(Tensor::scalar<uint8_t>(3))
                     .input(w)
                     .input(Tensor::scalar<float>(0.1f))
                     .input(Tensor::fromVector<int8_t>({0, 0}, {2}))
                     .input(Tensor::scalar<float>(0.25f))
                     .input(Tensor::scalar<uint8_t>(128))
                     .run()
                     .isOk());
}

}  // namespace
}  // namespace kiln::testing
