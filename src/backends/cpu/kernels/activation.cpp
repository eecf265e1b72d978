// Activations: Relu Sigmoid Tanh HardSigmoid HardSwish LeakyRelu Elu Gelu Selu Celu Softplus Softsign ThresholdedRelu
// Shrink PRelu Clip. Pointwise ones are lambdas over the compute type handed to ew::unaryMap.
#include <algorithm>
#include <cmath>
#include <functional>
#include <type_traits>

#include "backends/cpu/elementwise_ops.h"
#include "backends/cpu/gelu.h"

namespace kiln::cpu {

namespace {

template <typename Fn>
Status floatActivation(KernelContext& ctx, Fn fn) {
    return ew::unaryMap(ctx, KILN_DISPATCHER(dispatchFloat), fn);
}

}  // namespace

Status kernelRelu(KernelContext& ctx) {
    // Relu-14 added integer types.
    return ew::unaryMap(ctx, KILN_DISPATCHER(dispatchNumeric), []<typename C>(C v) { return v > C(0) ? v : C(0); });
}

Status kernelSigmoid(KernelContext& ctx) {
    return floatActivation(ctx, []<typename C>(C v) {
        // Written so neither branch overflows exp().
        if (v >= C(0)) return C(1) / (C(1) + std::exp(-v));
        const C e = std::exp(v);
        return e / (C(1) + e);
    });
}

Status kernelTanh(KernelContext& ctx) {
    return floatActivation(ctx, [](auto v) { return std::tanh(v); });
}

Status kernelHardSigmoid(KernelContext& ctx) {
    const float alpha = ctx.attrs().getFloat("alpha", 0.2f);
    const float beta = ctx.attrs().getFloat("beta", 0.5f);
    return floatActivation(ctx, [=]<typename C>(C v) {
        return std::max(C(0), std::min(C(1), static_cast<C>(alpha) * v + static_cast<C>(beta)));
    });
}

Status kernelHardSwish(KernelContext& ctx) {
    // x * HardSigmoid(x) with alpha = 1/6, beta = 0.5 (the ONNX function body).
    return floatActivation(ctx, []<typename C>(C v) {
        return v * std::max(C(0), std::min(C(1), v * static_cast<C>(1.0f / 6.0f) + C(0.5)));
    });
}

Status kernelLeakyRelu(KernelContext& ctx) {
    const float alpha = ctx.attrs().getFloat("alpha", 0.01f);
    return floatActivation(ctx, [=]<typename C>(C v) { return v >= C(0) ? v : static_cast<C>(alpha) * v; });
}

Status kernelElu(KernelContext& ctx) {
    const float alpha = ctx.attrs().getFloat("alpha", 1.0f);
    return floatActivation(ctx, [=]<typename C>(C v) { return v >= C(0) ? v : static_cast<C>(alpha) * std::expm1(v); });
}

Status kernelGelu(KernelContext& ctx) {
    // Gelu-20: approximate "none" (erf) or "tanh".
    const std::string approximate = ctx.attrs().getString("approximate", "none");
    if (approximate == "tanh") return floatActivation(ctx, []<typename C>(C v) { return geluTanh(v); });
    if (approximate != "none") {
        return invalidArgument("attribute 'approximate' must be \"none\" or \"tanh\", got \"" + approximate + "\"");
    }
    return floatActivation(ctx, []<typename C>(C v) { return geluErf(v); });
}

Status kernelSelu(KernelContext& ctx) {
    const float alpha = ctx.attrs().getFloat("alpha", 1.67326319217681884765625f);
    const float gamma = ctx.attrs().getFloat("gamma", 1.05070102214813232421875f);
    return floatActivation(ctx, [=]<typename C>(C v) {
        return static_cast<C>(gamma) * (v > C(0) ? v : static_cast<C>(alpha) * std::expm1(v));
    });
}

Status kernelCelu(KernelContext& ctx) {
    const float alpha = ctx.attrs().getFloat("alpha", 1.0f);
    if (alpha == 0.0f) return invalidArgument("attribute 'alpha' must not be 0");
    return floatActivation(ctx, [=]<typename C>(C v) {
        const auto a = static_cast<C>(alpha);
        return std::max(C(0), v) + std::min(C(0), a * std::expm1(v / a));
    });
}

Status kernelSoftplus(KernelContext& ctx) {
    // log(1 + exp(x)) without overflow for large x.
    return floatActivation(
        ctx, []<typename C>(C v) { return v > C(0) ? v + std::log1p(std::exp(-v)) : std::log1p(std::exp(v)); });
}

Status kernelSoftsign(KernelContext& ctx) {
    return floatActivation(ctx, []<typename C>(C v) { return v / (C(1) + std::fabs(v)); });
}

Status kernelThresholdedRelu(KernelContext& ctx) {
    const float alpha = ctx.attrs().getFloat("alpha", 1.0f);
    return floatActivation(ctx, [=]<typename C>(C v) { return v > static_cast<C>(alpha) ? v : C(0); });
}

Status kernelShrink(KernelContext& ctx) {
    // Shrink is defined on every numeric type; integers are compared and shifted in double, then truncated back.
    const double lambd = ctx.attrs().getFloat("lambd", 0.5f);
    const double bias = ctx.attrs().getFloat("bias", 0.0f);
    return ew::unaryMap(ctx, KILN_DISPATCHER(dispatchNumeric), [=]<typename C>(C value) -> C {
        const auto v = static_cast<double>(value);
        if (v < -lambd) return ew::store<C>(v + bias);
        if (v > lambd) return ew::store<C>(v - bias);
        return C(0);
    });
}

Status kernelPRelu(KernelContext& ctx) {
    KILN_RETURN_IF_ERROR(ctx.requireInputs(2, 2));
    const Tensor& x = ctx.input(0);
    const Tensor& slope = ctx.input(1);
    if (x.dtype() != slope.dtype()) {
        return invalidArgument(std::string("input 1 'slope' must have X's dtype ") + dataTypeName(x.dtype()) +
                               ", got " + dataTypeName(slope.dtype()));
    }
    // Opsets < 7 had a slope matching X's dims from axis 1 on (e.g. [C] for NCHW X: one slope per channel).
    Shape slopeShape = slope.shape();
    if (ctx.opset() < 7 && slope.rank() == 1 && x.rank() >= 2 && slope.dim(0) == x.dim(1) && slope.dim(0) != 1) {
        slopeShape.resize(static_cast<size_t>(x.rank() - 1), 1);
    }
    // Unidirectional broadcasting: slope must broadcast to X's shape without growing it.
    KILN_ASSIGN_OR_RETURN(Shape shape, broadcastShapes({x.shape(), slopeShape}));
    if (shape != x.shape()) {
        return invalidArgument("input 1 'slope' " + shapeToString(slope.shape()) +
                               " does not broadcast unidirectionally to input 0 'X' " + shapeToString(x.shape()));
    }
    // PRelu-16 added int32/int64/uint32/uint64; older opsets only floats (a superset here is harmless).
    return dispatchNumeric(x.dtype(), [&]<typename T>() -> Status {
        return ew::broadcastApply<T, T, T>(ctx, x, x.shape(), slope, slopeShape, x.dtype(),
                                           []<typename C>(C v, C s) -> C {
                                               if constexpr (std::is_unsigned_v<C>) {
                                                   return v;  // never negative
                                               } else if constexpr (std::is_integral_v<C>) {
                                                   return v < C(0) ? ew::wrapping(s, v, std::multiplies<>()) : v;
                                               } else {
                                                   return v < C(0) ? static_cast<C>(s * v) : v;
                                               }
                                           });
    });
}

Status kernelClip(KernelContext& ctx) {
    // Clip<11 took min/max attributes; the importer turns them into inputs 1 and 2.
    KILN_RETURN_IF_ERROR(ctx.requireInputs(1, 3));
    const Tensor& x = ctx.input(0);
    const char* names[] = {"", "min", "max"};
    for (size_t i = 1; i < 3; ++i) {
        if (!ctx.hasInput(i)) continue;
        const Tensor& bound = ctx.input(i);
        if (bound.dtype() != x.dtype()) {
            return invalidArgument("input " + std::to_string(i) + " '" + names[i] + "' must have X's dtype " +
                                   dataTypeName(x.dtype()) + ", got " + dataTypeName(bound.dtype()));
        }
        if (bound.numel() != 1) {
            return invalidArgument("input " + std::to_string(i) + " '" + names[i] + "' must be a scalar, got shape " +
                                   shapeToString(bound.shape()));
        }
    }
    return dispatchNumeric(x.dtype(), [&]<typename T>() -> Status {
        using C = ComputeT<T>;
        const bool hasLo = ctx.hasInput(1);
        const bool hasHi = ctx.hasInput(2);
        const C lo = hasLo ? ew::load(ctx.input(1).data<T>()[0]) : C(0);
        const C hi = hasHi ? ew::load(ctx.input(2).data<T>()[0]) : C(0);
        KILN_ASSIGN_OR_RETURN(Tensor * y, ctx.allocateOutput(0, x.dtype(), x.shape()));
        const T* in = x.data<T>();
        T* out = y->data<T>();
        // min then max, as numpy.clip: when min > max every element becomes max. NaN passes through.
        for (int64_t i = 0; i < x.numel(); ++i) {
            C v = ew::load(in[i]);
            if (hasLo && v < lo) v = lo;
            if (hasHi && v > hi) v = hi;
            out[i] = ew::store<T>(v);
        }
        return Status::ok();
    });
}

}  // namespace kiln::cpu
