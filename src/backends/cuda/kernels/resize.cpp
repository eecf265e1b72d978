// Registration of the Resize family's CUDA kernels.
#include "backends/cuda/kernels/families.h"

namespace kiln::cuda {

void registerResizeKernels(KernelRegistry& r) { (void)r; }

}  // namespace kiln::cuda
