#include "backends/cuda/kernels/conv_wgmma_tactic.h"

#include <atomic>

#include "backends/cuda/check.h"
#include "backends/cuda/kernels/aligned.h"
#include "backends/cuda/kernels/conv_small_c_tactic.h"

namespace kiln::cuda {

namespace {

std::atomic<uint64_t> gRuns{0};

//! Enqueues the kernel on ctx's stream (with the head or pool given) and counts the run.
Status launchCounted(CudaKernelContext& ctx, const WgmmaConvParams& params, const WgmmaConvHead* head = nullptr,
                     const WgmmaConvPool* pool = nullptr) {
    KILN_CUDA_CHECK(launchWgmmaConv(params, ctx.stream(), 0, head, pool));
    gRuns.fetch_add(1, std::memory_order_relaxed);
    return Status::ok();
}

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
    return launchCounted(ctx, smallChannelConvParams(p, ops, relu));
}

Status runWgmmaConvHead(CudaKernelContext& ctx, const CudnnConvProblem& p, const FusedConvOperands& ops, bool relu,
                        const WgmmaConvHead& head) {
    if (!wgmmaConvApplies(p, ops) || head.k < 1 || head.k > kWgmmaConvMaxHead) {
        return unsupported("Kiln's wgmma convolution does not apply (with a head of " + std::to_string(head.k) + ")");
    }
    return launchCounted(ctx, smallChannelConvParams(p, ops, relu), &head);
}

Status runWgmmaConvPool(CudaKernelContext& ctx, const CudnnConvProblem& p, const FusedConvOperands& ops, bool relu,
                        const WgmmaConvPool& pool) {
    const WgmmaConvParams params = smallChannelConvParams(p, ops, relu);
    if (!wgmmaConvApplies(p, ops) || pool.out == nullptr || !aligned16(pool.out) || !wgmmaConvPoolSupports(params)) {
        return unsupported("Kiln's wgmma convolution does not apply (with a 2x2 MaxPool)");
    }
    return launchCounted(ctx, params, nullptr, &pool);
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
