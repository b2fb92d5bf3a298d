// Recognises a model from its content (never its file name): ONNX, TorchScript, TensorFlow
// SavedModel or MLflow, as a file, a directory or an archive; and says whether berth can serve it.
#pragma once

#include <filesystem>
#include <optional>
#include <string>
#include <string_view>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace berth::models {

enum class ModelFormat { kOnnx, kTorchScript, kSavedModel, kMlflow };

struct DetectedModel {
  ModelFormat format;
  // For people: "ONNX IR 8, opset 13", "TorchScript archive", "MLflow model (flavors: ...)".
  std::string description;
  // Set when the model holds a servable file in another format (an MLflow model with an onnx
  // flavor): its format, and its path inside the model directory.
  std::optional<ModelFormat> servable_format;
  std::filesystem::path servable_path;
};

// Detects the format of the file or directory at `path` from what it contains. NotFound when
// nothing is there; InvalidArgument ("not a model berth can serve: ...") for anything else.
absl::StatusOr<DetectedModel> DetectModelFormat(const std::filesystem::path& path);

// OK when berth can serve the model (ONNX, TorchScript, or a servable file inside it);
// InvalidArgument naming the format and how to export it to ONNX otherwise.
absl::Status CheckServable(const DetectedModel& model);

// "onnx", "torchscript", "savedmodel", "mlflow".
std::string_view FormatName(ModelFormat format);
// The inverse of FormatName; nullopt for anything else.
std::optional<ModelFormat> FormatFromName(std::string_view name);

}  // namespace berth::models
