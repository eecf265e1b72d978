// Unary math: Abs Neg Sign Exp Log Sqrt Reciprocal Floor Ceil Round, trigonometric and hyperbolic functions, Erf,
// IsNaN IsInf, Not. Each op is a lambda over the compute type handed to ew::unaryMap / ew::unaryPredicate.
#include <cmath>
#include <functional>
#include <type_traits>

#include "backends/cpu/elementwise_ops.h"

namespace kiln::cpu {

namespace {

//! Floating-point math op: one lambda, float/double/half/bfloat16.
template <typename Fn>
Status floatMath(KernelContext& ctx, Fn fn) {
    return ew::unaryMap(ctx, KILN_DISPATCHER(dispatchFloat), fn);
}

}  // namespace

Status kernelAbs(KernelContext& ctx) {
    return ew::unaryMap(ctx, KILN_DISPATCHER(dispatchNumeric), []<typename C>(C v) -> C {
        if constexpr (std::is_unsigned_v<C>) {
            return v;
        } else if constexpr (std::is_integral_v<C>) {
            // Wrapping negation: the most negative integer maps to itself, as numpy.
            return v < C(0) ? ew::wrapping(C(0), v, std::minus<>()) : v;
        } else {
            return std::fabs(v);
        }
    });
}

Status kernelNeg(KernelContext& ctx) {
    return ew::unaryMap(ctx, KILN_DISPATCHER(ew::dispatchSigned), []<typename C>(C v) -> C {
        if constexpr (std::is_integral_v<C>) {
            return ew::wrapping(C(0), v, std::minus<>());  // the most negative value wraps instead of overflowing
        } else {
            return -v;
        }
    });
}

Status kernelSign(KernelContext& ctx) {
    return ew::unaryMap(ctx, KILN_DISPATCHER(dispatchNumeric), []<typename C>(C v) -> C {
        if constexpr (std::is_unsigned_v<C>) {
            return static_cast<C>(v > C(0) ? 1 : 0);
        } else {
            if (ew::isNan(v)) return v;
            return static_cast<C>(v > C(0) ? 1 : (v < C(0) ? -1 : 0));
        }
    });
}

Status kernelExp(KernelContext& ctx) {
    return floatMath(ctx, [](auto v) { return std::exp(v); });
}
Status kernelLog(KernelContext& ctx) {
    return floatMath(ctx, [](auto v) { return std::log(v); });
}
Status kernelSqrt(KernelContext& ctx) {
    return floatMath(ctx, [](auto v) { return std::sqrt(v); });
}
Status kernelReciprocal(KernelContext& ctx) {
    return floatMath(ctx, [](auto v) { return decltype(v)(1) / v; });
}
Status kernelFloor(KernelContext& ctx) {
    return floatMath(ctx, [](auto v) { return std::floor(v); });
}
Status kernelCeil(KernelContext& ctx) {
    return floatMath(ctx, [](auto v) { return std::ceil(v); });
}
Status kernelRound(KernelContext& ctx) {
    // Halves round to even (numpy.round); nearbyint uses the default round-to-nearest-even mode.
    return floatMath(ctx, [](auto v) { return std::nearbyint(v); });
}
Status kernelSin(KernelContext& ctx) {
    return floatMath(ctx, [](auto v) { return std::sin(v); });
}
Status kernelCos(KernelContext& ctx) {
    return floatMath(ctx, [](auto v) { return std::cos(v); });
}
Status kernelTan(KernelContext& ctx) {
    return floatMath(ctx, [](auto v) { return std::tan(v); });
}
Status kernelAsin(KernelContext& ctx) {
    return floatMath(ctx, [](auto v) { return std::asin(v); });
}
Status kernelAcos(KernelContext& ctx) {
    return floatMath(ctx, [](auto v) { return std::acos(v); });
}
Status kernelAtan(KernelContext& ctx) {
    return floatMath(ctx, [](auto v) { return std::atan(v); });
}
Status kernelSinh(KernelContext& ctx) {
    return floatMath(ctx, [](auto v) { return std::sinh(v); });
}
Status kernelCosh(KernelContext& ctx) {
    return floatMath(ctx, [](auto v) { return std::cosh(v); });
}
Status kernelAsinh(KernelContext& ctx) {
    return floatMath(ctx, [](auto v) { return std::asinh(v); });
}
Status kernelAcosh(KernelContext& ctx) {
    return floatMath(ctx, [](auto v) { return std::acosh(v); });
}
Status kernelAtanh(KernelContext& ctx) {
    return floatMath(ctx, [](auto v) { return std::atanh(v); });
}
Status kernelErf(KernelContext& ctx) {
    // Erf-13 also allows integer inputs; erf of an integer is computed in double and truncated back.
    return ew::unaryMap(ctx, KILN_DISPATCHER(dispatchNumeric), []<typename C>(C v) {
        if constexpr (std::is_integral_v<C>) {
            return std::erf(static_cast<double>(v));
        } else {
            return std::erf(v);
        }
    });
}

Status kernelIsNaN(KernelContext& ctx) {
    return ew::unaryPredicate(ctx, KILN_DISPATCHER(dispatchFloat), [](auto v) { return std::isnan(v); });
}

Status kernelIsInf(KernelContext& ctx) {
    const bool negative = ctx.attrs().getInt("detect_negative", 1) != 0;
    const bool positive = ctx.attrs().getInt("detect_positive", 1) != 0;
    return ew::unaryPredicate(ctx, KILN_DISPATCHER(dispatchFloat),
                              [=](auto v) { return std::isinf(v) && (v > 0 ? positive : negative); });
}

Status kernelNot(KernelContext& ctx) {
    return ew::unaryMap(ctx, KILN_DISPATCHER(ew::dispatchBool), [](bool v) { return !v; });
}

}  // namespace kiln::cpu
