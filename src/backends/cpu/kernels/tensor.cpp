// Shape and data movement: Identity, ...
#include "backends/cpu/kernel.h"

namespace kiln::cpu {

Status kernelIdentity(KernelContext& ctx) {
    KILN_RETURN_IF_ERROR(ctx.requireInputs(1, 1));
    ctx.outputs[0] = ctx.input(0);  // shares the buffer; kernels never write their inputs
    return Status::ok();
}

}  // namespace kiln::cpu
