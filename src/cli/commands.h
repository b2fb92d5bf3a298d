// The command groups behind AddCliCommands, and the model steps that `models` and `deploy` share.
#pragma once

#include <string>

#include "CLI/CLI.hpp"
#include "absl/status/statusor.h"
#include "cli/session.h"
#include "nlohmann/json.hpp"

namespace berth::cli {

void AddAccessCommands(CLI::App& app, int* exit_code);   // login, keys
void AddModelCommands(CLI::App& app, int* exit_code);    // models
void AddServiceCommands(CLI::App& app, int* exit_code);  // services, describe, events, logs, ...
void AddDeployCommands(CLI::App& app, int* exit_code);   // deploy, apply
void AddRolloutCommands(CLI::App& app, int* exit_code);  // rollout status|promote|abort|set

// Streams `file` to POST /api/v1/models?name=NAME, with a progress bar when stderr is a terminal.
absl::StatusOr<nlohmann::json> UploadModel(const Session& session, const std::string& file,
                                           const std::string& name);

// "onnx, 1.2 MiB, 1 input (input FP32 [-1, 784]), 1 output (logits FP32 [-1, 10])".
std::string SummarizeModel(const nlohmann::json& model);

}  // namespace berth::cli
