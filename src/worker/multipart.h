// A reader for multipart/form-data request bodies (RFC 7578), as browsers and `curl -F` send
// them. Parts are views into the body, which must outlive them.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"

namespace berth::worker {

struct FormPart {
  std::string name;          // from Content-Disposition
  std::string filename;      // empty unless the part is a file
  std::string content_type;  // lower case, without parameters; empty if not given
  std::string_view body;
};

// The parts of `body`, sent with Content-Type `content_type` (which carries the boundary).
// InvalidArgument naming the problem for a malformed body or more than `max_parts` parts.
absl::StatusOr<std::vector<FormPart>> ParseFormData(std::string_view content_type,
                                                    std::string_view body, size_t max_parts);

}  // namespace berth::worker
