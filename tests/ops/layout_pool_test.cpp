// FusedConvNhwc with `kiln_pool` (made by conv-pool-fusion; semantics in src/ir/ops.def) on the CPU reference: output
// 0 bit for bit the FusedConvNhwc without the attribute, output 1 bit for bit MaxPoolNhwc 2x2 stride 2 of that result,
// in float32, float16 and bfloat16, with and without bias and residual, ReLU or none, 1x1 and 3x3, even and odd
// output sizes (floor mode), NaN and signed zeros; and the one-line errors for malformed nodes.
#include "ops/op_tester.h"

namespace kiln::testing {
namespace {

using Ints = std::vector<int64_t>;

struct PoolCase {
    DataType dtype = DataType::kFloat16;
    bool bias = true, residual = false, relu = true;
    int64_t kernel = 3;
    int64_t h = 8, w = 6;  //!< The input's (and, padded "same", the convolution's output's) height and width.
};

constexpr int64_t kN = 2, kC = 5, kM = 6;

struct PoolOperands {
    Tensor x, w, b, z;
};

PoolOperands operands(const PoolCase& c) {
    const DataType t = c.dtype;
    return {randomTensor(t, {kN, c.h, c.w, kC}, 1), randomTensor(t, {kM, c.kernel, c.kernel, kC}, 2),
            randomTensor(t, {kM}, 3), randomTensor(t, {kN, c.h, c.w, kM}, 4)};
}

//! FusedConvNhwc(x, W, B, Z) with the case's window ("same" padding) and activation, without kiln_pool.
OpTester conv(const PoolCase& c, const PoolOperands& o) {
    OpTester op("FusedConvNhwc", 1, "kiln");
    op.input(o.x).constInput(o.w);
    if (c.bias) {
        op.constInput(o.b);
    } else {
        op.absentInput();
    }
    if (c.residual) op.input(o.z);
    const int64_t pad = c.kernel / 2;
    op.attr("kernel_shape", Ints{c.kernel, c.kernel})
        .attr("pads", Ints{pad, pad, pad, pad})
        .attr("activation", std::string(c.relu ? "Relu" : ""));
    return op;
}

//! The fused node: the convolution with kiln_pool and two outputs.
OpTester fused(const PoolCase& c, const PoolOperands& o) {
    OpTester op = conv(c, o);
    op.attr("kiln_pool", int64_t{1}).outputs(2);
    return op;
}

//! What the unfused graph computes: the convolution's result Y stored, then MaxPoolNhwc 2x2 stride 2 over it.
Result<std::vector<Tensor>> unfused(const PoolCase& c, const PoolOperands& o) {
    KILN_ASSIGN_OR_RETURN(std::vector<Tensor> y, conv(c, o).run());
    OpTester pool("MaxPoolNhwc", 1, "kiln");
    pool.input(y[0]).attr("kernel_shape", Ints{2, 2}).attr("strides", Ints{2, 2});
    KILN_ASSIGN_OR_RETURN(std::vector<Tensor> p, pool.run());
    return std::vector<Tensor>{y[0], p[0]};
}

//! Runs the fused node and the unfused pair on `o` and checks both outputs bit for bit, and P's floor-mode shape.
void expectFusedEqualsUnfused(const PoolCase& c, const PoolOperands& o) {
    auto got = fused(c, o).run();
    ASSERT_TRUE(got.isOk()) << got.status().message();
    auto want = unfused(c, o);
    ASSERT_TRUE(want.isOk()) << want.status().message();
    ASSERT_EQ(got->size(), 2u);
    EXPECT_EQ((*got)[0].shape(), (Shape{kN, c.h, c.w, kM}));
    EXPECT_EQ((*got)[1].shape(), (Shape{kN, c.h / 2, c.w / 2, kM}));
    expectTensorBitsEq((*got)[0], (*want)[0]);
    expectTensorBitsEq((*got)[1], (*want)[1]);
}

TEST(LayoutPoolOps, FusedPoolEqualsTheConvolutionThenMaxPool) {
    int cases = 0;
    for (DataType t : {DataType::kFloat32, DataType::kFloat16, DataType::kBFloat16}) {
        for (int64_t kernel : {1, 3}) {
            for (const auto& [h, w] : {std::pair<int64_t, int64_t>{8, 6}, {7, 5}, {9, 4}}) {
                for (int flags = 0; flags < 8; ++flags) {
                    const PoolCase c{.dtype = t,
                                     .bias = (flags & 1) != 0,
                                     .residual = (flags & 2) != 0,
                                     .relu = (flags & 4) != 0,
                                     .kernel = kernel,
                                     .h = h,
                                     .w = w};
                    SCOPED_TRACE(std::string(dataTypeName(t)) + " " + std::to_string(kernel) + "x" +
                                 std::to_string(kernel) + " " + std::to_string(h) + "x" + std::to_string(w) +
                                 (c.bias ? " bias" : "") + (c.residual ? " residual" : "") + (c.relu ? " relu" : ""));
                    expectFusedEqualsUnfused(c, operands(c));
                    ++cases;
                }
            }
        }
    }
    EXPECT_EQ(cases, 3 * 2 * 3 * 8);
}

//! Sets element i of a float32, float16 or bfloat16 tensor.
void setFloat(Tensor& t, int64_t i, float v) {
    switch (t.dtype()) {
        case DataType::kFloat32: t.data<float>()[i] = v; break;
        case DataType::kFloat16: t.data<Half>()[i] = Half(v); break;
        default: t.data<BFloat16>()[i] = BFloat16(v); break;
    }
}

// NaN and zeros of both signs in the pooled windows: P must be the MaxPool kernel's choice among them, bit for bit.
TEST(LayoutPoolOps, NaNAndSignedZerosPoolAsTheMaxPoolDoes) {
    for (DataType t : {DataType::kFloat32, DataType::kFloat16, DataType::kBFloat16}) {
        SCOPED_TRACE(dataTypeName(t));
        const PoolCase c{.dtype = t, .bias = false, .relu = false, .kernel = 1, .h = 5, .w = 7};
        PoolOperands o = operands(c);
        const float specials[] = {std::nanf(""), -0.0f, 0.0f, -0.0f, -std::nanf(""), 0.0f};
        for (int64_t i = 0; i < o.x.numel(); i += 3) setFloat(o.x, i, specials[(i / 3) % 6]);
        auto y = conv(c, o).run();
        ASSERT_TRUE(y.isOk()) << y.status().message();
        int64_t nans = 0;
        for (int64_t i = 0; i < (*y)[0].numel(); ++i) nans += std::isnan((*y)[0].getDouble(i)) ? 1 : 0;
        EXPECT_GT(nans, 0) << "the convolution's result must hold NaNs for this test to mean anything";
        expectFusedEqualsUnfused(c, o);
    }
}

TEST(LayoutPoolOps, MalformedPoolsAreRefused) {
    const PoolCase c;
    const PoolOperands o = operands(c);
    OpTester badFlag = fused(c, o);
    badFlag.attr("kiln_pool", int64_t{2});
    expectOneLineError(badFlag, "attribute 'kiln_pool' must be 0 or 1, got 2");

    OpTester withHead = fused(c, o);
    withHead.attr("kiln_head", int64_t{1}).absentInput().constInput(randomTensor(c.dtype, {2, 1, 1, kM}, 5));
    expectOneLineError(withHead, "attributes 'kiln_head' and 'kiln_pool' cannot both be set");

    OpTester oneOutput = conv(c, o);
    oneOutput.attr("kiln_pool", int64_t{1});
    expectOneLineError(oneOutput, "kiln_pool is set: expects 2 outputs (Y and the pooled P), got 1");

    OpTester threeOutputs = fused(c, o);
    threeOutputs.outputs(3);
    expectOneLineError(threeOutputs, "kiln_pool is set: expects 2 outputs (Y and the pooled P), got 3");

    // Without kiln_pool the second output is one the convolution does not have.
    OpTester noFlag = fused(c, o);
    noFlag.attr("kiln_pool", int64_t{0});
    expectOneLineError(noFlag, "expects 1 output without kiln_pool, got 2");
}

}  // namespace
}  // namespace kiln::testing
