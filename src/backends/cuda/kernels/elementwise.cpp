// Registration of the Elementwise family's CUDA kernels: unary math, activations, Clip, Dropout
// (elementwise_unary.cpp) and the broadcasting binary and variadic ops, Where, Cast (elementwise_binary.cpp).
#include "backends/cuda/kernels/elementwise_registry.h"
#include "backends/cuda/kernels/families.h"

namespace kiln::cuda {

void registerElementwiseKernels(KernelRegistry& r) {
    registerElementwiseUnaryKernels(r);
    registerElementwiseBroadcastKernels(r);
}

}  // namespace kiln::cuda
