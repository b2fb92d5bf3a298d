// A V2 data type as the model configuration's enum (inference::DataType), for code that builds
// or checks ModelConfig messages.
#pragma once

#include <string>

#include "model_config.pb.h"
#include "protocol/datatype.h"

namespace berth::protocol {

// TYPE_FP32 for kFp32, ...; TYPE_INVALID for kInvalid.
inline inference::DataType ConfigDataType(DataType type) {
  inference::DataType out = inference::TYPE_INVALID;
  inference::DataType_Parse(std::string(DataTypeConfigName(type)), &out);
  return out;
}

}  // namespace berth::protocol
