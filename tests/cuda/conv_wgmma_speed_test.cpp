// Microbenchmark of Kiln's wgmma convolution for 64 output channels (conv_wgmma.h) against cuDNN on UNet's level-0
// layers (issue 7), FP16 at 512x512, batch 16, bias and ReLU: 64->64 3x3, and with a residual z (the decoder's
// convolutions after concat-conv-split); the last layer with the 1x1 head in its epilogue, and down.0.3 with the 2x2
// MaxPool in its epilogue, each against the two separate kernels.
// Disabled by default (GBs of GPU memory); on the GPU machine:
//
//   kiln_cuda_tests --gtest_also_run_disabled_tests --gtest_filter='CudaConvWgmmaSpeed.*'
//
// Each line: the median ms (speed_test_util.h) and TFLOP/s of the Kiln kernel, of cuDNN's legacy fused call (its
// heuristics' first choice) and of the best of cuDNN's graph configs.
#include <cuda_runtime.h>

#include <algorithm>
#include <cstdio>

#include "backends/cuda/check.h"
#include "backends/cuda/kernels/conv_cudnn.h"
#include "backends/cuda/kernels/conv_cudnn_graph.h"
#include "backends/cuda/kernels/conv_small_c_tactic.h"
#include "backends/cuda/kernels/conv_wgmma.h"
#include "backends/cuda/kernels/conv_wgmma_tactic.h"
#include "backends/cuda/kernels/pooling.h"
#include "backends/cuda/kernels/pooling_window.h"
#include "cuda/cuda_op_tester.h"
#include "cuda/device_bytes_test_util.h"
#include "cuda/direct_run_util.h"
#include "cuda/speed_test_util.h"

namespace kiln::testing {
namespace {

struct Level0Layer {
    const char* name;
    int channels;
    bool z;
};

//! A level-0 3x3 layer, `channels` -> 64, pad 1, FP16 channels-last at 512x512, batch 16.
cuda::CudnnConvProblem level0Problem(int channels) {
    cuda::CudnnConvProblem p;
    p.dtype = DataType::kFloat16;
    p.channelsLast = true;
    p.in = {16, channels, 512, 512, 0};
    p.filter = {64, channels, 3, 3, 0};
    p.out = {16, 64, 512, 512, 0};
    p.pad = {1, 1, 0};
    return p;
}

void timeLayer(const Level0Layer& s) {
    constexpr int kBatch = 16, kSize = 512, kM = 64;
    const cuda::CudnnConvProblem p = level0Problem(s.channels);
    ASSERT_TRUE(cuda::wgmmaConvServes(p)) << s.name;
    const size_t pixels = size_t(kBatch) * kSize * kSize;
    const size_t inBytes = pixels * s.channels * 2, wBytes = size_t(kM) * 9 * s.channels * 2,
                 outBytes = pixels * kM * 2;
    DeviceBytes x(inBytes), w(wBytes), b(kM * 2), z(outBytes), y(outBytes);
    fillRandomHalves(x.p, inBytes, seed(), -1, 1);
    fillRandomHalves(w.p, wBytes, seed(), -0.1, 0.1);
    fillRandomHalves(b.p, kM * 2, seed(), -1, 1);
    fillRandomHalves(z.p, outBytes, seed(), -1, 1);
    const void* zp = s.z ? z.p : nullptr;
    const cuda::FusedConvOperands ops{x.p, w.p, b.p, zp, y.p};

    DirectKernelRun run(ir::OpKind::kFusedConvNhwc, size_t(1) << 30);
    const double kilnMs = medianMs([&]() -> Status {
        cuda::CudaKernelContext ctx = run.context();
        return cuda::runWgmmaConv(ctx, p, ops, true);
    });
    const double legacyMs = medianMs([&]() -> Status {
        cuda::CudaKernelContext ctx = run.context();
        return cuda::cudnnConvBiasActivationForward(ctx, p, x.p, w.p, b.p, zp, true, y.p, SIZE_MAX);
    });
    auto tactics = cuda::graphConvTactics(p, s.z, true, SIZE_MAX, cuda::kMaxGraphConfigs);
    ASSERT_TRUE(tactics.isOk()) << s.name << ": " << tactics.status().message();
    const double graphMs = bestGraphTacticMs(run, cuda::GraphConvCall{p, ops, true, SIZE_MAX}, *tactics);
    const double flops = 2.0 * double(pixels) * kM * 9 * s.channels;
    auto tflops = [&](double ms) { return ms > 0 ? flops / (ms * 1e9) : 0.0; };
    std::printf(
        "%-28s kiln %7.4f ms %4.0f TFLOP/s | cuDNN legacy %7.4f ms %4.0f | best of %2zu graph configs %7.4f ms %4.0f "
        "| best cuDNN / kiln %.2fx\n",
        s.name, kilnMs, tflops(kilnMs), legacyMs, tflops(legacyMs), tactics->size(), graphMs, tflops(graphMs),
        kilnMs > 0 ? std::min(legacyMs, graphMs > 0 ? graphMs : legacyMs) / kilnMs : 0.0);
    ASSERT_EQ(cudaDeviceSynchronize(), cudaSuccess);
}

// UNet's last two layers: upBlocks.3.3 (64->64 3x3, ReLU) then the 1x1 head (64->2): the head in the wgmma kernel's
// epilogue (no 64-channel intermediate) against the kernel alone followed by cuDNN's 1x1 (legacy fused call).
void timeHead() {
    constexpr int kBatch = 16, kSize = 512, kM = 64, kHeads = 2;
    const cuda::CudnnConvProblem p = level0Problem(kM);
    cuda::CudnnConvProblem head = p;
    head.in = p.out;
    head.filter = {kHeads, kM, 1, 1, 0};
    head.out = {kBatch, kHeads, kSize, kSize, 0};
    head.pad = {0, 0, 0};
    const size_t pixels = size_t(kBatch) * kSize * kSize, bytes = pixels * kM * 2;
    DeviceBytes x(bytes), w(size_t(kM) * 9 * kM * 2), b(kM * 2), y(bytes), w2(kHeads * kM * 2), b2(kHeads * 2),
        out(pixels * kHeads * 2);
    fillRandomHalves(x.p, bytes, seed(), -1, 1);
    fillRandomHalves(w.p, size_t(kM) * 9 * kM * 2, seed(), -0.1, 0.1);
    fillRandomHalves(b.p, kM * 2, seed(), -1, 1);
    fillRandomHalves(w2.p, kHeads * kM * 2, seed(), -0.2, 0.2);
    fillRandomHalves(b2.p, kHeads * 2, seed(), -1, 1);
    DirectKernelRun run(ir::OpKind::kFusedConvNhwc, size_t(1) << 30);
    const cuda::FusedConvOperands ops{x.p, w.p, b.p, nullptr, y.p};
    const cuda::WgmmaConvHead fused{w2.p, b2.p, out.p, kHeads};
    const cuda::SmallChannelConvParams direct = cuda::smallChannelConvParams(p, ops, true);
    const double fusedMs = medianMs([&]() -> Status {
        KILN_CUDA_CHECK(cuda::launchWgmmaConv(direct, nullptr, 0, &fused));
        return Status::ok();
    });
    const double convMs = medianMs([&]() -> Status {
        cuda::CudaKernelContext ctx = run.context();
        return cuda::runWgmmaConv(ctx, p, ops, true);
    });
    const double headMs = medianMs([&]() -> Status {
        cuda::CudaKernelContext ctx = run.context();
        return cuda::cudnnConvBiasActivationForward(ctx, head, y.p, w2.p, b2.p, nullptr, false, out.p, SIZE_MAX);
    });
    std::printf(
        "UNet 64->64 3x3 + 1x1 head (2) @512 b16: in one kernel %7.4f ms | kiln conv %7.4f + cuDNN 1x1 %7.4f = "
        "%7.4f ms | %.2fx\n",
        fusedMs, convMs, headMs, convMs + headMs, fusedMs > 0 ? (convMs + headMs) / fusedMs : 0.0);
    ASSERT_EQ(cudaDeviceSynchronize(), cudaSuccess);
}

// UNet's down.0.3 (64->64 3x3, ReLU) and the 2x2 MaxPool after it: the pool in the wgmma kernel's epilogue (y still
// written) against the kernel alone followed by the channels-last pool kernel over y.
void timePool() {
    constexpr int kBatch = 16, kSize = 512, kM = 64;
    const cuda::CudnnConvProblem p = level0Problem(kM);
    const size_t pixels = size_t(kBatch) * kSize * kSize, bytes = pixels * kM * 2;
    DeviceBytes x(bytes), w(size_t(kM) * 9 * kM * 2), b(kM * 2), y(bytes), pooled(bytes / 4);
    fillRandomHalves(x.p, bytes, seed(), -1, 1);
    fillRandomHalves(w.p, size_t(kM) * 9 * kM * 2, seed(), -0.1, 0.1);
    fillRandomHalves(b.p, kM * 2, seed(), -1, 1);
    DirectKernelRun run(ir::OpKind::kFusedConvNhwc, size_t(1) << 30);
    const cuda::FusedConvOperands ops{x.p, w.p, b.p, nullptr, y.p};
    const cuda::WgmmaConvPool pool{pooled.p};
    const double fusedMs = medianMs([&]() -> Status {
        cuda::CudaKernelContext ctx = run.context();
        return cuda::runWgmmaConvPool(ctx, p, ops, true, pool);
    });
    const double convMs = medianMs([&]() -> Status {
        cuda::CudaKernelContext ctx = run.context();
        return cuda::runWgmmaConv(ctx, p, ops, true);
    });
    ir::Attributes attrs;
    attrs.set("kernel_shape", std::vector<int64_t>{2, 2});
    attrs.set("strides", std::vector<int64_t>{2, 2});
    Shape spatial;
    auto window = cuda::resolvePoolWindow(attrs, {kSize, kSize}, spatial);
    ASSERT_TRUE(window.isOk()) << window.status().message();
    const double poolMs = medianMs([&]() -> Status {
        KILN_CUDA_CHECK(cuda::launchPoolChannelsLast(cuda::PoolOp::kMax, DataType::kFloat16, y.p, pooled.p, kBatch, kM,
                                                     *window, nullptr));
        return Status::ok();
    });
    std::printf(
        "UNet 64->64 3x3 + 2x2 MaxPool @512 b16: in one kernel %7.4f ms | kiln conv %7.4f + pool %7.4f = %7.4f ms | "
        "%.2fx\n",
        fusedMs, convMs, poolMs, convMs + poolMs, fusedMs > 0 ? (convMs + poolMs) / fusedMs : 0.0);
    ASSERT_EQ(cudaDeviceSynchronize(), cudaSuccess);
}

TEST(CudaConvWgmmaSpeed, DISABLED_UNetLevel0) {
    KILN_REQUIRE_GPU();
    if (!cuda::wgmmaConvDeviceSupported()) GTEST_SKIP() << "needs compute capability 9.0";
    for (const Level0Layer& s :
         {Level0Layer{"UNet 64->64 3x3 @512 b16", 64, false}, Level0Layer{"UNet 64->64 3x3 + z @512 b16", 64, true}}) {
        timeLayer(s);
        if (HasFatalFailure()) return;
    }
    timeHead();
    timePool();
}

}  // namespace
}  // namespace kiln::testing
