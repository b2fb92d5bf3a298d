// Loads a model file with berth's engines and describes its signature, so that a model is
// checked (and its inputs/outputs known) before anything is deployed from it.
#pragma once

#include <filesystem>

#include "absl/status/statusor.h"
#include "models/model_format.h"
#include "nlohmann/json.hpp"

namespace berth::models {

// {"inputs": [{"name", "datatype", "shape"}], "outputs": [...], "max_batch_size": N}, with V2
// datatypes ("FP32") and -1 for dynamic dims (the batch dim included when N > 0), as the worker
// would serve the file without a config.pbtxt. TorchScript files declare no signature: their
// inputs and outputs are empty and "note" says so. InvalidArgument with the engine's reason
// when the engine cannot load the file; only kOnnx and kTorchScript can be described.
absl::StatusOr<nlohmann::json> DescribeModel(const std::filesystem::path& model_file,
                                             ModelFormat format);

}  // namespace berth::models
