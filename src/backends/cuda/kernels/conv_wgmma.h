// Kiln's weights-stationary convolution for 64 input and 64 output channels on Hopper's warpgroup MMA (issue 7):
// UNet's level-0 3x3 convolutions (64 -> 64 on [16, 512, 512, 64] NHWC FP16, the decoder's two halves of its
// 128 -> 64 after concat-conv-split among them) run at ~466 TFLOP/s in cuDNN, whose kernels read both GEMM operands
// from shared memory and are bound by its bandwidth when N = 64. This kernel computes the transposed GEMM Y^T = W^T ·
// X^T instead: the 64 output channels are wgmma's M, taken from REGISTERS (the weights stay in the registers of a
// persistent CTA), and only the input pixels (wgmma's B) come from shared memory. Launcher declarations, plain C++17;
// the kernel in conv_wgmma.cu (compiled for sm_90a only).
//
// The problem is the one conv_small_c.h describes (SmallChannelConvParams: y = act(conv(x, w) + bias [+ z]),
// channels-last, KRSC weights, float32 accumulation, one rounding), restricted to what this kernel serves.
#pragma once

#include <cuda_runtime.h>

#include "backends/cuda/kernels/conv_small_c.h"

namespace kiln::cuda {

//! The fused channels-last convolution as this kernel takes it (the same fields as the small-channel kernel's).
using WgmmaConvParams = SmallChannelConvParams;

//! The output channels the kernel computes (wgmma's M), exactly.
inline constexpr int kWgmmaConvOutChannels = 64;
//! The input channels the kernel takes, exactly: the weights of every tap stay in registers. (A version that
//! reloaded them per 64-channel block ran UNet's 128 -> 64 layer at 0.41x cuDNN's speed.)
inline constexpr int kWgmmaConvChannels = 64;

//! Whether the kernel takes the problem's geometry and dtype (pointers aside): float16 / bfloat16, stride 1,
//! kernel 1x1 or 3x3, pads >= 0 with outH = inH + 2 padTop - kH + 1 + (bottom pad - top pad) (any bottom / right
//! pad >= 0), channels == outChannels == 64,
//! sizes whose element counts fit 31 bits. Host only; says nothing about the device (wgmmaConvDeviceSupported).
bool wgmmaConvSupports(const WgmmaConvParams& p);

//! Whether the current device runs the kernel: compute capability 9.0 exactly (the code is sm_90a), and the
//! driver gives cuTensorMapEncodeTiled. Host only; cached per device.
bool wgmmaConvDeviceSupported();

//! A 1x1 "head" convolution computed in the epilogue instead of storing y: out = conv1x1(h, w2) + b2, where h is the
//! convolution's result rounded to its dtype (what a separate layer would have read), w2 [k, 64] and b2 [k] (or
//! null) of that dtype, out [batch, outH, outW, k] channels-last. y is not written (p.y may be null); p.z must be
//! null.
struct WgmmaConvHead {
    const void* w2 = nullptr;
    const void* b2 = nullptr;
    void* out = nullptr;
    int k = 0;
};

//! The head sizes the kernel takes: 1 <= k <= kWgmmaConvMaxHead.
inline constexpr int kWgmmaConvMaxHead = 8;

//! A 2x2 MaxPool (strides 2, no padding) of y computed in the epilogue besides storing y: out [batch, outH / 2,
//! outW / 2, 64] channels-last, bit for bit MaxPoolNhwc over the stored y (its order of taps and its rule: the first
//! tap counts, a later one replaces it only when strictly greater). Needs outH and outW even (wgmmaConvPoolSupports).
struct WgmmaConvPool {
    void* out = nullptr;
};

//! wgmmaConvSupports, and outH and outW even (the pooled rows and columns are whole pairs). Host only.
bool wgmmaConvPoolSupports(const WgmmaConvParams& p);

//! Enqueues the convolution on `stream` (with `head`: only the head's output; with `pool`: y and its pooled copy).
//! cudaErrorInvalidValue when wgmmaConvSupports refuses the problem, x, w, y, z are not 16-byte aligned, the head is
//! malformed (k out of range, a null w2 or out, a z given), or the pool is (with a head, a null or unaligned out, a
//! null y, odd outH or outW); cudaErrorNotSupported when the device does not run it; an empty output launches
//! nothing. `maxCtas` > 0 caps the persistent grid (tests use it to give each CTA several strips); 0 is one CTA per
//! SM.
cudaError_t launchWgmmaConv(const WgmmaConvParams& p, cudaStream_t stream, int maxCtas = 0,
                            const WgmmaConvHead* head = nullptr, const WgmmaConvPool* pool = nullptr);

}  // namespace kiln::cuda
