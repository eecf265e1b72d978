// Host-side pieces of the CUDA kernel helpers that .cpp files need too (C++17, no device code): compile-time dtype
// sets and the CPU reference's "unsupported dtype" message. common.cuh builds its dispatch on these.
#pragma once

#include <cstdint>
#include <string>

#include "kiln/dtype.h"
#include "kiln/status.h"

namespace kiln::cuda {

//! Dtype sets as bit masks (bit i = DataType i): dispatchDtype<dtypes::kFloat>(...) in .cu files, checkDtype in .cpp.
namespace dtypes {
constexpr uint32_t bit(DataType t) { return 1u << static_cast<uint32_t>(t); }
constexpr uint32_t kFloat =
    bit(DataType::kFloat32) | bit(DataType::kFloat64) | bit(DataType::kFloat16) | bit(DataType::kBFloat16);
constexpr uint32_t kSignedInt =
    bit(DataType::kInt8) | bit(DataType::kInt16) | bit(DataType::kInt32) | bit(DataType::kInt64);
constexpr uint32_t kUnsignedInt =
    bit(DataType::kUInt8) | bit(DataType::kUInt16) | bit(DataType::kUInt32) | bit(DataType::kUInt64);
constexpr uint32_t kInteger = kSignedInt | kUnsignedInt;
constexpr uint32_t kNumeric = kFloat | kInteger;
constexpr uint32_t kSigned = kFloat | kSignedInt;  //!< numeric types that have a sign (Neg)
constexpr uint32_t kBool = bit(DataType::kBool);
constexpr uint32_t kAll = kNumeric | kBool;  //!< every fixed-size dtype (not string)
constexpr bool contains(uint32_t set, DataType t) { return static_cast<uint32_t>(t) < 32 && (set & bit(t)) != 0; }
}  // namespace dtypes

//! kUnsupported with the CPU dispatchers' message: "dtype X is not supported by <what>", plus " (expects bool)" or
//! " (expects an unsigned integer type)" for those one-kind sets (ew::dispatchBool / ew::dispatchUnsigned).
inline Status unsupportedDtype(DataType t, uint32_t set, const char* what = "this op") {
    std::string msg = std::string("dtype ") + dataTypeName(t) + " is not supported by " + what;
    if (set == dtypes::kBool) msg += " (expects bool)";
    if (set == dtypes::kUnsignedInt) msg += " (expects an unsigned integer type)";
    return unsupported(msg);
}

//! OK when `t` is in `set`, else unsupportedDtype.
inline Status checkDtype(DataType t, uint32_t set, const char* what = "this op") {
    return dtypes::contains(set, t) ? Status::ok() : unsupportedDtype(t, set, what);
}

}  // namespace kiln::cuda
