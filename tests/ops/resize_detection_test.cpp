#include <cmath>

#include "ops/op_tester.h"

namespace kiln::testing {
namespace {

Tensor iotaF(Shape shape) {
    Tensor t(DataType::kFloat32, std::move(shape));
    for (int64_t i = 0; i < t.numel(); ++i) t.data<float>()[i] = static_cast<float>(i);
    return t;
}

TEST(Resize, NearestAsymmetricFloorOddShapeEveryDtype) {
    for (DataType t : {DataType::kFloat32, DataType::kFloat64, DataType::kFloat16, DataType::kBFloat16, DataType::kInt8,
                       DataType::kInt32, DataType::kInt64, DataType::kUInt8, DataType::kUInt64, DataType::kBool}) {
        Tensor x = randomTensor(t, {1, 2, 3, 5}, 7, 0, 9);
        auto out = OpTester("Resize", 13)
                       .input(x)
                       .absentInput()
                       .input(Tensor::fromVector<float>({1, 1, 2.5F, 1.4F}, {4}))
                       .attr("mode", std::string("nearest"))
                       .attr("coordinate_transformation_mode", std::string("asymmetric"))
                       .attr("nearest_mode", std::string("floor"))
                       .run();
        ASSERT_TRUE(out.isOk()) << dataTypeName(t) << ": " << out.status().message();
        const Tensor& y = (*out)[0];
        ASSERT_EQ(y.shape(), (Shape{1, 2, 7, 7}));  // floor(3*2.5), floor(5*1.4)
        for (int64_t c = 0; c < 2; ++c)
            for (int64_t i = 0; i < 7; ++i)
                for (int64_t j = 0; j < 7; ++j) {
                    const auto si = static_cast<int64_t>(std::floor(static_cast<float>(i) / 2.5F));
                    const auto sj = static_cast<int64_t>(std::floor(static_cast<float>(j) / 1.4F));
                    EXPECT_EQ(y.getDouble((c * 7 + i) * 7 + j), x.getDouble((c * 3 + si) * 5 + sj)) << dataTypeName(t);
                }
    }
}

TEST(Resize, BilinearHalfPixelMatchesOnnxExample) {
    Tensor x = Tensor::fromVector<float>({1, 2, 3, 4}, {1, 1, 2, 2});
    auto out = OpTester("Resize", 13)
                   .input(x)
                   .absentInput()
                   .input(Tensor::fromVector<float>({1, 1, 2, 2}, {4}))
                   .attr("mode", std::string("linear"))
                   .run();
    ASSERT_TRUE(out.isOk()) << out.status().message();
    expectTensorNear((*out)[0], Tensor::fromVector<float>({1, 1.25F, 1.75F, 2, 1.5F, 1.75F, 2.25F, 2.5F, 2.5F, 2.75F,
                                                           3.25F, 3.5F, 3, 3.25F, 3.75F, 4},
                                                          {1, 1, 4, 4}));
}

TEST(Resize, SizesWithEmptyRoiAndScalesOpset15) {
    // The form exported by PyTorch for F.interpolate(size=...): empty roi and scales constants, then sizes.
    Tensor x = iotaF({1, 3, 5, 7});
    auto out = OpTester("Resize", 15)
                   .input(x)
                   .constInput(Tensor(DataType::kFloat32, {0}))
                   .constInput(Tensor(DataType::kFloat32, {0}))
                   .constInput(Tensor::fromVector<int64_t>({1, 3, 11, 13}, {4}))
                   .attr("mode", std::string("linear"))
                   .attr("coordinate_transformation_mode", std::string("align_corners"))
                   .run();
    ASSERT_TRUE(out.isOk()) << out.status().message();
    const Tensor& y = (*out)[0];
    ASSERT_EQ(y.shape(), (Shape{1, 3, 11, 13}));
    // x is linear in (h, w), so align_corners bilinear reproduces the plane exactly.
    for (int64_t c = 0; c < 3; ++c)
        for (int64_t i = 0; i < 11; ++i)
            for (int64_t j = 0; j < 13; ++j) {
                const double h = i * 4.0 / 10.0;
                const double w = j * 6.0 / 12.0;
                EXPECT_NEAR(y.data<float>()[(c * 11 + i) * 13 + j], c * 35 + h * 7 + w, 1e-4);
            }
}

TEST(Resize, CubicIdentityAndDownsampleEmpty) {
    Tensor x = randomTensor(DataType::kFloat64, {4, 6}, 3);
    auto out = OpTester("Resize", 13)
                   .input(x)
                   .absentInput()
                   .input(Tensor::fromVector<float>({1, 1}, {2}))
                   .attr("mode", std::string("cubic"))
                   .run();
    ASSERT_TRUE(out.isOk()) << out.status().message();
    expectTensorNear((*out)[0], x, 1e-6, 1e-6);
    out = OpTester("Resize", 13)
              .input(x)
              .absentInput()
              .absentInput()
              .input(Tensor::fromVector<int64_t>({0, 3}, {2}))
              .run();
    ASSERT_TRUE(out.isOk()) << out.status().message();
    EXPECT_EQ((*out)[0].shape(), (Shape{0, 3}));
}

TEST(Resize, RejectsBadInputs) {
    Tensor x = iotaF({2, 2});
    auto out = OpTester("Resize", 13)
                   .input(x)
                   .absentInput()
                   .input(Tensor::fromVector<float>({2, 2}, {2}))
                   .input(Tensor::fromVector<int64_t>({4, 4}, {2}))
                   .run();
    EXPECT_FALSE(out.isOk());
    out = OpTester("Resize", 13).input(x).absentInput().input(Tensor::fromVector<float>({2}, {1})).run();
    ASSERT_FALSE(out.isOk());
    EXPECT_NE(out.status().message().find("scales"), std::string::npos) << out.status().message();
    out = OpTester("Resize", 13)
              .input(x)
              .absentInput()
              .input(Tensor::fromVector<float>({2, 2}, {2}))
              .attr("coordinate_transformation_mode", std::string("tf_crop_and_resize"))
              .run();
    EXPECT_FALSE(out.isOk());
}

TEST(Resize, TfCropAndResizeExtrapolates) {
    Tensor x = iotaF({1, 4});
    auto out = OpTester("Resize", 13)
                   .input(x)
                   .input(Tensor::fromVector<float>({0, 0.5F, 1, 1.5F}, {4}))
                   .absentInput()
                   .input(Tensor::fromVector<int64_t>({1, 3}, {2}))
                   .attr("mode", std::string("linear"))
                   .attr("coordinate_transformation_mode", std::string("tf_crop_and_resize"))
                   .attr("extrapolation_value", -1.0F)
                   .run();
    ASSERT_TRUE(out.isOk()) << out.status().message();
    // Columns sample x = 1.5, 3, 4.5 (outside).
    expectTensorNear((*out)[0], Tensor::fromVector<float>({1.5F, 3, -1}, {1, 3}));
}

TEST(Upsample, Opset7AttrAndOpset9Input) {
    Tensor x = Tensor::fromVector<int32_t>({1, 2, 3, 4}, {1, 1, 2, 2});
    auto out = OpTester("Upsample", 7).input(x).attr("scales", std::vector<float>{1, 1, 2, 3}).run();
    ASSERT_TRUE(out.isOk()) << out.status().message();
    expectTensorEq((*out)[0],
                   Tensor::fromVector<int32_t>({1, 1, 1, 2, 2, 2, 1, 1, 1, 2, 2, 2, 3, 3, 3, 4, 4, 4, 3, 3, 3, 4, 4, 4},
                                               {1, 1, 4, 6}));
    Tensor xf = Tensor::fromVector<float>({1, 3}, {1, 2});
    out = OpTester("Upsample", 9)
              .input(xf)
              .input(Tensor::fromVector<float>({1, 2}, {2}))
              .attr("mode", std::string("linear"))
              .run();
    ASSERT_TRUE(out.isOk()) << out.status().message();
    expectTensorNear((*out)[0], Tensor::fromVector<float>({1, 2, 3, 3}, {1, 4}));  // asymmetric
    EXPECT_FALSE(OpTester("Upsample", 9).input(xf).input(Tensor::fromVector<float>({2}, {1})).run().isOk());
}

TEST(GridSample, IdentityGridAndPadding) {
    Tensor x = randomTensor(DataType::kFloat32, {1, 2, 3, 5}, 8);
    Tensor grid(DataType::kFloat32, {1, 3, 5, 2});
    for (int64_t i = 0; i < 3; ++i)
        for (int64_t j = 0; j < 5; ++j) {
            grid.data<float>()[(i * 5 + j) * 2] = -1.0F + 2.0F * static_cast<float>(j) / 4.0F;
            grid.data<float>()[(i * 5 + j) * 2 + 1] = -1.0F + 2.0F * static_cast<float>(i) / 2.0F;
        }
    for (const char* mode : {"bilinear", "nearest", "bicubic"}) {
        auto out = OpTester("GridSample", 16)
                       .input(x)
                       .input(grid)
                       .attr("align_corners", int64_t{1})
                       .attr("mode", std::string(mode))
                       .run();
        ASSERT_TRUE(out.isOk()) << out.status().message();
        expectTensorNear((*out)[0], x, 1e-5, 1e-5);
    }
    // A point far outside: zeros padding gives 0, border padding the corner pixel.
    Tensor far = Tensor::fromVector<float>({5.0F, -5.0F}, {1, 1, 1, 2});
    auto out = OpTester("GridSample", 16).input(x).input(far).run();
    ASSERT_TRUE(out.isOk()) << out.status().message();
    EXPECT_EQ((*out)[0].data<float>()[0], 0.0F);
    out = OpTester("GridSample", 16).input(x).input(far).attr("padding_mode", std::string("border")).run();
    ASSERT_TRUE(out.isOk()) << out.status().message();
    EXPECT_NEAR((*out)[0].data<float>()[0], x.data<float>()[4], 1e-6);
    out = OpTester("GridSample", 16).input(x).input(far).attr("padding_mode", std::string("reflection")).run();
    ASSERT_TRUE(out.isOk()) << out.status().message();
    EXPECT_FALSE(OpTester("GridSample", 16).input(x).input(Tensor(DataType::kFloat32, {1, 2, 2, 3})).run().isOk());
}

TEST(NonMaxSuppression, SuppressByIouAndLimits) {
    // ONNX's suppress_by_IOU example: boxes as [y1, x1, y2, x2].
    Tensor boxes = Tensor::fromVector<float>(
        {0, 0, 1, 1, 0, 0.1F, 1, 1.1F, 0, -0.1F, 1, 0.9F, 0, 10, 1, 11, 0, 10.1F, 1, 11.1F, 0, 100, 1, 101}, {1, 6, 4});
    Tensor scores = Tensor::fromVector<float>({0.9F, 0.75F, 0.6F, 0.95F, 0.5F, 0.3F}, {1, 1, 6});
    auto out = OpTester("NonMaxSuppression", 11)
                   .input(boxes)
                   .input(scores)
                   .input(Tensor::fromVector<int64_t>({3}, {1}))
                   .input(Tensor::fromVector<float>({0.5F}, {1}))
                   .input(Tensor::fromVector<float>({0.0F}, {1}))
                   .run();
    ASSERT_TRUE(out.isOk()) << out.status().message();
    expectTensorEq((*out)[0], Tensor::fromVector<int64_t>({0, 0, 3, 0, 0, 0, 0, 0, 5}, {3, 3}));
    out = OpTester("NonMaxSuppression", 11).input(boxes).input(scores).run();  // max_output_boxes defaults to 0
    ASSERT_TRUE(out.isOk()) << out.status().message();
    EXPECT_EQ((*out)[0].shape(), (Shape{0, 3}));
    out = OpTester("NonMaxSuppression", 11)
              .input(boxes)
              .input(scores)
              .input(Tensor::fromVector<int64_t>({10}, {1}))
              .input(Tensor::fromVector<float>({0.5F}, {1}))
              .input(Tensor::fromVector<float>({0.55F}, {1}))
              .run();
    ASSERT_TRUE(out.isOk()) << out.status().message();
    expectTensorEq((*out)[0], Tensor::fromVector<int64_t>({0, 0, 3, 0, 0, 0}, {2, 3}));
    EXPECT_FALSE(
        OpTester("NonMaxSuppression", 11).input(boxes).input(Tensor(DataType::kFloat32, {1, 1, 5})).run().isOk());
}

TEST(RoiAlign, ConstantAndRampInputs) {
    // X[h, w] = w: average pooling of a linear ramp gives the mean sample x coordinate of each bin.
    Tensor x(DataType::kFloat32, {1, 1, 6, 8});
    for (int64_t i = 0; i < 48; ++i) x.data<float>()[i] = static_cast<float>(i % 8);
    Tensor rois = Tensor::fromVector<float>({1, 1, 5, 4}, {1, 4});
    auto out = OpTester("RoiAlign", 16)
                   .input(x)
                   .input(rois)
                   .input(Tensor::fromVector<int64_t>({0}, {1}))
                   .attr("output_height", int64_t{2})
                   .attr("output_width", int64_t{2})
                   .attr("sampling_ratio", int64_t{2})
                   .run();
    ASSERT_TRUE(out.isOk()) << out.status().message();
    // half_pixel: roi x in [0.5, 4.5], bins of width 2, samples at 1.0, 2.0 | 3.0, 4.0.
    expectTensorNear((*out)[0], Tensor::fromVector<float>({1.5F, 3.5F, 1.5F, 3.5F}, {1, 1, 2, 2}));
    out = OpTester("RoiAlign", 10)
              .input(x)
              .input(rois)
              .input(Tensor::fromVector<int64_t>({0}, {1}))
              .attr("output_height", int64_t{1})
              .attr("output_width", int64_t{2})
              .attr("sampling_ratio", int64_t{1})
              .run();
    ASSERT_TRUE(out.isOk()) << out.status().message();
    // output_half_pixel: roi x in [1, 5], samples at bin centers 2.0 and 4.0.
    expectTensorNear((*out)[0], Tensor::fromVector<float>({2.0F, 4.0F}, {1, 1, 1, 2}));
    EXPECT_FALSE(
        OpTester("RoiAlign", 16).input(x).input(rois).input(Tensor::fromVector<int64_t>({1}, {1})).run().isOk());
}

}  // namespace
}  // namespace kiln::testing
