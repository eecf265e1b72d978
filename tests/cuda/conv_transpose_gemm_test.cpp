// CUDA ConvTransposeNhwc whose kernel equals its stride: the GEMM path (kernels/conv_transpose_gemm.h: Kiln's
// one-pass kernel or cuBLASLt) against the CPU reference over kernels 2x2 s2, 3x3 s3 and 1x2 s(1,2), channels 1 to
// 96, odd spatial dims, batch 1 and 3, with and without bias, FP32 (IEEE and TF32), FP16 and BF16; which engine
// takes which problem; the problems that must keep the cuDNN path (overlapping taps, pads, output_padding, dilation,
// groups, float64); and the predicate itself, on the host.
#include "backends/cuda/kernels/conv_transpose_gemm.h"
#include "cuda/cuda_op_tester.h"

namespace kiln::testing {
namespace {

using Ints = std::vector<int64_t>;

constexpr DataType kGemmTypes[] = {DataType::kFloat32, DataType::kFloat16, DataType::kBFloat16};

Tensor random(DataType t, Shape s) { return randomTensor(t, std::move(s), seed()); }

//! ConvTransposeNhwc of a runtime X [N, H, W, C] and constant W [C, kH, kW, M/group] with strides = kernel, and a
//! constant bias of M values when asked.
OpTester upsample(DataType t, Shape x, Shape w, bool bias = true, int64_t group = 1) {
    OpTester op("ConvTransposeNhwc", 1, "kiln");
    const int64_t m = w[3] * group;
    const Ints strides{w[1], w[2]};
    op.input(random(t, std::move(x))).constInput(random(t, std::move(w)));
    if (bias) op.constInput(random(t, {m}));
    return op.attr("strides", strides).attr("group", group);
}

std::string describe(DataType t, const Shape& x, const Shape& w, bool bias) {
    return std::string(dataTypeName(t)) + " x " + shapeToString(x) + " w " + shapeToString(w) +
           (bias ? " with bias" : " without bias");
}

//! Matches the reference, computed by the GEMM path.
void expectGemm(const OpTester& op, DataType t, bool allowTf32 = false) {
    const uint64_t runs = cuda::convTransposeGemmRuns();
    expectCudaMatchesCpuScaled(op, allowTf32 ? 2e-3 : scaledTolerance(t), allowTf32);
    EXPECT_GT(cuda::convTransposeGemmRuns(), runs) << "the ConvTranspose did not run as GEMMs";
}

//! Matches the reference, computed by another path than the GEMM's.
void expectOtherPath(const OpTester& op, DataType t) {
    const uint64_t runs = cuda::convTransposeGemmRuns();
    expectCudaMatchesCpuScaled(op, scaledTolerance(t));
    EXPECT_EQ(cuda::convTransposeGemmRuns(), runs) << "a ConvTranspose with overlapping taps took the GEMM path";
}

TEST(CudaConvTransposeGemm, KernelsChannelsBatchesBiasAndDtypes) {
    KILN_REQUIRE_GPU();
    // Every channel count of {1, 3, 8, 64, 96} on each side; 5x7 inputs (odd, and W != H).
    const std::pair<int64_t, int64_t> channels[] = {{1, 3}, {3, 1}, {8, 8}, {64, 96}, {96, 64}, {3, 64}, {96, 1}};
    const Shape kernels[] = {{2, 2}, {3, 3}, {1, 2}};
    for (DataType t : kGemmTypes) {
        for (const Shape& k : kernels) {
            for (size_t p = 0; p < std::size(channels); ++p) {
                for (int64_t n : {1, 3}) {
                    const auto [c, m] = channels[p];
                    const bool bias = (p % 2 == 0) == (n == 1);
                    const Shape x{n, 5, 7, c}, w{c, k[0], k[1], m};
                    SCOPED_TRACE(describe(t, x, w, bias));
                    expectGemm(upsample(t, x, w, bias), t);
                }
            }
        }
    }
}

TEST(CudaConvTransposeGemm, EveryChannelPairInHalf) {
    KILN_REQUIRE_GPU();
    const DataType t = DataType::kFloat16;
    for (int64_t c : {1, 3, 8, 64, 96}) {
        for (int64_t m : {1, 3, 8, 64, 96}) {
            const Shape x{3, 5, 7, c}, w{c, 2, 2, m};
            SCOPED_TRACE(describe(t, x, w, true));
            expectGemm(upsample(t, x, w), t);
        }
    }
}

TEST(CudaConvTransposeGemm, UNetShapesTf32AndEquivalentAttributes) {
    KILN_REQUIRE_GPU();
    // UNet's last up-sampling at a small size: C 128 → M 64, in half, bfloat16 and TF32.
    expectGemm(upsample(DataType::kFloat16, {2, 16, 16, 128}, {128, 2, 2, 64}), DataType::kFloat16);
    expectGemm(upsample(DataType::kBFloat16, {2, 16, 16, 128}, {128, 2, 2, 64}), DataType::kBFloat16);
    expectGemm(upsample(DataType::kFloat32, {2, 16, 16, 128}, {128, 2, 2, 64}), DataType::kFloat32, true);
    expectGemm(upsample(DataType::kFloat32, {1, 5, 7, 96}, {96, 3, 3, 8}, false), DataType::kFloat32, true);
    for (DataType t : kGemmTypes) {
        SCOPED_TRACE(dataTypeName(t));
        // Attributes that leave the output exactly the taps' blocks: end pads eaten by output_padding, SAME_UPPER
        // (its pads are k - s = 0), an explicit output_shape of in * stride; a 1x1 input.
        expectGemm(
            upsample(t, {2, 5, 7, 8}, {8, 2, 2, 8}).attr("pads", Ints{0, 0, 1, 1}).attr("output_padding", Ints{1, 1}),
            t);
        expectGemm(upsample(t, {2, 5, 7, 8}, {8, 3, 3, 8}).attr("auto_pad", std::string("SAME_UPPER")), t);
        expectGemm(upsample(t, {1, 5, 7, 3}, {3, 2, 2, 5}).attr("output_shape", Ints{10, 14}), t);
        expectGemm(upsample(t, {3, 1, 1, 8}, {8, 2, 2, 3}), t);
    }
}

// The ConvTranspose alone runs on cuBLASLt whatever its depth: its two calls read x twice, and measured they beat
// Kiln's one-pass kernel at every UNet level (the kernel serves Concat slots: conv_transpose_concat_test.cpp).
TEST(CudaConvTransposeGemm, AloneRunsOnCublasLt) {
    KILN_REQUIRE_GPU();
    for (DataType t : {DataType::kFloat16, DataType::kBFloat16}) {
        SCOPED_TRACE(dataTypeName(t));
        const uint64_t runs = cuda::convTransposeMmaRuns();
        expectGemm(upsample(t, {2, 5, 7, 24}, {24, 2, 2, 40}), t);
        expectGemm(upsample(t, {3, 5, 7, 16}, {16, 1, 2, 64}), t);
        EXPECT_EQ(cuda::convTransposeMmaRuns(), runs) << "Kiln's kernel ran for a ConvTranspose alone";
    }
}

TEST(CudaConvTransposeGemm, OverlappingPaddedDilatedOrGroupedKeepCudnn) {
    KILN_REQUIRE_GPU();
    for (DataType t : kGemmTypes) {
        SCOPED_TRACE(dataTypeName(t));
        expectOtherPath(upsample(t, {3, 5, 7, 8}, {8, 2, 2, 8}).attr("pads", Ints{1, 1, 1, 1}), t);
        expectOtherPath(upsample(t, {3, 5, 7, 8}, {8, 3, 3, 8}).attr("strides", Ints{2, 2}), t);
        expectOtherPath(upsample(t, {3, 5, 7, 8}, {8, 2, 2, 4}, true, 2), t);
        expectOtherPath(upsample(t, {1, 5, 7, 8}, {8, 2, 2, 8}).attr("output_padding", Ints{1, 0}), t);
        expectOtherPath(upsample(t, {1, 5, 7, 8}, {8, 2, 2, 8}).attr("dilations", Ints{2, 2}), t);
        expectOtherPath(upsample(t, {0, 5, 7, 8}, {8, 2, 2, 8}), t);
    }
    expectOtherPath(upsample(DataType::kFloat64, {3, 5, 7, 8}, {8, 2, 2, 8}), DataType::kFloat64);
}

//! The kernel's ConvShape of a channels-last problem X [N, H, W, C], W [C, kH, kW, M/group].
cuda::ConvShape shapeOf(DataType t, const Shape& x, const Shape& w, const ir::Attributes& attrs) {
    auto geo = cpu::nn::convTransposeGeometry(attrs, Tensor::wrap(t, {x[0], x[3], x[1], x[2]}, nullptr),
                                              Tensor::wrap(t, {w[0], w[3], w[1], w[2]}, nullptr));
    EXPECT_TRUE(geo.isOk()) << geo.status().message();
    return geo.isOk() ? cuda::convShapeFrom(t, *geo) : cuda::ConvShape{};
}

bool isGemm(DataType t, const Shape& w, std::vector<std::pair<std::string, ir::AttributeValue>> attrs) {
    ir::Attributes a;
    for (auto& [name, value] : attrs) a.set(name, std::move(value));
    return cuda::convTransposeIsGemm(shapeOf(t, {2, 5, 7, w[0]}, w, a));
}

// Host only: runs without a GPU.
TEST(CudaConvTransposeGemm, PredicateAcceptsOnlyNonOverlappingTaps) {
    const DataType h = DataType::kFloat16;
    EXPECT_TRUE(isGemm(h, {8, 2, 2, 4}, {{"strides", Ints{2, 2}}}));
    EXPECT_TRUE(isGemm(DataType::kBFloat16, {8, 3, 3, 4}, {{"strides", Ints{3, 3}}}));
    EXPECT_TRUE(isGemm(DataType::kFloat32, {8, 1, 2, 4}, {{"strides", Ints{1, 2}}}));
    EXPECT_TRUE(isGemm(h, {8, 1, 1, 4}, {}));
    EXPECT_TRUE(
        isGemm(h, {8, 2, 2, 4}, {{"strides", Ints{2, 2}}, {"pads", Ints{0, 0, 1, 1}}, {"output_padding", Ints{1, 1}}}));
    EXPECT_TRUE(isGemm(h, {8, 2, 2, 4}, {{"strides", Ints{2, 2}}, {"auto_pad", std::string("SAME_UPPER")}}));

    EXPECT_FALSE(isGemm(DataType::kFloat64, {8, 2, 2, 4}, {{"strides", Ints{2, 2}}}));
    EXPECT_FALSE(isGemm(h, {8, 2, 2, 4}, {{"strides", Ints{1, 1}}}));
    EXPECT_FALSE(isGemm(h, {8, 3, 3, 4}, {{"strides", Ints{2, 2}}}));
    EXPECT_FALSE(isGemm(h, {8, 2, 2, 4}, {{"strides", Ints{2, 2}}, {"pads", Ints{1, 1, 1, 1}}}));
    EXPECT_FALSE(isGemm(h, {8, 2, 2, 4}, {{"strides", Ints{2, 2}}, {"pads", Ints{0, 0, 1, 0}}}));
    EXPECT_FALSE(isGemm(h, {8, 2, 2, 4}, {{"strides", Ints{2, 2}}, {"output_padding", Ints{0, 1}}}));
    EXPECT_FALSE(isGemm(h, {8, 2, 2, 4}, {{"strides", Ints{2, 2}}, {"dilations", Ints{2, 2}}}));
    EXPECT_FALSE(isGemm(h, {8, 2, 2, 2}, {{"strides", Ints{2, 2}}, {"group", int64_t{2}}}));
    EXPECT_FALSE(isGemm(h, {8, 2, 2, 4}, {{"strides", Ints{2, 2}}, {"output_shape", Ints{11, 14}}}));
}

}  // namespace
}  // namespace kiln::testing
