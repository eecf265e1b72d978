// The pipelined tensor-core attention kernel (attention_flash_pipelined.cu) against the one-tile kernel
// (attention_flash.cu, itself checked against the CPU reference in attention_test.cpp), called directly so both CTA
// sizes run whatever the GPU: 4 warps (64 queries per CTA) and 8 warps (128 queries, the choice on a full GPU,
// which the small OpTester cases would not reach). The two kernels do the same arithmetic in the same order, so
// they should agree to rounding; the tolerance is attention_test.cpp's (the derivation is there). Outputs are
// poisoned (NaN) before each run, so a row the new kernel forgets to write fails.
#include <cuda_runtime.h>

#include "cuda/attention_test_util.h"

namespace kiln::testing {
namespace {

using cuda::launchAttentionFlash;
using cuda::launchAttentionFlashPipelined;

double tolerance(DataType type) { return type == DataType::kFloat16 ? 2e-3 : 1.6e-2; }

void expectPipelinedMatchesOneTile(const AttentionShape& s) {
    SCOPED_TRACE(s.describe());
    const DeviceAttention data(s);
    DeviceBytes oldOut(s.outBytes());
    DeviceBytes newOut(s.outBytes());
    ASSERT_EQ(launchAttentionFlash(s.type, data.params(oldOut.p), nullptr), cudaSuccess);
    const Tensor want = downloadOutput(s, oldOut.p);
    for (int warps : {4, 8}) {
        SCOPED_TRACE("warps=" + std::to_string(warps));
        ASSERT_EQ(cudaMemset(newOut.p, 0xff, s.outBytes()), cudaSuccess);
        ASSERT_EQ(launchAttentionFlashPipelined(s.type, data.params(newOut.p), nullptr, warps), cudaSuccess);
        ASSERT_EQ(cudaDeviceSynchronize(), cudaSuccess);
        expectTensorNear(downloadOutput(s, newOut.p), want, 0.0, tolerance(s.type));
    }
}

TEST(CudaAttentionPipelined, MatchesOneTileKernelOverTailsMasksAndHeadSizes) {
    KILN_REQUIRE_GPU();
    int variant = 0;
    for (DataType type : {DataType::kFloat16, DataType::kBFloat16}) {
        for (int64_t d : {64, 32}) {
            // No key tile, one, one plus one, two, two plus a tail; 64 and 128 are exact CTA sizes.
            for (int64_t seq : {1, 17, 64, 65, 127, 128, 129, 200}) {
                AttentionShape s;
                s.type = type;
                s.b = 2;
                s.h = 3;
                s.sq = s.sk = seq;
                s.d = d;
                s.maskKind = variant % 3;
                s.causal = variant % 4 == 3;
                ++variant;
                expectPipelinedMatchesOneTile(s);
            }
        }
    }
}

TEST(CudaAttentionPipelined, CrossAttentionCausalAndFullyMaskedRows) {
    KILN_REQUIRE_GPU();
    for (DataType type : {DataType::kFloat16, DataType::kBFloat16}) {
        AttentionShape s;
        s.type = type;
        s.h = 2;
        for (auto [sq, sk] : {std::pair<int64_t, int64_t>{7, 200}, {200, 7}, {130, 300}, {300, 130}}) {
            s.sq = sq;
            s.sk = sk;
            s.causal = true;  // top-left aligned; CTAs skip key tiles past their last query
            expectPipelinedMatchesOneTile(s);
            s.causal = false;
            s.maskKind = 2;
            expectPipelinedMatchesOneTile(s);
            s.maskKind = 0;
        }
        // Row 3 masked entirely (NaN on both sides), the others over a whole first key tile.
        s.sq = s.sk = 150;
        s.maskKind = 3;
        expectPipelinedMatchesOneTile(s);
    }
}

TEST(CudaAttentionPipelined, RefusesWhatItDoesNotTake) {
    KILN_REQUIRE_GPU();
    AttentionShape s;
    s.sq = s.sk = 4;
    const DeviceAttention data(s);
    DeviceBytes out(s.outBytes());
    cuda::AttentionParams p = data.params(out.p);
    EXPECT_EQ(launchAttentionFlashPipelined(DataType::kFloat16, p, nullptr, 6), cudaErrorInvalidValue);
    EXPECT_EQ(launchAttentionFlashPipelined(DataType::kFloat32, p, nullptr, 0), cudaErrorInvalidValue);
    p.d = p.dv = 128;  // the one-tile kernel's
    EXPECT_EQ(launchAttentionFlashPipelined(DataType::kFloat16, p, nullptr, 0), cudaErrorInvalidValue);
    EXPECT_EQ(cuda::chooseAttentionPath(DataType::kFloat16, p), cuda::AttentionPath::kFlash);
    p.d = p.dv = 64;
    EXPECT_EQ(cuda::chooseAttentionPath(DataType::kBFloat16, p), cuda::AttentionPath::kFlash) << "a small grid";
    p.batch = 128;
    p.heads = 12;
    p.sq = p.sk = 128;
    EXPECT_EQ(cuda::chooseAttentionPath(DataType::kBFloat16, p), cuda::AttentionPath::kFlashPipelined) << "BERT b128";
    p.sk = cuda::kPipelinedMaxSequence + 1;
    EXPECT_EQ(cuda::chooseAttentionPath(DataType::kFloat16, p), cuda::AttentionPath::kFlash);
}

}  // namespace
}  // namespace kiln::testing
