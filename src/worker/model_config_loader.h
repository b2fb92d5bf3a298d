// Reads a model's config.pbtxt (Triton's text format) and applies berth's defaults.
#pragma once

#include <string>

#include "absl/status/statusor.h"
#include "model_config.pb.h"

namespace berth::worker {

// Parses config text; unknown fields are tolerated (and logged) so Triton repositories that
// use features berth does not implement still load.
absl::StatusOr<inference::ModelConfig> ParseModelConfig(const std::string& text,
                                                        const std::string& source);

// Reads `<model_dir>/config.pbtxt` if present (an empty config otherwise) and checks that its
// name, when given, matches the directory name.
absl::StatusOr<inference::ModelConfig> LoadModelConfig(const std::string& model_dir,
                                                       const std::string& model_name);

// Checks a completed config for things berth cannot serve (GPU instance groups, bad sizes).
absl::Status CheckServable(const inference::ModelConfig& config);

// Number of model instances (executors) the config asks for; at least 1.
int InstanceCount(const inference::ModelConfig& config);

// The whole content of a small file from a model directory; InvalidArgument when it is
// missing, unreadable or larger than `max_bytes`.
absl::StatusOr<std::string> ReadSmallFile(const std::string& path, uint64_t max_bytes);

// True for names that may become a directory name: [A-Za-z0-9_.-], not starting with '.',
// 1..128 characters.
bool IsValidModelName(std::string_view name);

}  // namespace berth::worker
