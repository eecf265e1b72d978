// Conv, ConvTranspose, ConvInteger against naive direct loops written independently of the kernels.
#include <array>

#include "ops/op_tester.h"

namespace kiln::testing {
namespace {

using Ints = std::vector<int64_t>;

//! Direct convolution over any spatial rank in double: y[n, m, o] = b[m] + sum x[n, c, o*s - pb + k*d] * w[m, c, k].
struct ConvSpec {
    Ints strides, dilations, padsBegin, padsEnd;
    int64_t group = 1;
};

Shape convOutShape(const Shape& x, const Shape& w, const ConvSpec& s) {
    Shape out{x[0], w[0]};
    for (size_t i = 2; i < x.size(); ++i) {
        const int64_t j = static_cast<int64_t>(i - 2);
        const int64_t dk = (w[i] - 1) * s.dilations[j] + 1;
        out.push_back((x[i] + s.padsBegin[j] + s.padsEnd[j] - dk) / s.strides[j] + 1);
    }
    return out;
}

std::vector<double> naiveConv(const Tensor& x, const Tensor& w, const Tensor* b, const ConvSpec& s, Shape& outShape) {
    outShape = convOutShape(x.shape(), w.shape(), s);
    const size_t r = x.shape().size() - 2;
    const int64_t cg = x.dim(1) / s.group, mg = w.dim(0) / s.group;
    std::vector<double> y(static_cast<size_t>(shapeNumel(outShape)), 0.0);
    const auto xStrides = [&] {
        std::vector<int64_t> st(x.shape().size(), 1);
        for (int64_t i = x.rank() - 2; i >= 0; --i) st[i] = st[i + 1] * x.dim(i + 1);
        return st;
    }();
    Shape outSpatial(outShape.begin() + 2, outShape.end());
    Shape kSpatial(w.shape().begin() + 2, w.shape().end());
    const int64_t outSize = shapeNumel(outSpatial), kSize = shapeNumel(kSpatial);
    for (int64_t n = 0; n < x.dim(0); ++n) {
        for (int64_t m = 0; m < w.dim(0); ++m) {
            const int64_t g = m / mg;
            for (int64_t o = 0; o < outSize; ++o) {
                Ints oi(r);
                for (int64_t rest = o, i = static_cast<int64_t>(r) - 1; i >= 0; --i) {
                    oi[i] = rest % outSpatial[i];
                    rest /= outSpatial[i];
                }
                double acc = b ? b->getDouble(m) : 0.0;
                for (int64_t c = 0; c < cg; ++c) {
                    for (int64_t k = 0; k < kSize; ++k) {
                        Ints ki(r);
                        for (int64_t rest = k, i = static_cast<int64_t>(r) - 1; i >= 0; --i) {
                            ki[i] = rest % kSpatial[i];
                            rest /= kSpatial[i];
                        }
                        int64_t xOff = n * xStrides[0] + (g * cg + c) * xStrides[1];
                        bool inside = true;
                        for (size_t i = 0; i < r; ++i) {
                            const int64_t p = oi[i] * s.strides[i] - s.padsBegin[i] + ki[i] * s.dilations[i];
                            inside = inside && p >= 0 && p < x.dim(static_cast<int64_t>(i + 2));
                            xOff += p * xStrides[i + 2];
                        }
                        if (!inside) continue;
                        acc += x.getDouble(xOff) * w.getDouble((m * cg + c) * kSize + k);
                    }
                }
                y[(n * w.dim(0) + m) * outSize + o] = acc;
            }
        }
    }
    return y;
}

Tensor toTensor(const std::vector<double>& v, DataType type, const Shape& shape) {
    Tensor t(type, shape);
    for (size_t i = 0; i < v.size(); ++i) {
        switch (type) {
            case DataType::kFloat32: t.data<float>()[i] = static_cast<float>(v[i]); break;
            case DataType::kFloat64: t.data<double>()[i] = v[i]; break;
            case DataType::kFloat16: t.data<Half>()[i] = Half(static_cast<float>(v[i])); break;
            case DataType::kBFloat16: t.data<BFloat16>()[i] = BFloat16(static_cast<float>(v[i])); break;
            case DataType::kInt32: t.data<int32_t>()[i] = static_cast<int32_t>(v[i]); break;
            default: break;
        }
    }
    return t;
}

struct ConvCase {
    const char* name;
    Shape x, w;
    ConvSpec spec;
    bool bias;
};

void runConvCase(const ConvCase& c, DataType type, double tol) {
    SCOPED_TRACE(std::string(c.name) + " " + dataTypeName(type));
    Tensor x = randomTensor(type, c.x, 11);
    Tensor w = randomTensor(type, c.w, 12);
    Tensor b = randomTensor(type, {c.w[0]}, 13);
    Ints pads = c.spec.padsBegin;
    pads.insert(pads.end(), c.spec.padsEnd.begin(), c.spec.padsEnd.end());
    OpTester t("Conv");
    t.input(x).input(w);
    if (c.bias) t.input(b);
    t.attr("strides", c.spec.strides)
        .attr("dilations", c.spec.dilations)
        .attr("pads", pads)
        .attr("group", c.spec.group);
    auto out = t.run();
    ASSERT_TRUE(out.isOk()) << out.status().message();
    Shape shape;
    const auto want = naiveConv(x, w, c.bias ? &b : nullptr, c.spec, shape);
    expectTensorNear((*out)[0], toTensor(want, type, shape), tol, tol);
}

const std::vector<ConvCase>& convCases() {
    static const std::vector<ConvCase> cases = {
        {"3x3 plain", {3, 5, 7, 6}, {7, 5, 3, 3}, {{1, 1}, {1, 1}, {0, 0}, {0, 0}, 1}, true},
        {"stride 2 pad 1", {3, 5, 11, 9}, {7, 5, 3, 3}, {{2, 2}, {1, 1}, {1, 1}, {1, 1}, 1}, true},
        {"dilation 2", {1, 3, 13, 11}, {5, 3, 3, 2}, {{1, 1}, {2, 2}, {2, 1}, {2, 1}, 1}, false},
        {"asymmetric pads", {2, 3, 6, 7}, {4, 3, 3, 3}, {{2, 1}, {1, 1}, {0, 2}, {2, 1}, 1}, true},
        {"groups 3", {2, 6, 7, 5}, {9, 2, 3, 3}, {{1, 2}, {1, 1}, {1, 1}, {1, 1}, 3}, true},
        {"depthwise", {3, 5, 9, 8}, {5, 1, 3, 3}, {{2, 2}, {1, 1}, {1, 1}, {1, 1}, 5}, true},
        {"depthwise x2 dilated", {1, 5, 9, 8}, {10, 1, 3, 3}, {{1, 1}, {2, 2}, {2, 0}, {1, 2}, 5}, false},
        {"pointwise", {3, 7, 5, 6}, {11, 7, 1, 1}, {{1, 1}, {1, 1}, {0, 0}, {0, 0}, 1}, true},
        {"pointwise stride 2", {2, 7, 5, 6}, {3, 7, 1, 1}, {{2, 2}, {1, 1}, {0, 0}, {0, 0}, 1}, false},
        {"pointwise padded", {1, 3, 4, 4}, {2, 3, 1, 1}, {{1, 1}, {1, 1}, {1, 0}, {0, 1}, 1}, true},
        {"1-D", {3, 5, 17}, {7, 5, 4}, {{3}, {2}, {2}, {1}, 1}, true},
        {"3-D", {2, 3, 5, 6, 7}, {4, 3, 3, 2, 3}, {{1, 2, 1}, {1, 1, 2}, {1, 0, 1}, {0, 1, 2}, 1}, true},
        {"kernel covers input", {2, 3, 4, 5}, {5, 3, 4, 5}, {{1, 1}, {1, 1}, {0, 0}, {0, 0}, 1}, true},
        {"empty batch", {0, 3, 5, 5}, {2, 3, 3, 3}, {{1, 1}, {1, 1}, {0, 0}, {0, 0}, 1}, true},
    };
    return cases;
}

TEST(Conv, MatchesDirectLoopFloat32) {
    for (const auto& c : convCases()) runConvCase(c, DataType::kFloat32, 1e-5);
}

TEST(Conv, MatchesDirectLoopOtherFloatTypes) {
    for (const auto& c : convCases()) {
        runConvCase(c, DataType::kFloat64, 1e-12);
        runConvCase(c, DataType::kFloat16, 1e-2);
        runConvCase(c, DataType::kBFloat16, 5e-2);
    }
}

TEST(Conv, LargeImageIsBlocked) {
    // 64 channels x 3x3 over 100x100: the im2col buffer exceeds one block, so several GEMM blocks write the output.
    runConvCase({"blocked", {1, 64, 100, 100}, {2, 64, 3, 3}, {{1, 1}, {1, 1}, {1, 1}, {1, 1}, 1}, true},
                DataType::kFloat32, 1e-4);
}

TEST(Conv, AutoPad) {
    Tensor x = randomTensor(DataType::kFloat32, {1, 2, 7, 8}, 1);
    Tensor w = randomTensor(DataType::kFloat32, {3, 2, 4, 3}, 2);
    struct AutoCase {
        const char* mode;
        ConvSpec spec;
    };
    // Strides 2: H out = ceil(7/2) = 4, total pad = 3*2 + 4 - 7 = 3; W out = 4, total pad = 3*2 + 3 - 8 = 1.
    const std::vector<AutoCase> cases = {
        {"SAME_UPPER", {{2, 2}, {1, 1}, {1, 0}, {2, 1}}},
        {"SAME_LOWER", {{2, 2}, {1, 1}, {2, 1}, {1, 0}}},
        {"VALID", {{2, 2}, {1, 1}, {0, 0}, {0, 0}}},
    };
    for (const auto& c : cases) {
        auto out =
            OpTester("Conv").input(x).input(w).attr("auto_pad", std::string(c.mode)).attr("strides", Ints{2, 2}).run();
        ASSERT_TRUE(out.isOk()) << out.status().message();
        Shape shape;
        const auto want = naiveConv(x, w, nullptr, c.spec, shape);
        expectTensorNear((*out)[0], toTensor(want, DataType::kFloat32, shape), 1e-5, 1e-5);
    }
}

TEST(Conv, KernelShapeAttributeMustMatchWeights) {
    Tensor x = randomTensor(DataType::kFloat32, {1, 2, 5, 5}, 1);
    Tensor w = randomTensor(DataType::kFloat32, {3, 2, 3, 3}, 2);
    EXPECT_TRUE(OpTester("Conv").input(x).input(w).attr("kernel_shape", Ints{3, 3}).run().isOk());
    EXPECT_FALSE(OpTester("Conv").input(x).input(w).attr("kernel_shape", Ints{2, 2}).run().isOk());
}

TEST(Conv, RejectsBadInputs) {
    Tensor x = randomTensor(DataType::kFloat32, {1, 4, 5, 5}, 1);
    // Channel mismatch.
    auto out = OpTester("Conv").input(x).input(randomTensor(DataType::kFloat32, {3, 3, 3, 3}, 2)).run();
    ASSERT_FALSE(out.isOk());
    EXPECT_NE(out.status().message().find("group"), std::string::npos) << out.status().message();
    // Group does not divide M.
    EXPECT_FALSE(OpTester("Conv")
                     .input(x)
                     .input(randomTensor(DataType::kFloat32, {3, 2, 3, 3}, 2))
                     .attr("group", int64_t{2})
                     .run()
                     .isOk());
    // Kernel larger than the padded input.
    EXPECT_FALSE(OpTester("Conv").input(x).input(randomTensor(DataType::kFloat32, {3, 4, 7, 7}, 2)).run().isOk());
    // Rank mismatch, bias size, dtype mismatch, wrong pads length, integer input.
    EXPECT_FALSE(OpTester("Conv").input(x).input(randomTensor(DataType::kFloat32, {3, 4, 3}, 2)).run().isOk());
    EXPECT_FALSE(OpTester("Conv")
                     .input(x)
                     .input(randomTensor(DataType::kFloat32, {3, 4, 3, 3}, 2))
                     .input(randomTensor(DataType::kFloat32, {4}, 3))
                     .run()
                     .isOk());
    EXPECT_FALSE(OpTester("Conv").input(x).input(randomTensor(DataType::kFloat64, {3, 4, 3, 3}, 2)).run().isOk());
    EXPECT_FALSE(OpTester("Conv")
                     .input(x)
                     .input(randomTensor(DataType::kFloat32, {3, 4, 3, 3}, 2))
                     .attr("pads", Ints{1, 1})
                     .run()
                     .isOk());
    EXPECT_FALSE(OpTester("Conv")
                     .input(randomTensor(DataType::kInt32, {1, 4, 5, 5}, 1))
                     .input(randomTensor(DataType::kInt32, {3, 4, 3, 3}, 2))
                     .run()
                     .isOk());
    EXPECT_FALSE(OpTester("Conv").input(randomTensor(DataType::kFloat32, {4, 5}, 1)).input(x).run().isOk());
}

// ---- ConvTranspose

struct TransposeSpec {
    Ints strides, dilations, padsBegin, outputPadding;
    int64_t group = 1;
};

//! Scatter form: y[n, g*mg + m, i*s - pb + k*d] += x[n, g*cg + c, i] * w[g*cg + c, m, k], for 2-D.
std::vector<double> naiveConvTranspose2d(const Tensor& x, const Tensor& w, const Tensor* b, const TransposeSpec& s,
                                         const Shape& outShape) {
    const int64_t cg = x.dim(1) / s.group, mg = w.dim(1);
    const int64_t H = x.dim(2), W = x.dim(3), KH = w.dim(2), KW = w.dim(3);
    const int64_t OH = outShape[2], OW = outShape[3], M = outShape[1];
    std::vector<double> y(static_cast<size_t>(shapeNumel(outShape)), 0.0);
    for (int64_t n = 0; n < x.dim(0); ++n) {
        for (int64_t m = 0; m < M; ++m) {
            for (int64_t i = 0; i < OH * OW; ++i) y[(n * M + m) * OH * OW + i] = b ? b->getDouble(m) : 0.0;
        }
        for (int64_t ci = 0; ci < x.dim(1); ++ci) {
            const int64_t g = ci / cg;
            for (int64_t m = 0; m < mg; ++m) {
                for (int64_t h = 0; h < H; ++h) {
                    for (int64_t ww = 0; ww < W; ++ww) {
                        const double xv = x.getDouble(((n * x.dim(1) + ci) * H + h) * W + ww);
                        for (int64_t kh = 0; kh < KH; ++kh) {
                            for (int64_t kw = 0; kw < KW; ++kw) {
                                const int64_t oh = h * s.strides[0] - s.padsBegin[0] + kh * s.dilations[0];
                                const int64_t ow = ww * s.strides[1] - s.padsBegin[1] + kw * s.dilations[1];
                                if (oh < 0 || oh >= OH || ow < 0 || ow >= OW) continue;
                                y[((n * M + g * mg + m) * OH + oh) * OW + ow] +=
                                    xv * w.getDouble(((ci * mg + m) * KH + kh) * KW + kw);
                            }
                        }
                    }
                }
            }
        }
    }
    return y;
}

TEST(ConvTranspose, MatchesScatterLoop) {
    struct Case {
        Shape x, w;
        TransposeSpec spec;
        Ints padsEnd;
    };
    const std::vector<Case> cases = {
        {{3, 5, 4, 3}, {5, 7, 3, 3}, {{1, 1}, {1, 1}, {0, 0}, {0, 0}, 1}, {0, 0}},
        {{2, 5, 4, 3}, {5, 3, 3, 2}, {{2, 3}, {1, 1}, {1, 0}, {1, 2}, 1}, {0, 1}},
        {{1, 3, 5, 4}, {3, 2, 2, 3}, {{2, 2}, {2, 1}, {0, 1}, {0, 0}, 1}, {2, 1}},
        {{2, 6, 3, 4}, {6, 2, 3, 3}, {{2, 1}, {1, 2}, {1, 1}, {1, 0}, 3}, {0, 1}},
        {{1, 4, 3, 3}, {4, 1, 2, 2}, {{2, 2}, {1, 1}, {0, 0}, {0, 0}, 4}, {0, 0}},
    };
    for (DataType type : {DataType::kFloat32, DataType::kFloat64, DataType::kFloat16}) {
        for (const auto& c : cases) {
            Tensor x = randomTensor(type, c.x, 3);
            Tensor w = randomTensor(type, c.w, 4);
            Tensor b = randomTensor(type, {c.w[1] * c.spec.group}, 5);
            Ints pads = c.spec.padsBegin;
            pads.insert(pads.end(), c.padsEnd.begin(), c.padsEnd.end());
            auto out = OpTester("ConvTranspose")
                           .input(x)
                           .input(w)
                           .input(b)
                           .attr("strides", c.spec.strides)
                           .attr("dilations", c.spec.dilations)
                           .attr("pads", pads)
                           .attr("output_padding", c.spec.outputPadding)
                           .attr("group", c.spec.group)
                           .run();
            ASSERT_TRUE(out.isOk()) << out.status().message();
            Shape shape{c.x[0], c.w[1] * c.spec.group};
            for (size_t i = 0; i < 2; ++i) {
                shape.push_back(c.spec.strides[i] * (c.x[i + 2] - 1) + c.spec.outputPadding[i] +
                                (c.w[i + 2] - 1) * c.spec.dilations[i] + 1 - c.spec.padsBegin[i] - c.padsEnd[i]);
            }
            const double tol = type == DataType::kFloat16 ? 1e-2 : 1e-5;
            expectTensorNear((*out)[0], toTensor(naiveConvTranspose2d(x, w, &b, c.spec, shape), type, shape), tol, tol);
        }
    }
}

TEST(ConvTranspose, OutputShapeAndAutoPad) {
    Tensor x = randomTensor(DataType::kFloat32, {1, 2, 3, 4}, 1);
    Tensor w = randomTensor(DataType::kFloat32, {2, 3, 3, 3}, 2);
    // Natural size with strides 2: 2*2+3 = 7 by 2*3+3 = 9.
    {  // output_shape larger than natural: total padding clamps to 0, the extra rows/cols stay 0.
        auto out = OpTester("ConvTranspose")
                       .input(x)
                       .input(w)
                       .attr("strides", Ints{2, 2})
                       .attr("output_shape", Ints{8, 10})
                       .run();
        ASSERT_TRUE(out.isOk()) << out.status().message();
        const Shape shape{1, 3, 8, 10};
        expectTensorNear((*out)[0],
                         toTensor(naiveConvTranspose2d(x, w, nullptr, {{2, 2}, {1, 1}, {0, 0}, {0, 0}}, shape),
                                  DataType::kFloat32, shape));
    }
    {  // SAME_UPPER: output = in * stride = 6x8; total padding 1x1, begin gets total/2 = 0.
        auto out = OpTester("ConvTranspose")
                       .input(x)
                       .input(w)
                       .attr("strides", Ints{2, 2})
                       .attr("auto_pad", std::string("SAME_UPPER"))
                       .run();
        ASSERT_TRUE(out.isOk()) << out.status().message();
        const Shape shape{1, 3, 6, 8};
        expectTensorNear((*out)[0],
                         toTensor(naiveConvTranspose2d(x, w, nullptr, {{2, 2}, {1, 1}, {0, 0}, {0, 0}}, shape),
                                  DataType::kFloat32, shape));
    }
    {  // SAME_LOWER: begin gets the odd pixel.
        auto out = OpTester("ConvTranspose")
                       .input(x)
                       .input(w)
                       .attr("strides", Ints{2, 2})
                       .attr("auto_pad", std::string("SAME_LOWER"))
                       .run();
        ASSERT_TRUE(out.isOk()) << out.status().message();
        const Shape shape{1, 3, 6, 8};
        expectTensorNear((*out)[0],
                         toTensor(naiveConvTranspose2d(x, w, nullptr, {{2, 2}, {1, 1}, {1, 1}, {0, 0}}, shape),
                                  DataType::kFloat32, shape));
    }
}

TEST(ConvTranspose, OneDAndThreeD) {
    // 1-D against the 2-D oracle with a unit leading dim; 3-D with unit depth kernel likewise.
    Tensor x1 = randomTensor(DataType::kFloat32, {2, 3, 5}, 1);
    Tensor w1 = randomTensor(DataType::kFloat32, {3, 2, 3}, 2);
    auto out = OpTester("ConvTranspose").input(x1).input(w1).attr("strides", Ints{2}).attr("pads", Ints{1, 0}).run();
    ASSERT_TRUE(out.isOk()) << out.status().message();
    Tensor x2 = x1.reshaped({2, 3, 1, 5}).value();
    Tensor w2 = w1.reshaped({3, 2, 1, 3}).value();
    const Shape shape{2, 2, 1, 10};  // natural 2 * 4 + 3 = 11 minus pads 1 + 0
    Tensor want = toTensor(naiveConvTranspose2d(x2, w2, nullptr, {{1, 2}, {1, 1}, {0, 1}, {0, 0}}, shape),
                           DataType::kFloat32, shape);
    expectTensorNear((*out)[0], want.reshaped({2, 2, 10}).value());

    Tensor x3 = randomTensor(DataType::kFloat32, {1, 2, 3, 3, 4}, 3);
    Tensor w3 = randomTensor(DataType::kFloat32, {2, 2, 1, 2, 2}, 4);
    auto out3 = OpTester("ConvTranspose").input(x3).input(w3).attr("strides", Ints{1, 2, 2}).run();
    ASSERT_TRUE(out3.isOk()) << out3.status().message();
    ASSERT_EQ((*out3)[0].shape(), (Shape{1, 2, 3, 6, 8}));
    for (int64_t d = 0; d < 3; ++d) {  // each depth slice is an independent 2-D transposed conv
        Tensor xs(DataType::kFloat32, {1, 2, 3, 4});
        for (int64_t c = 0; c < 2; ++c) {
            for (int64_t i = 0; i < 12; ++i) xs.data<float>()[c * 12 + i] = x3.data<float>()[(c * 3 + d) * 12 + i];
        }
        const auto want3 = naiveConvTranspose2d(xs, w3.reshaped({2, 2, 2, 2}).value(), nullptr,
                                                {{2, 2}, {1, 1}, {0, 0}, {0, 0}}, {1, 2, 6, 8});
        for (int64_t m = 0; m < 2; ++m) {
            for (int64_t i = 0; i < 48; ++i) {
                EXPECT_NEAR((*out3)[0].data<float>()[(m * 3 + d) * 48 + i], want3[m * 48 + i], 1e-5);
            }
        }
    }
}

TEST(ConvTranspose, RejectsBadInputs) {
    Tensor x = randomTensor(DataType::kFloat32, {1, 4, 3, 3}, 1);
    EXPECT_FALSE(
        OpTester("ConvTranspose").input(x).input(randomTensor(DataType::kFloat32, {3, 2, 3, 3}, 2)).run().isOk());
    EXPECT_FALSE(OpTester("ConvTranspose")
                     .input(x)
                     .input(randomTensor(DataType::kFloat32, {4, 2, 3, 3}, 2))
                     .attr("pads", Ints{3, 3, 3, 3})
                     .run()
                     .isOk());
    EXPECT_FALSE(OpTester("ConvTranspose").input(x).input(randomTensor(DataType::kFloat32, {4, 2, 3}, 2)).run().isOk());
}

// ---- ConvInteger

TEST(ConvInteger, MatchesDirectLoopWithZeroPoints) {
    for (DataType xt : {DataType::kUInt8, DataType::kInt8}) {
        for (DataType wt : {DataType::kUInt8, DataType::kInt8}) {
            SCOPED_TRACE(std::string(dataTypeName(xt)) + " x " + dataTypeName(wt));
            Tensor x = randomTensor(xt, {2, 6, 7, 5}, 1, xt == DataType::kUInt8 ? 0 : -100, 100);
            Tensor w = randomTensor(wt, {4, 3, 3, 2}, 2, wt == DataType::kUInt8 ? 0 : -100, 100);
            const int64_t xz = 7, wz = 3;
            Tensor xzT(xt, {});
            Tensor wzT(wt, {4});
            if (xt == DataType::kUInt8) *xzT.data<uint8_t>() = xz;
            else *xzT.data<int8_t>() = xz;
            for (int64_t m = 0; m < 4; ++m) {
                if (wt == DataType::kUInt8) wzT.data<uint8_t>()[m] = static_cast<uint8_t>(wz + m);
                else wzT.data<int8_t>()[m] = static_cast<int8_t>(wz + m);
            }
            auto out = OpTester("ConvInteger", 10)
                           .input(x)
                           .input(w)
                           .input(xzT)
                           .input(wzT)
                           .attr("pads", Ints{1, 0, 1, 2})
                           .attr("strides", Ints{2, 1})
                           .attr("group", int64_t{2})
                           .run();
            ASSERT_TRUE(out.isOk()) << out.status().message();
            // Oracle: padded positions hold the zero point, i.e. contribute 0 after subtraction.
            Tensor xs(DataType::kFloat64, x.shape()), ws(DataType::kFloat64, w.shape());
            for (int64_t i = 0; i < x.numel(); ++i) xs.data<double>()[i] = x.getDouble(i) - xz;
            for (int64_t i = 0; i < w.numel(); ++i) ws.data<double>()[i] = w.getDouble(i) - (wz + i / 18);
            Shape shape;
            const auto want = naiveConv(xs, ws, nullptr, {{2, 1}, {1, 1}, {1, 0}, {1, 2}, 2}, shape);
            expectTensorEq((*out)[0], toTensor(want, DataType::kInt32, shape));
        }
    }
}

TEST(ConvInteger, RejectsFloatInput) {
    EXPECT_FALSE(OpTester("ConvInteger", 10)
                     .input(randomTensor(DataType::kFloat32, {1, 1, 3, 3}, 1))
                     .input(randomTensor(DataType::kUInt8, {1, 1, 2, 2}, 2))
                     .run()
                     .isOk());
}

}  // namespace
}  // namespace kiln::testing
