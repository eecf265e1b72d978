// Kiln's few-input-channel convolution (conv_small_c.h) as a tactic candidate of the channels-last fused
// convolution (cudnnConvBiasActivationForward, conv_cudnn.h): where the kernel takes the problem (2-D, one group,
// dilation 1, FP16/BF16, C <= 4, M a multiple of 8 up to 64, kH * kW * C padded to 16 at most 256) and y / z are
// 16-byte aligned, a build's tactic timing run times it beside cuDNN's legacy algorithms and graph configs, right
// after the legacy first choice (so that level 1, which times two candidates, times it too); it wins only where it
// is faster by the timer's margin. Its tactic text is kSmallChannelTactic (no workspace); such signatures end in
// "|kiln=small_c1", so that timing caches written before the candidate existed do not answer for it. Without
// tactics nothing here runs: the legacy first choice stays the default.
#pragma once

#include <cstdint>
#include <string>

#include "backends/cuda/kernels/conv_cudnn_graph.h"
#include "backends/cuda/kernels/conv_small_c.h"

namespace kiln::cuda {

//! The tactic text that names the kernel (version 1 of its tiling).
inline constexpr const char* kSmallChannelTactic = "kiln small_c v1 workspace=0";

//! Whether the kernel takes the problem, pointers aside (the signature's "kiln=small_c1" part). Host only.
bool smallChannelConvServes(const CudnnConvProblem& p);

//! smallChannelConvServes and the operands the kernel needs: x, w and y present, y and z 16-byte aligned.
bool smallChannelConvApplies(const CudnnConvProblem& p, const FusedConvOperands& ops);

//! The kernel's parameters for the fused call (p's symmetric pads are the top / left ones).
SmallChannelConvParams smallChannelConvParams(const CudnnConvProblem& p, const FusedConvOperands& ops, bool relu);

//! Whether `p` is a fused problem Kiln's direct channels-last kernels map to SmallChannelConvParams: 2-D, channels-
//! last, one group, dilation 1, and the filter's channels and the output batch the input's (as for every problem
//! cudnnProblem makes). Each kernel's `...Serves` adds its own limits. Host only.
bool directConvMaps(const CudnnConvProblem& p);

//! Enqueues the call through the kernel on ctx's stream; kUnsupported when it does not apply.
Status runSmallChannelConv(CudaKernelContext& ctx, const CudnnConvProblem& p, const FusedConvOperands& ops, bool relu);

//! Whether `text` claims to be a Kiln small-channel tactic (any version).
bool isSmallChannelTactic(const std::string& text);

//! Runs the call with the recorded `tactic`: true when the kernel ran; false when the tactic is not this version's
//! or the call does not apply (the caller then takes the legacy path, as for a tactic cuDNN refuses).
Result<bool> runSmallChannelTactic(CudaKernelContext& ctx, const CudnnConvProblem& p, const FusedConvOperands& ops,
                                   bool relu, const std::string& tactic);

//! How many convolutions the kernel ran through the paths above since the process started (tests check the path).
uint64_t smallChannelConvRuns();

}  // namespace kiln::cuda
