// Microbenchmark of the channels-last engine's edges: Cast then Transpose (the two kernels the engine ran before
// transpose-cast-fusion, through an intermediate tensor) against the one TransposeCast kernel, on the same buffers.
// Disabled by default (GiBs of GPU memory); on the GPU machine:
//
//   kiln_cuda_tests --gtest_also_run_disabled_tests --gtest_filter='CudaTransposeCastSpeed.*'
//
// Each line gives the median of 20 timed runs and the bandwidth counting the fused kernel's bytes (input read once,
// output written once: the copy-ceiling convention of bench/NOTES.md, 2.9 TB/s on the H100) for both, so the GB/s
// compare directly; the ratio is old / new. The outputs of the two paths are compared byte for byte.
#include <cuda_runtime.h>

#include <cstdio>
#include <functional>

#include "backends/cpu/broadcast.h"
#include "backends/cuda/kernels/data_movement.h"
#include "backends/cuda/kernels/elementwise.h"
#include "backends/cuda/kernels/transpose_cast.h"
#include "cuda/cuda_op_tester.h"
#include "cuda/device_bytes_test_util.h"
#include "cuda/speed_test_util.h"

namespace kiln::testing {
namespace {

using namespace cuda;  // the launchers under test

//! Times Cast + Transpose against TransposeCast for `x` of `shape` permuted by `perm` (a rank-4 edge), prints one
//! line, and compares the outputs.
void benchEdge(const char* name, const Shape& shape, const std::vector<int64_t>& perm, DataType from, DataType to) {
    const int64_t n = shapeNumel(shape);
    const size_t inBytes = static_cast<size_t>(n) * dataTypeSize(from);
    const size_t outBytes = static_cast<size_t>(n) * dataTypeSize(to);
    DeviceBytes x(inBytes), mid(outBytes), yOld(outBytes), yNew(outBytes);
    fillRandomHalves(x.p, inBytes, seed(), -4, 4);  // any bits: float32 words of two halves are finite numbers too
    const std::vector<int64_t> strides = cpu::stridesOf(shape);
    std::vector<GatherDim> dims;
    for (int64_t p : perm) dims.push_back(GatherDim{shape[static_cast<size_t>(p)], strides[static_cast<size_t>(p)]});
    // The edges' batched 2-D view: NCHW → NHWC is [N, C, H·W] → [N, H·W, C]; NHWC → NCHW is [N, H·W, C] → [N, C, H·W].
    const bool toNhwc = perm[1] == 2;
    const int64_t rows = toNhwc ? shape[1] : shape[1] * shape[2];
    const int64_t cols = toNhwc ? shape[2] * shape[3] : shape[3];
    auto castThenTranspose = [&]() -> cudaError_t {
        if (!launchCast(from, to, x.p, mid.p, n, nullptr).isOk()) return cudaErrorUnknown;
        return launchStridedGather(mid.p, yOld.p, dataTypeSize(to), 0, dims, nullptr, nullptr);
    };
    auto fused = [&] { return launchTransposeCast(x.p, from, yNew.p, to, shape[0], rows, cols, nullptr); };
    const double oldMs = medianMs(castThenTranspose);
    const double newMs = medianMs(fused);
    ASSERT_EQ(cudaDeviceSynchronize(), cudaSuccess);
    const double bytes = static_cast<double>(inBytes + outBytes);
    std::printf("%-44s Cast+Transpose %8.4f ms %6.0f GB/s | TransposeCast %8.4f ms %6.0f GB/s | %5.2fx\n", name, oldMs,
                bytes / (oldMs * 1e6), newMs, bytes / (newMs * 1e6), oldMs / newMs);
    EXPECT_TRUE(download(yOld.p, outBytes) == download(yNew.p, outBytes)) << name << ": the two paths differ";
}

TEST(CudaTransposeCastSpeed, DISABLED_ResNetInput) {
    KILN_REQUIRE_GPU();
    benchEdge("ResNet-50 input fp32 NCHW -> fp16 NHWC b256", {256, 3, 224, 224}, {0, 2, 3, 1}, DataType::kFloat32,
              DataType::kFloat16);
    benchEdge("ResNet-50 input fp32 NCHW -> fp16 NHWC b1", {1, 3, 224, 224}, {0, 2, 3, 1}, DataType::kFloat32,
              DataType::kFloat16);
    benchEdge("UNet input fp32 NCHW -> fp16 NHWC b16", {16, 3, 512, 512}, {0, 2, 3, 1}, DataType::kFloat32,
              DataType::kFloat16);
    // [N, H, W, C] before the perm: a few-class segmentation map and a wide feature map going back to NCHW.
    benchEdge("UNet-like output fp16 NHWC -> fp32 NCHW b16 C2", {16, 512, 512, 2}, {0, 3, 1, 2}, DataType::kFloat16,
              DataType::kFloat32);
    benchEdge("fp16 NHWC -> fp32 NCHW b16 64x64x256", {16, 64, 64, 256}, {0, 3, 1, 2}, DataType::kFloat16,
              DataType::kFloat32);
}

}  // namespace
}  // namespace kiln::testing
