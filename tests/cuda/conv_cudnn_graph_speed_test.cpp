// Microbenchmark of the channels-last fused convolution: cuDNN's legacy call (the first choice of its heuristics,
// what an engine runs without tactics) against every graph engine config its backend heuristics offer (up to
// kMaxGraphConfigs), for ResNet-50's distinct convolutions at batch 256 in FP16 with bias, and the residual and ReLU
// as the network has them. Disabled by default (GiBs of GPU memory, seconds of plan building); on the GPU machine:
//
//   kiln_cuda_tests --gtest_also_run_disabled_tests --gtest_filter='CudaConvGraphSpeed.*'
//
// Each line: the legacy median, the best graph config's median and its tactic, legacy / graph, and the TFLOP/s of
// the better (median of 20 runs after 3 warm-ups, CUDA events around each). The sums at the end weight each
// problem by how often ResNet-50 runs it. DISABLED_UNetLayers does the same for the seed's UNet at batch 16, with a
// sweep of knob choices around the best config for the 512x512 layers.
#include <cuda_runtime.h>

#include <algorithm>
#include <cstdio>

#include "backends/cuda/kernels/conv_cudnn.h"
#include "backends/cuda/kernels/conv_cudnn_graph.h"
#include "cuda/cuda_op_tester.h"
#include "cuda/device_bytes_test_util.h"
#include "cuda/direct_run_util.h"
#include "cuda/speed_test_util.h"

namespace kiln::testing {
namespace {

struct Layer {
    const char* name;
    int count;  //!< How many times ResNet-50 runs it.
    int h, c, k, r, stride;
    bool z, relu;
};

// torchvision's ResNet-50 (v1.5: the stride on the 3x3), input 224x224.
const Layer kLayers[] = {
    {"conv1 7x7/2", 1, 224, 3, 64, 7, 2, false, true},
    {"l1 1x1 64->64", 1, 56, 64, 64, 1, 1, false, true},
    {"l1 3x3 64", 3, 56, 64, 64, 3, 1, false, true},
    {"l1 1x1 64->256 +z", 3, 56, 64, 256, 1, 1, true, true},
    {"l1 down 1x1 64->256", 1, 56, 64, 256, 1, 1, false, false},
    {"l1 1x1 256->64", 2, 56, 256, 64, 1, 1, false, true},
    {"l2 1x1 256->128", 1, 56, 256, 128, 1, 1, false, true},
    {"l2 3x3/2 128", 1, 56, 128, 128, 3, 2, false, true},
    {"l2 1x1 128->512 +z", 4, 28, 128, 512, 1, 1, true, true},
    {"l2 down 1x1/2 256->512", 1, 56, 256, 512, 1, 2, false, false},
    {"l2 1x1 512->128", 3, 28, 512, 128, 1, 1, false, true},
    {"l2 3x3 128", 3, 28, 128, 128, 3, 1, false, true},
    {"l3 1x1 512->256", 1, 28, 512, 256, 1, 1, false, true},
    {"l3 3x3/2 256", 1, 28, 256, 256, 3, 2, false, true},
    {"l3 1x1 256->1024 +z", 6, 14, 256, 1024, 1, 1, true, true},
    {"l3 down 1x1/2 512->1024", 1, 28, 512, 1024, 1, 2, false, false},
    {"l3 1x1 1024->256", 5, 14, 1024, 256, 1, 1, false, true},
    {"l3 3x3 256", 5, 14, 256, 256, 3, 1, false, true},
    {"l4 1x1 1024->512", 1, 14, 1024, 512, 1, 1, false, true},
    {"l4 3x3/2 512", 1, 14, 512, 512, 3, 2, false, true},
    {"l4 1x1 512->2048 +z", 3, 7, 512, 2048, 1, 1, true, true},
    {"l4 down 1x1/2 1024->2048", 1, 14, 1024, 2048, 1, 2, false, false},
    {"l4 1x1 2048->512", 2, 7, 2048, 512, 1, 1, false, true},
    {"l4 3x3 512", 2, 7, 512, 512, 3, 1, false, true},
};

// The seed's UNet (tests/models/torch_models.py, width 64, 4 levels) at 512x512: conv + BN (folded) + ReLU twice per
// level, the decoder's first conv reading the Concat; the head is a 1x1 conv to 2 classes.
const Layer kUNetLayers[] = {
    {"down.0.0 3->64 @512", 1, 512, 3, 64, 3, 1, false, true},
    {"64->64 @512", 2, 512, 64, 64, 3, 1, false, true},
    {"up.3.0 128->64 @512", 1, 512, 128, 64, 3, 1, false, true},
    {"down.1.0 64->128 @256", 1, 256, 64, 128, 3, 1, false, true},
    {"128->128 @256", 2, 256, 128, 128, 3, 1, false, true},
    {"up.2.0 256->128 @256", 1, 256, 256, 128, 3, 1, false, true},
    {"down.2.0 128->256 @128", 1, 128, 128, 256, 3, 1, false, true},
    {"256->256 @128", 2, 128, 256, 256, 3, 1, false, true},
    {"up.1.0 512->256 @128", 1, 128, 512, 256, 3, 1, false, true},
    {"down.3.0 256->512 @64", 1, 64, 256, 512, 3, 1, false, true},
    {"512->512 @64", 2, 64, 512, 512, 3, 1, false, true},
    {"up.0.0 1024->512 @64", 1, 64, 1024, 512, 3, 1, false, true},
    {"bottleneck.0 512->1024 @32", 1, 32, 512, 1024, 3, 1, false, true},
    {"bottleneck.3 1024->1024 @32", 1, 32, 1024, 1024, 3, 1, false, true},
    {"head 1x1 64->2 @512", 1, 512, 64, 2, 1, 1, false, false},
};

//! Times one layer at `batch`: the legacy call, every heuristic graph config, and with `sweep` two rounds of
//! one-knob-at-a-time moves from the best config (graphConvKnobNeighbours). Adds count x the better to the totals.
void timeLayer(const Layer& l, int batch, bool sweep, double& legacyTotal, double& bestTotal) {
    DirectKernelRun run(ir::OpKind::kFusedConvNhwc, size_t(2) << 30);
    const int out = (l.h + 2 * (l.r / 2) - l.r) / l.stride + 1;
    cuda::CudnnConvProblem p;
    p.dtype = DataType::kFloat16;
    p.channelsLast = true;
    p.in = {batch, l.c, l.h, l.h, 0};
    p.filter = {l.k, l.c, l.r, l.r, 0};
    p.out = {batch, l.k, out, out, 0};
    p.pad = {l.r / 2, l.r / 2, 0};
    p.stride = {l.stride, l.stride, 1};
    const size_t inBytes = size_t(batch) * l.h * l.h * l.c * 2, outBytes = size_t(batch) * out * out * l.k * 2;
    const size_t wBytes = size_t(l.k) * l.r * l.r * l.c * 2;
    DeviceBytes x(inBytes), w(wBytes), b(size_t(l.k) * 2), z(outBytes), y(outBytes);
    fillRandomHalves(x.p, inBytes, seed(), -1, 1);
    fillRandomHalves(w.p, wBytes, seed(), -1, 1);
    fillRandomHalves(b.p, size_t(l.k) * 2, seed(), -1, 1);
    fillRandomHalves(z.p, outBytes, seed(), -1, 1);
    const void* zp = l.z ? z.p : nullptr;
    auto legacy = [&]() {
        cuda::CudaKernelContext ctx = run.context();
        return cuda::cudnnConvBiasActivationForward(ctx, p, x.p, w.p, b.p, zp, l.relu, y.p, SIZE_MAX);
    };
    const double legacyMs = medianMs(legacy);
    const cuda::GraphConvCall call{p, cuda::FusedConvOperands{x.p, w.p, b.p, zp, y.p}, l.relu, SIZE_MAX};
    auto tactics = cuda::graphConvTactics(p, l.z, l.relu, SIZE_MAX, cuda::kMaxGraphConfigs);
    ASSERT_TRUE(tactics.isOk()) << l.name << ": " << tactics.status().message();
    std::string best;
    double bestMs = bestGraphTacticMs(run, call, *tactics, &best);
    const double heuristicBest = bestMs;
    size_t swept = 0;
    for (int round = 0; sweep && !best.empty() && round < 2; ++round) {
        auto moves = cuda::graphConvKnobNeighbours(p, l.z, l.relu, best, 8);
        ASSERT_TRUE(moves.isOk()) << l.name << ": " << moves.status().message();
        swept += moves->size();
        std::string moved;
        const double ms = bestGraphTacticMs(run, call, *moves, &moved);
        if (ms > 0 && ms < bestMs) {
            bestMs = ms;
            best = moved;
        }
    }
    const double flops = 2.0 * batch * out * out * l.k * l.c * l.r * l.r;
    const double better = bestMs > 0 ? std::min(legacyMs, bestMs) : legacyMs;
    std::printf("%-28s x%d legacy %8.4f ms | graph %8.4f ms (%2zu configs", l.name, l.count, legacyMs, heuristicBest,
                tactics->size());
    if (sweep) std::printf(", knob sweep of %zu: %8.4f ms", swept, bestMs);
    std::printf(") | %5.2fx | %6.1f TFLOP/s %6.0f GB/s | %s\n", bestMs > 0 ? legacyMs / bestMs : 0.0,
                flops / (better * 1e9), double(inBytes + outBytes) / (better * 1e6), best.c_str());
    legacyTotal += l.count * legacyMs;
    bestTotal += l.count * better;
    ASSERT_EQ(cudaDeviceSynchronize(), cudaSuccess);
}

TEST(CudaConvGraphSpeed, DISABLED_ResNetLayers) {
    KILN_REQUIRE_GPU();
    constexpr int kBatch = 256;
    double legacyTotal = 0, bestTotal = 0;
    for (const Layer& l : kLayers) {
        timeLayer(l, kBatch, false, legacyTotal, bestTotal);
        if (HasFatalFailure()) return;
    }
    std::printf("ResNet-50 convolutions at batch %d: legacy %.3f ms, best of legacy and graph %.3f ms (%.2fx)\n",
                kBatch, legacyTotal, bestTotal, legacyTotal / bestTotal);
}

// UNet at batch 16, with a knob sweep of the 512x512 layers (the 64-channel ones run at ~500 TFLOP/s against ~780
// for the wider layers in session 6).
TEST(CudaConvGraphSpeed, DISABLED_UNetLayers) {
    KILN_REQUIRE_GPU();
    constexpr int kBatch = 16;
    double legacyTotal = 0, bestTotal = 0;
    for (const Layer& l : kUNetLayers) {
        timeLayer(l, kBatch, l.h == 512 && l.r == 3 && l.c >= 64, legacyTotal, bestTotal);
        if (HasFatalFailure()) return;
    }
    std::printf("UNet convolutions at batch %d: legacy %.3f ms, best of legacy and graph %.3f ms (%.2fx)\n", kBatch,
                legacyTotal, bestTotal, legacyTotal / bestTotal);
}

}  // namespace
}  // namespace kiln::testing
