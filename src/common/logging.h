// Process-wide logging setup: human-readable text or one JSON object per line, on stderr.
#pragma once

#include <string_view>

#include "absl/status/status.h"

namespace berth::common {

enum class LogFormat { kText, kJson };

// Configures the default spdlog logger. `level` is one of trace, debug, info, warn, error.
absl::Status InitLogging(LogFormat format, std::string_view level);

}  // namespace berth::common
