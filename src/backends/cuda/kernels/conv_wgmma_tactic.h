// Kiln's weights-stationary 64-output-channel convolution (conv_wgmma.h) as a tactic candidate of the channels-last
// fused convolution (cudnnConvBiasActivationForward, conv_cudnn.h), beside the few-input-channel kernel
// (conv_small_c_tactic.h) and in the same way: where the kernel takes the problem (2-D, one group, stride and
// dilation 1, FP16/BF16, 1x1 or 3x3, C a multiple of 64, M == 64), the device is compute capability 9.0 and the
// operands are 16-byte aligned, a build's tactic timing run times it right after cuDNN's legacy first choice; it
// wins only where it is faster by the timer's margin. Its tactic text is kWgmmaConvTactic (no workspace); such
// signatures end in "|kiln=wgmma64_1", so that timing caches written before the candidate existed do not
// answer for it. Without tactics nothing here runs.
#pragma once

#include <cstdint>
#include <string>

#include "backends/cuda/kernels/conv_cudnn_graph.h"
#include "backends/cuda/kernels/conv_wgmma.h"

namespace kiln::cuda {

//! The tactic text that names the kernel (version 1 of its tiling).
inline constexpr const char* kWgmmaConvTactic = "kiln wgmma64 v1 workspace=0";

//! Whether the kernel takes the problem, pointers and device aside (the signature's "kiln=wgmma64_1" part). Host only.
bool wgmmaConvServes(const CudnnConvProblem& p);

//! wgmmaConvServes, the device runs it, and the operands it needs: x, w and y present, x, w, y and z 16-byte
//! aligned.
bool wgmmaConvApplies(const CudnnConvProblem& p, const FusedConvOperands& ops);

//! Enqueues the call through the kernel on ctx's stream; kUnsupported when it does not apply.
Status runWgmmaConv(CudaKernelContext& ctx, const CudnnConvProblem& p, const FusedConvOperands& ops, bool relu);

//! The call with a 1x1 head in the kernel's epilogue (conv_wgmma.h's WgmmaConvHead: ops.out is the head's output, y
//! is not written); kUnsupported when the kernel does not apply or the head is past kWgmmaConvMaxHead.
Status runWgmmaConvHead(CudaKernelContext& ctx, const CudnnConvProblem& p, const FusedConvOperands& ops, bool relu,
                        const WgmmaConvHead& head);

//! The call with a 2x2 MaxPool of y in the kernel's epilogue (conv_wgmma.h's WgmmaConvPool: y is written too);
//! kUnsupported when the kernel does not apply, the output dims are odd or pool.out is null or not 16-byte aligned.
Status runWgmmaConvPool(CudaKernelContext& ctx, const CudnnConvProblem& p, const FusedConvOperands& ops, bool relu,
                        const WgmmaConvPool& pool);

//! Whether `text` claims to be a Kiln wgmma tactic (any version).
bool isWgmmaConvTactic(const std::string& text);

//! Runs the call with the recorded `tactic`: true when the kernel ran; false when the tactic is not this version's
//! or the call does not apply (the caller then takes the legacy path).
Result<bool> runWgmmaConvTactic(CudaKernelContext& ctx, const CudnnConvProblem& p, const FusedConvOperands& ops,
                                bool relu, const std::string& tactic);

//! How many convolutions the kernel ran through the paths above since the process started (tests check the path).
uint64_t wgmmaConvRuns();

}  // namespace kiln::cuda
