// Microbenchmark of UNet's up-sampling (ConvTranspose 2x2 stride 2, kernels/conv_transpose_gemm.h) at batch 16,
// 512x512, FP16, by both engines: each decoder level written into its slot of the Concat (the fused node's path) and
// alone. cuBLASLt needs one call per tap into the slot (x read four times) and two alone (x read twice); Kiln's
// kernel (conv_transpose_mma.h) reads x once either way. Disabled by default (GiBs of GPU memory); on the GPU machine:
//
//   kiln_cuda_tests --gtest_also_run_disabled_tests --gtest_filter='CudaConvTransposeGemmSpeed.*'
//
// GB/s counts x read once and the output written once (the copy-ceiling convention of bench/NOTES.md: 2.9 TB/s on
// the H100), so it says how far each path is from reading x a single time. Session 6 on the H100, up.3: cuBLASLt slot
// 0.67 ms (1.2 TB/s), alone 0.41 ms; the floor at 2.9 TB/s is ~0.28 ms. Running the taps image group by image group,
// so that x would be re-read from L2, was slower at every group size (8-32 MiB of x: 0.89-1.00 ms) and was dropped.
// Session 7: Kiln's kernel up.3 slot 0.47 ms (1.7 TB/s) against cuBLASLt's 0.67, but alone 0.46 against 0.39 and
// behind at the deeper levels; so convTransposeGemmSlice takes it for C <= kConvTransposeMmaMaxChannels (128) and
// the ConvTranspose alone stays on cuBLASLt. The last column says which engine a slot takes at each level.
#include <cuda_runtime.h>

#include <cstdio>

#include "cuda/conv_transpose_test_util.h"
#include "cuda/cuda_op_tester.h"
#include "cuda/device_bytes_test_util.h"
#include "cuda/speed_test_util.h"

namespace kiln::testing {
namespace {

struct Level {
    const char* name;
    int64_t h, c, m;  //!< Input spatial size (square), input channels, output channels (the slot is M of 2M).
};

const Level kLevels[] = {
    {"up.3 256->512 128->64", 256, 128, 64},
    {"up.2 128->256 256->128", 128, 256, 128},
    {"up.1 64->128 512->256", 64, 512, 256},
    {"up.0 32->64 1024->512", 32, 1024, 512},
};

constexpr int64_t kBatch = 16;
constexpr DataType kHalf = DataType::kFloat16;

TEST(CudaConvTransposeGemmSpeed, DISABLED_UNetUpsampling) {
    KILN_REQUIRE_GPU();
    DirectKernelRun run(ir::OpKind::kConvTransposeNhwc, size_t(1) << 30);
    for (const Level& l : kLevels) {
        const cuda::ConvShape s = upsampleShape(kHalf, kBatch, l.h, l.h, l.c, l.m, 2, 2);
        const size_t xBytes = size_t(kBatch) * l.h * l.h * l.c * 2, wBytes = size_t(l.c) * 4 * l.m * 2;
        const size_t slotBytes = size_t(kBatch) * 4 * l.h * l.h * l.m * 2;
        DeviceBytes x(xBytes), w(wBytes), b(size_t(l.m) * 2), y(2 * slotBytes);
        fillRandomHalves(x.p, xBytes, seed(), -1, 1);
        fillRandomHalves(w.p, wBytes, seed(), -1, 1);
        fillRandomHalves(b.p, size_t(l.m) * 2, seed(), -1, 1);
        const cuda::DeviceTensor xt = deviceTensor(kHalf, x.p, {kBatch, l.h, l.h, l.c});
        const cuda::DeviceTensor wt = deviceTensor(kHalf, w.p, {l.c, 2, 2, l.m});
        const cuda::DeviceTensor bt = deviceTensor(kHalf, b.p, {l.m});
        cuda::DeviceTensor yt = deviceTensor(kHalf, y.p, {kBatch, 2 * l.h, 2 * l.h, l.m});
        constexpr auto kLt = cuda::ConvTransposeEngine::kCublasLt;
        const double ltSlotMs = medianMs([&]() -> Status {
            cuda::CudaKernelContext ctx = run.context();
            return cuda::convTransposeGemmSlice(ctx, s, xt, wt, &bt, y.p, 2 * l.m, 0, kLt);
        });
        const double ltAloneMs = medianMs([&]() -> Status {
            cuda::CudaKernelContext ctx = run.context();
            return cuda::convTransposeGemm(ctx, s, xt, wt, &bt, yt);
        });
        const double kilnSlotMs = medianMs([&]() -> Status {
            cuda::CudaKernelContext ctx = run.context();
            return cuda::convTransposeMma(ctx, s, xt, wt, &bt, y.p, 2 * l.m, 0);
        });
        const double kilnAloneMs = medianMs([&]() -> Status {
            cuda::CudaKernelContext ctx = run.context();
            return cuda::convTransposeMma(ctx, s, xt, wt, &bt, y.p, l.m, 0);
        });
        const double bytes = double(xBytes + slotBytes);
        const double flop = 2.0 * double(kBatch * l.h * l.h) * double(l.c) * double(4 * l.m);
        auto gbs = [&](double ms) { return bytes / (ms * 1e6); };
        auto tflops = [&](double ms) { return flop / (ms * 1e9); };
        std::printf("%-24s cuBLASLt slot %7.4f ms %5.0f GB/s %4.0f TFLOP/s | alone %7.4f ms %5.0f GB/s\n", l.name,
                    ltSlotMs, gbs(ltSlotMs), tflops(ltSlotMs), ltAloneMs, gbs(ltAloneMs));
        std::printf(
            "%-24s Kiln     slot %7.4f ms %5.0f GB/s %4.0f TFLOP/s | alone %7.4f ms %5.0f GB/s | slot default: %s\n",
            "", kilnSlotMs, gbs(kilnSlotMs), tflops(kilnSlotMs), kilnAloneMs, gbs(kilnAloneMs),
            l.c <= cuda::kConvTransposeMmaMaxChannels ? "Kiln" : "cuBLASLt");
    }
    ASSERT_EQ(cudaDeviceSynchronize(), cudaSuccess);
}

}  // namespace
}  // namespace kiln::testing
