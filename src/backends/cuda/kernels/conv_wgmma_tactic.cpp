#include "backends/cuda/kernels/conv_wgmma_tactic.h"

#include <atomic>

#include "backends/cuda/check.h"
#include "backends/cuda/kernels/aligned.h"
#include "backends/cuda/kernels/conv_small_c_tactic.h"

namespace kiln::cuda {

namespace {

std::atomic<uint64_t> gRuns{0};

}  // namespace

bool wgmmaConvServes(const CudnnConvProblem& p) {
    // The parameters are the small-channel kernel's (the same fused problem).
    return directConvMaps(p) && wgmmaConvSupports(smallChannelConvParams(p, FusedConvOperands{}, false));
}

bool wgmmaConvApplies(const CudnnConvProblem& p, const FusedConvOperands& ops) {
    return wgmmaConvServes(p) && ops.in != nullptr && ops.filter != nullptr && ops.out != nullptr &&
           aligned16(ops.in) && aligned16(ops.filter) && aligned16(ops.out) && aligned16(ops.z) &&
           wgmmaConvDeviceSupported();
}

Status runWgmmaConv(CudaKernelContext& ctx, const CudnnConvProblem& p, const FusedConvOperands& ops, bool relu) {
    if (!wgmmaConvApplies(p, ops)) return unsupported("Kiln's wgmma convolution does not apply");
    KILN_CUDA_CHECK(launchWgmmaConv(smallChannelConvParams(p, ops, relu), ctx.stream()));
    gRuns.fetch_add(1, std::memory_order_relaxed);
    return Status::ok();
}

Status runWgmmaConvHead(CudaKernelContext& ctx, const CudnnConvProblem& p, const FusedConvOperands& ops, bool relu,
                        const WgmmaConvHead& head) {
    if (!wgmmaConvApplies(p, ops) || head.k < 1 || head.k > kWgmmaConvMaxHead) {
        return unsupported("Kiln's wgmma convolution does not apply (with a head of " + std::to_string(head.k) + ")");
    }
    KILN_CUDA_CHECK(launchWgmmaConv(smallChannelConvParams(p, ops, relu), ctx.stream(), 0, &head));
    gRuns.fetch_add(1, std::memory_order_relaxed);
    return Status::ok();
}

Status runWgmmaConvPool(CudaKernelContext& ctx, const CudnnConvProblem& p, const FusedConvOperands& ops, bool relu,
                        const WgmmaConvPool& pool) {
    if (!wgmmaConvApplies(p, ops) || pool.out == nullptr || !aligned16(pool.out) ||
        !wgmmaConvPoolSupports(smallChannelConvParams(p, ops, relu))) {
        return unsupported("Kiln's wgmma convolution does not apply (with a 2x2 MaxPool)");
    }
    KILN_CUDA_CHECK(launchWgmmaConv(smallChannelConvParams(p, ops, relu), ctx.stream(), 0, nullptr, &pool));
    gRuns.fetch_add(1, std::memory_order_relaxed);
    return Status::ok();
}

bool isWgmmaConvTactic(const std::string& text) { return text.rfind("kiln wgmma64", 0) == 0; }

Result<bool> runWgmmaConvTactic(CudaKernelContext& ctx, const CudnnConvProblem& p, const FusedConvOperands& ops,
                                bool relu, const std::string& tactic) {
    if (tactic != kWgmmaConvTactic || !wgmmaConvApplies(p, ops)) return false;
    KILN_RETURN_IF_ERROR(runWgmmaConv(ctx, p, ops, relu));
    return true;
}

uint64_t wgmmaConvRuns() { return gRuns.load(std::memory_order_relaxed); }

}  // namespace kiln::cuda
