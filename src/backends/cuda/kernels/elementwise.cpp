// Registration of the Elementwise family's CUDA kernels.
#include "backends/cuda/kernels/families.h"

namespace kiln::cuda {

void registerElementwiseKernels(KernelRegistry& r) { (void)r; }

}  // namespace kiln::cuda
