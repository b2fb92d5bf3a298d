// Protobuf messages as JSON the way Triton writes them over REST: field names as in the
// .proto (max_batch_size, not maxBatchSize), every field present, and 64-bit integers as JSON
// numbers. Protobuf's own JSON mapping writes int64 and uint64 as strings
// ("inference_count":"280577", "dims":["16"]), which Triton's clients read with integer
// getters and reject.
#pragma once

#include <string>

#include "absl/status/statusor.h"
#include "google/protobuf/message.h"

namespace berth::protocol {

absl::StatusOr<std::string> TritonJson(const google::protobuf::Message& message);

}  // namespace berth::protocol
