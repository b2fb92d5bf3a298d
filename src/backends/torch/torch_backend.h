// TorchScript backend on Debian's libtorch. Slower than ONNX Runtime on this platform (see
// docs/backends.md); offered for format coverage. Needs a config.pbtxt naming inputs/outputs.
#pragma once

#include "backends/backend.h"

namespace berth::backends {

// Loads libberth_torch.so (once) and creates an instance through it. Unavailable when the
// plugin is not installed.
absl::StatusOr<std::unique_ptr<ModelInstance>> CreateTorchInstance(
    const std::string& path, const BackendOptions& options, bool complete_config,
    inference::ModelConfig* config);

// What the plugin exports, as `berth_torch_plugin`.
struct TorchPlugin {
  int abi_version;
  absl::StatusOr<std::unique_ptr<ModelInstance>> (*create)(const std::string& path,
                                                           const BackendOptions& options,
                                                           bool complete_config,
                                                           inference::ModelConfig* config);
};
inline constexpr int kTorchPluginAbi = 1;

// Set in the model config's parameters so that metadata tells users about the fast path.
inline constexpr char kTorchPerformanceNote[] =
    "TorchScript runs on Debian's libtorch 1.13 (generic BLAS), about 1.8x slower than ONNX "
    "Runtime on ResNet-50 and slower still on MobileNet and transformers; export the model to "
    "ONNX for the fast path";

}  // namespace berth::backends
