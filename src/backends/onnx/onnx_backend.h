// ONNX Runtime backend: one Ort::Session per model instance, CPU execution provider.
#pragma once

#include "backends/backend.h"

namespace berth::backends {

absl::StatusOr<std::unique_ptr<ModelInstance>> CreateOnnxInstance(
    const std::string& path, const BackendOptions& options, bool complete_config,
    inference::ModelConfig* config);

// The ONNX Runtime version this process runs, e.g. "1.29.0".
std::string OnnxRuntimeVersion();

}  // namespace berth::backends
