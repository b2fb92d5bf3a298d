#include "protocol/datatype.h"

#include <bit>
#include <cmath>
#include <cstdint>
#include <limits>
#include <string>

#include "gtest/gtest.h"

namespace berth::protocol {
namespace {

constexpr DataType kAllTypes[] = {
    DataType::kBool, DataType::kUint8, DataType::kUint16, DataType::kUint32, DataType::kUint64,
    DataType::kInt8, DataType::kInt16, DataType::kInt32,  DataType::kInt64,  DataType::kFp16,
    DataType::kFp32, DataType::kFp64,  DataType::kBytes,  DataType::kBf16,
};

TEST(DataTypeTest, NamesRoundTrip) {
  for (DataType type : kAllTypes) {
    const std::string_view name = DataTypeName(type);
    EXPECT_NE(name, "INVALID");
    ASSERT_TRUE(DataTypeFromName(name).has_value()) << name;
    EXPECT_EQ(*DataTypeFromName(name), type) << name;
    const std::string_view config_name = DataTypeConfigName(type);
    ASSERT_TRUE(DataTypeFromConfigName(config_name).has_value()) << config_name;
    EXPECT_EQ(*DataTypeFromConfigName(config_name), type) << config_name;
  }
}

TEST(DataTypeTest, WireAndConfigNames) {
  EXPECT_EQ(DataTypeName(DataType::kFp32), "FP32");
  EXPECT_EQ(DataTypeName(DataType::kBytes), "BYTES");
  EXPECT_EQ(DataTypeName(DataType::kBf16), "BF16");
  EXPECT_EQ(DataTypeName(DataType::kInvalid), "INVALID");
  EXPECT_EQ(DataTypeConfigName(DataType::kBytes), "TYPE_STRING");
  EXPECT_EQ(DataTypeConfigName(DataType::kInt64), "TYPE_INT64");
  EXPECT_EQ(DataTypeConfigName(DataType::kInvalid), "TYPE_INVALID");
}

TEST(DataTypeTest, UnknownNamesAreRejected) {
  EXPECT_FALSE(DataTypeFromName("fp32").has_value());  // names are case-sensitive
  EXPECT_FALSE(DataTypeFromName("").has_value());
  EXPECT_FALSE(DataTypeFromName("INVALID").has_value());
  EXPECT_FALSE(DataTypeFromName("STRING").has_value());
  EXPECT_FALSE(DataTypeFromName("TYPE_FP32").has_value());
  EXPECT_FALSE(DataTypeFromConfigName("FP32").has_value());
  EXPECT_FALSE(DataTypeFromConfigName("TYPE_BYTES").has_value());
  EXPECT_FALSE(DataTypeFromConfigName("TYPE_INVALID").has_value());
}

TEST(DataTypeTest, ElementSizes) {
  EXPECT_EQ(ElementSize(DataType::kBool), 1u);
  EXPECT_EQ(ElementSize(DataType::kUint8), 1u);
  EXPECT_EQ(ElementSize(DataType::kInt8), 1u);
  EXPECT_EQ(ElementSize(DataType::kUint16), 2u);
  EXPECT_EQ(ElementSize(DataType::kInt16), 2u);
  EXPECT_EQ(ElementSize(DataType::kFp16), 2u);
  EXPECT_EQ(ElementSize(DataType::kBf16), 2u);
  EXPECT_EQ(ElementSize(DataType::kUint32), 4u);
  EXPECT_EQ(ElementSize(DataType::kInt32), 4u);
  EXPECT_EQ(ElementSize(DataType::kFp32), 4u);
  EXPECT_EQ(ElementSize(DataType::kUint64), 8u);
  EXPECT_EQ(ElementSize(DataType::kInt64), 8u);
  EXPECT_EQ(ElementSize(DataType::kFp64), 8u);
  EXPECT_EQ(ElementSize(DataType::kBytes), 0u);
  EXPECT_EQ(ElementSize(DataType::kInvalid), 0u);
}

// The value an IEEE binary16 bit pattern stands for, computed independently of the code under
// test (double arithmetic is exact for every half).
double ReferenceHalfValue(uint16_t bits) {
  const int sign = (bits & 0x8000) ? -1 : 1;
  const int exponent = (bits >> 10) & 0x1f;
  const int mantissa = bits & 0x3ff;
  if (exponent == 0x1f) {
    return mantissa ? std::numeric_limits<double>::quiet_NaN()
                    : sign * std::numeric_limits<double>::infinity();
  }
  if (exponent == 0) return sign * std::ldexp(mantissa, -24);
  return sign * std::ldexp(1024 + mantissa, exponent - 25);
}

TEST(Fp16Test, ExactValues) {
  EXPECT_EQ(FloatToHalf(0.0f), 0x0000);
  EXPECT_EQ(FloatToHalf(-0.0f), 0x8000);
  EXPECT_EQ(FloatToHalf(1.0f), 0x3c00);
  EXPECT_EQ(FloatToHalf(-2.0f), 0xc000);
  EXPECT_EQ(FloatToHalf(0.5f), 0x3800);
  EXPECT_EQ(FloatToHalf(65504.0f), 0x7bff);  // largest finite half
  EXPECT_EQ(FloatToHalf(0x1p-14f), 0x0400);  // smallest normal half
  EXPECT_EQ(FloatToHalf(std::numeric_limits<float>::infinity()), 0x7c00);
  EXPECT_EQ(FloatToHalf(-std::numeric_limits<float>::infinity()), 0xfc00);
  const uint16_t nan = FloatToHalf(std::numeric_limits<float>::quiet_NaN());
  EXPECT_EQ(nan & 0x7c00, 0x7c00);
  EXPECT_NE(nan & 0x03ff, 0);  // still a NaN, not an infinity

  EXPECT_EQ(HalfToFloat(0x0000), 0.0f);
  EXPECT_TRUE(std::signbit(HalfToFloat(0x8000)));
  EXPECT_EQ(HalfToFloat(0x3c00), 1.0f);
  EXPECT_EQ(HalfToFloat(0x3800), 0.5f);
  EXPECT_EQ(HalfToFloat(0x7bff), 65504.0f);
  EXPECT_EQ(HalfToFloat(0x7c00), std::numeric_limits<float>::infinity());
  EXPECT_EQ(HalfToFloat(0xfc00), -std::numeric_limits<float>::infinity());
  EXPECT_TRUE(std::isnan(HalfToFloat(0x7e00)));
}

TEST(Fp16Test, SubnormalsEncode) {
  EXPECT_EQ(FloatToHalf(0x1p-24f), 0x0001);  // smallest subnormal half
  EXPECT_EQ(FloatToHalf(-0x1p-24f), 0x8001);
  EXPECT_EQ(FloatToHalf(0x1p-23f), 0x0002);
  EXPECT_EQ(FloatToHalf(3 * 0x1p-24f), 0x0003);
  EXPECT_EQ(FloatToHalf(0x1p-15f), 0x0200);
  EXPECT_EQ(FloatToHalf(1023 * 0x1p-24f), 0x03ff);  // largest subnormal half
}

TEST(Fp16Test, SubnormalsDecode) {
  EXPECT_EQ(HalfToFloat(0x0001), 0x1p-24f);
  EXPECT_EQ(HalfToFloat(0x8001), -0x1p-24f);
  EXPECT_EQ(HalfToFloat(0x0200), 0x1p-15f);
  EXPECT_EQ(HalfToFloat(0x03ff), 1023 * 0x1p-24f);
}

TEST(Fp16Test, RoundsToNearestEven) {
  // 1 + 2^-11 lies halfway between 1 (even mantissa) and 1 + 2^-10: rounds down to even.
  EXPECT_EQ(FloatToHalf(1.0f + 0x1p-11f), 0x3c00);
  // 1 + 3 * 2^-11 lies halfway between 1 + 2^-10 (odd) and 1 + 2^-9: rounds up to even.
  EXPECT_EQ(FloatToHalf(1.0f + 3 * 0x1p-11f), 0x3c02);
  // Just above the halfway point rounds up.
  EXPECT_EQ(FloatToHalf(1.0f + 0x1p-11f + 0x1p-20f), 0x3c01);
  // Just below rounds down.
  EXPECT_EQ(FloatToHalf(1.0f + 0x1p-11f - 0x1p-20f), 0x3c00);
  // 65520 is halfway between 65504 (odd mantissa) and 65536 (not finite): rounds to infinity.
  EXPECT_EQ(FloatToHalf(65520.0f), 0x7c00);
  EXPECT_EQ(FloatToHalf(65519.0f), 0x7bff);
  EXPECT_EQ(FloatToHalf(1e10f), 0x7c00);
  EXPECT_EQ(FloatToHalf(-1e10f), 0xfc00);
  // 2^-25 is halfway between 0 (even) and the smallest subnormal: rounds to zero.
  EXPECT_EQ(FloatToHalf(0x1p-25f), 0x0000);
  EXPECT_EQ(FloatToHalf(0x1.000002p-25f), 0x0001);  // just above halfway
  EXPECT_EQ(FloatToHalf(1e-10f), 0x0000);
  EXPECT_EQ(FloatToHalf(-1e-10f), 0x8000);
  // 3 * 2^-25 is halfway between subnormals 1 (odd) and 2: rounds up to 2.
  EXPECT_EQ(FloatToHalf(3 * 0x1p-25f), 0x0002);
  // 5 * 2^-25 is halfway between subnormals 2 (even) and 3: rounds down to 2.
  EXPECT_EQ(FloatToHalf(5 * 0x1p-25f), 0x0002);
}

// Every finite half decodes to its exact value and encodes back to the same bits.
TEST(Fp16Test, EveryHalfRoundTrips) {
  int decode_failures = 0;
  int encode_failures = 0;
  for (uint32_t bits = 0; bits <= 0xffff; ++bits) {
    const uint16_t half = static_cast<uint16_t>(bits);
    const double expected = ReferenceHalfValue(half);
    const float decoded = HalfToFloat(half);
    if (std::isnan(expected)) {
      if (!std::isnan(decoded)) ++decode_failures;
      continue;
    }
    if (static_cast<double>(decoded) != expected ||
        std::signbit(decoded) != std::signbit(expected)) {
      if (++decode_failures <= 5) ADD_FAILURE() << "HalfToFloat(" << bits << ") = " << decoded;
    }
    const uint16_t encoded = FloatToHalf(static_cast<float>(expected));
    if (encoded != half) {
      if (++encode_failures <= 5) {
        ADD_FAILURE() << "FloatToHalf(" << expected << ") = " << encoded << ", want " << bits;
      }
    }
  }
  EXPECT_EQ(decode_failures, 0);
  EXPECT_EQ(encode_failures, 0);
}

TEST(Bf16Test, ExactValues) {
  EXPECT_EQ(FloatToBf16(0.0f), 0x0000);
  EXPECT_EQ(FloatToBf16(-0.0f), 0x8000);
  EXPECT_EQ(FloatToBf16(1.0f), 0x3f80);
  EXPECT_EQ(FloatToBf16(-2.0f), 0xc000);
  EXPECT_EQ(FloatToBf16(0.5f), 0x3f00);
  EXPECT_EQ(FloatToBf16(std::numeric_limits<float>::infinity()), 0x7f80);
  EXPECT_EQ(FloatToBf16(-std::numeric_limits<float>::infinity()), 0xff80);
  const uint16_t nan = FloatToBf16(std::numeric_limits<float>::quiet_NaN());
  EXPECT_TRUE(std::isnan(Bf16ToFloat(nan)));
  // A signalling NaN whose payload sits only in the low 16 bits must stay a NaN.
  const uint16_t low_nan = FloatToBf16(std::bit_cast<float>(0x7f800001u));
  EXPECT_TRUE(std::isnan(Bf16ToFloat(low_nan)));

  EXPECT_EQ(Bf16ToFloat(0x3f80), 1.0f);
  EXPECT_EQ(Bf16ToFloat(0xc000), -2.0f);
  EXPECT_EQ(Bf16ToFloat(0x7f80), std::numeric_limits<float>::infinity());
  EXPECT_TRUE(std::signbit(Bf16ToFloat(0x8000)));
}

TEST(Bf16Test, RoundsToNearestEven) {
  // bf16 keeps 7 mantissa bits: 1 + 2^-8 is halfway between 1 (even) and 1 + 2^-7.
  EXPECT_EQ(FloatToBf16(1.0f + 0x1p-8f), 0x3f80);
  // 1 + 3 * 2^-8 is halfway between 1 + 2^-7 (odd) and 1 + 2^-6: rounds up.
  EXPECT_EQ(FloatToBf16(1.0f + 3 * 0x1p-8f), 0x3f82);
  EXPECT_EQ(FloatToBf16(1.0f + 0x1p-8f + 0x1p-20f), 0x3f81);
  // The largest float rounds past the largest bf16 to infinity.
  EXPECT_EQ(FloatToBf16(std::numeric_limits<float>::max()), 0x7f80);
}

TEST(Bf16Test, EveryFiniteBf16RoundTrips) {
  int failures = 0;
  for (uint32_t bits = 0; bits <= 0xffff; ++bits) {
    const uint16_t value = static_cast<uint16_t>(bits);
    const float decoded = Bf16ToFloat(value);
    if (std::bit_cast<uint32_t>(decoded) != bits << 16 && ++failures <= 5) {
      ADD_FAILURE() << "Bf16ToFloat(" << bits << ") is not the bits shifted left by 16";
    }
    if (std::isnan(decoded)) continue;
    if (FloatToBf16(decoded) != value && ++failures <= 5) {
      ADD_FAILURE() << "FloatToBf16(Bf16ToFloat(" << bits << ")) = " << FloatToBf16(decoded);
    }
  }
  EXPECT_EQ(failures, 0);
}

}  // namespace
}  // namespace berth::protocol
