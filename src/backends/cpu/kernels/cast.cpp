// Cast and CastLike between all numeric types and bool, with numpy's conversion rules: float → integer truncates
// toward zero (then wraps to the target width), anything → bool is `!= 0`, → float16/bfloat16 rounds to nearest
// even from the exact value. String casts are not supported.
#include <cmath>
#include <cstring>
#include <type_traits>

#include "backends/cpu/elementwise_ops.h"

namespace kiln::cpu {

namespace {

//! double → float rounded to odd: inexact results get their lowest mantissa bit set. Rounding that float to a
//! narrower format (half, bfloat16) then gives the same result as rounding the double directly (no double rounding).
float roundToOddFloat(double d) {
    float f = static_cast<float>(d);
    if (std::isnan(d) || static_cast<double>(f) == d) return f;
    uint32_t bits;
    std::memcpy(&bits, &f, 4);
    if (std::fabs(static_cast<double>(f)) > std::fabs(d)) --bits;  // truncate toward zero first
    bits |= 1U;
    std::memcpy(&f, &bits, 4);
    return f;
}

template <typename To, typename From>
To convert(From v) {
    if constexpr (std::is_same_v<To, bool>) {
        const auto c = ew::load(v);
        return c != decltype(c)(0);  // NaN casts to true
    } else if constexpr (std::is_same_v<To, Half> || std::is_same_v<To, BFloat16>) {
        if constexpr (std::is_same_v<From, float> || std::is_same_v<From, Half> || std::is_same_v<From, BFloat16> ||
                      std::is_same_v<From, bool>) {
            return To(static_cast<float>(v));
        } else {
            return To(roundToOddFloat(static_cast<double>(v)));
        }
    } else if constexpr (std::is_integral_v<To> && (std::is_floating_point_v<From> || std::is_same_v<From, Half> ||
                                                    std::is_same_v<From, BFloat16>)) {
        return ew::floatToInt<To>(static_cast<double>(ew::load(v)));
    } else {
        return static_cast<To>(ew::load(v));
    }
}

Status castTo(KernelContext& ctx, const Tensor& x, DataType to) {
    if (x.dtype() == DataType::kString || to == DataType::kString) {
        return unsupported(std::string("cast from ") + dataTypeName(x.dtype()) + " to " + dataTypeName(to) +
                           " is not supported (string casts)");
    }
    if (x.dtype() == to) {
        ctx.outputs[0] = x;  // shares the buffer; nothing to convert
        return Status::ok();
    }
    return dispatchAll(
        x.dtype(),
        [&]<typename From>() -> Status {
            return dispatchAll(
                to,
                [&]<typename To>() -> Status {
                    KILN_ASSIGN_OR_RETURN(Tensor * y, ctx.allocateOutput(0, to, x.shape()));
                    const From* in = x.data<From>();
                    To* out = y->data<To>();
                    for (int64_t i = 0; i < x.numel(); ++i) out[i] = convert<To>(in[i]);
                    return Status::ok();
                },
                "Cast (target type)");
        },
        "Cast (input 0)");
}

}  // namespace

Status kernelCast(KernelContext& ctx) {
    KILN_RETURN_IF_ERROR(ctx.requireInputs(1, 1));
    if (!ctx.attrs().has("to")) return invalidArgument("attribute 'to' is required");
    const int64_t to = ctx.attrs().getInt("to", 0);
    // dataTypeSize is 0 exactly for values that are not Kiln dtypes (undefined, complex, float8, unknown).
    if (to > 0 && to <= 16 && dataTypeSize(static_cast<DataType>(to)) != 0) {
        return castTo(ctx, ctx.input(0), static_cast<DataType>(to));
    }
    if (to >= 14 && to <= 20 && to != 16) {  // complex64/128 and the float8 types of later opsets
        return unsupported("attribute 'to' = " + std::to_string(to) + " (complex or float8) is not supported");
    }
    return invalidArgument("attribute 'to' = " + std::to_string(to) + " is not a tensor element type");
}

Status kernelCastLike(KernelContext& ctx) {
    KILN_RETURN_IF_ERROR(ctx.requireInputs(2, 2));
    return castTo(ctx, ctx.input(0), ctx.input(1).dtype());
}

}  // namespace kiln::cpu
