// Reference kernel of kiln TransposeCast (made by src/passes/transpose_cast_fusion.cpp): Transpose's kernel, then
// Cast's, so the fused node is by construction what the two nodes it replaces computed. Casting and permuting
// commute (the cast is elementwise), so the order the pass found them in does not matter.
#include "backends/cpu/kernel.h"

namespace kiln::cpu {

Status kernelTransposeCast(KernelContext& ctx) {
    KILN_RETURN_IF_ERROR(ctx.requireInputs(1, 1));
    if (!ctx.attrs().has("to")) return invalidArgument("attribute 'to' is required");
    // The permuted copy lives on the heap (no allocator): output 0's arena slot is the cast's.
    KernelContext moved{ctx.node, ctx.inputs, {}, ctx.runSubgraph, nullptr};
    moved.outputs.resize(1);
    KILN_RETURN_IF_ERROR(kernelTranspose(moved));
    KernelContext cast{ctx.node, {&moved.outputs[0]}, {}, ctx.runSubgraph, ctx.allocator};
    cast.outputs.resize(ctx.numOutputs());
    KILN_RETURN_IF_ERROR(kernelCast(cast));
    ctx.outputs[0] = std::move(cast.outputs[0]);
    return Status::ok();
}

}  // namespace kiln::cpu
