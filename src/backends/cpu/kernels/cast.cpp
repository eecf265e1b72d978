// Cast and CastLike between all numeric types and bool, with numpy's conversion rules: float → integer truncates
// toward zero (then wraps to the target width), anything → bool is `!= 0`, → float16/bfloat16 rounds to nearest
// even from the exact value. Numbers → string print like numpy's str() (shortest round-trip digits); string →
// number parses decimal/scientific text and the case-insensitive literals INF, +INF, -INF and NaN.
#include <algorithm>
#include <cctype>
#include <charconv>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <limits>
#include <string>
#include <string_view>
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

//! Shortest decimal digits that read back as `v` in T: digits "d1d2..dn" and exponent e with |v| = d1.d2..dn × 10^e.
template <typename T>
void shortestDigits(T v, std::string& digits, int& exponent) {
    char buf[64];
    const double a = std::fabs(static_cast<double>(ew::load(v)));
    int len = 0;
    if constexpr (std::is_same_v<T, float> || std::is_same_v<T, double>) {
        const auto res = std::to_chars(buf, buf + sizeof(buf), static_cast<T>(a), std::chars_format::scientific);
        len = static_cast<int>(res.ptr - buf);
    } else {
        // float16/bfloat16: the first precision whose correctly rounded decimal converts back to the same value.
        for (int precision = 0; precision < 17; ++precision) {
            len = std::snprintf(buf, sizeof(buf), "%.*e", precision, a);
            if (static_cast<double>(ew::load(T(roundToOddFloat(std::strtod(buf, nullptr))))) == a) break;
        }
    }
    const std::string text(buf, static_cast<size_t>(len));
    const size_t e = text.find('e');
    digits.clear();
    for (size_t i = 0; i < e; ++i) {
        if (std::isdigit(static_cast<unsigned char>(text[i])) != 0) digits += text[i];  // skips the (locale's) point
    }
    while (digits.size() > 1 && digits.back() == '0') digits.pop_back();
    exponent = std::atoi(text.c_str() + e + 1);
}

//! numpy's str() of a float scalar: positional for 1e-4 <= |v| < 1e16 (and 0), else scientific with a signed,
//! at least two-digit exponent ("1e-05", "1.5e+16"); integral values keep ".0"; "nan", "inf", "-inf".
template <typename T>
std::string formatFloat(T v) {
    const auto value = static_cast<double>(ew::load(v));
    if (std::isnan(value)) return "nan";
    if (std::isinf(value)) return value < 0 ? "-inf" : "inf";
    std::string digits;
    int e = 0;
    shortestDigits(v, digits, e);
    std::string out = std::signbit(value) ? "-" : "";
    // numpy compares in long double; a float32 1e-4 is below 1e-4 and prints as "1e-04".
    const long double a = std::fabs(static_cast<long double>(value));
    if (a == 0 || (a >= 1e-4L && a < 1e16L)) {
        const auto n = static_cast<int>(digits.size());
        if (a == 0) return out + "0.0";
        if (e >= 0) {
            const std::string integral = n > e + 1 ? digits.substr(0, e + 1) : digits + std::string(e + 1 - n, '0');
            const std::string fraction = n > e + 1 ? digits.substr(e + 1) : "0";
            return out + integral + "." + fraction;
        }
        return out + "0." + std::string(-e - 1, '0') + digits;
    }
    out += digits.substr(0, 1);
    if (digits.size() > 1) out += "." + digits.substr(1);
    const int ae = std::abs(e);
    return out + (e < 0 ? "e-" : "e+") + (ae < 10 ? "0" : "") + std::to_string(ae);
}

template <typename From>
std::string toText(From v) {
    if constexpr (std::is_same_v<From, bool>) {
        return v ? "True" : "False";  // numpy's str(np.bool_)
    } else if constexpr (std::is_integral_v<From>) {
        return std::to_string(v);
    } else {
        return formatFloat(v);
    }
}

bool equalsIgnoreCase(std::string_view a, std::string_view b) {
    if (a.size() != b.size()) return false;
    for (size_t i = 0; i < a.size(); ++i) {
        const auto ca = static_cast<unsigned char>(a[i]);
        const auto cb = static_cast<unsigned char>(b[i]);
        if (std::tolower(ca) != std::tolower(cb)) return false;
    }
    return true;
}

//! Parses decimal or scientific text (surrounding blanks allowed) as a double; false when it is not a number.
//! Out-of-range magnitudes become ±inf or ±0 as in strtod.
bool parseDouble(std::string_view s, double& value) {
    bool negative = false;
    if (!s.empty() && (s[0] == '+' || s[0] == '-')) {
        negative = s[0] == '-';
        s.remove_prefix(1);
    }
    if (s.empty() || s[0] == '+' || s[0] == '-') return false;
    if (equalsIgnoreCase(s, "inf") || equalsIgnoreCase(s, "infinity")) {
        value = negative ? -HUGE_VAL : HUGE_VAL;
        return true;
    }
    if (equalsIgnoreCase(s, "nan")) {
        value = std::numeric_limits<double>::quiet_NaN();
        return true;
    }
    const auto [ptr, ec] = std::from_chars(s.data(), s.data() + s.size(), value, std::chars_format::general);
    if (ptr != s.data() + s.size()) return false;
    if (ec == std::errc::result_out_of_range) {
        // from_chars leaves the value alone on overflow/underflow: the decimal exponent of the leading digit tells
        // which (the number has a non-zero digit, or it would not be out of range).
        const size_t e = std::min(s.find_first_of("eE"), s.size());
        const size_t point = std::min(s.find('.'), e);
        const size_t first = s.find_first_of("123456789");
        int64_t exponent = 0;
        if (e < s.size()) {
            const char* begin = s.data() + e + 1 + (s[e + 1] == '+' ? 1 : 0);
            if (std::from_chars(begin, s.data() + s.size(), exponent).ec != std::errc()) {
                exponent = s[e + 1] == '-' ? -(int64_t{1} << 40) : (int64_t{1} << 40);  // beyond any digit count
            }
        }
        const auto lead =
            first < point ? static_cast<int64_t>(point - first) - 1 : -static_cast<int64_t>(first - point);
        value = lead + exponent < 0 ? 0.0 : HUGE_VAL;
    } else if (ec != std::errc()) {
        return false;
    }
    if (negative) value = -value;
    return true;
}

template <typename To>
Result<To> fromText(const std::string& text) {
    std::string_view s = text;
    while (!s.empty() && std::isspace(static_cast<unsigned char>(s.front()))) s.remove_prefix(1);
    while (!s.empty() && std::isspace(static_cast<unsigned char>(s.back()))) s.remove_suffix(1);
    auto bad = [&]() {
        return invalidArgument("cannot convert string '" + text + "' to " + dataTypeName(DataTypeOf<To>::value));
    };
    if constexpr (std::is_same_v<To, bool>) {
        if (equalsIgnoreCase(s, "true")) return true;
        if (equalsIgnoreCase(s, "false")) return false;
    }
    if constexpr (std::is_integral_v<To> && !std::is_same_v<To, bool>) {
        // Exact integer text; anything else ("100.5", "1e3") goes through double and truncates like float → int.
        std::string_view digits = s;
        if (digits.starts_with('+') && !digits.substr(1).starts_with('-')) digits.remove_prefix(1);
        To i{};
        const auto [ptr, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), i);
        if (ptr == digits.data() + digits.size() && !digits.empty()) {
            if (ec == std::errc()) return i;
            return invalidArgument("string '" + text + "' is out of range for " + dataTypeName(DataTypeOf<To>::value));
        }
    }
    if constexpr (std::is_same_v<To, float>) {
        // Parse straight to float: going through double could round twice.
        double d = 0;
        if (!parseDouble(s, d)) return bad();
        float f = 0;
        std::string_view body = s;
        if (body.starts_with('+')) body.remove_prefix(1);
        const auto [ptr, ec] = std::from_chars(body.data(), body.data() + body.size(), f, std::chars_format::general);
        return ec == std::errc() && ptr == body.data() + body.size() ? f : static_cast<float>(d);
    } else {
        double d = 0;
        if (!parseDouble(s, d)) return bad();
        if constexpr (std::is_integral_v<To> && !std::is_same_v<To, bool>) {
            const double t = std::trunc(d);
            if (!(t >= static_cast<double>(std::numeric_limits<To>::lowest()) &&
                  t <= static_cast<double>(std::numeric_limits<To>::max()))) {
                return invalidArgument("string '" + text + "' is out of range for " +
                                       dataTypeName(DataTypeOf<To>::value));
            }
        }
        return convert<To>(d);
    }
}

Status castString(KernelContext& ctx, const Tensor& x, DataType to) {
    if (x.dtype() == to) {
        ctx.outputs[0] = x;
        return Status::ok();
    }
    if (to == DataType::kString) {
        return dispatchAll(
            x.dtype(),
            [&]<typename From>() -> Status {
                KILN_ASSIGN_OR_RETURN(Tensor * y, ctx.allocateOutput(0, to, x.shape()));
                const From* in = x.data<From>();
                for (int64_t i = 0; i < x.numel(); ++i) y->strings()[i] = toText(in[i]);
                return Status::ok();
            },
            "Cast (input 0)");
    }
    return dispatchAll(
        to,
        [&]<typename To>() -> Status {
            KILN_ASSIGN_OR_RETURN(Tensor * y, ctx.allocateOutput(0, to, x.shape()));
            To* out = y->data<To>();
            for (int64_t i = 0; i < x.numel(); ++i) {
                KILN_ASSIGN_OR_RETURN(out[i], fromText<To>(x.strings()[i]));
            }
            return Status::ok();
        },
        "Cast (target type)");
}

Status castTo(KernelContext& ctx, const Tensor& x, DataType to) {
    if (x.dtype() == DataType::kString || to == DataType::kString) return castString(ctx, x, to);
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
    // dataTypeSize is 0 exactly for values that are not Kiln dtypes (undefined, complex, float8, unknown) and for
    // string, whose elements are not fixed-size.
    if (to == static_cast<int64_t>(DataType::kString) ||
        (to > 0 && to <= 16 && dataTypeSize(static_cast<DataType>(to)) != 0)) {
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
