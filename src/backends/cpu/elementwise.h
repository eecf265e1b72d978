// Templates for elementwise kernels: one loop each for unary maps and broadcasting binary maps.
#pragma once

#include "backends/cpu/broadcast.h"
#include "backends/cpu/kernel.h"
#include "common/dispatch.h"

namespace kiln::cpu {

//! out[i] = fn(in[i]) in the input dtype; fn takes and returns ComputeT<T>. `Dispatch` picks the dtype set.
template <typename Fn>
Status unaryFloatKernel(KernelContext& ctx, Fn fn) {
    KILN_RETURN_IF_ERROR(ctx.requireInputs(1, 1));
    const Tensor& x = ctx.input(0);
    return dispatchFloat(x.dtype(), [&]<typename T>() {
        KILN_ASSIGN_OR_RETURN(Tensor * y, ctx.allocateOutput(0, x.dtype(), x.shape()));
        const T* in = x.data<T>();
        T* out = y->data<T>();
        for (int64_t i = 0; i < x.numel(); ++i) {
            out[i] = fromCompute<T>(fn(static_cast<ComputeT<T>>(in[i])));
        }
        return Status::ok();
    });
}

//! out = fn(a, b) with broadcasting; `OutT` given by `outType(inType)`; T chosen by `dispatch`.
template <typename Dispatch, typename Fn>
Status binaryKernel(KernelContext& ctx, Dispatch dispatch, Fn fn, DataType outType = DataType::kUndefined) {
    KILN_RETURN_IF_ERROR(ctx.requireInputs(2, 2));
    const Tensor& a = ctx.input(0);
    const Tensor& b = ctx.input(1);
    if (a.dtype() != b.dtype()) {
        return invalidArgument(std::string("input dtypes differ: ") + dataTypeName(a.dtype()) + " and " +
                               dataTypeName(b.dtype()));
    }
    KILN_ASSIGN_OR_RETURN(Shape shape, broadcastShapes({a.shape(), b.shape()}));
    const DataType resultType = outType == DataType::kUndefined ? a.dtype() : outType;
    KILN_ASSIGN_OR_RETURN(Tensor * y, ctx.allocateOutput(0, resultType, shape));
    const BroadcastIndexer ia(a.shape(), shape);
    const BroadcastIndexer ib(b.shape(), shape);
    const int64_t n = shapeNumel(shape);
    return dispatch(a.dtype(), [&]<typename T>() {
        const T* pa = a.data<T>();
        const T* pb = b.data<T>();
        using C = ComputeT<T>;
        if (resultType == a.dtype()) {
            T* out = y->data<T>();
            for (int64_t i = 0; i < n; ++i)
                out[i] = fromCompute<T>(fn(static_cast<C>(pa[ia(i)]), static_cast<C>(pb[ib(i)])));
        } else {  // comparison / logical: bool output
            bool* out = y->data<bool>();
            for (int64_t i = 0; i < n; ++i)
                out[i] = static_cast<bool>(fn(static_cast<C>(pa[ia(i)]), static_cast<C>(pb[ib(i)])));
        }
        return Status::ok();
    });
}

//! Adapts the dispatch functions (which take a default `what`) to binaryKernel's Dispatch parameter.
#define KILN_DISPATCHER(fn) [](DataType t, auto&& f) { return fn(t, f); }

}  // namespace kiln::cpu
