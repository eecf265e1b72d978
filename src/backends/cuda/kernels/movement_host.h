// Host-side helpers shared by the CUDA data-movement, indexing and resize families (C++20, .cpp files only).
#pragma once

#include "backends/cpu/op_plans.h"
#include "backends/cuda/kernel.h"

namespace kiln::cuda {

//! Fails (kUnsupported) for dtypes the device kernels cannot move: strings stay on the host, and only 1/2/4/8-byte
//! elements are words.
Status requireDeviceCopyable(const DeviceTensor& t, const char* what);

//! Writes output 0 as `x` viewed as plan.view and permuted by plan.perm (DepthToSpace, SpaceToDepth).
Status permuteToOutput(CudaKernelContext& ctx, const DeviceTensor& x, const cpu::PermuteViewPlan& plan);

//! The rest of the data-movement family, registered by registerDataMovementKernels.
void registerGatherScatterKernels(KernelRegistry& r);  // gather_scatter.cpp
void registerTensorFillKernels(KernelRegistry& r);     // tensor_fill.cpp

}  // namespace kiln::cuda
