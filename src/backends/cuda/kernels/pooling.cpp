// Registration of the Pooling family's CUDA kernels.
#include "backends/cuda/kernels/families.h"

namespace kiln::cuda {

void registerPoolingKernels(KernelRegistry& r) { (void)r; }

}  // namespace kiln::cuda
