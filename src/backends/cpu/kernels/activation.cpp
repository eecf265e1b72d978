// Activations: Relu, ...
#include "backends/cpu/elementwise.h"

namespace kiln::cpu {

Status kernelRelu(KernelContext& ctx) {
    KILN_RETURN_IF_ERROR(ctx.requireInputs(1, 1));
    const Tensor& x = ctx.input(0);
    // Relu-14 added integer types.
    return dispatchNumeric(x.dtype(), [&]<typename T>() {
        KILN_ASSIGN_OR_RETURN(Tensor * y, ctx.allocateOutput(0, x.dtype(), x.shape()));
        for (int64_t i = 0; i < x.numel(); ++i) {
            const auto v = static_cast<ComputeT<T>>(x.data<T>()[i]);
            y->data<T>()[i] = fromCompute<T>(v > ComputeT<T>(0) ? v : ComputeT<T>(0));
        }
        return Status::ok();
    });
}

}  // namespace kiln::cpu
