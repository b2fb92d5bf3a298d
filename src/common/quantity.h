// The quantities of a replica's resources, in Kubernetes' grammar, parsed the same way by the
// CLI, the server's API and (web/src/lib/format.ts) the console.
#pragma once

#include <cstdint>
#include <string_view>

#include "absl/status/statusor.h"

namespace berth {

// Reads a non-negative decimal number ("12", "1.5", ".5") from the front of `text`, removing
// it; false (and `text` unchanged) when there is none.
bool ConsumeDecimal(std::string_view& text, double* value);

// A memory quantity in bytes: "2Gi", "512Mi", "1G", "1500k", "1.5Gi", "1T", "1073741824".
// Suffixes k K M G T (powers of 1000) and Ki Mi Gi Ti (powers of 1024); at least 1 byte.
absl::StatusOr<uint64_t> ParseMemory(std::string_view text);

// A CPU quantity in cores: "1", "0.5", "500m". Must be positive.
absl::StatusOr<double> ParseCpu(std::string_view text);

}  // namespace berth
