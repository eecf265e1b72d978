// Microbenchmarks of the channels-last pools and of Concat along channels, old kernel against new in one process
// on the same buffers, at the UNet's and ResNet-50's shapes. Disabled by default (they take seconds and need
// GiBs of GPU memory); on the GPU machine:
//
//   kiln_cuda_tests --gtest_also_run_disabled_tests --gtest_filter='CudaPoolNhwcSpeed.*'
//
// Each line gives the median of 20 timed runs (CUDA events around each launch, after 3 warm-ups) and the
// achieved bandwidth counting every byte read once plus every byte written once, the convention of the copy
// ceiling in bench/NOTES.md (2.9 TB/s on the H100); the ratio old / new is the speed-up. The outputs of the two
// kernels are compared byte for byte too.
#include <cuda_runtime.h>

#include <algorithm>
#include <cstdio>
#include <functional>

#include "backends/cuda/kernels/data_movement.h"
#include "backends/cuda/kernels/pooling.h"
#include "backends/cuda/kernels/pooling_window.h"
#include "cuda/cuda_op_tester.h"
#include "cuda/device_bytes_test_util.h"
#include "cuda/speed_test_util.h"

namespace kiln::testing {
namespace {

using namespace cuda;  // the launchers under test
using Ints = std::vector<int64_t>;

//! Times old and new, prints one line, and expects both to have written the same bytes.
void compare(const std::string& what, double bytesMoved, const std::function<cudaError_t()>& oldKernel,
             const std::function<cudaError_t()>& newKernel, const void* oldOut, const void* newOut, size_t outBytes) {
    const double oldMs = medianMs(oldKernel);
    const double newMs = medianMs(newKernel);
    ASSERT_EQ(cudaDeviceSynchronize(), cudaSuccess);
    std::printf("%-58s old %8.4f ms %7.0f GB/s | new %8.4f ms %7.0f GB/s | %5.2fx\n", what.c_str(), oldMs,
                bytesMoved / (oldMs * 1e6), newMs, bytesMoved / (newMs * 1e6), oldMs / newMs);
    EXPECT_TRUE(download(oldOut, outBytes) == download(newOut, outBytes))
        << what << ": the two kernels wrote different bytes";
}

struct PoolBench {
    const char* name;
    PoolOp op;
    Shape shape;  // [N, H, W, C], float16
    Ints kernel, strides, pads;
};

void benchPool(const PoolBench& b) {
    ir::Attributes attrs;
    attrs.set("kernel_shape", b.kernel);
    attrs.set("strides", b.strides);
    if (!b.pads.empty()) attrs.set("pads", b.pads);
    Shape out;
    auto w = resolvePoolWindow(attrs, {b.shape[1], b.shape[2]}, out);
    ASSERT_TRUE(w.isOk()) << w.status().message();
    const int64_t n = b.shape[0], c = b.shape[3];
    const size_t inBytes = static_cast<size_t>(shapeNumel(b.shape)) * 2;
    const size_t outBytes = static_cast<size_t>(n * out[0] * out[1] * c) * 2;
    DeviceBytes x(inBytes), yOld(outBytes), yNew(outBytes);
    fillRandomHalves(x.p, inBytes, seed(), -8, 8);
    ASSERT_TRUE(poolChannelsLastVectorized(b.op, DataType::kFloat16, x.p, yNew.p, c, *w));
    compare(
        std::string(b.name) + " fp16 " + shapeToString(b.shape), static_cast<double>(inBytes + outBytes),
        [&] { return launchPoolChannelsLastGeneric(b.op, DataType::kFloat16, x.p, yOld.p, n, c, *w, nullptr); },
        [&] { return launchPoolChannelsLast(b.op, DataType::kFloat16, x.p, yNew.p, n, c, *w, nullptr); }, yOld.p,
        yNew.p, outBytes);
}

TEST(CudaPoolNhwcSpeed, DISABLED_MaxPool) {
    KILN_REQUIRE_GPU();
    const PoolBench cases[] = {
        {"UNet /MaxPool 2x2/2 b16", PoolOp::kMax, {16, 512, 512, 64}, {2, 2}, {2, 2}, {}},
        {"UNet /MaxPool_1 2x2/2 b16", PoolOp::kMax, {16, 256, 256, 128}, {2, 2}, {2, 2}, {}},
        {"UNet /MaxPool_3 2x2/2 b16", PoolOp::kMax, {16, 64, 64, 512}, {2, 2}, {2, 2}, {}},
        {"UNet /MaxPool 2x2/2 b1", PoolOp::kMax, {1, 512, 512, 64}, {2, 2}, {2, 2}, {}},
        {"ResNet-50 stem 3x3/2 pad 1 b256", PoolOp::kMax, {256, 112, 112, 64}, {3, 3}, {2, 2}, {1, 1, 1, 1}},
        {"ResNet-50 stem 3x3/2 pad 1 b8", PoolOp::kMax, {8, 112, 112, 64}, {3, 3}, {2, 2}, {1, 1, 1, 1}},
        {"ResNet-50 stem 3x3/2 pad 1 b1", PoolOp::kMax, {1, 112, 112, 64}, {3, 3}, {2, 2}, {1, 1, 1, 1}},
    };
    for (const PoolBench& b : cases) benchPool(b);
}

TEST(CudaPoolNhwcSpeed, DISABLED_AveragePool) {
    KILN_REQUIRE_GPU();
    const PoolBench cases[] = {
        {"AveragePool 2x2/2 b16", PoolOp::kAverage, {16, 512, 512, 64}, {2, 2}, {2, 2}, {}},
        {"AveragePool 3x3/1 pad 1 b16", PoolOp::kAverageIncludePad, {16, 128, 128, 128}, {3, 3}, {1, 1}, {1, 1, 1, 1}},
    };
    for (const PoolBench& b : cases) benchPool(b);
}

TEST(CudaPoolNhwcSpeed, DISABLED_ConcatChannels) {
    KILN_REQUIRE_GPU();
    struct Bench {
        const char* name;
        int64_t rows;  // N * H * W
        int64_t c;     // channels of each of the two inputs
    };
    const Bench cases[] = {
        {"UNet /Concat_3 [16,512,512,64] x2", 16 * 512 * 512, 64},
        {"UNet /Concat_2 [16,256,256,128] x2", 16 * 256 * 256, 128},
        {"UNet /Concat_3 [1,512,512,64] x2", 512 * 512, 64},
    };
    for (const Bench& b : cases) {
        const size_t inBytes = static_cast<size_t>(b.rows * b.c) * 2;
        DeviceBytes a(inBytes), c(inBytes), yOld(2 * inBytes), yNew(2 * inBytes);
        fillRandomHalves(a.p, inBytes, seed(), -8, 8);
        fillRandomHalves(c.p, inBytes, seed(), -8, 8);
        const std::vector<ConcatInput> inputs{{a.p, b.c}, {c.p, b.c}};
        ASSERT_TRUE(concatVectorized(inputs, yNew.p, 2));
        const std::vector<CopyPart> parts{{a.p, yOld.p, b.rows, b.c, b.c, 2 * b.c},
                                          {c.p, static_cast<char*>(yOld.p) + b.c * 2, b.rows, b.c, b.c, 2 * b.c}};
        compare(
            std::string(b.name) + " fp16", 4.0 * static_cast<double>(inBytes),
            [&] { return launchBatchedCopy(parts, 2, nullptr); },
            [&] { return launchConcat(inputs, yNew.p, b.rows, 2, nullptr); }, yOld.p, yNew.p, 2 * inBytes);
    }
}

TEST(CudaPoolNhwcSpeed, DISABLED_GlobalAveragePool) {
    KILN_REQUIRE_GPU();
    // No new kernel here: the line says whether ResNet-50's head pool needs one (old and new are the same call).
    const int64_t batch = 256, size = 7 * 7, channels = 2048;
    const size_t inBytes = static_cast<size_t>(batch * size * channels) * 2;
    const size_t outBytes = static_cast<size_t>(batch * channels) * 2;
    const int64_t splits = globalAverageSplits(batch, size, channels);
    DeviceBytes x(inBytes), y1(outBytes), y2(outBytes), partial(static_cast<size_t>(batch * splits * channels) * 4);
    fillRandomHalves(x.p, inBytes, seed(), -8, 8);
    auto run = [&](void* y) {
        return launchGlobalAverageChannelsLast(DataType::kFloat16, x.p, y, batch, size, channels, splits, partial.p,
                                               nullptr);
    };
    compare(
        "ResNet-50 GlobalAveragePool [256,7,7,2048] (same kernel twice)", static_cast<double>(inBytes + outBytes),
        [&] { return run(y1.p); }, [&] { return run(y2.p); }, y1.p, y2.p, outBytes);
}

}  // namespace
}  // namespace kiln::testing
