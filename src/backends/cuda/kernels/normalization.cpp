// Registration of the Normalization family's CUDA kernels.
#include "backends/cuda/kernels/families.h"

namespace kiln::cuda {

void registerNormalizationKernels(KernelRegistry& r) { (void)r; }

}  // namespace kiln::cuda
