// Broadcasting binary arithmetic: Add, ...
#include "backends/cpu/elementwise.h"

namespace kiln::cpu {

Status kernelAdd(KernelContext& ctx) {
    return binaryKernel(ctx, KILN_DISPATCHER(dispatchNumeric), [](auto a, auto b) { return a + b; });
}

}  // namespace kiln::cpu
