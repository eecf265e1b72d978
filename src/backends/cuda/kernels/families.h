// One registration function per CUDA kernel family (kernels/<family>*.cpp); kernel_table.cpp calls them all.
#pragma once

#include "backends/cuda/kernel.h"

namespace kiln::cuda {

void registerShapeKernels(KernelRegistry& r);          // Identity, Reshape, Flatten, Squeeze, Unsqueeze (views)
void registerElementwiseKernels(KernelRegistry& r);    // unary, binary, activations, Where, Cast, Clip, ...
void registerDataMovementKernels(KernelRegistry& r);   // Transpose, Concat, Slice, Gather, Pad, Expand, Tile, ...
void registerReductionKernels(KernelRegistry& r);      // Reduce*, ArgMax/Min, Softmax, LogSoftmax, CumSum, TopK
void registerNormalizationKernels(KernelRegistry& r);  // BatchNorm, LayerNorm, InstanceNorm, GroupNorm, LRN
void registerConvKernels(KernelRegistry& r);           // Conv, ConvTranspose, FusedConv (cuDNN)
void registerMatMulKernels(KernelRegistry& r);         // MatMul, Gemm, FusedGemm, FusedMatMul (cuBLASLt)
void registerPoolingKernels(KernelRegistry& r);        // MaxPool, AveragePool, GlobalPools, LpPool
void registerNhwcConvKernels(KernelRegistry& r);       // FusedConvNhwc, ConvTransposeNhwc (cuDNN, channels-last)
void registerNhwcPoolKernels(KernelRegistry& r);       // MaxPoolNhwc, AveragePoolNhwc, GlobalAveragePoolNhwc
void registerResizeKernels(KernelRegistry& r);         // Resize, Upsample, DepthToSpace, SpaceToDepth, GridSample
void registerAttentionKernels(KernelRegistry& r);      // kiln Attention (flash-style, tensor cores for FP16/BF16)
void registerGeluKernels(KernelRegistry& r);           // Gelu (the fused-epilogue kernel)
void registerTransposeCastKernels(KernelRegistry& r);  // kiln TransposeCast (the channels-last edges)

}  // namespace kiln::cuda
