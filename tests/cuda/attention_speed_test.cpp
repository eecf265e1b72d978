// Microbenchmark of the attention kernels at BERT-base's shape (12 heads, S = 128, D = 64, float16, Q/K/V/O stored
// [B, S, H, D]): the one-tile kernel (attention_flash.cu) against the pipelined one (attention_flash_pipelined.cu)
// with the CTA size it chooses and with 4 and 8 warps forced, in one process on the same buffers. Disabled by
// default (batch 128 needs ~100 MB per tensor pair and seconds); on the GPU machine:
//
//   kiln_cuda_tests --gtest_also_run_disabled_tests --gtest_filter='CudaAttentionSpeed.*'
//
// Each line gives the median of 50 timed launches (speed_test_util.h; after 5 warm-ups), µs per launch (one
// Attention layer), the bandwidth counting Q, K, V and the mask read once and O written once (the convention of
// the 2.9 TB/s copy ceiling in bench/NOTES.md), and old / new. The outputs are compared too.
#include <cuda_runtime.h>

#include <cstdio>

#include "cuda/attention_test_util.h"
#include "cuda/speed_test_util.h"

namespace kiln::testing {
namespace {

void benchBert(int64_t batch, int maskKind) {
    AttentionShape s;
    s.b = batch;
    s.h = 12;
    s.maskKind = maskKind;
    const DeviceAttention data(s);
    DeviceBytes oldOut(s.outBytes());
    DeviceBytes newOut(s.outBytes());
    const double oldUs =
        1000.0 * medianMs([&] { return cuda::launchAttentionFlash(s.type, data.params(oldOut.p), nullptr); }, 5, 50);
    ASSERT_EQ(cudaDeviceSynchronize(), cudaSuccess);
    const Tensor want = downloadOutput(s, oldOut.p);
    const double gb = data.bytesMoved() / 1e9;
    std::printf("BERT attention b%-3lld %-10s old          %8.2f us %6.0f GB/s\n", static_cast<long long>(batch),
                maskKind ? "mask" : "no mask", oldUs, gb / (oldUs * 1e-6));
    for (int warps : {0, 4, 8}) {
        ASSERT_EQ(cudaMemset(newOut.p, 0xff, s.outBytes()), cudaSuccess);
        const double newUs =
            1000.0 *
            medianMs([&] { return cuda::launchAttentionFlashPipelined(s.type, data.params(newOut.p), nullptr, warps); },
                     5, 50);
        ASSERT_EQ(cudaDeviceSynchronize(), cudaSuccess);
        const std::string which = warps == 0 ? "new (auto)" : "new " + std::to_string(warps) + " warps";
        std::printf("BERT attention b%-3lld %-10s %-12s %8.2f us %6.0f GB/s | old/new %5.2fx\n",
                    static_cast<long long>(batch), maskKind ? "mask" : "no mask", which.c_str(), newUs,
                    gb / (newUs * 1e-6), oldUs / newUs);
        SCOPED_TRACE(which + " b" + std::to_string(batch));
        expectTensorNear(downloadOutput(s, newOut.p), want, 0.0, 2e-3);
    }
}

TEST(CudaAttentionSpeed, DISABLED_Bert) {
    KILN_REQUIRE_GPU();
    for (int64_t batch : {128, 1}) {
        for (int mask : {0, 1}) benchBert(batch, mask);
    }
}

}  // namespace
}  // namespace kiln::testing
