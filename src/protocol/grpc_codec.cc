#include "protocol/grpc_codec.h"

#include <cstring>
#include <limits>

#include "common/strings.h"
#include "common/status_macros.h"

namespace berth::protocol {
namespace {

template <typename To, typename From>
absl::Status PackValues(const google::protobuf::RepeatedField<From>& values,
                        std::vector<char>* out) {
  out->resize(values.size() * sizeof(To));
  for (int i = 0; i < values.size(); ++i) {
    const From v = values.Get(i);
    if constexpr (std::is_integral_v<To> && !std::is_same_v<To, From>) {
      if (v < static_cast<From>(std::numeric_limits<To>::min()) ||
          v > static_cast<From>(std::numeric_limits<To>::max())) {
        return absl::InvalidArgumentError(StrCat(v, " is out of range for the datatype"));
      }
    }
    const To converted = static_cast<To>(v);
    std::memcpy(out->data() + i * sizeof(To), &converted, sizeof(To));
  }
  return absl::OkStatus();
}

// Converts typed contents to raw bytes for `input`.
absl::Status PackContents(const inference::InferTensorContents& c, InputTensor* input) {
  std::vector<char> bytes;
  switch (input->datatype) {
    case DataType::kBool: {
      bytes.resize(c.bool_contents_size());
      for (int i = 0; i < c.bool_contents_size(); ++i) bytes[i] = c.bool_contents(i) ? 1 : 0;
      break;
    }
    case DataType::kUint8: RETURN_IF_ERROR(PackValues<uint8_t>(c.uint_contents(), &bytes)); break;
    case DataType::kUint16: RETURN_IF_ERROR(PackValues<uint16_t>(c.uint_contents(), &bytes)); break;
    case DataType::kUint32: RETURN_IF_ERROR(PackValues<uint32_t>(c.uint_contents(), &bytes)); break;
    case DataType::kUint64: RETURN_IF_ERROR(PackValues<uint64_t>(c.uint64_contents(), &bytes)); break;
    case DataType::kInt8: RETURN_IF_ERROR(PackValues<int8_t>(c.int_contents(), &bytes)); break;
    case DataType::kInt16: RETURN_IF_ERROR(PackValues<int16_t>(c.int_contents(), &bytes)); break;
    case DataType::kInt32: RETURN_IF_ERROR(PackValues<int32_t>(c.int_contents(), &bytes)); break;
    case DataType::kInt64: RETURN_IF_ERROR(PackValues<int64_t>(c.int64_contents(), &bytes)); break;
    case DataType::kFp32: RETURN_IF_ERROR(PackValues<float>(c.fp32_contents(), &bytes)); break;
    case DataType::kFp64: RETURN_IF_ERROR(PackValues<double>(c.fp64_contents(), &bytes)); break;
    case DataType::kBytes:
      for (const std::string& element : c.bytes_contents()) AppendBytesElement(element, &bytes);
      break;
    default:
      return absl::InvalidArgumentError(StrCat(
          "input '", input->name, "': ", DataTypeName(input->datatype),
          " has no typed contents field; send it in raw_input_contents"));
  }
  input->SetOwned(std::move(bytes));
  return absl::OkStatus();
}

// The shared-memory reference a tensor's parameters make, if any.
template <class Parameters>
absl::StatusOr<std::optional<SharedMemoryRef>> SharedMemoryFromGrpc(std::string_view kind,
                                                                    std::string_view tensor,
                                                                    const Parameters& parameters) {
  SharedMemoryParams params;
  for (const auto& [key, value] : parameters) {
    const std::string* text = nullptr;
    int64_t number = 0;
    const int64_t* integer = nullptr;
    switch (value.parameter_choice_case()) {
      case inference::InferParameter::kStringParam:
        text = &value.string_param();
        break;
      case inference::InferParameter::kInt64Param:
        number = value.int64_param();
        integer = &number;
        break;
      case inference::InferParameter::kUint64Param:
        if (value.uint64_param() <= static_cast<uint64_t>(std::numeric_limits<int64_t>::max())) {
          number = static_cast<int64_t>(value.uint64_param());
          integer = &number;
        }
        break;
      default:
        break;
    }
    RETURN_IF_ERROR(TakeSharedMemoryParameter(kind, tensor, key, text, integer, &params).status());
  }
  return SharedMemoryRefFrom(kind, tensor, params);
}

}  // namespace

absl::Status FromGrpcRequest(const inference::ModelInferRequest& message,
                             InferRequest* request) {
  request->model_name = message.model_name();
  request->model_version = message.model_version();
  request->id = message.id();
  for (const auto& [key, value] : message.parameters()) {
    if (key == "priority") {
      constexpr uint64_t kMax = std::numeric_limits<uint32_t>::max();
      if (value.parameter_choice_case() == inference::InferParameter::kUint64Param &&
          value.uint64_param() <= kMax) {
        request->priority = static_cast<uint32_t>(value.uint64_param());
      } else if (value.parameter_choice_case() == inference::InferParameter::kInt64Param &&
                 value.int64_param() >= 0 && static_cast<uint64_t>(value.int64_param()) <= kMax) {
        request->priority = static_cast<uint32_t>(value.int64_param());
      } else {
        return absl::InvalidArgumentError("parameter \"priority\" must be an unsigned integer");
      }
    } else if (key == "timeout") {
      if (value.parameter_choice_case() == inference::InferParameter::kUint64Param) {
        request->timeout_us = value.uint64_param();
      } else if (value.parameter_choice_case() == inference::InferParameter::kInt64Param &&
                 value.int64_param() >= 0) {
        request->timeout_us = static_cast<uint64_t>(value.int64_param());
      } else {
        return absl::InvalidArgumentError("parameter \"timeout\" must be an unsigned integer");
      }
    }
  }
  const bool raw = message.raw_input_contents_size() > 0;
  if (raw && message.raw_input_contents_size() != message.inputs_size()) {
    return absl::InvalidArgumentError(
        StrCat("raw_input_contents has ", message.raw_input_contents_size(),
                     " entries but there are ", message.inputs_size(),
                     " inputs; send raw contents for every input or for none"));
  }
  if (static_cast<size_t>(message.inputs_size()) > kMaxTensorsPerRequest ||
      static_cast<size_t>(message.outputs_size()) > kMaxTensorsPerRequest) {
    return absl::InvalidArgumentError(StrCat("the request has more than ", kMaxTensorsPerRequest,
                                             " inputs or requested outputs"));
  }
  request->inputs.resize(message.inputs_size());
  for (int i = 0; i < message.inputs_size(); ++i) {
    const auto& in = message.inputs(i);
    InputTensor& input = request->inputs[i];
    input.name = in.name();
    ASSIGN_OR_RETURN(input.shared_memory, SharedMemoryFromGrpc("input", in.name(),
                                                               in.parameters()));
    auto type = DataTypeFromName(in.datatype());
    if (!type) {
      return absl::InvalidArgumentError(
          StrCat("input '", in.name(), "' has unknown datatype \"", in.datatype(), "\""));
    }
    input.datatype = *type;
    input.shape.assign(in.shape().begin(), in.shape().end());
    if (input.shape.size() > 64) {
      return absl::InvalidArgumentError(
          StrCat("input '", in.name(), "' has more than 64 dimensions"));
    }
    for (int64_t d : input.shape) {
      if (d < 0) {
        return absl::InvalidArgumentError(
            StrCat("input '", in.name(), "' has a negative dimension"));
      }
    }
    if (input.shared_memory) {
      if (in.has_contents() || (raw && !message.raw_input_contents(i).empty())) {
        return absl::InvalidArgumentError(StrCat(
            "input '", in.name(), "' names a shared-memory region and carries data too"));
      }
    } else if (raw) {
      if (in.has_contents()) {
        return absl::InvalidArgumentError(StrCat(
            "input '", in.name(), "' has both contents and raw_input_contents"));
      }
      input.data = message.raw_input_contents(i);
    } else {
      absl::Status status = PackContents(in.contents(), &input);
      if (!status.ok()) return status;
    }
  }
  for (const auto& out : message.outputs()) {
    ASSIGN_OR_RETURN(auto shared_memory,
                     SharedMemoryFromGrpc("output", out.name(), out.parameters()));
    RequestedOutput& output = request->outputs.emplace_back();
    output.name = out.name();
    output.shared_memory = std::move(shared_memory);
    if (auto it = out.parameters().find("classification"); it != out.parameters().end()) {
      const inference::InferParameter& value = it->second;
      int64_t count = -1;
      if (value.parameter_choice_case() == inference::InferParameter::kInt64Param) {
        count = value.int64_param();
      } else if (value.parameter_choice_case() == inference::InferParameter::kUint64Param &&
                 value.uint64_param() <= static_cast<uint64_t>(kMaxClassification)) {
        count = static_cast<int64_t>(value.uint64_param());
      }
      if (count < 1 || count > kMaxClassification) {
        return absl::InvalidArgumentError(
            StrCat("output '", out.name(), "': parameter \"classification\" must be a number of "
                   "classes from 1 to ", kMaxClassification));
      }
      output.classification = static_cast<uint32_t>(count);
    }
  }
  return absl::OkStatus();
}

void ToGrpcResponse(InferResponse&& response, inference::ModelInferResponse* message) {
  message->set_model_name(std::move(response.model_name));
  message->set_model_version(std::move(response.model_version));
  message->set_id(std::move(response.id));
  for (auto& output : response.outputs) {
    auto* out = message->add_outputs();
    out->set_name(std::move(output.name));
    out->set_datatype(std::string(DataTypeName(output.datatype)));
    for (int64_t d : output.shape) out->add_shape(d);
    if (output.shared_memory) {
      auto& parameters = *out->mutable_parameters();
      parameters["shared_memory_region"].set_string_param(output.shared_memory->region);
      parameters["shared_memory_byte_size"].set_int64_param(
          static_cast<int64_t>(output.shared_memory->byte_size));
      if (output.shared_memory->offset != 0) {
        parameters["shared_memory_offset"].set_int64_param(
            static_cast<int64_t>(output.shared_memory->offset));
      }
    }
    // An output in shared memory keeps an empty entry, so that raw_output_contents[i] stays
    // the i-th output's.
    message->add_raw_output_contents()->assign(output.data.data(), output.data.size());
  }
}

}  // namespace berth::protocol
