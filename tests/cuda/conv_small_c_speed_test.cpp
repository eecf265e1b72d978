// Microbenchmark of Kiln's few-input-channel convolution (conv_small_c.h) against cuDNN on the two first
// convolutions issue 7 names, FP16 with bias and ReLU: UNet's 3->64 3x3 pad 1 at 512x512, batch 16, and ResNet-50's
// conv1 3->64 7x7 stride 2 pad 3 at 224x224, batch 256. Disabled by default (GBs of GPU memory); on the GPU machine:
//
//   kiln_cuda_tests --gtest_also_run_disabled_tests --gtest_filter='CudaSmallChannelConvSpeed.*'
//
// Each line: the median ms (20 runs after 3 warm-ups, CUDA events) of the Kiln kernel, of cuDNN's legacy fused call
// (its heuristics' first choice: what an engine runs without tactics) and of the best of cuDNN's graph configs,
// each with its bandwidth (input + weights read, output written, over the time), and the floor at 2.9 TB/s (the
// H100's measured copy bandwidth).
#include <cuda_runtime.h>

#include <algorithm>
#include <cmath>
#include <cstdio>

#include "backends/cuda/kernels/conv_cudnn.h"
#include "backends/cuda/kernels/conv_cudnn_graph.h"
#include "backends/cuda/kernels/conv_small_c_tactic.h"
#include "cuda/cuda_op_tester.h"
#include "cuda/device_bytes_test_util.h"
#include "cuda/direct_run_util.h"
#include "cuda/speed_test_util.h"

namespace kiln::testing {
namespace {

constexpr double kCopyGBs = 2900;  // H100 device copy, GB/s (issue 7)

struct Shape2d {
    const char* name;
    int batch, size, k, stride, pad;
};

void timeFirstConv(const Shape2d& s) {
    constexpr int kC = 3, kM = 64;
    const int out = (s.size + 2 * s.pad - s.k) / s.stride + 1;
    cuda::CudnnConvProblem p;
    p.dtype = DataType::kFloat16;
    p.channelsLast = true;
    p.in = {s.batch, kC, s.size, s.size, 0};
    p.filter = {kM, kC, s.k, s.k, 0};
    p.out = {s.batch, kM, out, out, 0};
    p.pad = {s.pad, s.pad, 0};
    p.stride = {s.stride, s.stride, 1};
    ASSERT_TRUE(cuda::smallChannelConvServes(p)) << s.name;
    const size_t inBytes = size_t(s.batch) * s.size * s.size * kC * 2;
    const size_t wBytes = size_t(kM) * s.k * s.k * kC * 2;
    const size_t outBytes = size_t(s.batch) * out * out * kM * 2;
    DeviceBytes x(inBytes), w(wBytes), b(kM * 2), y(outBytes);
    fillRandomHalves(x.p, inBytes, seed(), -1, 1);
    fillRandomHalves(w.p, wBytes, seed(), -0.2, 0.2);
    fillRandomHalves(b.p, kM * 2, seed(), -1, 1);
    const cuda::FusedConvOperands ops{x.p, w.p, b.p, nullptr, y.p};

    DirectKernelRun run(ir::OpKind::kFusedConvNhwc, size_t(1) << 30);

    const cuda::SmallChannelConvParams kp = cuda::smallChannelConvParams(p, ops, true);
    const double kilnMs = medianMs([&]() { return cuda::launchSmallChannelConv(kp, nullptr); });
    const double legacyMs = medianMs([&]() -> Status {
        cuda::CudaKernelContext ctx = run.context();
        return cuda::cudnnConvBiasActivationForward(ctx, p, x.p, w.p, b.p, nullptr, true, y.p, SIZE_MAX);
    });
    auto tactics = cuda::graphConvTactics(p, false, true, SIZE_MAX, cuda::kMaxGraphConfigs);
    ASSERT_TRUE(tactics.isOk()) << s.name << ": " << tactics.status().message();
    const cuda::GraphConvCall call{p, ops, true, SIZE_MAX};
    const double graphMs = bestGraphTacticMs(run, call, *tactics);
    // The kernel and cuDNN agree on the first 4M outputs (a sanity check of the timed problem, not the accuracy test).
    const size_t checked = std::min<size_t>(outBytes, size_t(8) << 20);
    ASSERT_EQ(cuda::launchSmallChannelConv(kp, nullptr), cudaSuccess);
    std::vector<char> kilnBytes = download(y.p, checked);
    const Tensor kiln = Tensor::wrap(DataType::kFloat16, {int64_t(checked / 2)}, kilnBytes.data());
    {
        cuda::CudaKernelContext ctx = run.context();
        ASSERT_TRUE(cuda::cudnnConvBiasActivationForward(ctx, p, x.p, w.p, b.p, nullptr, true, y.p, SIZE_MAX).isOk());
    }
    std::vector<char> legacyBytes = download(y.p, checked);
    const Tensor legacy = Tensor::wrap(DataType::kFloat16, {int64_t(checked / 2)}, legacyBytes.data());
    double maxDiff = 0, maxRef = 0;
    for (int64_t i = 0; i < legacy.numel(); ++i) {
        maxDiff = std::max(maxDiff, std::fabs(kiln.getDouble(i) - legacy.getDouble(i)));
        maxRef = std::max(maxRef, std::fabs(legacy.getDouble(i)));
    }
    EXPECT_LE(maxDiff, 2e-3 * maxRef) << s.name << ": the Kiln kernel and cuDNN disagree";

    const double bytes = double(inBytes + wBytes + outBytes);
    auto gbs = [&](double ms) { return ms > 0 ? bytes / (ms * 1e6) : 0.0; };
    std::printf(
        "%-34s kiln %7.4f ms %5.0f GB/s | cuDNN legacy %7.4f ms %5.0f GB/s | best of %2zu graph configs %7.4f "
        "ms %5.0f GB/s | floor %6.4f ms | legacy / kiln %.2fx\n",
        s.name, kilnMs, gbs(kilnMs), legacyMs, gbs(legacyMs), tactics->size(), graphMs, gbs(graphMs),
        bytes / (kCopyGBs * 1e6), kilnMs > 0 ? legacyMs / kilnMs : 0.0);
    ASSERT_EQ(cudaDeviceSynchronize(), cudaSuccess);
}

TEST(CudaSmallChannelConvSpeed, DISABLED_FirstConvolutions) {
    KILN_REQUIRE_GPU();
    for (const Shape2d& s : {Shape2d{"UNet 3->64 3x3 @512 batch 16", 16, 512, 3, 1, 1},
                             Shape2d{"ResNet-50 conv1 7x7/2 @224 batch 256", 256, 224, 7, 2, 3}}) {
        timeFirstConv(s);
        if (HasFatalFailure()) return;
    }
}

}  // namespace
}  // namespace kiln::testing
