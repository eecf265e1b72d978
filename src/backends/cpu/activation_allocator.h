// The hook through which the CPU executor places a run's activations in memory it does not own (the runtime's
// per-context arena, src/runtime/activation_arena.h). Without one, every activation is a heap allocation.
#pragma once

#include "ir/graph.h"
#include "kiln/status.h"
#include "kiln/tensor.h"

namespace kiln::cpu {

//! Used by one run at a time (the executor calls it from the thread that runs the graph). Only the top-level graph
//! of a run uses it: subgraph (If/Loop/Scan body) values are always heap allocations.
class ActivationAllocator {
public:
    virtual ~ActivationAllocator() = default;
    //! Zero-filled memory for node output `value` as `dtype`/`shape`, or an undefined Tensor when the allocator has
    //! none for it (the kernel then allocates on the heap). Called by KernelContext::allocateOutput.
    virtual Tensor allocate(const ir::Value& value, DataType dtype, const Shape& shape) = 0;
    //! Called with every output a kernel produced, wherever it lives, before it is stored. May replace `tensor` by
    //! an equal tensor elsewhere: one that aliases memory the allocator will reuse (e.g. a Reshape of another
    //! activation) must be moved out of the way.
    virtual void produced(const ir::Value& value, Tensor& tensor) = 0;
};

}  // namespace kiln::cpu
