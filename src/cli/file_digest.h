// SHA-256 of a file, read in fixed-size chunks so a model of any size costs constant memory.
#pragma once

#include <string>

#include "absl/status/statusor.h"

namespace berth::cli {

// Lowercase hex SHA-256 of the file's contents; NotFound / FailedPrecondition naming the path.
absl::StatusOr<std::string> Sha256OfFile(const std::string& path);

}  // namespace berth::cli
