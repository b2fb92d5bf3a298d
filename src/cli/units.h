// Parsing and printing of the quantities people type and read at the CLI: durations ("300s",
// "1m30s"), memory ("2Gi", "512M"), CPU ("500m", "1.5"), byte sizes, RFC 3339 times and ages.
#pragma once

#include <chrono>
#include <cstdint>
#include <string>
#include <string_view>

#include "absl/status/statusor.h"
#include "common/quantity.h"  // ParseMemory, ParseCpu: one grammar for CLI, server and console

namespace berth::cli {

// "300s", "5m", "1h30m", "250ms", "1.5s", or a bare number of seconds ("300").
absl::StatusOr<std::chrono::milliseconds> ParseDuration(std::string_view text);

// Seconds since the epoch of an RFC 3339 time ("2024-05-01T12:00:00Z", "...T12:00:00.25+02:00").
absl::StatusOr<std::chrono::system_clock::time_point> ParseRfc3339(std::string_view text);

// kubectl-style age: "45s", "12m", "5h", "3d"; "-" for an empty or unreadable time.
std::string FormatAge(std::string_view rfc3339, std::chrono::system_clock::time_point now);

// "0 B", "812 B", "1.5 KiB", "23.4 MiB", "2.0 GiB".
std::string FormatBytes(uint64_t bytes);

// "300s", "1m30s", "250ms": the inverse of ParseDuration for messages.
std::string FormatDuration(std::chrono::milliseconds duration);

}  // namespace berth::cli
