#include "backends/backend.h"

#include <dlfcn.h>

#include <filesystem>
#include <mutex>

#include "common/strings.h"
#include "common/status_macros.h"
#include "backends/onnx/onnx_backend.h"
#include "protocol/config_datatype.h"
#ifdef BERTH_WITH_TORCH
#include "backends/torch/torch_backend.h"
#endif

namespace berth::backends {
namespace {

bool IsOnnx(const inference::ModelConfig& config) {
  return config.platform() == "onnxruntime_onnx" || config.backend() == "onnxruntime";
}

bool IsTorch(const inference::ModelConfig& config) {
  return config.platform() == "pytorch_libtorch" || config.backend() == "pytorch";
}

}  // namespace

#ifdef BERTH_WITH_TORCH
absl::StatusOr<std::unique_ptr<ModelInstance>> CreateTorchInstance(
    const std::string& path, const BackendOptions& options, bool complete_config,
    inference::ModelConfig* config) {
  static std::once_flag once;
  static const TorchPlugin* plugin = nullptr;
  static std::string error;
  std::call_once(once, [] {
    namespace fs = std::filesystem;
    std::vector<std::string> candidates;
    if (const char* env = getenv("BERTH_TORCH_PLUGIN"); env && *env) candidates.push_back(env);
    std::error_code ec;
    const fs::path exe = fs::read_symlink("/proc/self/exe", ec);
    if (!ec) {
      candidates.push_back((exe.parent_path() / "libberth_torch.so").string());
      candidates.push_back((exe.parent_path() / "../lib/berth/libberth_torch.so").string());
    }
    candidates.push_back(BERTH_TORCH_PLUGIN_PATH);
    for (const std::string& candidate : candidates) {
      if (!fs::exists(candidate, ec)) continue;
      void* handle = dlopen(candidate.c_str(), RTLD_NOW | RTLD_LOCAL);
      if (handle == nullptr) {
        error = StrCat("cannot load the TorchScript backend ", candidate, ": ", dlerror());
        return;
      }
      plugin = static_cast<const TorchPlugin*>(dlsym(handle, "berth_torch_plugin"));
      if (plugin == nullptr || plugin->abi_version != kTorchPluginAbi) {
        plugin = nullptr;
        error = StrCat(candidate, " is not a TorchScript backend of this berth version");
      }
      return;
    }
    error = "the TorchScript backend (libberth_torch.so) is not installed next to berth";
  });
  if (plugin == nullptr) return absl::UnavailableError(error);
  return plugin->create(path, options, complete_config, config);
}
#endif

std::string SupportedPlatforms() {
#ifdef BERTH_WITH_TORCH
  return "onnxruntime_onnx (model.onnx), pytorch_libtorch (model.pt, TorchScript)";
#else
  return "onnxruntime_onnx (model.onnx)";
#endif
}

std::string DefaultModelFilename(const inference::ModelConfig& config) {
  if (!config.default_model_filename().empty()) return config.default_model_filename();
  return IsTorch(config) ? "model.pt" : "model.onnx";
}

absl::Status DetectPlatform(const std::string& version_dir, inference::ModelConfig* config) {
  if (!config->platform().empty() || !config->backend().empty()) {
    if (IsOnnx(*config)) {
      config->set_platform("onnxruntime_onnx");
      config->set_backend("onnxruntime");
      return absl::OkStatus();
    }
    if (IsTorch(*config)) {
      config->set_platform("pytorch_libtorch");
      config->set_backend("pytorch");
      return absl::OkStatus();
    }
    return absl::InvalidArgumentError(
        StrCat("platform '", config->platform(), "' / backend '", config->backend(),
                     "' is not supported; supported: ", SupportedPlatforms()));
  }
  namespace fs = std::filesystem;
  std::error_code ec;
  if (fs::exists(fs::path(version_dir) / "model.onnx", ec)) {
    config->set_platform("onnxruntime_onnx");
    config->set_backend("onnxruntime");
  } else if (fs::exists(fs::path(version_dir) / "model.pt", ec)) {
    config->set_platform("pytorch_libtorch");
    config->set_backend("pytorch");
  } else {
    return absl::NotFoundError(StrCat("no model file in ", version_dir,
                                            "; expected one of: ", SupportedPlatforms()));
  }
  return absl::OkStatus();
}

absl::StatusOr<std::unique_ptr<ModelInstance>> CreateModelInstance(
    const std::string& path, const BackendOptions& options, bool complete_config,
    inference::ModelConfig* config) {
  if (IsOnnx(*config)) return CreateOnnxInstance(path, options, complete_config, config);
#ifdef BERTH_WITH_TORCH
  if (IsTorch(*config)) return CreateTorchInstance(path, options, complete_config, config);
#endif
  return absl::InvalidArgumentError(StrCat("platform '", config->platform(),
                                                 "' is not supported by this build; supported: ",
                                                 SupportedPlatforms()));
}

}  // namespace berth::backends

namespace berth::backends {
namespace {

std::string DimsText(std::span<const int64_t> dims) {
  std::string text = "[";
  for (size_t i = 0; i < dims.size(); ++i) StrAppend(&text, i ? "," : "", dims[i]);
  return text + "]";
}

template <typename ConfigTensor>
absl::Status CheckAgainstModel(std::string_view kind, const ConfigTensor& tensor,
                               const std::vector<DeclaredTensor>& declared, int max_batch_size) {
  for (const DeclaredTensor& d : declared) {
    if (d.name != tensor.name()) continue;
    if (protocol::ConfigDataType(d.datatype) != tensor.data_type()) {
      return absl::InvalidArgumentError(StrCat(
          kind, " '", tensor.name(), "' is ", inference::DataType_Name(tensor.data_type()),
          " in the config but ", protocol::DataTypeConfigName(d.datatype), " in the model"));
    }
    std::vector<int64_t> expected(tensor.dims().begin(), tensor.dims().end());
    if (tensor.has_reshape()) return absl::OkStatus();  // reshape: the model sees other dims
    if (max_batch_size > 0) expected.insert(expected.begin(), -1);
    bool ok = expected.size() == d.shape.size();
    for (size_t i = 0; ok && i < expected.size(); ++i) {
      ok = d.shape[i] == -1 || expected[i] == -1 || d.shape[i] == expected[i];
    }
    if (!ok) {
      return absl::InvalidArgumentError(StrCat(
          kind, " '", tensor.name(), "' has dims ", DimsText(expected),
          max_batch_size > 0 ? " (with the batch dimension)" : "", " in the config but ",
          DimsText(d.shape), " in the model"));
    }
    return absl::OkStatus();
  }
  return absl::InvalidArgumentError(StrCat("the config names ", kind, " '", tensor.name(),
                                                 "' but the model has no such ", kind));
}

}  // namespace

absl::Status CompleteConfig(const std::vector<DeclaredTensor>& inputs,
                            const std::vector<DeclaredTensor>& outputs,
                            const BackendOptions& options, inference::ModelConfig* config) {
  if (config->input_size() == 0 && config->output_size() == 0) {
    // No IO in the config: batchable when every tensor has a dynamic leading dimension.
    bool batchable = config->max_batch_size() == 0 && options.default_max_batch_size > 0;
    for (const auto* list : {&inputs, &outputs}) {
      for (const DeclaredTensor& t : *list) {
        if (t.shape.empty() || t.shape[0] != -1) batchable = false;
      }
    }
    // A model whose only dims are a single dynamic one is a 1-D tensor, not a batch.
    bool all_1d = true;
    for (const auto* list : {&inputs, &outputs}) {
      for (const DeclaredTensor& t : *list) all_1d = all_1d && t.shape.size() == 1;
    }
    if (all_1d) batchable = false;
    if (batchable) {
      config->set_max_batch_size(options.default_max_batch_size);
      if (!config->has_dynamic_batching()) config->mutable_dynamic_batching();
    }
    const int skip = config->max_batch_size() > 0 ? 1 : 0;
    for (const DeclaredTensor& t : inputs) {
      auto* in = config->add_input();
      in->set_name(t.name);
      in->set_data_type(protocol::ConfigDataType(t.datatype));
      for (size_t i = skip; i < t.shape.size(); ++i) in->add_dims(t.shape[i]);
    }
    for (const DeclaredTensor& t : outputs) {
      auto* out = config->add_output();
      out->set_name(t.name);
      out->set_data_type(protocol::ConfigDataType(t.datatype));
      for (size_t i = skip; i < t.shape.size(); ++i) out->add_dims(t.shape[i]);
    }
    return absl::OkStatus();
  }
  for (const auto& in : config->input()) {
    RETURN_IF_ERROR(CheckAgainstModel("input", in, inputs, config->max_batch_size()));
  }
  for (const auto& out : config->output()) {
    RETURN_IF_ERROR(CheckAgainstModel("output", out, outputs, config->max_batch_size()));
  }
  for (const DeclaredTensor& d : inputs) {
    bool found = false;
    for (const auto& in : config->input()) found = found || in.name() == d.name;
    if (!found) {
      return absl::InvalidArgumentError(
          StrCat("the model has input '", d.name, "' that the config does not list"));
    }
  }
  return absl::OkStatus();
}

}  // namespace berth::backends
