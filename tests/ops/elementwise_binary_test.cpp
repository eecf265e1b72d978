#include "ops/op_tester.h"

namespace kiln::testing {
namespace {

TEST(Add, BroadcastsOddShapes) {
    // 5x1x7 + 6x1 -> 5x6x7
    Tensor a = randomTensor(DataType::kFloat32, {5, 1, 7}, 1);
    Tensor b = randomTensor(DataType::kFloat32, {6, 1}, 2);
    auto out = OpTester("Add").input(a).input(b).run();
    ASSERT_TRUE(out.isOk()) << out.status().message();
    const Tensor& y = (*out)[0];
    ASSERT_EQ(y.shape(), (Shape{5, 6, 7}));
    for (int64_t i = 0; i < 5; ++i)
        for (int64_t j = 0; j < 6; ++j)
            for (int64_t k = 0; k < 7; ++k)
                EXPECT_EQ(y.data<float>()[(i * 6 + j) * 7 + k], a.data<float>()[i * 7 + k] + b.data<float>()[j]);
}

TEST(Add, EmptyAndScalar) {
    auto out = OpTester("Add").input(Tensor(DataType::kInt64, {3, 0})).input(Tensor::scalar<int64_t>(4)).run();
    ASSERT_TRUE(out.isOk()) << out.status().message();
    EXPECT_EQ((*out)[0].shape(), (Shape{3, 0}));
}

TEST(Add, EveryNumericDtype) {
    for (DataType t : {DataType::kFloat32, DataType::kFloat64, DataType::kFloat16, DataType::kBFloat16, DataType::kInt8,
                       DataType::kInt32, DataType::kInt64, DataType::kUInt8}) {
        Tensor a = randomTensor(t, {13}, 3, 0, 4);
        Tensor b = randomTensor(t, {1}, 4, 0, 4);
        auto out = OpTester("Add").input(a).input(b).run();
        ASSERT_TRUE(out.isOk()) << dataTypeName(t) << ": " << out.status().message();
        for (int64_t i = 0; i < 13; ++i) {
            EXPECT_NEAR((*out)[0].getDouble(i), a.getDouble(i) + b.getDouble(0), 0.05) << dataTypeName(t);
        }
    }
}

TEST(Add, RejectsIncompatibleShapes) {
    auto out = OpTester("Add").input(Tensor(DataType::kFloat32, {2, 3})).input(Tensor(DataType::kFloat32, {4})).run();
    ASSERT_FALSE(out.isOk());
    EXPECT_NE(out.status().message().find("2x3"), std::string::npos) << out.status().message();
}

TEST(Add, RejectsMixedDtypes) {
    auto out = OpTester("Add").input(Tensor(DataType::kFloat32, {2})).input(Tensor(DataType::kInt32, {2})).run();
    ASSERT_FALSE(out.isOk());
}

}  // namespace
}  // namespace kiln::testing
