// Templates shared by the elementwise families (unary math, binary/variadic, activations, casts).
//
// One template per shape of op; each op is a lambda over the compute type (ComputeT<T>: float for
// Half/BFloat16, T otherwise):
//   unaryMap        y = f(x), same dtype            (Abs, Exp, Sigmoid, ...)
//   unaryPredicate  y = f(x), bool output           (IsNaN, IsInf)
//   binaryMap       y = f(a, b) with broadcasting   (Sub, Mul, ..., comparisons with a bool output)
//   variadicFold    y = f(...f(f(x0, x1), x2)...)   (Max, Min, Sum, Mean) with multi-way broadcasting
#pragma once

#include <cmath>
#include <limits>
#include <string>
#include <type_traits>

#include "backends/cpu/broadcast.h"
#include "backends/cpu/kernel.h"
#include "common/dispatch.h"

namespace kiln::cpu::ew {

//! Accepts only bool.
template <typename Fn>
Status dispatchBool(DataType t, Fn&& fn, const char* what = "this op") {
    if (t != DataType::kBool) {
        return unsupported(std::string("dtype ") + dataTypeName(t) + " is not supported by " + what +
                           " (expects bool)");
    }
    return fn.template operator()<bool>();
}

//! Signed integers and floats (ops like Neg that the spec does not define on unsigned types).
template <typename Fn>
Status dispatchSigned(DataType t, Fn&& fn, const char* what = "this op") {
    if (isUnsignedInteger(t)) {
        return unsupported(std::string("dtype ") + dataTypeName(t) + " is not supported by " + what);
    }
    return dispatchNumeric(t, std::forward<Fn>(fn), what);
}

//! Unsigned integers only (BitShift).
template <typename Fn>
Status dispatchUnsigned(DataType t, Fn&& fn, const char* what = "this op") {
    if (!isUnsignedInteger(t)) {
        return unsupported(std::string("dtype ") + dataTypeName(t) + " is not supported by " + what +
                           " (expects an unsigned integer type)");
    }
    return dispatchInteger(t, std::forward<Fn>(fn), what);
}

//! Float → integer as numpy on x86-64: truncate toward zero to int64, then wrap to T's width. NaN, infinities and
//! values outside int64 become INT64_MIN first (what cvttsd2si yields) instead of being undefined behaviour.
template <typename T, typename F>
inline T floatToInt(F value) {
    const auto v = static_cast<double>(value);
    if constexpr (std::is_same_v<T, uint64_t>) {
        // Values in [2^63, 2^64) exist only for uint64.
        if (v >= 9223372036854775808.0 && v < 18446744073709551616.0) return static_cast<uint64_t>(v);
    }
    int64_t i = std::numeric_limits<int64_t>::min();
    if (v >= -9223372036854775808.0 && v < 9223372036854775808.0) i = static_cast<int64_t>(v);
    return static_cast<T>(i);
}

//! Stores a compute value into T: integer results wrap to T's width (numpy's fixed-width arithmetic), float to
//! integer truncates (floatToInt), Half/BFloat16 round to nearest even from float.
template <typename T, typename V>
inline T store(V v) {
    if constexpr (std::is_same_v<T, bool>) {
        return static_cast<bool>(v);
    } else if constexpr (std::is_same_v<T, Half> || std::is_same_v<T, BFloat16>) {
        return T(static_cast<float>(v));
    } else if constexpr (std::is_integral_v<T> && std::is_floating_point_v<V>) {
        return floatToInt<T>(v);
    } else {
        return static_cast<T>(v);
    }
}

//! a op b for integers in unsigned arithmetic of at least int width, so signed overflow wraps instead of being UB.
template <typename C, typename Op>
inline C wrapping(C a, C b, Op op) {
    using U = std::conditional_t<(sizeof(C) < sizeof(unsigned)), unsigned, std::make_unsigned_t<C>>;
    return static_cast<C>(op(static_cast<U>(a), static_cast<U>(b)));
}

template <typename T>
inline ComputeT<T> load(T v) {
    return static_cast<ComputeT<T>>(v);
}

//! y = fn(x) elementwise, y has x's dtype and shape; `dispatch` selects the accepted dtypes.
template <typename Dispatch, typename Fn>
Status unaryMap(KernelContext& ctx, Dispatch dispatch, Fn fn) {
    KILN_RETURN_IF_ERROR(ctx.requireInputs(1, 1));
    const Tensor& x = ctx.input(0);
    return dispatch(x.dtype(), [&]<typename T>() -> Status {
        KILN_ASSIGN_OR_RETURN(Tensor * y, ctx.allocateOutput(0, x.dtype(), x.shape()));
        const T* in = x.data<T>();
        T* out = y->data<T>();
        const int64_t n = x.numel();
        for (int64_t i = 0; i < n; ++i) out[i] = store<T>(fn(load(in[i])));
        return Status::ok();
    });
}

//! y = fn(x) elementwise with a bool output.
template <typename Dispatch, typename Fn>
Status unaryPredicate(KernelContext& ctx, Dispatch dispatch, Fn fn) {
    KILN_RETURN_IF_ERROR(ctx.requireInputs(1, 1));
    const Tensor& x = ctx.input(0);
    return dispatch(x.dtype(), [&]<typename T>() -> Status {
        KILN_ASSIGN_OR_RETURN(Tensor * y, ctx.allocateOutput(0, DataType::kBool, x.shape()));
        const T* in = x.data<T>();
        bool* out = y->data<bool>();
        const int64_t n = x.numel();
        for (int64_t i = 0; i < n; ++i) out[i] = static_cast<bool>(fn(load(in[i])));
        return Status::ok();
    });
}

//! Shape of input `b` as seen by a binary op: opsets < 7 with `broadcast=1` align b at `axis` (not at the end).
Result<Shape> legacyBroadcastShape(const KernelContext& ctx, const Tensor& a, const Tensor& b);

//! Broadcasts a and b (already checked), then y[i] = fn(a[.], b[.]) in compute types, stored as Out.
template <typename A, typename B, typename Out, typename Fn>
Status broadcastApply(KernelContext& ctx, const Tensor& a, const Shape& aShape, const Tensor& b, const Shape& bShape,
                      DataType outType, Fn fn) {
    KILN_ASSIGN_OR_RETURN(Shape shape, broadcastShapes({aShape, bShape}));
    KILN_ASSIGN_OR_RETURN(Tensor * y, ctx.allocateOutput(0, outType, shape));
    const BroadcastIndexer ia(aShape, shape);
    const BroadcastIndexer ib(bShape, shape);
    const A* pa = a.data<A>();
    const B* pb = b.data<B>();
    Out* out = y->data<Out>();
    const int64_t n = shapeNumel(shape);
    for (int64_t i = 0; i < n; ++i) out[i] = store<Out>(fn(load(pa[ia(i)]), load(pb[ib(i)])));
    return Status::ok();
}

//! y = fn(a, b) with numpy broadcasting; a and b share a dtype that `dispatch` accepts. The output has that dtype,
//! or bool when `boolOutput` (comparisons).
template <typename Dispatch, typename Fn>
Status binaryMap(KernelContext& ctx, Dispatch dispatch, Fn fn, bool boolOutput = false) {
    KILN_RETURN_IF_ERROR(ctx.requireInputs(2, 2));
    const Tensor& a = ctx.input(0);
    const Tensor& b = ctx.input(1);
    if (a.dtype() != b.dtype()) {
        return invalidArgument(std::string("inputs 'A' and 'B' must have the same dtype, got ") +
                               dataTypeName(a.dtype()) + " and " + dataTypeName(b.dtype()));
    }
    KILN_ASSIGN_OR_RETURN(Shape bShape, legacyBroadcastShape(ctx, a, b));
    return dispatch(a.dtype(), [&]<typename T>() -> Status {
        if (boolOutput) return broadcastApply<T, T, bool>(ctx, a, a.shape(), b, bShape, DataType::kBool, fn);
        return broadcastApply<T, T, T>(ctx, a, a.shape(), b, bShape, a.dtype(), fn);
    });
}

//! Variadic op over inputs of one dtype with multi-way broadcasting: acc = x0; acc = fn(acc, xi); then
//! y = finish(acc). Accumulates in ComputeT.
template <typename Dispatch, typename Fn, typename Finish>
Status variadicFold(KernelContext& ctx, Dispatch dispatch, Fn fn, Finish finish) {
    KILN_RETURN_IF_ERROR(ctx.requireInputs(1));
    std::vector<Shape> shapes;
    for (size_t i = 0; i < ctx.numInputs(); ++i) {
        if (!ctx.hasInput(i)) return invalidArgument("input " + std::to_string(i) + " is missing");
        if (ctx.input(i).dtype() != ctx.input(0).dtype()) {
            return invalidArgument("input " + std::to_string(i) + " has dtype " + dataTypeName(ctx.input(i).dtype()) +
                                   ", expected " + dataTypeName(ctx.input(0).dtype()) + " like input 0");
        }
        shapes.push_back(ctx.input(i).shape());
    }
    KILN_ASSIGN_OR_RETURN(Shape shape, broadcastShapes(shapes));
    const DataType dtype = ctx.input(0).dtype();
    return dispatch(dtype, [&]<typename T>() -> Status {
        using C = ComputeT<T>;
        const int64_t n = shapeNumel(shape);
        std::vector<C> acc(static_cast<size_t>(n));
        for (size_t k = 0; k < ctx.numInputs(); ++k) {
            const BroadcastIndexer idx(shapes[k], shape);
            const T* in = ctx.input(k).template data<T>();
            for (int64_t i = 0; i < n; ++i) {
                const C v = load(in[idx(i)]);
                acc[static_cast<size_t>(i)] = k == 0 ? v : static_cast<C>(fn(acc[static_cast<size_t>(i)], v));
            }
        }
        KILN_ASSIGN_OR_RETURN(Tensor * y, ctx.allocateOutput(0, dtype, shape));
        T* out = y->data<T>();
        for (int64_t i = 0; i < n; ++i) out[i] = store<T>(finish(acc[static_cast<size_t>(i)]));
        return Status::ok();
    });
}

//! Floats: std::isnan; integers: never NaN (lets per-op lambdas stay generic).
template <typename C>
inline bool isNan(C v) {
    if constexpr (std::is_floating_point_v<C>) {
        return std::isnan(v);
    } else {
        return false;
    }
}

}  // namespace kiln::cpu::ew
