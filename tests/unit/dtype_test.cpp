// Half and BFloat16 conversions: round-to-nearest-even, subnormals, overflow, infinities and NaN.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <limits>

#include "kiln/dtype.h"

namespace kiln {
namespace {

float fromBits(uint32_t u) {
    float f;
    std::memcpy(&f, &u, 4);
    return f;
}

uint16_t half(float f) { return Half::fromFloat(f); }
uint16_t bf16(float f) { return BFloat16::fromFloat(f); }

TEST(Half, ExactValues) {
    EXPECT_EQ(half(0.0f), 0x0000);
    EXPECT_EQ(half(-0.0f), 0x8000);
    EXPECT_EQ(half(1.0f), 0x3c00);
    EXPECT_EQ(half(-2.0f), 0xc000);
    EXPECT_EQ(half(0.5f), 0x3800);
    EXPECT_EQ(half(65504.0f), 0x7bff);               // largest finite half
    EXPECT_EQ(half(std::ldexp(1.0f, -14)), 0x0400);  // smallest normal
}

TEST(Half, RoundsToNearestEven) {
    const float ulp = std::ldexp(1.0f, -10);  // spacing of halves in [1, 2)
    EXPECT_EQ(half(1.0f + ulp / 2), 0x3c00) << "tie rounds down to the even 1.0";
    EXPECT_EQ(half(1.0f + 3 * ulp / 2), 0x3c02) << "tie rounds up to the even 1+2ulp";
    EXPECT_EQ(half(1.0f + ulp / 2 + std::ldexp(1.0f, -20)), 0x3c01) << "just above a tie rounds up";
    EXPECT_EQ(half(1.0f + ulp / 2 - std::ldexp(1.0f, -20)), 0x3c00) << "just below a tie rounds down";
    // Rounding up carries from the mantissa into the exponent: 2 - ulp/4 rounds to 2.
    EXPECT_EQ(half(2.0f - ulp / 4), 0x4000);
}

TEST(Half, Subnormals) {
    const float tiny = std::ldexp(1.0f, -24);  // smallest subnormal half
    EXPECT_EQ(half(tiny), 0x0001);
    EXPECT_EQ(half(-tiny), 0x8001);
    EXPECT_EQ(half(tiny / 2), 0x0000) << "tie between 0 and the smallest subnormal goes to even 0";
    EXPECT_EQ(half(tiny / 2 + std::ldexp(1.0f, -40)), 0x0001);
    EXPECT_EQ(half(1.5f * tiny), 0x0002) << "tie between 1 and 2 subnormal steps goes to even 2";
    EXPECT_EQ(half(1023 * tiny), 0x03ff);  // largest subnormal
    EXPECT_EQ(half(1023.5f * tiny), 0x0400) << "tie at the top rounds to the even smallest normal";
    EXPECT_EQ(half(std::numeric_limits<float>::denorm_min()), 0x0000);
    EXPECT_EQ(Half::toFloat(0x0001), tiny);
    EXPECT_EQ(Half::toFloat(0x03ff), 1023 * tiny);
    EXPECT_EQ(Half::toFloat(0x8001), -tiny);
}

TEST(Half, OverflowInfinityAndNaN) {
    const float inf = std::numeric_limits<float>::infinity();
    EXPECT_EQ(half(65519.0f), 0x7bff) << "below the halfway point to 65536 stays finite";
    EXPECT_EQ(half(65520.0f), 0x7c00) << "the tie with 65536 rounds to even, which is infinity";
    EXPECT_EQ(half(1e10f), 0x7c00);
    EXPECT_EQ(half(-1e10f), 0xfc00);
    EXPECT_EQ(half(inf), 0x7c00);
    EXPECT_EQ(half(-inf), 0xfc00);
    EXPECT_EQ(Half::toFloat(0x7c00), inf);
    EXPECT_EQ(Half::toFloat(0xfc00), -inf);
    for (float nan : {std::numeric_limits<float>::quiet_NaN(), -std::numeric_limits<float>::quiet_NaN(),
                      fromBits(0x7f800001U) /* signalling, payload in the low bits only */}) {
        const uint16_t h = half(nan);
        EXPECT_EQ(h & 0x7c00, 0x7c00);
        EXPECT_NE(h & 0x03ff, 0) << "NaN must not turn into infinity";
        EXPECT_TRUE(std::isnan(Half::toFloat(h)));
    }
    EXPECT_TRUE(std::isnan(Half::toFloat(0x7e00)));
    EXPECT_TRUE(std::isnan(Half::toFloat(0xfc01)));
}

TEST(Half, EveryBitPatternRoundTrips) {
    for (uint32_t bits = 0; bits <= 0xffff; ++bits) {
        const auto h = static_cast<uint16_t>(bits);
        const float f = Half::toFloat(h);
        if (std::isnan(f)) {
            EXPECT_TRUE(std::isnan(Half::toFloat(half(f)))) << std::hex << bits;
            continue;
        }
        ASSERT_EQ(half(f), h) << std::hex << bits << " -> " << f;
    }
}

TEST(Half, ConvertsThroughFloat) {
    const Half h(3.25f);
    EXPECT_EQ(h.bits, 0x4280);
    EXPECT_EQ(static_cast<float>(h), 3.25f);
    EXPECT_EQ(Half().bits, 0);
}

TEST(BFloat16, RoundsToNearestEven) {
    EXPECT_EQ(bf16(1.0f), 0x3f80);
    EXPECT_EQ(bf16(-0.0f), 0x8000);
    const float ulp = std::ldexp(1.0f, -7);  // spacing of bfloat16s in [1, 2)
    EXPECT_EQ(bf16(1.0f + ulp / 2), 0x3f80) << "tie rounds down to the even 1.0";
    EXPECT_EQ(bf16(1.0f + 3 * ulp / 2), 0x3f82) << "tie rounds up to the even 1+2ulp";
    EXPECT_EQ(bf16(1.0f + ulp / 2 + std::ldexp(1.0f, -20)), 0x3f81);
    EXPECT_EQ(bf16(2.0f - ulp / 4), 0x4000) << "carries into the exponent";
}

TEST(BFloat16, SubnormalsInfinityOverflowAndNaN) {
    const float inf = std::numeric_limits<float>::infinity();
    EXPECT_EQ(bf16(fromBits(0x00010000U)), 0x0001) << "float32 subnormals keep their top bits";
    EXPECT_EQ(bf16(fromBits(0x00008000U)), 0x0000) << "tie to even 0";
    EXPECT_EQ(bf16(fromBits(0x00018000U)), 0x0002) << "tie to even 2";
    EXPECT_EQ(bf16(inf), 0x7f80);
    EXPECT_EQ(bf16(-inf), 0xff80);
    EXPECT_EQ(bf16(std::numeric_limits<float>::max()), 0x7f80) << "rounds past the largest finite to infinity";
    EXPECT_EQ(bf16(fromBits(0x7f7f7fffU)), 0x7f7f) << "below the tie stays finite";
    for (float nan : {std::numeric_limits<float>::quiet_NaN(), fromBits(0x7f800001U), fromBits(0xff800001U)}) {
        const uint16_t b = bf16(nan);
        EXPECT_EQ(b & 0x7f80, 0x7f80);
        EXPECT_NE(b & 0x007f, 0) << "NaN must not turn into infinity";
    }
    EXPECT_EQ(BFloat16::toFloat(0x7f80), inf);
    EXPECT_EQ(BFloat16::toFloat(0x0001), fromBits(0x00010000U));
}

TEST(BFloat16, EveryBitPatternRoundTrips) {
    for (uint32_t bits = 0; bits <= 0xffff; ++bits) {
        const auto b = static_cast<uint16_t>(bits);
        const float f = BFloat16::toFloat(b);
        if (std::isnan(f)) {
            EXPECT_TRUE(std::isnan(BFloat16::toFloat(bf16(f)))) << std::hex << bits;
            continue;
        }
        ASSERT_EQ(bf16(f), b) << std::hex << bits;
    }
}

TEST(DataType, SizesNamesAndClasses) {
    EXPECT_EQ(dataTypeSize(DataType::kFloat16), 2u);
    EXPECT_EQ(dataTypeSize(DataType::kBool), 1u);
    EXPECT_EQ(dataTypeSize(DataType::kUInt64), 8u);
    EXPECT_EQ(dataTypeSize(DataType::kUndefined), 0u);
    EXPECT_STREQ(dataTypeName(DataType::kBFloat16), "bfloat16");
    EXPECT_STREQ(dataTypeName(static_cast<DataType>(99)), "unknown");
    EXPECT_TRUE(isFloatingPoint(DataType::kBFloat16));
    EXPECT_FALSE(isInteger(DataType::kBool));
    EXPECT_TRUE(isSignedInteger(DataType::kInt8));
    EXPECT_TRUE(isUnsignedInteger(DataType::kUInt32));
}

}  // namespace
}  // namespace kiln
