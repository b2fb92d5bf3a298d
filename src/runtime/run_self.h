// Runs the server's own executable as a short-lived helper (the model probe) and collects what
// it prints, with a time limit.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"

namespace berth::runtime {

struct CommandResult {
  int exit_code = -1;  // -1: killed by a signal or the timeout
  std::string output;  // stdout
  std::string errors;  // stderr (the last 64 KiB)
};

// Runs the server's own executable with `args` and waits for it, at most `timeout_ms`
// (killed after that). Standard output is kept up to `max_output` bytes.
absl::StatusOr<CommandResult> RunSelf(const std::vector<std::string>& args, int64_t timeout_ms,
                                      size_t max_output = 1 << 20);

}  // namespace berth::runtime
