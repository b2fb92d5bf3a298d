// Checks an inference request against its model's config before it is queued: every input
// present once with the right datatype, shape and byte size; requested outputs known.
#pragma once

#include <cstdint>

#include "absl/status/status.h"
#include "model_config.pb.h"
#include "protocol/infer.h"

namespace berth::worker {

// On success sets `*batch_rows` to the request's batch size (1 for models without batching).
absl::Status ValidateRequest(const inference::ModelConfig& config,
                             const protocol::InferRequest& request, int64_t* batch_rows);

}  // namespace berth::worker
