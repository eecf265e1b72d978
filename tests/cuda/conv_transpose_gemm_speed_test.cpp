// Microbenchmark of UNet's up-sampling (ConvTranspose 2x2 stride 2 as cuBLASLt GEMMs, kernels/conv_transpose_gemm.h)
// at batch 16, 512x512, FP16: each decoder level written into its slot of the Concat (the fused node's path, one call
// per tap, x read four times) and alone (two calls, x read twice). Disabled by default (GiBs of GPU memory); on the
// GPU machine:
//
//   kiln_cuda_tests --gtest_also_run_disabled_tests --gtest_filter='CudaConvTransposeGemmSpeed.*'
//
// GB/s counts x read once and the output written once (the copy-ceiling convention of bench/NOTES.md: 2.9 TB/s on
// the H100), so it says how far each path is from reading x a single time. Session 6 on the H100, up.3: slot 0.67 ms
// (1.2 TB/s), alone 0.41 ms. Running the taps image group by image group, so that x would be re-read from L2, was
// slower at every group size (8-32 MiB of x: 0.89-1.00 ms) and was dropped.
#include <cublasLt.h>
#include <cuda_runtime.h>

#include <cstdio>

#include "backends/cuda/device_memory.h"
#include "backends/cuda/kernels/conv_transpose_gemm.h"
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

cuda::ConvShape upsampleShape(const Level& l) {
    cuda::ConvShape s;
    s.dtype = DataType::kFloat16;
    s.batch = kBatch;
    s.inC = l.c;
    s.outC = l.m;
    s.rank = 2;
    for (int d = 1; d < 3; ++d) {
        s.win.in[d] = l.h;
        s.win.out[d] = 2 * l.h;
        s.win.kernel[d] = 2;
        s.win.stride[d] = 2;
    }
    return s;
}

TEST(CudaConvTransposeGemmSpeed, DISABLED_UNetUpsampling) {
    KILN_REQUIRE_GPU();
    cublasLtHandle_t lt = nullptr;
    ASSERT_EQ(cublasLtCreate(&lt), CUBLAS_STATUS_SUCCESS);
    cuda::DeviceArena arena;
    ASSERT_TRUE(arena.reserve(size_t(1) << 30).isOk());
    cuda::RunState run;
    run.cublasLt = lt;
    run.arena = &arena;
    ir::Graph g("bench");
    ir::Node* node = g.addNode(ir::OpKind::kConvTransposeNhwc, "up", 1);
    for (const Level& l : kLevels) {
        const cuda::ConvShape s = upsampleShape(l);
        const size_t xBytes = size_t(kBatch) * l.h * l.h * l.c * 2, wBytes = size_t(l.c) * 4 * l.m * 2;
        const size_t slotBytes = size_t(kBatch) * 4 * l.h * l.h * l.m * 2;
        DeviceBytes x(xBytes), w(wBytes), b(size_t(l.m) * 2), y(2 * slotBytes);
        fillRandomHalves(x.p, xBytes, seed(), -1, 1);
        fillRandomHalves(w.p, wBytes, seed(), -1, 1);
        fillRandomHalves(b.p, size_t(l.m) * 2, seed(), -1, 1);
        auto tensor = [](void* p, Shape shape) {
            cuda::DeviceTensor t;
            t.dtype = DataType::kFloat16;
            t.shape = std::move(shape);
            t.data = p;
            return t;
        };
        const cuda::DeviceTensor xt = tensor(x.p, {kBatch, l.h, l.h, l.c}), wt = tensor(w.p, {l.c, 2, 2, l.m});
        const cuda::DeviceTensor bt = tensor(b.p, {l.m});
        cuda::DeviceTensor yt = tensor(y.p, {kBatch, 2 * l.h, 2 * l.h, l.m});
        const double slotMs = medianMs([&]() -> Status {
            cuda::CudaKernelContext ctx{*node, run, {}, {}, {}, {}};
            return cuda::convTransposeGemmSlice(ctx, s, xt, wt, &bt, y.p, 2 * l.m, 0);
        });
        const double aloneMs = medianMs([&]() -> Status {
            cuda::CudaKernelContext ctx{*node, run, {}, {}, {}, {}};
            return cuda::convTransposeGemm(ctx, s, xt, wt, &bt, yt);
        });
        const double bytes = double(xBytes + slotBytes);
        std::printf("%-24s slot %7.4f ms %5.0f GB/s | alone %7.4f ms %5.0f GB/s\n", l.name, slotMs,
                    bytes / (slotMs * 1e6), aloneMs, bytes / (aloneMs * 1e6));
    }
    ASSERT_EQ(cudaDeviceSynchronize(), cudaSuccess);
    cublasLtDestroy(lt);
}

}  // namespace
}  // namespace kiln::testing
