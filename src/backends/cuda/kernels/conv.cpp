// Registration of the Conv family's CUDA kernels.
#include "backends/cuda/kernels/families.h"

namespace kiln::cuda {

void registerConvKernels(KernelRegistry& r) { (void)r; }

}  // namespace kiln::cuda
