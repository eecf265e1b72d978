// Broadcasting binary ops: arithmetic (Add Sub Mul Div Pow Mod), BitShift, logic (And Or Xor) and comparisons
// (Equal Greater GreaterOrEqual Less LessOrEqual). Each op is a lambda over the compute type handed to
// ew::binaryMap; integer arithmetic wraps like numpy's fixed-width types.
#include <cmath>
#include <functional>
#include <type_traits>

#include "backends/cpu/elementwise_ops.h"

namespace kiln::cpu {

namespace {

//! Arithmetic op: `Op` on integers wraps (unsigned arithmetic), on floats is plain.
template <typename Op>
Status arithmetic(KernelContext& ctx, Op op) {
    return ew::binaryMap(ctx, KILN_DISPATCHER(dispatchNumeric), [op]<typename C>(C a, C b) -> C {
        if constexpr (std::is_integral_v<C>) {
            return ew::wrapping(a, b, op);
        } else {
            return op(a, b);
        }
    });
}

template <typename Cmp>
Status comparison(KernelContext& ctx, Cmp cmp, bool allowBool = false) {
    if (allowBool) return ew::binaryMap(ctx, KILN_DISPATCHER(dispatchAll), cmp, true);
    return ew::binaryMap(ctx, KILN_DISPATCHER(dispatchNumeric), cmp, true);
}

template <typename Op>
Status logical(KernelContext& ctx, Op op) {
    return ew::binaryMap(ctx, KILN_DISPATCHER(ew::dispatchBool), [op](bool a, bool b) { return op(a, b); });
}

//! base^exp for integers by squaring, wrapping on overflow. Negative exponents give the truncated value of the
//! real result (0 except for bases 1 and -1), where numpy would raise.
template <typename B, typename E>
B integerPow(B base, E exp) {
    if constexpr (std::is_signed_v<E>) {
        if (exp < 0) {
            if (base == B(1)) return B(1);
            if constexpr (std::is_signed_v<B>) {
                if (base == B(-1)) return (exp % 2 == 0) ? B(1) : B(-1);
            }
            return B(0);
        }
    }
    B result = 1;
    auto e = static_cast<uint64_t>(exp);
    while (e != 0) {
        if (e & 1U) result = ew::wrapping(result, base, std::multiplies<>());
        base = ew::wrapping(base, base, std::multiplies<>());
        e >>= 1U;
    }
    return result;
}

}  // namespace

Status kernelAdd(KernelContext& ctx) { return arithmetic(ctx, std::plus<>()); }

Status kernelSub(KernelContext& ctx) { return arithmetic(ctx, std::minus<>()); }

Status kernelMul(KernelContext& ctx) { return arithmetic(ctx, std::multiplies<>()); }

Status kernelDiv(KernelContext& ctx) {
    return ew::binaryMap(ctx, KILN_DISPATCHER(dispatchNumeric), []<typename C>(C a, C b) -> C {
        if constexpr (std::is_integral_v<C>) {
            // Integer division truncates (C semantics). x/0 gives 0 (numpy's result) and MIN/-1 wraps to MIN
            // instead of trapping.
            if (b == C(0)) return C(0);
            if constexpr (std::is_signed_v<C>) {
                if (b == C(-1)) return ew::wrapping(C(0), a, std::minus<>());
            }
            return static_cast<C>(a / b);
        } else {
            return a / b;
        }
    });
}

Status kernelPow(KernelContext& ctx) {
    // Pow-7 required one type; Pow-12+ lets the exponent be any numeric type. The output has the base's type.
    KILN_RETURN_IF_ERROR(ctx.requireInputs(2, 2));
    const Tensor& x = ctx.input(0);
    const Tensor& y = ctx.input(1);
    KILN_ASSIGN_OR_RETURN(Shape yShape, ew::legacyBroadcastShape(ctx, x, y));
    return dispatchNumeric(
        x.dtype(),
        [&]<typename B>() -> Status {
            return dispatchNumeric(
                y.dtype(),
                [&]<typename E>() -> Status {
                    return ew::broadcastApply<B, E, B>(
                        ctx, x, x.shape(), y, yShape, x.dtype(), []<typename CB, typename CE>(CB base, CE exp) {
                            if constexpr (std::is_integral_v<CB> && std::is_integral_v<CE>) {
                                return integerPow(base, exp);
                            } else {
                                // numpy computes mixed and float powers in the promoted float type, then casts to the
                                // base's type.
                                return std::pow(static_cast<double>(base), static_cast<double>(exp));
                            }
                        });
                },
                "Pow input 1 'Y'");
        },
        "Pow input 0 'X'");
}

Status kernelMod(KernelContext& ctx) {
    const bool cMod = ctx.attrs().getInt("fmod", 0) != 0;
    KILN_RETURN_IF_ERROR(ctx.requireInputs(2, 2));
    if (!cMod && isFloatingPoint(ctx.input(0).dtype())) {
        return invalidArgument(std::string("attribute 'fmod' must be 1 for floating-point inputs, got ") +
                               dataTypeName(ctx.input(0).dtype()) + " with fmod=0");
    }
    return ew::binaryMap(ctx, KILN_DISPATCHER(dispatchNumeric), [cMod]<typename C>(C a, C b) -> C {
        if constexpr (std::is_integral_v<C>) {
            if (b == C(0)) return C(0);  // numpy's result for x % 0
            if constexpr (std::is_signed_v<C>) {
                if (b == C(-1)) return C(0);  // avoids the MIN % -1 trap
                const C r = static_cast<C>(a % b);
                // fmod=0: the result takes the divisor's sign (Python/numpy mod); fmod=1: the dividend's (C %).
                if (!cMod && r != C(0) && ((r < C(0)) != (b < C(0)))) return static_cast<C>(r + b);
                return r;
            } else {
                return static_cast<C>(a % b);
            }
        } else {
            return std::fmod(a, b);
        }
    });
}

Status kernelBitShift(KernelContext& ctx) {
    const std::string direction = ctx.attrs().getString("direction");
    if (direction != "LEFT" && direction != "RIGHT") {
        return invalidArgument("attribute 'direction' must be \"LEFT\" or \"RIGHT\", got \"" + direction + "\"");
    }
    const bool left = direction == "LEFT";
    return ew::binaryMap(ctx, KILN_DISPATCHER(ew::dispatchUnsigned), [left]<typename C>(C a, C b) -> C {
        // Shifting by the bit width or more is undefined in C++; every bit is shifted out, so the result is 0.
        if (b >= C(sizeof(C) * 8)) return C(0);
        using W = std::conditional_t<(sizeof(C) < sizeof(unsigned)), unsigned, C>;  // no promotion to signed int
        return static_cast<C>(left ? static_cast<W>(a) << b : static_cast<W>(a) >> b);
    });
}

Status kernelAnd(KernelContext& ctx) {
    return logical(ctx, [](bool a, bool b) { return a && b; });
}
Status kernelOr(KernelContext& ctx) {
    return logical(ctx, [](bool a, bool b) { return a || b; });
}
Status kernelXor(KernelContext& ctx) {
    return logical(ctx, [](bool a, bool b) { return a != b; });
}

Status kernelEqual(KernelContext& ctx) {
    return comparison(
        ctx, [](auto a, auto b) { return a == b; }, /*allowBool=*/true);
}
Status kernelGreater(KernelContext& ctx) {
    return comparison(ctx, [](auto a, auto b) { return a > b; });
}
Status kernelGreaterOrEqual(KernelContext& ctx) {
    return comparison(ctx, [](auto a, auto b) { return a >= b; });
}
Status kernelLess(KernelContext& ctx) {
    return comparison(ctx, [](auto a, auto b) { return a < b; });
}
Status kernelLessOrEqual(KernelContext& ctx) {
    return comparison(ctx, [](auto a, auto b) { return a <= b; });
}

}  // namespace kiln::cpu
