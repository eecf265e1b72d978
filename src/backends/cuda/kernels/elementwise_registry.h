// The elementwise family's registration, split by host file (kernels/elementwise.cpp calls both).
#pragma once

#include "backends/cuda/kernel.h"

namespace kiln::cuda {

void registerElementwiseUnaryKernels(KernelRegistry& r);      // elementwise_unary.cpp: math, activations, Clip, Dropout
void registerElementwiseBroadcastKernels(KernelRegistry& r);  // elementwise_binary.cpp: binary, variadic, Where, Cast

}  // namespace kiln::cuda
