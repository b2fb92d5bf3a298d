#include "worker/request_validator.h"

#include "common/strings.h"
#include "absl/strings/str_join.h"
#include "common/status_macros.h"

namespace berth::worker {
namespace {

std::string ShapeText(std::span<const int64_t> shape) {
  return StrCat("[", absl::StrJoin(shape, ","), "]");
}

}  // namespace

absl::Status ValidateRequest(const inference::ModelConfig& config,
                             const protocol::InferRequest& request, int64_t* batch_rows) {
  const bool batching = config.max_batch_size() > 0;
  int64_t rows = -1;
  if (request.inputs.size() != static_cast<size_t>(config.input_size())) {
    std::vector<std::string> names;
    for (const auto& in : config.input()) names.push_back(in.name());
    return absl::InvalidArgumentError(StrCat(
        "model '", config.name(), "' expects ", config.input_size(), " inputs (",
        absl::StrJoin(names, ", "), ") but the request has ", request.inputs.size()));
  }
  for (const auto& in : config.input()) {
    const protocol::InputTensor* input = nullptr;
    for (const auto& candidate : request.inputs) {
      if (candidate.name != in.name()) continue;
      if (input != nullptr) {
        return absl::InvalidArgumentError(StrCat("input '", in.name(), "' appears twice"));
      }
      input = &candidate;
    }
    if (input == nullptr) {
      return absl::InvalidArgumentError(StrCat("input '", in.name(), "' is missing"));
    }
    const auto expected_type =
        protocol::DataTypeFromConfigName(inference::DataType_Name(in.data_type()));
    if (!expected_type || *expected_type != input->datatype) {
      return absl::InvalidArgumentError(StrCat(
          "input '", in.name(), "' must be ",
          expected_type ? protocol::DataTypeName(*expected_type) : "INVALID", ", got ",
          protocol::DataTypeName(input->datatype)));
    }
    std::span<const int64_t> shape = input->shape;
    std::vector<int64_t> expected(in.dims().begin(), in.dims().end());
    if (in.has_reshape() && in.reshape().shape_size() == 0 && expected.size() == 1 &&
        expected[0] == 1) {
      expected.clear();  // a [1] input reshaped to a scalar may be sent as []
    }
    if (batching) {
      if (shape.size() == expected.size()) {
        return absl::InvalidArgumentError(StrCat(
            "input '", in.name(), "' has shape ", ShapeText(shape),
            " but the model batches: expected [batch,", absl::StrJoin(expected, ","),
            "] (add the batch dimension, e.g. [1,", absl::StrJoin(expected, ","), "])"));
      }
      if (shape.empty()) {
        return absl::InvalidArgumentError(StrCat(
            "input '", in.name(), "' needs a leading batch dimension: expected [batch,",
            absl::StrJoin(expected, ","), "]"));
      }
      if (shape[0] < 1 || shape[0] > config.max_batch_size()) {
        return absl::InvalidArgumentError(StrCat(
            "input '", in.name(), "' batch size ", shape[0], " is outside 1..",
            config.max_batch_size(), " (the model's max_batch_size)"));
      }
      if (rows != -1 && rows != shape[0]) {
        return absl::InvalidArgumentError(
            StrCat("inputs disagree on the batch size (", rows, " and ", shape[0], ")"));
      }
      rows = shape[0];
      shape = shape.subspan(1);
    }
    bool matches = shape.size() == expected.size();
    for (size_t i = 0; matches && i < expected.size(); ++i) {
      matches = expected[i] == -1 || expected[i] == shape[i];
    }
    if (!matches) {
      return absl::InvalidArgumentError(StrCat(
          "input '", in.name(), "' has shape ", ShapeText(input->shape), " but the model expects ",
          batching ? "[batch," : "[", absl::StrJoin(expected, ","), "]",
          " (-1 means any size)"));
    }
    uint64_t count;
    RETURN_IF_ERROR(protocol::ElementCount(input->shape, UINT64_MAX / 16, &count));
    if (input->datatype == protocol::DataType::kBytes) {
      absl::Status status = protocol::ValidateBytesTensor(input->data, count);
      if (!status.ok()) {
        return absl::InvalidArgumentError(
            StrCat("input '", in.name(), "': ", status.message()));
      }
    } else {
      const uint64_t bytes = count * protocol::ElementSize(input->datatype);
      if (bytes != input->data.size()) {
        return absl::InvalidArgumentError(StrCat(
            "input '", in.name(), "' with shape ", ShapeText(input->shape), " and datatype ",
            protocol::DataTypeName(input->datatype), " needs ", bytes, " bytes but carries ",
            input->data.size()));
      }
    }
  }
  if (request.outputs.size() > static_cast<size_t>(config.output_size())) {
    return absl::InvalidArgumentError(
        StrCat("the request names ", request.outputs.size(), " outputs but model '", config.name(),
               "' has ", config.output_size(), "; name each output at most once"));
  }
  for (size_t i = 0; i < request.outputs.size(); ++i) {
    const auto& requested = request.outputs[i];
    for (size_t j = 0; j < i; ++j) {
      if (request.outputs[j].name == requested.name) {
        return absl::InvalidArgumentError(
            StrCat("output '", requested.name, "' is requested twice; name it once"));
      }
    }
    bool known = false;
    for (const auto& out : config.output()) known = known || out.name() == requested.name;
    if (!known) {
      return absl::InvalidArgumentError(StrCat("model '", config.name(),
                                                     "' has no output '", requested.name, "'"));
    }
  }
  *batch_rows = batching ? rows : 1;
  return absl::OkStatus();
}

}  // namespace berth::worker
