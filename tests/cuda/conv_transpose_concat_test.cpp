// CUDA ConvTransposeNhwc fused into its Concat (attribute kiln_concat_slot, kernels/conv_transpose_concat.h) against
// the CPU reference: UNet's order (ConvTranspose first) and the skip first, three inputs, kernels 2x2 s2, 3x3 s3 and
// 1x2 s(1,2), odd spatial dims, with and without bias, FP32 (IEEE and TF32), FP16 and BF16, each through the slice
// path (Kiln's one-pass kernel for the shallow FP16/BF16 ones, cuBLASLt's GEMMs for the rest); slots or rows that
// are not 16-byte aligned and overlapping taps through the workspace-and-copy fallback; empty batches; and the errors
// the reference raises (a bad slot, a concatenated input of another size).
#include "backends/cuda/kernels/conv_transpose_concat.h"
#include "backends/cuda/kernels/conv_transpose_gemm.h"
#include "cuda/cuda_op_tester.h"

namespace kiln::testing {
namespace {

using Ints = std::vector<int64_t>;

constexpr DataType kGemmTypes[] = {DataType::kFloat32, DataType::kFloat16, DataType::kBFloat16};

struct Case {
    Shape x;                      //!< [N, H, W, C]
    Shape w;                      //!< [C, kH, kW, M]
    std::vector<int64_t> others;  //!< Channels of the other concatenated inputs, in order.
    int64_t slot;                 //!< The ConvTranspose's position among them.
    bool bias;
    Ints strides;  //!< Empty: the kernel's (non-overlapping taps).

    Case(Shape x, Shape w, std::vector<int64_t> others, int64_t slot, bool bias = true, Ints strides = {})
        : x(std::move(x)),
          w(std::move(w)),
          others(std::move(others)),
          slot(slot),
          bias(bias),
          strides(std::move(strides)) {}
};

std::string describe(DataType t, const Case& c) {
    std::string others;
    for (int64_t o : c.others) others += (others.empty() ? "" : ",") + std::to_string(o);
    return std::string(dataTypeName(t)) + " x " + shapeToString(c.x) + " w " + shapeToString(c.w) + " others [" +
           others + "] slot " + std::to_string(c.slot) + (c.bias ? " with bias" : " without bias");
}

//! The fused node: X, constant W and bias (or an absent input), then the others [N, OH, OW, ci] as runtime inputs.
OpTester fused(DataType t, const Case& c) {
    const Ints strides = c.strides.empty() ? Ints{c.w[1], c.w[2]} : c.strides;
    // Output spatial dims of a ConvTranspose without pads: (in - 1) * stride + kernel.
    const int64_t oh = (c.x[1] - 1) * strides[0] + c.w[1];
    const int64_t ow = (c.x[2] - 1) * strides[1] + c.w[2];
    OpTester op("ConvTransposeNhwc", 1, "kiln");
    op.input(randomTensor(t, c.x, seed())).constInput(randomTensor(t, c.w, seed()));
    if (c.bias) {
        op.constInput(randomTensor(t, {c.w[3]}, seed()));
    } else {
        op.absentInput();
    }
    for (int64_t ch : c.others) op.input(randomTensor(t, {c.x[0], oh, ow, ch}, seed()));
    return op.attr("strides", strides).attr("kiln_concat_slot", c.slot);
}

//! Matches the reference, the ConvTranspose written into its slot by the slice GEMMs.
void expectSlice(DataType t, const Case& c, bool allowTf32 = false) {
    SCOPED_TRACE(describe(t, c));
    const uint64_t slices = cuda::convTransposeGemmSliceRuns();
    const uint64_t fallbacks = cuda::convTransposeConcatFallbacks();
    expectCudaMatchesCpuScaled(fused(t, c), allowTf32 ? 2e-3 : scaledTolerance(t), allowTf32);
    EXPECT_GT(cuda::convTransposeGemmSliceRuns(), slices) << "the ConvTranspose did not write its slot as GEMMs";
    EXPECT_EQ(cuda::convTransposeConcatFallbacks(), fallbacks);
}

//! Matches the reference, the ConvTranspose computed alone into workspace and copied into its slot.
void expectFallback(DataType t, const Case& c) {
    SCOPED_TRACE(describe(t, c));
    const uint64_t slices = cuda::convTransposeGemmSliceRuns();
    const uint64_t fallbacks = cuda::convTransposeConcatFallbacks();
    expectCudaMatchesCpuScaled(fused(t, c), scaledTolerance(t));
    EXPECT_EQ(cuda::convTransposeGemmSliceRuns(), slices) << "an unaligned or overlapping slot took the slice GEMMs";
    EXPECT_GT(cuda::convTransposeConcatFallbacks(), fallbacks);
}

TEST(CudaConvTransposeConcat, BothOrdersKernelsAndDtypes) {
    KILN_REQUIRE_GPU();
    for (DataType t : kGemmTypes) {
        // 16 channels are 16-byte rows in every dtype; 5x7 inputs (odd, W != H).
        expectSlice(t, {{2, 5, 7, 32}, {32, 2, 2, 16}, {16}, 0});             // UNet: Concat([up, skip])
        expectSlice(t, {{2, 5, 7, 32}, {32, 2, 2, 16}, {16}, 1});             // Concat([skip, up])
        expectSlice(t, {{1, 5, 7, 16}, {16, 2, 2, 32}, {16, 48}, 1, false});  // three inputs, no bias
        expectSlice(t, {{3, 3, 5, 8}, {8, 3, 3, 16}, {32}, 0});               // 3x3 stride 3
        expectSlice(t, {{2, 5, 7, 8}, {8, 1, 2, 16}, {16}, 1, false});        // 1x2 stride (1, 2): kH == 1
        expectSlice(t, {{1, 1, 1, 64}, {64, 2, 2, 64}, {64}, 0});             // a 1x1 input
    }
}

TEST(CudaConvTransposeConcat, UNetShapesInHalfBfloat16AndTf32) {
    KILN_REQUIRE_GPU();
    // UNet's last decoder level at a small size: 128 → 64 channels, concatenated with a 64-channel skip.
    expectSlice(DataType::kFloat16, {{2, 16, 16, 128}, {128, 2, 2, 64}, {64}, 0});
    expectSlice(DataType::kBFloat16, {{2, 16, 16, 128}, {128, 2, 2, 64}, {64}, 0});
    expectSlice(DataType::kFloat32, {{2, 16, 16, 128}, {128, 2, 2, 64}, {64}, 0}, true);
}

TEST(CudaConvTransposeConcat, HalfSlotsTakeKilnsKernel) {
    KILN_REQUIRE_GPU();
    // Kiln's one-pass kernel where it applies (float16/bfloat16, 8-channel multiples, C <= its threshold), else
    // cuBLASLt's GEMM per tap; the slice path either way.
    auto expectEngine = [](DataType t, const Case& c, bool kiln) {
        const uint64_t runs = cuda::convTransposeMmaRuns();
        expectSlice(t, c);
        EXPECT_EQ(cuda::convTransposeMmaRuns() > runs, kiln) << describe(t, c);
    };
    const int64_t deep = cuda::kConvTransposeMmaMaxChannels + 8;
    for (DataType t : {DataType::kFloat16, DataType::kBFloat16}) {
        expectEngine(t, {{2, 5, 7, 32}, {32, 2, 2, 16}, {16}, 0}, true);
        expectEngine(t, {{1, 5, 7, 16}, {16, 2, 2, 32}, {16, 48}, 1, false}, true);
        expectEngine(t, {{3, 3, 5, 8}, {8, 3, 3, 16}, {32}, 0}, true);
        expectEngine(t, {{2, 5, 7, 8}, {8, 1, 2, 16}, {16}, 1, false}, true);
        expectEngine(t, {{1, 3, 5, deep}, {deep, 2, 2, 16}, {16}, 0}, false);
    }
    expectEngine(DataType::kFloat32, {{2, 5, 7, 32}, {32, 2, 2, 16}, {16}, 0}, false);
}

TEST(CudaConvTransposeConcat, UnalignedSlotsAndOverlappingTapsFallBack) {
    KILN_REQUIRE_GPU();
    for (DataType t : kGemmTypes) {
        expectFallback(t, {{2, 5, 7, 8}, {8, 2, 2, 3}, {16}, 0});                 // M = 3: rows of the slot unaligned
        expectFallback(t, {{2, 5, 7, 8}, {8, 2, 2, 16}, {3}, 1});                 // the slot starts 3 channels in
        expectFallback(t, {{2, 5, 7, 8}, {8, 2, 2, 16}, {16, 1}, 0});             // the output rows are 33 channels
        expectFallback(t, {{2, 5, 7, 8}, {8, 3, 3, 16}, {16}, 1, true, {2, 2}});  // overlapping taps: cuDNN
    }
    // Alignment in elements differs per dtype: 4 float32 channels are 16 bytes, 4 float16 ones are not.
    expectSlice(DataType::kFloat32, {{2, 5, 7, 8}, {8, 2, 2, 4}, {4}, 1});
    expectFallback(DataType::kFloat16, {{2, 5, 7, 8}, {8, 2, 2, 4}, {4}, 1});
}

TEST(CudaConvTransposeConcat, EmptyBatch) {
    KILN_REQUIRE_GPU();
    expectCudaMatchesCpu(fused(DataType::kFloat16, {{0, 5, 7, 8}, {8, 2, 2, 16}, {16}, 0}));
}

TEST(CudaConvTransposeConcat, ErrorsMatchTheReference) {
    KILN_REQUIRE_GPU();
    // A slot past the inputs, and a concatenated input whose H differs: the CPU fails, so must the GPU.
    expectCudaMatchesCpu(fused(DataType::kFloat16, {{1, 5, 7, 8}, {8, 2, 2, 16}, {16}, 2}));
    OpTester wrongSize("ConvTransposeNhwc", 1, "kiln");
    wrongSize.input(randomTensor(DataType::kFloat16, {1, 5, 7, 8}, seed()))
        .constInput(randomTensor(DataType::kFloat16, {8, 2, 2, 16}, seed()))
        .absentInput()
        .input(randomTensor(DataType::kFloat16, {1, 9, 14, 16}, seed()))
        .attr("strides", Ints{2, 2})
        .attr("kiln_concat_slot", int64_t{0});
    expectCudaMatchesCpu(wrongSize);
}

}  // namespace
}  // namespace kiln::testing
