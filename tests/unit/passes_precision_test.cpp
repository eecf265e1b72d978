// precision lowering (passes/precision_lowering.h): FP16/BF16 compute with the network's float32 I/O kept.
#include <gtest/gtest.h>

#include "ir/graph_edit.h"
#include "passes/precision_lowering.h"
#include "passes_test_util.h"

namespace kiln::testing {
namespace {

using ir::OpKind;

void checkLowered(DataType target, double tolerance) {
    ir::Graph ref;
    GraphBuilder rb(ref);
    convSoftmaxBlock(rb);
    ir::Graph g;
    GraphBuilder gb(g);
    convSoftmaxBlock(gb);
    auto n = passes::lowerPrecision(g, target, passes::defaultLowerableInputs);
    ASSERT_TRUE(n.isOk()) << n.status().message();
    EXPECT_EQ(*n, 5);  // Conv, Relu, Sigmoid, Add, Softmax
    // I/O keep their dtypes and names.
    EXPECT_EQ(g.inputs()[0]->dtype(), DataType::kFloat32);
    EXPECT_EQ(g.outputs()[0]->name(), "y");
    EXPECT_EQ(g.outputs()[0]->dtype(), DataType::kFloat32);
    EXPECT_EQ(g.outputs()[1]->dtype(), DataType::kInt64);
    // The casts that remain after dead-code elimination: x down once (read by Conv and Sigmoid), y up.
    passes::PassManager pm(one(passes::createDeadCodeElimination()));
    ASSERT_TRUE(pm.run(g).isOk());
    EXPECT_EQ(countOps(g, OpKind::kCast), 2u);
    for (const auto& node : g.nodes()) {
        if (node->op() == OpKind::kConv) {
            EXPECT_EQ(node->input(1)->dtype(), target);
            EXPECT_TRUE(node->input(1)->isConstant());
            EXPECT_EQ(node->input(1)->constant().dtype(), target);
        }
    }
    const std::vector<Tensor> in{randomTensor({1, 4, 6, 5}, 33)};
    const auto want = runGraph(ref, in);
    const auto got = runGraph(g, in);
    ASSERT_EQ(got.size(), 2u);
    EXPECT_LE(maxRelError(got[0], want[0]), tolerance);
    ASSERT_EQ(got[1].numel(), want[1].numel());
    for (int64_t i = 0; i < want[1].numel(); ++i) EXPECT_EQ(got[1].getInt(i), want[1].getInt(i));
}

TEST(PassPrecision, Float16KeepsIoAndCancelsCastPairs) { checkLowered(DataType::kFloat16, 2e-3); }
TEST(PassPrecision, BFloat16KeepsIoAndCancelsCastPairs) { checkLowered(DataType::kBFloat16, 2e-2); }

TEST(PassPrecision, ShapeLikeInputsStayFloat32AndRerunIsANoOp) {
    ir::Graph g;
    GraphBuilder b(g);
    b.input("x", DataType::kFloat32, {1, 2, 3, 3});
    b.constant("roi", Tensor(DataType::kFloat32, {0}));
    b.constant("scales", Tensor::fromVector<float>({1, 1, 2, 2}));
    b.node(OpKind::kResize, {"x", "roi", "scales"}, {"y"}, DataType::kFloat32, Shape{1, 2, 6, 6});
    b.output("y");
    ASSERT_EQ(*passes::lowerPrecision(g, DataType::kFloat16, passes::defaultLowerableInputs), 1);
    for (const auto& node : g.nodes()) {
        if (node->op() != OpKind::kResize) continue;
        EXPECT_EQ(node->input(0)->dtype(), DataType::kFloat16);
        EXPECT_EQ(node->input(2)->constant().dtype(), DataType::kFloat32);
    }
    EXPECT_EQ(*passes::lowerPrecision(g, DataType::kFloat16, passes::defaultLowerableInputs), 0);
    EXPECT_FALSE(passes::lowerPrecision(g, DataType::kInt8, passes::defaultLowerableInputs).isOk());
}

}  // namespace
}  // namespace kiln::testing
