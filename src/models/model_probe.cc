#include "models/model_probe.h"

#include "backends/backend.h"
#include "common/strings.h"
#include "protocol/datatype.h"

namespace berth::models {
namespace {

constexpr char kTorchScriptNote[] =
    "TorchScript files do not declare input and output names, types or shapes; the model "
    "loads, but a service needs them listed in its config.pbtxt (or export the model to ONNX)";

template <typename ConfigTensor>
nlohmann::json DescribeTensors(const google::protobuf::RepeatedPtrField<ConfigTensor>& tensors,
                               int max_batch_size) {
  nlohmann::json list = nlohmann::json::array();
  for (const ConfigTensor& tensor : tensors) {
    const auto datatype =
        protocol::DataTypeFromConfigName(inference::DataType_Name(tensor.data_type()));
    nlohmann::json shape = nlohmann::json::array();
    if (max_batch_size > 0) shape.push_back(-1);
    for (int64_t dim : tensor.dims()) shape.push_back(dim);
    list.push_back(
        {{"name", tensor.name()},
         {"datatype", protocol::DataTypeName(datatype.value_or(protocol::DataType::kInvalid))},
         {"shape", std::move(shape)}});
  }
  return list;
}

}  // namespace

absl::StatusOr<nlohmann::json> DescribeModel(const std::filesystem::path& model_file,
                                             ModelFormat format) {
  inference::ModelConfig config;
  backends::BackendOptions options;
  options.intra_op_threads = 1;
  options.spin_wait = false;
  switch (format) {
    case ModelFormat::kOnnx:
      config.set_platform("onnxruntime_onnx");
      break;
    case ModelFormat::kTorchScript:
      config.set_platform("pytorch_libtorch");
      // The torch backend loads only with named IO; these names are never used, as the
      // instance never runs. Loading is what checks the file.
      config.add_input()->set_name("INPUT__0");
      config.add_output()->set_name("OUTPUT__0");
      break;
    default:
      return absl::InvalidArgumentError(StrCat("cannot describe a ", FormatName(format),
                                               " model: berth loads onnx and torchscript"));
  }
  const bool complete_config = format == ModelFormat::kOnnx;
  try {
    auto instance =
        backends::CreateModelInstance(model_file.string(), options, complete_config, &config);
    if (!instance.ok()) return instance.status();
  } catch (const std::exception& e) {  // engines are meant to catch their own; belt and braces
    return absl::InvalidArgumentError(StrCat("cannot load ", model_file.string(), ": ", e.what()));
  }
  if (format == ModelFormat::kTorchScript) {
    return nlohmann::json{{"inputs", nlohmann::json::array()},
                          {"outputs", nlohmann::json::array()},
                          {"max_batch_size", 0},
                          {"note", kTorchScriptNote}};
  }
  return nlohmann::json{{"inputs", DescribeTensors(config.input(), config.max_batch_size())},
                        {"outputs", DescribeTensors(config.output(), config.max_batch_size())},
                        {"max_batch_size", config.max_batch_size()}};
}

}  // namespace berth::models
