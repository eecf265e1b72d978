#include "kiln/dtype.h"

#include <cmath>

namespace kiln {

size_t dataTypeSize(DataType type) noexcept {
    switch (type) {
        case DataType::kFloat32:
        case DataType::kInt32:
        case DataType::kUInt32: return 4;
        case DataType::kFloat64:
        case DataType::kInt64:
        case DataType::kUInt64: return 8;
        case DataType::kFloat16:
        case DataType::kBFloat16:
        case DataType::kInt16:
        case DataType::kUInt16: return 2;
        case DataType::kInt8:
        case DataType::kUInt8:
        case DataType::kBool: return 1;
        case DataType::kString: return sizeof(std::string);
        case DataType::kUndefined: return 0;
    }
    return 0;
}

const char* dataTypeName(DataType type) noexcept {
    switch (type) {
        case DataType::kFloat32: return "float32";
        case DataType::kFloat64: return "float64";
        case DataType::kFloat16: return "float16";
        case DataType::kBFloat16: return "bfloat16";
        case DataType::kInt8: return "int8";
        case DataType::kInt16: return "int16";
        case DataType::kInt32: return "int32";
        case DataType::kInt64: return "int64";
        case DataType::kUInt8: return "uint8";
        case DataType::kUInt16: return "uint16";
        case DataType::kUInt32: return "uint32";
        case DataType::kUInt64: return "uint64";
        case DataType::kBool: return "bool";
        case DataType::kString: return "string";
        case DataType::kUndefined: return "undefined";
    }
    return "unknown";
}

bool isFloatingPoint(DataType type) noexcept {
    return type == DataType::kFloat32 || type == DataType::kFloat64 || type == DataType::kFloat16 ||
           type == DataType::kBFloat16;
}

bool isSignedInteger(DataType type) noexcept {
    return type == DataType::kInt8 || type == DataType::kInt16 || type == DataType::kInt32 || type == DataType::kInt64;
}

bool isUnsignedInteger(DataType type) noexcept {
    return type == DataType::kUInt8 || type == DataType::kUInt16 || type == DataType::kUInt32 ||
           type == DataType::kUInt64;
}

uint16_t Half::fromFloat(float value) noexcept {
    uint32_t f;
    std::memcpy(&f, &value, 4);
    const uint32_t sign = (f >> 16) & 0x8000U;
    const uint32_t absf = f & 0x7fffffffU;
    if (absf > 0x7f800000U) return static_cast<uint16_t>(sign | 0x7e00U);   // NaN
    if (absf >= 0x477ff000U) return static_cast<uint16_t>(sign | 0x7c00U);  // overflow rounds to inf
    if (absf < 0x38800000U) {
        // Subnormal or zero in half: round absf / 2^-24 to nearest even.
        float a;
        std::memcpy(&a, &absf, 4);
        const float scaled = a * 16777216.0f;  // 2^24
        const auto r = static_cast<uint32_t>(std::nearbyint(scaled));
        return static_cast<uint16_t>(sign | r);
    }
    const uint32_t exp = ((absf >> 23) - 112U) << 10;
    const uint32_t mant = absf & 0x7fffffU;
    uint32_t h = exp | (mant >> 13);
    const uint32_t rest = mant & 0x1fffU;
    if (rest > 0x1000U || (rest == 0x1000U && (h & 1U))) ++h;
    return static_cast<uint16_t>(sign | h);
}

float Half::toFloat(uint16_t bits) noexcept {
    const uint32_t sign = static_cast<uint32_t>(bits & 0x8000U) << 16;
    const uint32_t exp = (bits >> 10) & 0x1fU;
    const uint32_t mant = bits & 0x3ffU;
    uint32_t f;
    if (exp == 0) {
        const float v = static_cast<float>(mant) * (1.0f / 16777216.0f);
        std::memcpy(&f, &v, 4);
        f |= sign;
    } else if (exp == 31) {
        f = sign | 0x7f800000U | (mant << 13);
    } else {
        f = sign | ((exp + 112U) << 23) | (mant << 13);
    }
    float out;
    std::memcpy(&out, &f, 4);
    return out;
}

}  // namespace kiln
