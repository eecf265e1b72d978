// Kiln's channels-last ops (FusedConvNhwc, ConvTransposeNhwc, MaxPoolNhwc, AveragePoolNhwc, GlobalAveragePoolNhwc)
// on the CPU reference, against naive loops that index [N, H, W, C] data directly.
#include <algorithm>
#include <cmath>
#include <limits>

#include "ops/op_tester.h"

namespace kiln::testing {
namespace {

using Ints = std::vector<int64_t>;

struct Window {
    Ints kernel{1, 1}, strides{1, 1}, dilations{1, 1}, pads{0, 0, 0, 0};  // pads: h begin, w begin, h end, w end
};

int64_t outDim(int64_t in, int64_t k, int64_t s, int64_t d, int64_t pb, int64_t pe) {
    return (in + pb + pe - ((k - 1) * d + 1)) / s + 1;
}

OpTester& windowAttrs(OpTester& t, const Window& w) {
    return t.attr("strides", w.strides).attr("dilations", w.dilations).attr("pads", w.pads);
}

//! y[n, oh, ow, m] = act(sum x[n, ih, iw, g*Cg + c] * w[m, kh, kw, c] + b[m] + z[n, oh, ow, m]).
Tensor naiveConvNhwc(const Tensor& x, const Tensor& w, const Tensor* b, const Tensor* z, const Window& win,
                     int64_t group, bool relu) {
    const int64_t N = x.dim(0), H = x.dim(1), W = x.dim(2), C = x.dim(3);
    const int64_t M = w.dim(0), KH = w.dim(1), KW = w.dim(2), Cg = w.dim(3);
    const int64_t OH = outDim(H, KH, win.strides[0], win.dilations[0], win.pads[0], win.pads[2]);
    const int64_t OW = outDim(W, KW, win.strides[1], win.dilations[1], win.pads[1], win.pads[3]);
    const int64_t Mg = M / group;
    Tensor y(DataType::kFloat64, {N, OH, OW, M});
    for (int64_t n = 0; n < N; ++n) {
        for (int64_t oh = 0; oh < OH; ++oh) {
            for (int64_t ow = 0; ow < OW; ++ow) {
                for (int64_t m = 0; m < M; ++m) {
                    double s = b ? b->getDouble(m) : 0.0;
                    for (int64_t kh = 0; kh < KH; ++kh) {
                        for (int64_t kw = 0; kw < KW; ++kw) {
                            const int64_t ih = oh * win.strides[0] - win.pads[0] + kh * win.dilations[0];
                            const int64_t iw = ow * win.strides[1] - win.pads[1] + kw * win.dilations[1];
                            if (ih < 0 || ih >= H || iw < 0 || iw >= W) continue;
                            for (int64_t c = 0; c < Cg; ++c) {
                                const int64_t ic = m / Mg * Cg + c;
                                s += x.getDouble(((n * H + ih) * W + iw) * C + ic) *
                                     w.getDouble(((m * KH + kh) * KW + kw) * Cg + c);
                            }
                        }
                    }
                    const int64_t at = ((n * OH + oh) * OW + ow) * M + m;
                    if (z) s += z->getDouble(at);
                    y.data<double>()[at] = relu ? std::max(s, 0.0) : s;
                }
            }
        }
    }
    return y;
}

//! ConvTranspose without output_padding: y[n, ih*s - p + kh*d, ..., g*Mg + m] += x[n, ih, iw, c] * w[c, kh, kw, m].
Tensor naiveConvTransposeNhwc(const Tensor& x, const Tensor& w, const Tensor* b, const Window& win, int64_t group) {
    const int64_t N = x.dim(0), H = x.dim(1), W = x.dim(2), C = x.dim(3);
    const int64_t KH = w.dim(1), KW = w.dim(2), Mg = w.dim(3), M = Mg * group, Cg = C / group;
    const int64_t OH = (H - 1) * win.strides[0] + (KH - 1) * win.dilations[0] + 1 - win.pads[0] - win.pads[2];
    const int64_t OW = (W - 1) * win.strides[1] + (KW - 1) * win.dilations[1] + 1 - win.pads[1] - win.pads[3];
    Tensor y(DataType::kFloat64, {N, OH, OW, M});
    for (int64_t i = 0; i < y.numel(); ++i) y.data<double>()[i] = b ? b->getDouble(i % M) : 0.0;
    for (int64_t n = 0; n < N; ++n) {
        for (int64_t ih = 0; ih < H; ++ih) {
            for (int64_t iw = 0; iw < W; ++iw) {
                for (int64_t c = 0; c < C; ++c) {
                    for (int64_t kh = 0; kh < KH; ++kh) {
                        for (int64_t kw = 0; kw < KW; ++kw) {
                            const int64_t oh = ih * win.strides[0] - win.pads[0] + kh * win.dilations[0];
                            const int64_t ow = iw * win.strides[1] - win.pads[1] + kw * win.dilations[1];
                            if (oh < 0 || oh >= OH || ow < 0 || ow >= OW) continue;
                            for (int64_t m = 0; m < Mg; ++m) {
                                y.data<double>()[((n * OH + oh) * OW + ow) * M + c / Cg * Mg + m] +=
                                    x.getDouble(((n * H + ih) * W + iw) * C + c) *
                                    w.getDouble(((c * KH + kh) * KW + kw) * Mg + m);
                            }
                        }
                    }
                }
            }
        }
    }
    return y;
}

enum class Pool { kMax, kAvg, kAvgIncludePad };

Tensor naivePoolNhwc(const Tensor& x, const Window& win, Pool kind) {
    const int64_t N = x.dim(0), H = x.dim(1), W = x.dim(2), C = x.dim(3);
    const int64_t OH = outDim(H, win.kernel[0], win.strides[0], win.dilations[0], win.pads[0], win.pads[2]);
    const int64_t OW = outDim(W, win.kernel[1], win.strides[1], win.dilations[1], win.pads[1], win.pads[3]);
    Tensor y(DataType::kFloat64, {N, OH, OW, C});
    for (int64_t i = 0; i < y.numel(); ++i) {
        const int64_t c = i % C, ow = i / C % OW, oh = i / C / OW % OH, n = i / C / OW / OH;
        double best = -std::numeric_limits<double>::infinity(), sum = 0;
        int64_t valid = 0;
        for (int64_t kh = 0; kh < win.kernel[0]; ++kh) {
            for (int64_t kw = 0; kw < win.kernel[1]; ++kw) {
                const int64_t h = oh * win.strides[0] - win.pads[0] + kh * win.dilations[0];
                const int64_t w = ow * win.strides[1] - win.pads[1] + kw * win.dilations[1];
                if (h < 0 || h >= H || w < 0 || w >= W) continue;
                const double v = x.getDouble(((n * H + h) * W + w) * C + c);
                best = std::max(best, v);
                sum += v;
                ++valid;
            }
        }
        const double taps = static_cast<double>(kind == Pool::kAvgIncludePad ? win.kernel[0] * win.kernel[1] : valid);
        y.data<double>()[i] = kind == Pool::kMax ? best : sum / taps;
    }
    return y;
}

void expectClose(const Tensor& got, const Tensor& want, double tol) {
    ASSERT_EQ(got.shape(), want.shape()) << shapeToString(got.shape()) << " vs " << shapeToString(want.shape());
    for (int64_t i = 0; i < want.numel(); ++i) {
        ASSERT_NEAR(got.getDouble(i), want.getDouble(i), tol * (1.0 + std::fabs(want.getDouble(i)))) << "element " << i;
    }
}

Tensor random(DataType t, Shape s, uint32_t seed) { return randomTensor(t, std::move(s), seed); }

double tolerance(DataType t) {
    return t == DataType::kFloat32 ? 1e-5 : t == DataType::kFloat16 ? 1e-2 : t == DataType::kBFloat16 ? 5e-2 : 1e-12;
}

struct ConvCase {
    Shape x, w;
    Window win;
    int64_t group = 1;
    bool bias = true, residual = false, relu = false;
};

void checkConv(const ConvCase& c, DataType t, uint32_t seed) {
    const Tensor x = random(t, c.x, seed), w = random(t, c.w, seed + 1), b = random(t, {c.w[0]}, seed + 2);
    const Tensor want0 = naiveConvNhwc(x, w, nullptr, nullptr, c.win, c.group, false);
    const Tensor z = random(t, want0.shape(), seed + 3);
    OpTester op("FusedConvNhwc", 1, "kiln");
    op.input(x).constInput(w);
    if (c.bias) {
        op.constInput(b);
    } else if (c.residual) {
        op.absentInput();
    }
    if (c.residual) op.input(z);
    windowAttrs(op, c.win).attr("group", c.group);
    if (c.relu) op.attr("activation", std::string("Relu"));
    auto out = op.run();
    ASSERT_TRUE(out.isOk()) << out.status().message();
    EXPECT_EQ((*out)[0].dtype(), t);
    expectClose((*out)[0],
                naiveConvNhwc(x, w, c.bias ? &b : nullptr, c.residual ? &z : nullptr, c.win, c.group, c.relu),
                tolerance(t));
}

TEST(LayoutOps, FusedConvNhwcStridesPadsDilationsGroups) {
    Window padded;
    padded.kernel = {3, 3};
    padded.pads = {1, 1, 1, 1};
    Window strided;
    strided.kernel = {3, 2};
    strided.strides = {2, 3};
    strided.dilations = {2, 1};
    strided.pads = {0, 1, 2, 0};
    const ConvCase cases[] = {
        {{2, 5, 6, 3}, {4, 3, 3, 3}, padded, 1, true, true, true},      // bias + residual + Relu
        {{1, 9, 8, 7}, {5, 3, 2, 7}, strided, 1, false, false, false},  // asymmetric pads, no bias
        {{3, 5, 5, 4}, {6, 3, 3, 2}, padded, 2, true, false, true},     // groups
        {{1, 6, 7, 3}, {3, 3, 3, 1}, padded, 3, true, true, false},     // depthwise, residual without Relu
        {{5, 4, 3, 7}, {3, 1, 1, 7}, Window{}, 1, false, true, true},   // 1x1, residual without bias
    };
    uint32_t seed = 100;
    for (DataType t : {DataType::kFloat32, DataType::kFloat16, DataType::kBFloat16, DataType::kFloat64}) {
        for (const ConvCase& c : cases) {
            SCOPED_TRACE(std::string(dataTypeName(t)) + " x " + shapeToString(c.x) + " w " + shapeToString(c.w));
            checkConv(c, t, seed += 10);
        }
    }
}

TEST(LayoutOps, FusedConvNhwcActivationParams) {
    const Tensor x = random(DataType::kFloat32, {1, 4, 4, 2}, 7), w = random(DataType::kFloat32, {3, 1, 1, 2}, 8);
    OpTester op("FusedConvNhwc", 1, "kiln");
    op.input(x)
        .constInput(w)
        .attr("activation", std::string("Clip"))
        .attr("activation_params", std::vector<float>{-0.1f, 0.2f});
    auto out = op.run();
    ASSERT_TRUE(out.isOk()) << out.status().message();
    Tensor want = naiveConvNhwc(x, w, nullptr, nullptr, Window{}, 1, false);
    for (int64_t i = 0; i < want.numel(); ++i) {
        want.data<double>()[i] = std::min(std::max(want.data<double>()[i], -0.1), 0.2);
    }
    expectClose((*out)[0], want, 1e-6);
}

TEST(LayoutOps, ConvTransposeNhwc) {
    Window up;
    up.kernel = {2, 2};
    up.strides = {2, 2};
    Window overlapping;
    overlapping.kernel = {3, 3};
    overlapping.strides = {2, 1};
    overlapping.pads = {1, 0, 1, 2};
    overlapping.dilations = {1, 2};
    uint32_t seed = 300;
    for (DataType t : {DataType::kFloat32, DataType::kFloat16}) {
        for (const auto& [x, w, win, group] :
             {std::tuple{Shape{2, 3, 3, 4}, Shape{4, 2, 2, 5}, up, int64_t{1}},
              std::tuple{Shape{1, 4, 5, 6}, Shape{6, 3, 3, 2}, overlapping, int64_t{2}}}) {
            SCOPED_TRACE(std::string(dataTypeName(t)) + " x " + shapeToString(x));
            const Tensor tx = random(t, x, seed += 10), tw = random(t, w, seed + 1),
                         tb = random(t, {w[3] * group}, seed + 2);
            OpTester op("ConvTransposeNhwc", 1, "kiln");
            op.input(tx).constInput(tw).constInput(tb).attr("group", group);
            windowAttrs(op, win);
            auto out = op.run();
            ASSERT_TRUE(out.isOk()) << out.status().message();
            expectClose((*out)[0], naiveConvTransposeNhwc(tx, tw, &tb, win, group), tolerance(t));
        }
    }
}

TEST(LayoutOps, PoolsNhwc) {
    Window win;
    win.kernel = {3, 3};
    win.strides = {2, 2};
    win.pads = {1, 1, 1, 1};
    uint32_t seed = 500;
    for (DataType t : {DataType::kFloat32, DataType::kFloat16, DataType::kBFloat16}) {
        SCOPED_TRACE(dataTypeName(t));
        const Tensor x = random(t, {2, 7, 6, 5}, seed += 10);
        OpTester maxPool("MaxPoolNhwc", 1, "kiln");
        windowAttrs(maxPool.input(x), win).attr("kernel_shape", win.kernel);
        auto mp = maxPool.run();
        ASSERT_TRUE(mp.isOk()) << mp.status().message();
        expectClose((*mp)[0], naivePoolNhwc(x, win, Pool::kMax), 0.0);
        for (int64_t includePad : {0, 1}) {
            OpTester avg("AveragePoolNhwc", 1, "kiln");
            windowAttrs(avg.input(x), win).attr("kernel_shape", win.kernel).attr("count_include_pad", includePad);
            auto ap = avg.run();
            ASSERT_TRUE(ap.isOk()) << ap.status().message();
            expectClose((*ap)[0], naivePoolNhwc(x, win, includePad ? Pool::kAvgIncludePad : Pool::kAvg), tolerance(t));
        }
        auto gap = OpTester("GlobalAveragePoolNhwc", 1, "kiln").input(x).run();
        ASSERT_TRUE(gap.isOk()) << gap.status().message();
        Window whole;
        whole.kernel = {7, 6};
        expectClose((*gap)[0], naivePoolNhwc(x, whole, Pool::kAvg), tolerance(t));
    }
}

TEST(LayoutOps, Errors) {
    const Tensor x3 = random(DataType::kFloat32, {2, 5, 3}, 1);
    auto r =
        OpTester("FusedConvNhwc", 1, "kiln").input(x3).constInput(random(DataType::kFloat32, {4, 3, 3, 3}, 2)).run();
    ASSERT_FALSE(r.isOk());
    EXPECT_NE(r.status().message().find("input 0 'X' must be 4-D channels-last"), std::string::npos)
        << r.status().message();
    // W's channels (dim 3 in KRSC) must match X's (dim 3): the base kernel's check, on the permuted tensors.
    auto c = OpTester("FusedConvNhwc", 1, "kiln")
                 .input(random(DataType::kFloat32, {1, 5, 5, 3}, 3))
                 .constInput(random(DataType::kFloat32, {4, 3, 3, 2}, 4))
                 .run();
    EXPECT_FALSE(c.isOk());
    auto z = OpTester("FusedConvNhwc", 1, "kiln")
                 .input(random(DataType::kFloat32, {1, 5, 5, 3}, 3))
                 .constInput(random(DataType::kFloat32, {4, 1, 1, 3}, 4))
                 .absentInput()
                 .input(random(DataType::kFloat32, {1, 5, 5}, 5))
                 .run();
    ASSERT_FALSE(z.isOk());
    EXPECT_NE(z.status().message().find("input 3 'Z'"), std::string::npos) << z.status().message();
    auto p = OpTester("MaxPoolNhwc", 1, "kiln").input(random(DataType::kFloat32, {1, 5, 5, 3, 1}, 6)).run();
    EXPECT_FALSE(p.isOk());
    EXPECT_FALSE(OpTester("GlobalAveragePoolNhwc", 1, "kiln").run().isOk());
}

}  // namespace
}  // namespace kiln::testing
