// CUDA Resize, Upsample, GridSample, DepthToSpace and SpaceToDepth against the CPU reference: every mode, coordinate
// transformation and nearest rounding the reference supports, up- and downsampling, scales and sizes, other ranks,
// dtypes, empty outputs and errors.
#include "cuda/data_movement_test_util.h"

namespace kiln::testing {
namespace {

const char* const kCoordModes[] = {"half_pixel", "pytorch_half_pixel",   "align_corners",
                                   "asymmetric", "tf_half_pixel_for_nn", "tf_crop_and_resize"};
const char* const kNearestModes[] = {"round_prefer_floor", "round_prefer_ceil", "floor", "ceil"};

Tensor floats(const std::vector<float>& v) { return Tensor::fromVector(v); }

//! A Resize of x with the given attributes and either scales or sizes (the roi is given for tf_crop_and_resize).
OpTester resizeOp(const Tensor& x, const std::string& mode, const std::string& coord, const Tensor* scales,
                  const Tensor* sizes) {
    OpTester op("Resize", 13);
    op.input(x);
    if (coord == "tf_crop_and_resize") {
        const auto rank = static_cast<size_t>(x.rank());
        std::vector<float> roi(2 * rank, 0.0F);
        for (size_t d = 0; d < rank; ++d) roi[rank + d] = 1.0F;
        roi[rank - 1] = 0.15F;  // crop the last axis to [0.15, 0.8]
        roi[2 * rank - 1] = 0.8F;
        if (rank >= 2) roi[rank - 2] = -0.2F;  // and extrapolate past the start of the one before
        op.constInput(floats(roi));
    } else {
        op.absentInput();
    }
    if (scales != nullptr) {
        op.constInput(*scales);
    } else {
        op.constInput(Tensor(DataType::kFloat32, {0}));
        op.constInput(*sizes);
    }
    op.attr("mode", mode).attr("coordinate_transformation_mode", coord).attr("extrapolation_value", 0.25F);
    return op;
}

TEST(CudaResize, NearestEveryCoordinateAndRoundingMode) {
    KILN_REQUIRE_GPU();
    const Tensor x = anyTensor(DataType::kFloat32, {2, 3, 7, 9});
    const Tensor up = floats({1, 1, 2.0F, 1.5F});
    const Tensor down = floats({1, 1, 0.6F, 0.45F});
    const Tensor sizes = int64s({2, 3, 11, 4});
    for (const char* coord : kCoordModes) {
        for (const char* nearest : kNearestModes) {
            SCOPED_TRACE(std::string(coord) + " " + nearest);
            expectCudaMatchesCpu(
                resizeOp(x, "nearest", coord, &up, nullptr).attr("nearest_mode", std::string(nearest)));
            expectCudaMatchesCpu(
                resizeOp(x, "nearest", coord, &down, nullptr).attr("nearest_mode", std::string(nearest)));
            expectCudaMatchesCpu(
                resizeOp(x, "nearest", coord, nullptr, &sizes).attr("nearest_mode", std::string(nearest)));
        }
    }
}

TEST(CudaResize, LinearAndCubicEveryCoordinateMode) {
    KILN_REQUIRE_GPU();
    const Tensor x = anyTensor(DataType::kFloat32, {2, 3, 7, 9});
    const Tensor up = floats({1, 1, 2.0F, 1.5F});
    const Tensor down = floats({1, 1, 0.6F, 0.45F});
    const Tensor sizes = int64s({2, 3, 5, 13});
    for (const char* coord : kCoordModes) {
        SCOPED_TRACE(coord);
        for (const Tensor* scales : {&up, &down}) {
            expectCudaMatchesCpu(resizeOp(x, "linear", coord, scales, nullptr));
            for (float a : {-0.75F, -0.5F}) {
                for (int64_t exclude : {0, 1}) {
                    expectCudaMatchesCpu(resizeOp(x, "cubic", coord, scales, nullptr)
                                             .attr("cubic_coeff_a", a)
                                             .attr("exclude_outside", exclude));
                }
            }
        }
        expectCudaMatchesCpu(resizeOp(x, "linear", coord, nullptr, &sizes));
        expectCudaMatchesCpu(resizeOp(x, "cubic", coord, nullptr, &sizes));
    }
}

TEST(CudaResize, OtherRanksAndLayouts) {
    KILN_REQUIRE_GPU();
    struct Case {
        Shape shape;
        std::vector<float> scales;
    };
    const std::vector<Case> cases = {
        {{7, 9}, {1.5F, 0.7F}},                    // 2-D: both axes interpolate
        {{3, 7, 9}, {1, 1.5F, 2}},                 // 3-D: axis 0 interpolates at scale 1 too
        {{2, 7, 9, 3}, {1, 1.5F, 0.5F, 1}},        // NHWC
        {{1, 2, 4, 5, 6}, {1, 1, 1.5F, 0.8F, 2}},  // NCDHW trilinear
        {{2, 3, 5, 6}, {1, 1, 1, 1}},              // identity scales: border weights of onnxruntime
        {{2, 5}, {2, 1}},                          // a copied-through image axis
        {{31}, {3.3F}},                            // 1-D
    };
    for (const Case& c : cases) {
        SCOPED_TRACE(shapeToString(c.shape));
        const Tensor x = anyTensor(DataType::kFloat32, c.shape);
        const Tensor scales = floats(c.scales);
        for (const char* mode : {"nearest", "linear", "cubic"}) {
            expectCudaMatchesCpu(resizeOp(x, mode, "half_pixel", &scales, nullptr));
            expectCudaMatchesCpu(resizeOp(x, mode, "align_corners", &scales, nullptr));
        }
    }
}

TEST(CudaResize, Dtypes) {
    KILN_REQUIRE_GPU();
    const Tensor up = floats({1, 1, 1.7F, 2.0F});
    for (DataType t : moveTypes()) {
        SCOPED_TRACE(dataTypeName(t));
        const Tensor x = anyTensor(t, {1, 2, 5, 6});
        expectCudaMatchesCpu(resizeOp(x, "nearest", "asymmetric", &up, nullptr));
        expectCudaMatchesCpu(resizeOp(x, "nearest", "tf_crop_and_resize", &up, nullptr));  // extrapolated value
        // Linear and cubic take numeric types (bool fails in both backends).
        expectCudaMatchesCpu(resizeOp(x, "linear", "half_pixel", &up, nullptr));
        expectCudaMatchesCpu(resizeOp(x, "cubic", "tf_crop_and_resize", &up, nullptr));
    }
}

TEST(CudaResize, LegacyResizeAndUpsample) {
    KILN_REQUIRE_GPU();
    const Tensor x = anyTensor(DataType::kFloat32, {1, 2, 5, 7});
    for (const char* mode : {"nearest", "linear"}) {
        SCOPED_TRACE(mode);
        // Resize-10 (the importer moves its scales to input 2, after an empty roi).
        for (const Tensor& scales : {floats({1, 1, 2.0F, 1.5F}), floats({1, 1, 0.5F, 0.7F})}) {
            expectCudaMatchesCpu(
                OpTester("Resize", 10).input(x).absentInput().constInput(scales).attr("mode", std::string(mode)));
            expectCudaMatchesCpu(OpTester("Upsample", 9).input(x).constInput(scales).attr("mode", std::string(mode)));
        }
        expectCudaMatchesCpu(OpTester("Upsample", 7)
                                 .input(x)
                                 .attr("scales", std::vector<float>{1, 1, 3, 2})
                                 .attr("mode", std::string(mode)));
    }
}

TEST(CudaResize, EmptyAndErrors) {
    KILN_REQUIRE_GPU();
    const Tensor x = anyTensor(DataType::kFloat32, {1, 2, 5, 7});
    const Tensor tiny = floats({1, 1, 0.1F, 1});
    expectCudaMatchesCpu(resizeOp(x, "linear", "half_pixel", &tiny, nullptr));  // 5 * 0.1 floors to 0
    const Tensor emptyIn = anyTensor(DataType::kFloat32, {0, 2, 5, 7});
    const Tensor two = floats({1, 1, 2, 2});
    expectCudaMatchesCpu(resizeOp(emptyIn, "cubic", "half_pixel", &two, nullptr));
    const Tensor bad = floats({1, 1, 2});
    expectCudaMatchesCpu(resizeOp(x, "linear", "half_pixel", &bad, nullptr));
    expectCudaMatchesCpu(resizeOp(x, "area", "half_pixel", &two, nullptr));
    const Tensor negative = int64s({1, 2, -3, 7});
    expectCudaMatchesCpu(resizeOp(x, "nearest", "asymmetric", nullptr, &negative));
}

TEST(CudaResize, GridSampleEveryMode) {
    KILN_REQUIRE_GPU();
    const Tensor x = anyTensor(DataType::kFloat32, {2, 3, 6, 7});
    // Grid points beyond [-1, 1] exercise the padding modes.
    const Tensor grid = randomTensor(DataType::kFloat32, {2, 5, 4, 2}, seed(), -1.3, 1.3);
    for (const char* mode : {"bilinear", "nearest", "bicubic"}) {
        for (const char* padding : {"zeros", "border", "reflection"}) {
            for (int64_t align : {0, 1}) {
                SCOPED_TRACE(std::string(mode) + " " + padding + " " + std::to_string(align));
                expectCudaMatchesCpu(OpTester("GridSample", 16)
                                         .input(x)
                                         .input(grid)
                                         .attr("mode", std::string(mode))
                                         .attr("padding_mode", std::string(padding))
                                         .attr("align_corners", align));
            }
        }
    }
}

TEST(CudaResize, GridSampleDtypesAndErrors) {
    KILN_REQUIRE_GPU();
    for (DataType t :
         {DataType::kFloat16, DataType::kBFloat16, DataType::kFloat64, DataType::kInt32, DataType::kUInt8}) {
        SCOPED_TRACE(dataTypeName(t));
        expectCudaMatchesCpu(OpTester("GridSample", 16)
                                 .input(anyTensor(t, {1, 2, 5, 4}))
                                 .input(randomTensor(DataType::kFloat32, {1, 3, 6, 2}, seed(), -1.1, 1.1)));
    }
    expectCudaMatchesCpu(OpTester("GridSample", 16)
                             .input(anyTensor(DataType::kFloat32, {1, 2, 5, 4}))
                             .input(randomTensor(DataType::kFloat16, {1, 3, 6, 2}, seed(), -1.1, 1.1))
                             .attr("mode", std::string("bicubic")));
    expectCudaMatchesCpu(OpTester("GridSample", 16)
                             .input(anyTensor(DataType::kFloat32, {1, 2, 5, 4}))
                             .input(randomTensor(DataType::kFloat32, {1, 0, 6, 2}, seed())));
    expectCudaMatchesCpu(OpTester("GridSample", 16)
                             .input(anyTensor(DataType::kFloat32, {1, 2, 5, 4}))
                             .input(randomTensor(DataType::kFloat32, {2, 3, 6, 2}, seed())));  // error: batch
    expectCudaMatchesCpu(OpTester("GridSample", 16)
                             .input(anyTensor(DataType::kBool, {1, 2, 5, 4}))
                             .input(randomTensor(DataType::kFloat32, {1, 3, 6, 2}, seed())));  // error: bool
}

TEST(CudaResize, DepthToSpaceAndSpaceToDepth) {
    KILN_REQUIRE_GPU();
    for (DataType t : moveTypes()) {
        SCOPED_TRACE(dataTypeName(t));
        for (const char* mode : {"DCR", "CRD"}) {
            expectCudaMatchesCpu(OpTester("DepthToSpace")
                                     .input(anyTensor(t, {2, 18, 3, 5}))
                                     .attr("blocksize", int64_t{3})
                                     .attr("mode", std::string(mode)));
        }
        expectCudaMatchesCpu(OpTester("SpaceToDepth").input(anyTensor(t, {2, 3, 6, 4})).attr("blocksize", int64_t{2}));
    }
    expectCudaMatchesCpu(
        OpTester("DepthToSpace").input(anyTensor(DataType::kFloat32, {1, 64, 17, 19})).attr("blocksize", int64_t{4}));
    expectCudaMatchesCpu(
        OpTester("SpaceToDepth").input(anyTensor(DataType::kFloat32, {1, 8, 64, 96})).attr("blocksize", int64_t{4}));
    expectCudaMatchesCpu(
        OpTester("DepthToSpace").input(anyTensor(DataType::kFloat32, {1, 6, 2, 2})).attr("blocksize", int64_t{2}));
    expectCudaMatchesCpu(
        OpTester("SpaceToDepth").input(anyTensor(DataType::kFloat32, {1, 2, 5, 4})).attr("blocksize", int64_t{2}));
}

}  // namespace
}  // namespace kiln::testing
