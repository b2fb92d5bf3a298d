// What a repository load request may carry besides the model's name (Triton's model-repository
// extension): "config", a model config as JSON that replaces the model directory's
// config.pbtxt for this load, and "file:<version>/<path>" parameters whose contents replace the
// model directory itself (base64 over REST, bytes over gRPC). Parsed and checked here, before
// the repository acts on any of it, so that a malformed override is a 400 naming what is wrong
// and never a load that silently ignores it.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "grpc_service.pb.h"
#include "model_config.pb.h"

namespace berth::worker {

struct LoadOverrides {
  std::optional<inference::ModelConfig> config;
  // Relative paths inside the model directory ("1/model.onnx") and their contents.
  std::vector<std::pair<std::string, std::string>> files;
};

// Parses a model config written as JSON (the shape GET .../config returns) for `model`. A
// config that names another model, or that is not valid JSON for a ModelConfig (an unknown
// field, a wrong type), is InvalidArgument naming the problem.
absl::StatusOr<inference::ModelConfig> ParseConfigOverride(std::string_view model,
                                                          std::string_view json);

// The overrides of a REST load request body: empty, or {"parameters": {...}}.
absl::StatusOr<LoadOverrides> LoadOverridesFromJson(std::string_view model,
                                                    std::string_view body);

// The overrides of a gRPC RepositoryModelLoad request.
absl::StatusOr<LoadOverrides> LoadOverridesFromProto(
    const inference::RepositoryModelLoadRequest& request);

}  // namespace berth::worker
