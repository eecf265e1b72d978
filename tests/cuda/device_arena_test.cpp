// The activation arena (backends/cuda/device_memory.h): first-fit reuse, overflow outside the block, and the peak it
// records, also when the overflow's cudaMalloc fails because the stream is being captured (the engine then grows the
// arena before the next enqueue and captures again, instead of giving up on CUDA graphs at those shapes).
#include <cuda_runtime.h>
#include <gtest/gtest.h>

#include "backends/cuda/device_memory.h"
#include "cuda/cuda_op_tester.h"

namespace kiln::testing {
namespace {

TEST(CudaDeviceArena, OverflowServedOutsideTheBlockThenGrowthFitsIt) {
    KILN_REQUIRE_GPU();
    cuda::DeviceArena arena;
    ASSERT_TRUE(arena.reserve(4096).isOk());
    auto a = arena.allocate(3000);
    ASSERT_TRUE(a.isOk());
    auto b = arena.allocate(3000);  // does not fit beside a
    ASSERT_TRUE(b.isOk()) << b.status().message();
    EXPECT_EQ(arena.overflowCount(), 1u);
    EXPECT_GE(arena.peak(), size_t{6000});
    arena.free(*a);
    arena.free(*b);
    ASSERT_TRUE(arena.idle());
    ASSERT_TRUE(arena.growToPeak().isOk());
    EXPECT_GE(arena.capacity(), size_t{6000});
    a = arena.allocate(3000);
    b = arena.allocate(3000);
    ASSERT_TRUE(a.isOk() && b.isOk());
    EXPECT_EQ(arena.overflowCount(), 1u) << "after growing, both fit in the block";
    arena.free(*a);
    arena.free(*b);
}

TEST(CudaDeviceArena, OverflowRefusedWhileCapturingStillRecordsThePeak) {
    KILN_REQUIRE_GPU();
    cuda::DeviceArena arena;
    ASSERT_TRUE(arena.reserve(4096).isOk());
    cudaStream_t stream = nullptr;
    ASSERT_EQ(cudaStreamCreateWithFlags(&stream, cudaStreamNonBlocking), cudaSuccess);
    ASSERT_EQ(cudaStreamBeginCapture(stream, cudaStreamCaptureModeGlobal), cudaSuccess);
    auto a = arena.allocate(3000);
    ASSERT_TRUE(a.isOk());
    auto b = arena.allocate(3000);  // cudaMalloc is not permitted while capturing
    EXPECT_FALSE(b.isOk());
    cudaGraph_t graph = nullptr;
    cudaStreamEndCapture(stream, &graph);  // invalidated by the refused call; only ended here
    if (graph != nullptr) cudaGraphDestroy(graph);
    cudaGetLastError();  // clear the capture error
    arena.free(*a);
    EXPECT_EQ(arena.overflowCount(), 1u) << "the refused overflow is counted";
    EXPECT_GE(arena.peak(), size_t{6000}) << "and its size is in the peak";
    ASSERT_TRUE(arena.growToPeak().isOk());
    EXPECT_GE(arena.capacity(), size_t{6000});
    ASSERT_EQ(cudaStreamDestroy(stream), cudaSuccess);
}

}  // namespace
}  // namespace kiln::testing
