// Element types. Values match ONNX's TensorProto.DataType so conversion is a cast.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string>

namespace kiln {

enum class DataType : int32_t {
    kUndefined = 0,
    kFloat32 = 1,
    kUInt8 = 2,
    kInt8 = 3,
    kUInt16 = 4,
    kInt16 = 5,
    kInt32 = 6,
    kInt64 = 7,
    kString = 8,
    kBool = 9,
    kFloat16 = 10,
    kFloat64 = 11,
    kUInt32 = 12,
    kUInt64 = 13,
    kBFloat16 = 16,
};

//! Bytes per element; 0 for kUndefined and kString (strings are not stored as fixed-size elements).
size_t dataTypeSize(DataType type) noexcept;
//! Short lowercase name as users write it: "float32", "float16", "int64", "bool", ...
const char* dataTypeName(DataType type) noexcept;
bool isFloatingPoint(DataType type) noexcept;
bool isSignedInteger(DataType type) noexcept;
bool isUnsignedInteger(DataType type) noexcept;
inline bool isInteger(DataType type) noexcept { return isSignedInteger(type) || isUnsignedInteger(type); }

//! IEEE 754 binary16, stored as bits; converts through float with round-to-nearest-even.
struct Half {
    uint16_t bits = 0;
    Half() = default;
    explicit Half(float value) noexcept : bits(fromFloat(value)) {}
    operator float() const noexcept { return toFloat(bits); }  // NOLINT(google-explicit-constructor)
    static uint16_t fromFloat(float value) noexcept;
    static float toFloat(uint16_t bits) noexcept;
};

//! bfloat16 (the top 16 bits of a float32), round-to-nearest-even; NaN stays NaN.
struct BFloat16 {
    uint16_t bits = 0;
    BFloat16() = default;
    explicit BFloat16(float value) noexcept : bits(fromFloat(value)) {}
    operator float() const noexcept { return toFloat(bits); }  // NOLINT(google-explicit-constructor)
    static uint16_t fromFloat(float value) noexcept {
        uint32_t u;
        std::memcpy(&u, &value, 4);
        if ((u & 0x7fffffffU) > 0x7f800000U) return static_cast<uint16_t>((u >> 16) | 0x40U);
        u += 0x7fffU + ((u >> 16) & 1U);
        return static_cast<uint16_t>(u >> 16);
    }
    static float toFloat(uint16_t bits) noexcept {
        uint32_t u = static_cast<uint32_t>(bits) << 16;
        float f;
        std::memcpy(&f, &u, 4);
        return f;
    }
};

//! Maps a C++ element type to its DataType.
template <typename T>
struct DataTypeOf;
#define KILN_DTYPE_OF(T, V)                            \
    template <>                                        \
    struct DataTypeOf<T> {                             \
        static constexpr DataType value = DataType::V; \
    }
KILN_DTYPE_OF(float, kFloat32);
KILN_DTYPE_OF(double, kFloat64);
KILN_DTYPE_OF(Half, kFloat16);
KILN_DTYPE_OF(BFloat16, kBFloat16);
KILN_DTYPE_OF(int8_t, kInt8);
KILN_DTYPE_OF(int16_t, kInt16);
KILN_DTYPE_OF(int32_t, kInt32);
KILN_DTYPE_OF(int64_t, kInt64);
KILN_DTYPE_OF(uint8_t, kUInt8);
KILN_DTYPE_OF(uint16_t, kUInt16);
KILN_DTYPE_OF(uint32_t, kUInt32);
KILN_DTYPE_OF(uint64_t, kUInt64);
KILN_DTYPE_OF(bool, kBool);
#undef KILN_DTYPE_OF

}  // namespace kiln
