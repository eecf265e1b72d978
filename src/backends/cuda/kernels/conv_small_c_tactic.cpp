#include "backends/cuda/kernels/conv_small_c_tactic.h"

#include <atomic>

#include "backends/cuda/check.h"
#include "backends/cuda/kernels/aligned.h"

namespace kiln::cuda {

namespace {

std::atomic<uint64_t> gRuns{0};

}  // namespace

SmallChannelConvParams smallChannelConvParams(const CudnnConvProblem& p, const FusedConvOperands& ops, bool relu) {
    return SmallChannelConvParams{.dtype = p.dtype,
                                  .x = ops.in,
                                  .w = ops.filter,
                                  .bias = ops.bias,
                                  .z = ops.z,
                                  .y = ops.out,
                                  .batch = p.in[0],
                                  .inH = p.in[2],
                                  .inW = p.in[3],
                                  .channels = p.in[1],
                                  .outChannels = p.out[1],
                                  .kernelH = p.filter[2],
                                  .kernelW = p.filter[3],
                                  .strideH = p.stride[0],
                                  .strideW = p.stride[1],
                                  .padTop = p.pad[0],
                                  .padLeft = p.pad[1],
                                  .outH = p.out[2],
                                  .outW = p.out[3],
                                  .relu = relu};
}

bool directConvMaps(const CudnnConvProblem& p) {
    if (!p.channelsLast || p.nbDims != 4 || p.group != 1 || p.dilation[0] != 1 || p.dilation[1] != 1) return false;
    return p.filter[1] == p.in[1] && p.filter[0] == p.out[1] && p.out[0] == p.in[0];
}

bool smallChannelConvServes(const CudnnConvProblem& p) {
    return directConvMaps(p) && smallChannelConvSupports(smallChannelConvParams(p, FusedConvOperands{}, false));
}

bool smallChannelConvApplies(const CudnnConvProblem& p, const FusedConvOperands& ops) {
    return smallChannelConvServes(p) && ops.in != nullptr && ops.filter != nullptr && ops.out != nullptr &&
           aligned16(ops.out) && aligned16(ops.z);
}

Status runSmallChannelConv(CudaKernelContext& ctx, const CudnnConvProblem& p, const FusedConvOperands& ops, bool relu) {
    if (!smallChannelConvApplies(p, ops)) return unsupported("Kiln's small-channel convolution does not apply");
    KILN_CUDA_CHECK(launchSmallChannelConv(smallChannelConvParams(p, ops, relu), ctx.stream()));
    gRuns.fetch_add(1, std::memory_order_relaxed);
    return Status::ok();
}

bool isSmallChannelTactic(const std::string& text) { return text.rfind("kiln small_c", 0) == 0; }

Result<bool> runSmallChannelTactic(CudaKernelContext& ctx, const CudnnConvProblem& p, const FusedConvOperands& ops,
                                   bool relu, const std::string& tactic) {
    if (tactic != kSmallChannelTactic || !smallChannelConvApplies(p, ops)) return false;
    KILN_RETURN_IF_ERROR(runSmallChannelConv(ctx, p, ops, relu));
    return true;
}

uint64_t smallChannelConvRuns() { return gRuns.load(std::memory_order_relaxed); }

}  // namespace kiln::cuda
