// FusedConvNhwc with `kiln_head` (made by conv-head-fusion; semantics in src/ir/ops.def) on the CPU reference: bit
// for bit the two FusedConvNhwc nodes it replaces (the first one's result stored in the dtype, then the 1x1 head), in
// float32, float16 and bfloat16, with and without each bias, with ReLU or none, strided and padded; and the one-line
// errors for malformed nodes.
#include "ops/op_tester.h"

namespace kiln::testing {
namespace {

using Ints = std::vector<int64_t>;

struct HeadCase {
    DataType dtype = DataType::kFloat16;
    bool bias = true, headBias = true, relu = true;
    Ints strides{1, 1}, pads{1, 1, 1, 1};
    int64_t k = 2;
};

struct HeadOperands {
    Tensor x, w, b, w2, b2;
};

HeadOperands operands(const HeadCase& c) {
    const DataType t = c.dtype;
    return {randomTensor(t, {2, 7, 6, 8}, 1), randomTensor(t, {8, 3, 3, 8}, 2), randomTensor(t, {8}, 3),
            randomTensor(t, {c.k, 1, 1, 8}, 4), randomTensor(t, {c.k}, 5)};
}

//! The first convolution alone over `x`: FusedConvNhwc(x, W, B) with the case's window and activation.
OpTester firstConv(const HeadCase& c, const HeadOperands& o, const Tensor& x) {
    OpTester op("FusedConvNhwc", 1, "kiln");
    op.input(x).constInput(o.w);
    if (c.bias) {
        op.constInput(o.b);
    } else {
        op.absentInput();
    }
    op.attr("strides", c.strides).attr("pads", c.pads).attr("activation", std::string(c.relu ? "Relu" : ""));
    return op;
}

//! The fused node: the first convolution with kiln_head, Z omitted, then W2 and B2.
OpTester fused(const HeadCase& c, const HeadOperands& o) {
    OpTester op = firstConv(c, o, o.x);
    op.attr("kiln_head", int64_t{1}).absentInput().constInput(o.w2);
    if (c.headBias) op.constInput(o.b2);
    return op;
}

//! What the unfused graph computes: the first convolution's result stored, then the 1x1 head over it.
Result<Tensor> unfused(const HeadCase& c, const HeadOperands& o) {
    KILN_ASSIGN_OR_RETURN(std::vector<Tensor> h, firstConv(c, o, o.x).run());
    OpTester head("FusedConvNhwc", 1, "kiln");
    head.input(h[0]).constInput(o.w2);
    if (c.headBias) head.constInput(o.b2);
    KILN_ASSIGN_OR_RETURN(std::vector<Tensor> y, head.run());
    return y[0];
}

TEST(LayoutHeadOps, FusedHeadEqualsTheTwoConvolutions) {
    std::vector<std::pair<std::string, HeadCase>> cases;
    for (DataType t : {DataType::kFloat32, DataType::kFloat16, DataType::kBFloat16}) {
        cases.emplace_back(dataTypeName(t), HeadCase{.dtype = t});
    }
    cases.emplace_back("no biases, no activation",
                       HeadCase{.bias = false, .headBias = false, .relu = false, .pads = {0, 0, 0, 0}});
    cases.emplace_back("strided, asymmetric pads, 16 head channels",
                       HeadCase{.strides = {2, 1}, .pads = {0, 1, 2, 0}, .k = 16});
    for (const auto& [name, c] : cases) {
        SCOPED_TRACE(name);
        const HeadOperands o = operands(c);
        auto got = fused(c, o).run();
        ASSERT_TRUE(got.isOk()) << got.status().message();
        auto want = unfused(c, o);
        ASSERT_TRUE(want.isOk()) << want.status().message();
        EXPECT_EQ((*got)[0].shape(), (Shape{2, want->dim(1), want->dim(2), c.k}));
        expectTensorEq((*got)[0], *want);
    }
}

TEST(LayoutHeadOps, MalformedHeadsAreRefused) {
    const HeadCase c;
    const HeadOperands o = operands(c);
    OpTester noW2 = firstConv(c, o, o.x);
    noW2.attr("kiln_head", int64_t{1});
    expectOneLineError(noW2, "kiln_head is set but input 4 'W2' (the head's weights) is missing");

    OpTester withZ = firstConv(c, o, o.x);
    withZ.attr("kiln_head", int64_t{1}).input(randomTensor(c.dtype, {2, 7, 6, 8}, 6)).constInput(o.w2);
    expectOneLineError(withZ, "kiln_head is set: input 3 'Z' must be omitted");

    OpTester wideW2 = firstConv(c, o, o.x);
    wideW2.attr("kiln_head", int64_t{1}).absentInput().constInput(randomTensor(c.dtype, {2, 3, 3, 8}, 7));
    expectOneLineError(wideW2, "kiln_head: input 4 'W2' float16[2x3x3x8] must be [K, 1, 1, 8]");

    OpTester badB2 = fused({.headBias = false}, o);
    badB2.constInput(randomTensor(c.dtype, {3}, 8));
    expectOneLineError(badB2, "kiln_head: input 5 'B2' float16[3] must be [2]");

    OpTester otherDtype = firstConv(c, o, o.x);
    otherDtype.attr("kiln_head", int64_t{1})
        .absentInput()
        .constInput(randomTensor(DataType::kFloat32, {2, 1, 1, 8}, 9));
    expectOneLineError(otherDtype, "of dtype float16");

    OpTester badFlag = fused(c, o);
    badFlag.attr("kiln_head", int64_t{2});
    expectOneLineError(badFlag, "attribute 'kiln_head' must be 0 or 1, got 2");

    // Without kiln_head, W2 and B2 are inputs the convolution does not have.
    OpTester noFlag = fused(c, o);
    noFlag.attr("kiln_head", int64_t{0});
    EXPECT_FALSE(noFlag.run().isOk());
}

}  // namespace
}  // namespace kiln::testing
