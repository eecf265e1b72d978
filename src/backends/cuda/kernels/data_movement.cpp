// Registration of the DataMovement family's CUDA kernels.
#include "backends/cuda/kernels/families.h"

namespace kiln::cuda {

void registerDataMovementKernels(KernelRegistry& r) { (void)r; }

}  // namespace kiln::cuda
