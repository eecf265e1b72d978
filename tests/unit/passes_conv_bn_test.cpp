// conv-bn-fold: BatchNormalization after a Conv folds into the Conv's weights and bias (float32 and float16).
#include <gtest/gtest.h>

#include "common/dispatch.h"
#include "passes_test_util.h"

namespace kiln::testing {
namespace {

using ir::OpKind;

Tensor toType(const Tensor& t, DataType type) {
    if (type == DataType::kFloat32) return t;
    Tensor out(type, t.shape());
    for (int64_t i = 0; i < t.numel(); ++i) out.data<Half>()[i] = Half(t.data<float>()[i]);
    return out;
}

//! x[1,3,7,5] → Conv(W[4,3,3,3], b?) → BN → y; BN's variance kept away from 0 and scale from 1.
std::function<void(GraphBuilder&)> convBn(DataType type, bool convBias, bool extraReader = false) {
    return [=](GraphBuilder& b) {
        b.input("x", type, {1, 3, 7, 5});
        b.constant("W", toType(randomTensor({4, 3, 3, 3}, 11), type));
        std::vector<std::string> convIn{"x", "W"};
        if (convBias) {
            b.constant("b", toType(randomTensor({4}, 12), type));
            convIn.push_back("b");
        }
        ir::Node* conv = b.node(OpKind::kConv, convIn, {"c"}, type, Shape{1, 4, 7, 5});
        conv->attrs().set("pads", std::vector<int64_t>{1, 1, 1, 1});
        b.constant("scale", toType(randomTensor({4}, 13, 0.5f, 2.0f), type));
        b.constant("B", toType(randomTensor({4}, 14), type));
        b.constant("mean", toType(randomTensor({4}, 15), type));
        b.constant("var", toType(randomTensor({4}, 16, 0.2f, 3.0f), type));
        b.node(OpKind::kBatchNormalization, {"c", "scale", "B", "mean", "var"}, {"y"}, type, Shape{1, 4, 7, 5})
            ->attrs()
            .set("epsilon", 1e-3f);
        b.output("y");
        if (extraReader) {
            b.node(OpKind::kRelu, {"c"}, {"r"}, type, Shape{1, 4, 7, 5});
            b.output("r");
        }
    };
}

TEST(PassConvBnFold, Float32WithAndWithoutBias) {
    for (bool bias : {false, true}) {
        ir::Graph g;
        expectEquivalent(convBn(DataType::kFloat32, bias), {randomTensor({1, 3, 7, 5}, 17)},
                         one(passes::createConvBatchNormFold()), g, 1e-5);
        EXPECT_EQ(countOps(g, OpKind::kBatchNormalization), 0u);
        ASSERT_EQ(g.nodes().size(), 1u);
        const ir::Node& conv = *g.nodes()[0];
        EXPECT_EQ(conv.op(), OpKind::kConv);
        EXPECT_EQ(conv.output(0)->name(), "y") << "the Conv writes the BN's output";
        ASSERT_NE(conv.input(2), nullptr);
        EXPECT_TRUE(conv.input(2)->isConstant());
    }
}

TEST(PassConvBnFold, Float16) {
    ir::Graph g;
    expectEquivalent(convBn(DataType::kFloat16, true), {toType(randomTensor({1, 3, 7, 5}, 18), DataType::kFloat16)},
                     one(passes::createConvBatchNormFold()), g, 1e-2);
    EXPECT_EQ(countOps(g, OpKind::kBatchNormalization), 0u);
    EXPECT_EQ(g.nodes()[0]->input(1)->dtype(), DataType::kFloat16);
}

TEST(PassConvBnFold, SharedConvOutputOrRuntimeParamsStay) {
    ir::Graph g;
    GraphBuilder b(g);
    convBn(DataType::kFloat32, true, /*extraReader=*/true)(b);
    runPasses(g, one(passes::createConvBatchNormFold()));
    EXPECT_EQ(countOps(g, OpKind::kBatchNormalization), 1u);

    ir::Graph h;
    GraphBuilder hb(h);
    convBn(DataType::kFloat32, true)(hb);
    hb.input("runtime_mean", DataType::kFloat32, {4});
    h.findValue("y")->producer()->setInput(3, h.findValue("runtime_mean"));
    runPasses(h, one(passes::createConvBatchNormFold()));
    EXPECT_EQ(countOps(h, OpKind::kBatchNormalization), 1u);
}

TEST(PassConvBnFold, SharedWeightsAreNotModified) {
    ir::Graph g;
    GraphBuilder b(g);
    convBn(DataType::kFloat32, false)(b);
    b.node(OpKind::kConv, {"x", "W"}, {"c2"}, DataType::kFloat32, Shape{1, 4, 5, 3});
    b.output("c2");
    const float w0 = g.findValue("W")->constant().data<float>()[0];
    runPasses(g, one(passes::createConvBatchNormFold()));
    EXPECT_EQ(countOps(g, OpKind::kBatchNormalization), 0u);
    EXPECT_EQ(g.findValue("W")->constant().data<float>()[0], w0);
    EXPECT_EQ(g.findValue("c2")->producer()->input(1)->name(), "W");
}

}  // namespace
}  // namespace kiln::testing
