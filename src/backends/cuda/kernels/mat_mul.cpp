// Registration of the MatMul family's CUDA kernels.
#include "backends/cuda/kernels/families.h"

namespace kiln::cuda {

void registerMatMulKernels(KernelRegistry& r) { (void)r; }

}  // namespace kiln::cuda
