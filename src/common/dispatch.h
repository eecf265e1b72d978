// Calls a templated lambda with the C++ type of a runtime DataType:
//   return dispatchNumeric(t.dtype(), [&]<typename T>() { return run<T>(...); });
// Each dispatcher names the dtype set it accepts and fails with kUnsupported for others.
#pragma once

#include <string>
#include <type_traits>
#include <utility>

#include "kiln/dtype.h"
#include "kiln/status.h"

namespace kiln {

namespace detail {
inline Status unsupportedDtype(DataType t, const char* what) {
    return unsupported(std::string("dtype ") + dataTypeName(t) + " is not supported by " + what);
}
}  // namespace detail

#define KILN_DISPATCH_CASE(ENUM, TYPE) \
    case DataType::ENUM: return fn.template operator()<TYPE>()

//! float32/64, float16, bfloat16.
template <typename Fn>
Status dispatchFloat(DataType t, Fn&& fn, const char* what = "this op") {
    switch (t) {
        KILN_DISPATCH_CASE(kFloat32, float);
        KILN_DISPATCH_CASE(kFloat64, double);
        KILN_DISPATCH_CASE(kFloat16, Half);
        KILN_DISPATCH_CASE(kBFloat16, BFloat16);
        default: return detail::unsupportedDtype(t, what);
    }
}

//! All integer types (signed and unsigned), not bool.
template <typename Fn>
Status dispatchInteger(DataType t, Fn&& fn, const char* what = "this op") {
    switch (t) {
        KILN_DISPATCH_CASE(kInt8, int8_t);
        KILN_DISPATCH_CASE(kInt16, int16_t);
        KILN_DISPATCH_CASE(kInt32, int32_t);
        KILN_DISPATCH_CASE(kInt64, int64_t);
        KILN_DISPATCH_CASE(kUInt8, uint8_t);
        KILN_DISPATCH_CASE(kUInt16, uint16_t);
        KILN_DISPATCH_CASE(kUInt32, uint32_t);
        KILN_DISPATCH_CASE(kUInt64, uint64_t);
        default: return detail::unsupportedDtype(t, what);
    }
}

//! Floats and integers (not bool, not string).
template <typename Fn>
Status dispatchNumeric(DataType t, Fn&& fn, const char* what = "this op") {
    if (isFloatingPoint(t)) return dispatchFloat(t, std::forward<Fn>(fn), what);
    return dispatchInteger(t, std::forward<Fn>(fn), what);
}

//! Numeric plus bool.
template <typename Fn>
Status dispatchAll(DataType t, Fn&& fn, const char* what = "this op") {
    if (t == DataType::kBool) return fn.template operator()<bool>();
    return dispatchNumeric(t, std::forward<Fn>(fn), what);
}

#undef KILN_DISPATCH_CASE

//! Adapts a dispatcher (which takes a default `what`) to a template parameter: KILN_DISPATCHER(dispatchFloat).
#define KILN_DISPATCHER(fn) [](DataType t, auto&& f) { return fn(t, f); }

//! Compute type for arithmetic on T: float for Half/BFloat16, T otherwise.
template <typename T>
struct ComputeType {
    using type = T;
};
template <>
struct ComputeType<Half> {
    using type = float;
};
template <>
struct ComputeType<BFloat16> {
    using type = float;
};
template <typename T>
using ComputeT = typename ComputeType<T>::type;

//! Converts a compute value back to storage type T.
template <typename T, typename C>
inline T fromCompute(C v) {
    return static_cast<T>(v);
}
template <>
inline Half fromCompute<Half, float>(float v) {
    return Half(v);
}
template <>
inline BFloat16 fromCompute<BFloat16, float>(float v) {
    return BFloat16(v);
}

//! Converts a double to storage type T (Half/BFloat16 round through float).
template <typename T>
inline T fromDouble(double v) {
    if constexpr (std::is_same_v<T, Half> || std::is_same_v<T, BFloat16>) {
        return T(static_cast<float>(v));
    } else {
        return static_cast<T>(v);
    }
}

}  // namespace kiln
