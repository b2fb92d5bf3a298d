#include "backends/torch/torch_backend.h"

#include <ATen/Parallel.h>
#include <torch/script.h>

#include <cstring>
#include <mutex>

#include "common/strings.h"

namespace berth::backends {
namespace {

using protocol::DataType;

std::optional<at::ScalarType> ToTorchType(DataType type) {
  switch (type) {
    case DataType::kBool: return at::kBool;
    case DataType::kUint8: return at::kByte;
    case DataType::kInt8: return at::kChar;
    case DataType::kInt16: return at::kShort;
    case DataType::kInt32: return at::kInt;
    case DataType::kInt64: return at::kLong;
    case DataType::kFp16: return at::kHalf;
    case DataType::kBf16: return at::kBFloat16;
    case DataType::kFp32: return at::kFloat;
    case DataType::kFp64: return at::kDouble;
    default: return std::nullopt;
  }
}

std::optional<DataType> FromTorchType(at::ScalarType type) {
  switch (type) {
    case at::kBool: return DataType::kBool;
    case at::kByte: return DataType::kUint8;
    case at::kChar: return DataType::kInt8;
    case at::kShort: return DataType::kInt16;
    case at::kInt: return DataType::kInt32;
    case at::kLong: return DataType::kInt64;
    case at::kHalf: return DataType::kFp16;
    case at::kBFloat16: return DataType::kBf16;
    case at::kFloat: return DataType::kFp32;
    case at::kDouble: return DataType::kFp64;
    default: return std::nullopt;
  }
}

class TorchInstance final : public ModelInstance {
 public:
  TorchInstance(torch::jit::Module module, const inference::ModelConfig& config)
      : module_(std::move(module)) {
    for (const auto& in : config.input()) input_names_.push_back(in.name());
    for (const auto& out : config.output()) output_names_.push_back(out.name());
  }

  absl::StatusOr<std::vector<protocol::OutputTensor>> Execute(
      std::span<const TensorView> inputs) override {
    try {
      return Run(inputs);
    } catch (const std::exception& e) {
      return absl::InternalError(StrCat("libtorch failed: ", e.what()));
    }
  }

 private:
  absl::StatusOr<std::vector<protocol::OutputTensor>> Run(std::span<const TensorView> inputs) {
    c10::InferenceMode guard;
    std::vector<torch::jit::IValue> args;
    for (const std::string& name : input_names_) {
      const TensorView* view = nullptr;
      for (const TensorView& v : inputs) {
        if (v.name == name) view = &v;
      }
      if (view == nullptr) return absl::InvalidArgumentError("missing input '" + name + "'");
      auto type = ToTorchType(view->datatype);
      if (!type) {
        return absl::InvalidArgumentError(StrCat(
            "input '", name, "': ", protocol::DataTypeName(view->datatype),
            " is not supported by TorchScript"));
      }
      std::vector<int64_t> shape(view->shape.begin(), view->shape.end());
      args.emplace_back(torch::from_blob(const_cast<char*>(view->data.data()), shape,
                                         torch::TensorOptions().dtype(*type)));
    }
    torch::jit::IValue result = module_.forward(args);
    std::vector<at::Tensor> tensors;
    if (result.isTensor()) {
      tensors.push_back(result.toTensor());
    } else if (result.isTuple()) {
      for (const auto& element : result.toTuple()->elements()) {
        if (!element.isTensor()) return absl::InternalError("model returned a non-tensor");
        tensors.push_back(element.toTensor());
      }
    } else if (result.isTensorList()) {
      for (const at::Tensor& t : result.toTensorVector()) tensors.push_back(t);
    } else {
      return absl::InternalError("model returned neither a tensor nor a tuple of tensors");
    }
    if (tensors.size() < output_names_.size()) {
      return absl::InternalError(StrCat("model returned ", tensors.size(),
                                              " tensors but the config lists ",
                                              output_names_.size(), " outputs"));
    }
    std::vector<protocol::OutputTensor> outputs(output_names_.size());
    for (size_t i = 0; i < output_names_.size(); ++i) {
      at::Tensor t = tensors[i].contiguous().cpu();
      auto type = FromTorchType(t.scalar_type());
      if (!type) return absl::InternalError("model returned an unsupported element type");
      auto& out = outputs[i];
      out.name = output_names_[i];
      out.datatype = *type;
      out.shape.assign(t.sizes().begin(), t.sizes().end());
      const size_t bytes = t.numel() * t.element_size();
      out.data.resize(bytes);
      if (bytes) std::memcpy(out.data.data(), t.data_ptr(), bytes);
    }
    return outputs;
  }

  torch::jit::Module module_;
  std::vector<std::string> input_names_, output_names_;
};

}  // namespace

static absl::StatusOr<std::unique_ptr<ModelInstance>> CreateInstance(
    const std::string& path, const BackendOptions& options, bool complete_config,
    inference::ModelConfig* config) {
  if (config->input_size() == 0 || config->output_size() == 0) {
    return absl::InvalidArgumentError(
        "a TorchScript model needs a config.pbtxt listing its inputs and outputs (TorchScript "
        "files do not declare names, types or shapes)");
  }
  if (options.intra_op_threads > 0) {
    static std::once_flag once;
    std::call_once(once, [&] { at::set_num_threads(options.intra_op_threads); });
  }
  try {
    torch::jit::Module module = torch::jit::load(path, torch::kCPU);
    module.eval();
    if (complete_config) {
      (*config->mutable_parameters())["berth.performance_note"].set_string_value(
          kTorchPerformanceNote);
    }
    return std::make_unique<TorchInstance>(std::move(module), *config);
  } catch (const std::exception& e) {
    std::string message = e.what();
    if (message.size() > 600) message.resize(600);
    return absl::InvalidArgumentError(StrCat("libtorch cannot load ", path, ": ", message));
  }
}

}  // namespace berth::backends

extern "C" __attribute__((visibility("default"))) const berth::backends::TorchPlugin
    berth_torch_plugin = {berth::backends::kTorchPluginAbi, &berth::backends::CreateInstance};
