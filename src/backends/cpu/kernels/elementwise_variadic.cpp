// Variadic elementwise ops with multi-way broadcasting (Max Min Sum Mean) and Where.
#include <cmath>
#include <cstring>
#include <type_traits>

#include "backends/cpu/elementwise_ops.h"

namespace kiln::cpu {

namespace {

//! Max/Min: NaN propagates (numpy.maximum/minimum).
template <typename Pick>
Status extremum(KernelContext& ctx, Pick pick) {
    return ew::variadicFold(
        ctx, KILN_DISPATCHER(dispatchNumeric),
        [pick]<typename C>(C acc, C v) -> C {
            if (ew::isNan(acc) || ew::isNan(v)) return ew::isNan(acc) ? acc : v;
            return pick(acc, v) ? acc : v;
        },
        [](auto v) { return v; });
}

}  // namespace

Status kernelMax(KernelContext& ctx) {
    return extremum(ctx, [](auto a, auto b) { return a >= b; });
}

Status kernelMin(KernelContext& ctx) {
    return extremum(ctx, [](auto a, auto b) { return a <= b; });
}

Status kernelSum(KernelContext& ctx) {
    return ew::variadicFold(
        ctx, KILN_DISPATCHER(dispatchFloat), [](auto acc, auto v) { return acc + v; }, [](auto v) { return v; });
}

Status kernelMean(KernelContext& ctx) {
    const auto count = static_cast<double>(ctx.numInputs());
    return ew::variadicFold(
        ctx, KILN_DISPATCHER(dispatchFloat), [](auto acc, auto v) { return acc + v; },
        [count]<typename C>(C v) { return static_cast<C>(v / count); });
}

Status kernelWhere(KernelContext& ctx) {
    KILN_RETURN_IF_ERROR(ctx.requireInputs(3, 3));
    const Tensor& cond = ctx.input(0);
    const Tensor& x = ctx.input(1);
    const Tensor& y = ctx.input(2);
    if (cond.dtype() != DataType::kBool) {
        return invalidArgument(std::string("input 0 'condition' must be bool, got ") + dataTypeName(cond.dtype()));
    }
    if (x.dtype() != y.dtype()) {
        return invalidArgument(std::string("inputs 1 'X' and 2 'Y' must have the same dtype, got ") +
                               dataTypeName(x.dtype()) + " and " + dataTypeName(y.dtype()));
    }
    if (x.dtype() == DataType::kUndefined) return invalidArgument("input 1 'X' has no dtype");
    KILN_ASSIGN_OR_RETURN(Shape shape, broadcastShapes({cond.shape(), x.shape(), y.shape()}));
    KILN_ASSIGN_OR_RETURN(Tensor * out, ctx.allocateOutput(0, x.dtype(), shape));
    const BroadcastIndexer ic(cond.shape(), shape);
    const BroadcastIndexer ix(x.shape(), shape);
    const BroadcastIndexer iy(y.shape(), shape);
    const bool* c = cond.data<bool>();
    const int64_t n = shapeNumel(shape);
    // Where only selects, so any dtype is a copy of fixed-size elements (strings are copied as objects).
    if (x.dtype() == DataType::kString) {
        for (int64_t i = 0; i < n; ++i) out->strings()[i] = c[ic(i)] ? x.strings()[ix(i)] : y.strings()[iy(i)];
        return Status::ok();
    }
    const size_t size = dataTypeSize(x.dtype());
    const auto* px = static_cast<const uint8_t*>(x.raw());
    const auto* py = static_cast<const uint8_t*>(y.raw());
    auto* po = static_cast<uint8_t*>(out->raw());
    for (int64_t i = 0; i < n; ++i) {
        const uint8_t* src =
            c[ic(i)] ? px + ix(i) * static_cast<int64_t>(size) : py + iy(i) * static_cast<int64_t>(size);
        std::memcpy(po + i * static_cast<int64_t>(size), src, size);
    }
    return Status::ok();
}

}  // namespace kiln::cpu
