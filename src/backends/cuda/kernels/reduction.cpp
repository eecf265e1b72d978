// Registration of the Reduction family's CUDA kernels.
#include "backends/cuda/kernels/families.h"

namespace kiln::cuda {

void registerReductionKernels(KernelRegistry& r) { (void)r; }

}  // namespace kiln::cuda
