// The Open Inference Protocol's tensor data types, their wire names and element sizes, and
// conversions to and from the model configuration's TYPE_* names.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string_view>

namespace berth::protocol {

enum class DataType : uint8_t {
  kInvalid,
  kBool,
  kUint8,
  kUint16,
  kUint32,
  kUint64,
  kInt8,
  kInt16,
  kInt32,
  kInt64,
  kFp16,
  kFp32,
  kFp64,
  kBytes,
  kBf16,
};

// "FP32", "BYTES", ... ; "INVALID" for kInvalid.
std::string_view DataTypeName(DataType type);
// Parses a V2 name ("FP32"); nullopt for anything else.
std::optional<DataType> DataTypeFromName(std::string_view name);
// Parses a model-config name ("TYPE_FP32", "TYPE_STRING"); nullopt for anything else.
std::optional<DataType> DataTypeFromConfigName(std::string_view name);
// "TYPE_FP32", "TYPE_STRING", ...
std::string_view DataTypeConfigName(DataType type);
// Bytes per element; 0 for BYTES (variable length) and kInvalid.
size_t ElementSize(DataType type);

// IEEE half and bfloat16 <-> float, round to nearest even.
uint16_t FloatToHalf(float value);
float HalfToFloat(uint16_t bits);
uint16_t FloatToBf16(float value);
float Bf16ToFloat(uint16_t bits);

}  // namespace berth::protocol
