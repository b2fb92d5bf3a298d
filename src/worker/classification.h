// Triton's classification extension: an output requested with {"classification": N} comes
// back as the N highest-valued elements of each batch row, as BYTES strings
// "<value>:<index>[:<label>]" (the label from the output's label_filename), in place of the
// raw tensor.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "protocol/infer.h"

namespace berth::worker {

// `output` ([batch, ...] when `batched`, else [...]) as its top `count` classes per row:
// BYTES of shape [batch, k] ([k] unbatched), k = min(count, the row's elements), best first
// (ties: the lower index first). Values compare in the output's own datatype. `labels` (may
// be empty) name the classes by index. InvalidArgument for a BYTES output.
absl::StatusOr<protocol::OutputTensor> Classify(const protocol::OutputTensor& output,
                                                uint32_t count, bool batched,
                                                const std::vector<std::string>& labels);

}  // namespace berth::worker
