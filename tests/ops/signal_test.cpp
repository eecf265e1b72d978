// DFT, STFT, window functions and MelWeightMatrix against hand values and naive std::complex sums.
#include <complex>
#include <numbers>

#include "ops/op_tester.h"

namespace kiln::testing {
namespace {

using Cd = std::complex<double>;

//! Naive DFT of `in` (n points, zero-padded/truncated), first outLen bins.
std::vector<Cd> naiveDft(std::vector<Cd> in, int64_t n, int64_t outLen, bool inverse) {
    in.resize(static_cast<size_t>(n));
    std::vector<Cd> out(static_cast<size_t>(outLen));
    for (int64_t k = 0; k < outLen; ++k) {
        Cd acc = 0;
        for (int64_t j = 0; j < n; ++j) {
            acc += in[j] * std::polar(1.0, (inverse ? 2.0 : -2.0) * std::numbers::pi * static_cast<double>(j * k) /
                                               static_cast<double>(n));
        }
        out[k] = inverse ? acc / static_cast<double>(n) : acc;
    }
    return out;
}

struct DftCase {
    Shape shape;  // includes the trailing 1/2
    int64_t axis;
    bool inverse = false;
    bool onesided = false;
    std::optional<int64_t> length = std::nullopt;
    DataType dtype = DataType::kFloat32;
    double tol = 1e-4;
};

void checkDft(const DftCase& c) {
    Tensor x = randomTensor(c.dtype, c.shape, 7);
    OpTester t("DFT");
    t.input(x);
    if (c.length) t.input(Tensor::scalar<int64_t>(*c.length));
    t.attr("axis", c.axis);
    if (c.inverse) t.attr("inverse", int64_t{1});
    if (c.onesided) t.attr("onesided", int64_t{1});
    auto out = t.run();
    ASSERT_TRUE(out.isOk()) << out.status().message();
    const int64_t rank = x.rank();
    const int64_t axis = c.axis < 0 ? c.axis + rank : c.axis;
    const int64_t comps = x.dim(-1);
    const int64_t axisLen = x.dim(axis);
    const int64_t n = c.length.value_or(axisLen);
    const int64_t outLen = c.onesided ? n / 2 + 1 : n;
    Shape want = c.shape;
    want[axis] = outLen;
    want.back() = 2;
    const Tensor& y = (*out)[0];
    ASSERT_EQ(y.shape(), want);
    ASSERT_EQ(y.dtype(), c.dtype);
    int64_t outer = 1, inner = 1;
    for (int64_t i = 0; i < axis; ++i) outer *= x.dim(i);
    for (int64_t i = axis + 1; i < rank - 1; ++i) inner *= x.dim(i);
    for (int64_t o = 0; o < outer; ++o)
        for (int64_t i = 0; i < inner; ++i) {
            std::vector<Cd> sig;
            for (int64_t j = 0; j < std::min(n, axisLen); ++j) {
                const int64_t at = ((o * axisLen + j) * inner + i) * comps;
                sig.emplace_back(x.getDouble(at), comps == 2 ? x.getDouble(at + 1) : 0.0);
            }
            const auto ref = naiveDft(sig, n, outLen, c.inverse);
            for (int64_t k = 0; k < outLen; ++k) {
                const int64_t at = ((o * outLen + k) * inner + i) * 2;
                EXPECT_NEAR(y.getDouble(at), ref[k].real(), c.tol * (1 + std::abs(ref[k])))
                    << o << "," << i << "," << k;
                EXPECT_NEAR(y.getDouble(at + 1), ref[k].imag(), c.tol * (1 + std::abs(ref[k])))
                    << o << "," << i << "," << k;
            }
        }
}

TEST(DFT, RealInputOddShapesEachAxis) {
    checkDft({.shape = {2, 5, 3, 1}, .axis = 1});
    checkDft({.shape = {2, 5, 3, 1}, .axis = 2});
    checkDft({.shape = {3, 7, 1}, .axis = -2});
    checkDft({.shape = {3, 13, 1}, .axis = 0});
}

TEST(DFT, ComplexInverseAndRoundTrip) {
    checkDft({.shape = {2, 6, 5, 2}, .axis = 2, .inverse = true});
    Tensor x = randomTensor(DataType::kFloat64, {1, 11, 2}, 3);
    auto fwd = OpTester("DFT").input(x).run();
    ASSERT_TRUE(fwd.isOk()) << fwd.status().message();
    auto back = OpTester("DFT").input((*fwd)[0]).attr("inverse", int64_t{1}).run();
    ASSERT_TRUE(back.isOk()) << back.status().message();
    expectTensorNear((*back)[0], x, 1e-12, 1e-12);
}

TEST(DFT, OnesidedAndDftLength) {
    checkDft({.shape = {2, 7, 1}, .axis = 1, .onesided = true});
    checkDft({.shape = {2, 8, 1}, .axis = 1, .onesided = true});
    checkDft({.shape = {2, 5, 2}, .axis = 1, .length = 9});     // zero-padded
    checkDft({.shape = {2, 9, 3, 1}, .axis = 1, .length = 4});  // truncated
    checkDft({.shape = {1, 6, 1}, .axis = 1, .onesided = true, .length = 11});
}

TEST(DFT, DtypeSweepAndEmpty) {
    checkDft({.shape = {2, 7, 2}, .axis = 1, .dtype = DataType::kFloat64, .tol = 1e-12});
    checkDft({.shape = {2, 7, 2}, .axis = 1, .dtype = DataType::kFloat16, .tol = 3e-3});
    checkDft({.shape = {2, 7, 2}, .axis = 1, .dtype = DataType::kBFloat16, .tol = 2e-2});
    auto out = OpTester("DFT").input(Tensor(DataType::kFloat32, {0, 4, 1})).run();
    ASSERT_TRUE(out.isOk()) << out.status().message();
    EXPECT_EQ((*out)[0].shape(), (Shape{0, 4, 2}));
}

TEST(DFT, RejectsBadInputs) {
    auto out = OpTester("DFT").input(Tensor(DataType::kFloat32, {1, 4, 3})).run();
    ASSERT_FALSE(out.isOk());
    EXPECT_NE(out.status().message().find("1x4x3"), std::string::npos) << out.status().message();
    out = OpTester("DFT").input(Tensor(DataType::kFloat32, {1, 4, 1})).attr("axis", int64_t{2}).run();
    ASSERT_FALSE(out.isOk());
    out = OpTester("DFT").input(Tensor(DataType::kFloat32, {1, 4, 2})).attr("onesided", int64_t{1}).run();
    ASSERT_FALSE(out.isOk());
    out = OpTester("DFT").input(Tensor(DataType::kFloat32, {1, 4, 1})).input(Tensor::scalar<int64_t>(0)).run();
    ASSERT_FALSE(out.isOk());
    out = OpTester("DFT").input(Tensor(DataType::kInt32, {1, 4, 1})).run();
    ASSERT_FALSE(out.isOk());
}

TEST(STFT, WindowedRealSignal) {
    const int64_t len = 37, step = 5, frame = 8;
    Tensor sig = randomTensor(DataType::kFloat32, {2, len, 1}, 11);
    Tensor win = randomTensor(DataType::kFloat32, {frame}, 12, 0, 1);
    auto out = OpTester("STFT").input(sig).input(Tensor::scalar<int64_t>(step)).input(win).run();
    ASSERT_TRUE(out.isOk()) << out.status().message();
    const int64_t frames = (len - frame) / step + 1, bins = frame / 2 + 1;
    const Tensor& y = (*out)[0];
    ASSERT_EQ(y.shape(), (Shape{2, frames, bins, 2}));
    for (int64_t b = 0; b < 2; ++b)
        for (int64_t f = 0; f < frames; ++f) {
            std::vector<Cd> s;
            for (int64_t j = 0; j < frame; ++j)
                s.emplace_back(sig.getDouble(b * len + f * step + j) * win.getDouble(j));
            const auto ref = naiveDft(s, frame, bins, false);
            for (int64_t k = 0; k < bins; ++k) {
                EXPECT_NEAR(y.getDouble(((b * frames + f) * bins + k) * 2), ref[k].real(), 1e-5);
                EXPECT_NEAR(y.getDouble(((b * frames + f) * bins + k) * 2 + 1), ref[k].imag(), 1e-5);
            }
        }
}

TEST(STFT, ComplexSignalTwoSidedFrameLengthOnly) {
    const int64_t len = 13, step = 3, frame = 5;
    Tensor sig = randomTensor(DataType::kFloat64, {1, len, 2}, 13);
    auto out = OpTester("STFT")
                   .input(sig)
                   .input(Tensor::scalar<int32_t>(step))
                   .absentInput()
                   .input(Tensor::scalar<int32_t>(frame))
                   .attr("onesided", int64_t{0})
                   .run();
    ASSERT_TRUE(out.isOk()) << out.status().message();
    const int64_t frames = (len - frame) / step + 1;
    const Tensor& y = (*out)[0];
    ASSERT_EQ(y.shape(), (Shape{1, frames, frame, 2}));
    for (int64_t f = 0; f < frames; ++f) {
        std::vector<Cd> s;
        for (int64_t j = 0; j < frame; ++j)
            s.emplace_back(sig.getDouble((f * step + j) * 2), sig.getDouble((f * step + j) * 2 + 1));
        const auto ref = naiveDft(s, frame, frame, false);
        for (int64_t k = 0; k < frame; ++k) {
            EXPECT_NEAR(y.getDouble((f * frame + k) * 2), ref[k].real(), 1e-12);
            EXPECT_NEAR(y.getDouble((f * frame + k) * 2 + 1), ref[k].imag(), 1e-12);
        }
    }
}

TEST(STFT, RejectsBadInputs) {
    Tensor sig(DataType::kFloat32, {1, 16, 1});
    auto out = OpTester("STFT").input(sig).input(Tensor::scalar<int64_t>(4)).run();
    ASSERT_FALSE(out.isOk());  // neither window nor frame_length
    out = OpTester("STFT")
              .input(sig)
              .input(Tensor::scalar<int64_t>(4))
              .absentInput()
              .input(Tensor::scalar<int64_t>(17))
              .run();
    ASSERT_FALSE(out.isOk());
    out = OpTester("STFT")
              .input(sig)
              .input(Tensor::scalar<int64_t>(0))
              .absentInput()
              .input(Tensor::scalar<int64_t>(4))
              .run();
    ASSERT_FALSE(out.isOk());
    out = OpTester("STFT")
              .input(sig)
              .input(Tensor::scalar<int64_t>(4))
              .input(Tensor(DataType::kFloat32, {5}))
              .input(Tensor::scalar<int64_t>(4))
              .run();
    ASSERT_FALSE(out.isOk());
    out = OpTester("STFT")
              .input(Tensor(DataType::kFloat32, {1, 16, 2}))
              .input(Tensor::scalar<int64_t>(4))
              .absentInput()
              .input(Tensor::scalar<int64_t>(4))
              .run();
    ASSERT_FALSE(out.isOk());  // complex signal needs onesided = 0
}

Result<std::vector<Tensor>> window(const char* op, int64_t size, bool periodic, DataType out = DataType::kFloat32) {
    OpTester t(op);
    t.input(Tensor::scalar<int64_t>(size));
    if (!periodic) t.attr("periodic", int64_t{0});
    if (out != DataType::kFloat32) t.attr("output_datatype", static_cast<int64_t>(out));
    return t.run();
}

TEST(Windows, HandValues) {
    auto out = window("HannWindow", 4, true);
    ASSERT_TRUE(out.isOk()) << out.status().message();
    expectTensorNear((*out)[0], Tensor::fromVector<float>({0.0f, 0.5f, 1.0f, 0.5f}), 1e-6, 1e-7);
    out = window("HannWindow", 5, false);
    ASSERT_TRUE(out.isOk());
    expectTensorNear((*out)[0], Tensor::fromVector<float>({0.0f, 0.5f, 1.0f, 0.5f, 0.0f}), 1e-6, 1e-7);
    out = window("HannWindow", 5, false, DataType::kUInt8);
    ASSERT_TRUE(out.isOk());
    expectTensorEq((*out)[0], Tensor::fromVector<uint8_t>({0, 0, 1, 0, 0}));
    out = window("HammingWindow", 2, true, DataType::kFloat64);
    ASSERT_TRUE(out.isOk());
    expectTensorNear((*out)[0], Tensor::fromVector<double>({4.0 / 46.0, 1.0}), 1e-12, 1e-15);
    out = window("BlackmanWindow", 4, true, DataType::kFloat64);
    ASSERT_TRUE(out.isOk());
    expectTensorNear((*out)[0], Tensor::fromVector<double>({0.0, 0.34, 1.0, 0.34}), 1e-12, 1e-15);
    out = window("BlackmanWindow", 3, false, DataType::kFloat64);
    ASSERT_TRUE(out.isOk());
    expectTensorNear((*out)[0], Tensor::fromVector<double>({0.0, 1.0, 0.0}), 1e-12, 1e-15);
}

TEST(Windows, SizesAndDtypes) {
    for (const char* op : {"HannWindow", "HammingWindow", "BlackmanWindow"}) {
        SCOPED_TRACE(op);
        auto out = window(op, 0, true);
        ASSERT_TRUE(out.isOk()) << out.status().message();
        EXPECT_EQ((*out)[0].shape(), (Shape{0}));
        out = window(op, 1, false);
        ASSERT_TRUE(out.isOk());
        expectTensorEq((*out)[0], Tensor::fromVector<float>({1.0f}, {1}));
        // Integer outputs truncate toward zero, as the ONNX function body's Cast does.
        auto real = window(op, 7, false, DataType::kFloat64);
        out = window(op, 7, false, DataType::kInt32);
        ASSERT_TRUE(out.isOk() && real.isOk());
        ASSERT_EQ((*out)[0].dtype(), DataType::kInt32);
        for (int64_t k = 0; k < 7; ++k) EXPECT_EQ((*out)[0].getInt(k), std::trunc((*real)[0].getDouble(k)));
        out = window(op, 127, true, DataType::kFloat16);
        ASSERT_TRUE(out.isOk());
        ASSERT_EQ((*out)[0].dtype(), DataType::kFloat16);
        ASSERT_EQ((*out)[0].shape(), (Shape{127}));
        // Periodic windows are symmetric about n/2 and peak at 1 there for even n.
        out = window(op, 10, true, DataType::kFloat64);
        ASSERT_TRUE(out.isOk());
        for (int64_t k = 1; k < 10; ++k) EXPECT_NEAR((*out)[0].getDouble(k), (*out)[0].getDouble(10 - k), 1e-12);
        EXPECT_NEAR((*out)[0].getDouble(5), 1.0, 1e-12);
        auto i32 = OpTester(op).input(Tensor::scalar<int32_t>(3)).run();
        ASSERT_TRUE(i32.isOk()) << i32.status().message();
        EXPECT_FALSE(window(op, -1, true).isOk());
        EXPECT_FALSE(OpTester(op).input(Tensor::scalar<float>(3)).run().isOk());
        EXPECT_FALSE(OpTester(op).input(Tensor::scalar<int64_t>(3)).attr("output_datatype", int64_t{8}).run().isOk());
    }
}

Result<std::vector<Tensor>> mel(int32_t bins, int32_t dft, int32_t rate, float lo, float hi, int64_t dtype = 1) {
    return OpTester("MelWeightMatrix")
        .input(Tensor::scalar<int32_t>(bins))
        .input(Tensor::scalar<int32_t>(dft))
        .input(Tensor::scalar<int32_t>(rate))
        .input(Tensor::scalar<float>(lo))
        .input(Tensor::scalar<float>(hi))
        .attr("output_datatype", dtype)
        .run();
}

TEST(MelWeightMatrix, OnnxExample) {
    // The matrix listed in ONNX's MelWeightMatrix example (8 mel bins, dft_length 16, 8192 Hz, 0..4096 Hz).
    auto out = mel(8, 16, 8192, 0.0f, 4096.0f);
    ASSERT_TRUE(out.isOk()) << out.status().message();
    std::vector<float> want(9 * 8, 0.0f);
    const int ones[][2] = {{0, 0}, {0, 1}, {1, 2}, {1, 3}, {2, 4}, {3, 5}, {4, 6}, {5, 7}};
    for (auto [r, c] : ones) want[r * 8 + c] = 1.0f;
    expectTensorEq((*out)[0], Tensor::fromVector<float>(want, {9, 8}));
}

TEST(MelWeightMatrix, TrianglesAndDtype) {
    auto out = mel(5, 127, 16000, 20.0f, 8000.0f, 11);
    ASSERT_TRUE(out.isOk()) << out.status().message();
    const Tensor& m = (*out)[0];
    ASSERT_EQ(m.dtype(), DataType::kFloat64);
    ASSERT_EQ(m.shape(), (Shape{64, 5}));
    for (int64_t c = 0; c < 5; ++c) {
        // Each band rises to one peak of 1 and falls again: no value outside [0, 1], exactly one 1.
        int peaks = 0;
        double prev = 0;
        bool falling = false;
        for (int64_t r = 0; r < 64; ++r) {
            const double v = m.getDouble(r * 5 + c);
            EXPECT_GE(v, 0.0);
            EXPECT_LE(v, 1.0);
            if (v == 1.0) ++peaks;
            if (v < prev) falling = true;
            if (falling) {
                EXPECT_LE(v, prev) << "band " << c << " row " << r;
            }
            prev = v;
        }
        EXPECT_EQ(peaks, 1) << "band " << c;
    }
}

TEST(MelWeightMatrix, RejectsBadInputs) {
    EXPECT_FALSE(mel(0, 16, 8000, 0, 4000).isOk());
    EXPECT_FALSE(mel(4, 16, 8000, 4000, 100).isOk());
    EXPECT_FALSE(mel(4, 0, 8000, 0, 4000).isOk());
    EXPECT_FALSE(mel(4, 16, 8000, 0, 4000, 8).isOk());
}

}  // namespace
}  // namespace kiln::testing
