#include "protocol/rest_codec.h"

#include <charconv>
#include <cmath>
#include <cstring>
#include <limits>

#include "common/strings.h"
#include "protocol/infer.h"
#include "common/status_macros.h"
#include "protocol/json_writer.h"
#include "simdjson.h"

namespace berth::protocol {
namespace {

namespace od = simdjson::ondemand;

absl::Status JsonError(std::string_view where, simdjson::error_code error) {
  return absl::InvalidArgumentError(
      StrCat("malformed JSON in ", where, ": ", simdjson::error_message(error)));
}

#define JSON_TRY(where, expr)                             \
  do {                                                    \
    auto berth_json_error_ = (expr);                      \
    if (berth_json_error_) return JsonError(where, berth_json_error_); \
  } while (0)

template <typename T>
void AppendRaw(T value, std::vector<char>* out) {
  const size_t at = out->size();
  out->resize(at + sizeof(T));
  std::memcpy(out->data() + at, &value, sizeof(T));
}

template <typename T>
absl::Status AppendInteger(od::value& value, std::vector<char>* out) {
  if constexpr (std::is_signed_v<T>) {
    int64_t v;
    if (value.get_int64().get(v)) return absl::InvalidArgumentError("expected an integer");
    if (v < std::numeric_limits<T>::min() || v > std::numeric_limits<T>::max()) {
      return absl::InvalidArgumentError(StrCat(v, " is out of range for the datatype"));
    }
    AppendRaw(static_cast<T>(v), out);
  } else {
    uint64_t v;
    if (value.get_uint64().get(v)) {
      return absl::InvalidArgumentError("expected a non-negative integer");
    }
    if (v > std::numeric_limits<T>::max()) {
      return absl::InvalidArgumentError(StrCat(v, " is out of range for the datatype"));
    }
    AppendRaw(static_cast<T>(v), out);
  }
  return absl::OkStatus();
}

absl::Status AppendElement(DataType type, od::value& value, std::vector<char>* out) {
  switch (type) {
    case DataType::kBool: {
      bool v;
      if (value.get_bool().get(v)) return absl::InvalidArgumentError("expected true or false");
      AppendRaw(static_cast<uint8_t>(v ? 1 : 0), out);
      return absl::OkStatus();
    }
    case DataType::kUint8: return AppendInteger<uint8_t>(value, out);
    case DataType::kUint16: return AppendInteger<uint16_t>(value, out);
    case DataType::kUint32: return AppendInteger<uint32_t>(value, out);
    case DataType::kUint64: return AppendInteger<uint64_t>(value, out);
    case DataType::kInt8: return AppendInteger<int8_t>(value, out);
    case DataType::kInt16: return AppendInteger<int16_t>(value, out);
    case DataType::kInt32: return AppendInteger<int32_t>(value, out);
    case DataType::kInt64: return AppendInteger<int64_t>(value, out);
    case DataType::kFp16:
    case DataType::kBf16:
    case DataType::kFp32:
    case DataType::kFp64: {
      double v;
      if (value.get_double().get(v)) return absl::InvalidArgumentError("expected a number");
      // Finite values that would round to infinity in the narrower type are refused.
      const float narrowed = static_cast<float>(v);
      const bool overflows =
          type != DataType::kFp64 && std::isfinite(v) &&
          (std::isinf(narrowed) ||
           (type == DataType::kFp16 && (FloatToHalf(narrowed) & 0x7fffu) == 0x7c00u));
      if (overflows) {
        return absl::InvalidArgumentError(StrCat(v, " is out of range for the datatype"));
      }
      if (type == DataType::kFp64) {
        AppendRaw(v, out);
      } else if (type == DataType::kFp32) {
        AppendRaw(static_cast<float>(v), out);
      } else if (type == DataType::kFp16) {
        AppendRaw(FloatToHalf(static_cast<float>(v)), out);
      } else {
        AppendRaw(FloatToBf16(static_cast<float>(v)), out);
      }
      return absl::OkStatus();
    }
    case DataType::kBytes: {
      std::string_view v;
      if (value.get_string().get(v)) return absl::InvalidArgumentError("expected a string");
      AppendBytesElement(v, out);
      return absl::OkStatus();
    }
    case DataType::kInvalid:
      break;
  }
  return absl::InvalidArgumentError("invalid datatype");
}

// Flattens a "data" array into `out`, counting elements. The array is either flat or nested
// exactly as the shape says (each level as long as its dimension; no ragged rows).
absl::Status AppendData(DataType type, od::array array, std::span<const int64_t> shape,
                        uint64_t expected, uint64_t* count, size_t depth,
                        std::vector<char>* out) {
  if (depth > 32) return absl::InvalidArgumentError("\"data\" is nested too deeply");
  uint64_t children = 0;
  bool saw_array = false;
  bool saw_scalar = false;
  for (auto element : array) {
    od::value value;
    JSON_TRY("\"data\"", element.get(value));
    od::json_type json_type;
    JSON_TRY("\"data\"", value.type().get(json_type));
    ++children;
    if (json_type == od::json_type::array) {
      saw_array = true;
      if (saw_scalar || depth + 1 >= shape.size()) {
        return absl::InvalidArgumentError("\"data\" is nested differently from its shape");
      }
      od::array inner;
      JSON_TRY("\"data\"", value.get_array().get(inner));
      RETURN_IF_ERROR(AppendData(type, inner, shape, expected, count, depth + 1, out));
      continue;
    }
    saw_scalar = true;
    if (saw_array) {
      return absl::InvalidArgumentError("\"data\" mixes arrays and values at one level");
    }
    if (*count >= expected) {
      return absl::InvalidArgumentError(
          StrCat("\"data\" holds more than the ", expected, " elements its shape has"));
    }
    absl::Status status = AppendElement(type, value, out);
    if (!status.ok()) {
      return absl::InvalidArgumentError(StrCat("element ", *count, " of \"data\": ",
                                               status.message(), " for ", DataTypeName(type)));
    }
    ++*count;
  }
  const bool nested = depth > 0 || saw_array;
  if (nested && !shape.empty()) {
    const bool last = depth + 1 == shape.size();
    if (children != static_cast<uint64_t>(shape[depth]) || (saw_array && last) ||
        (saw_scalar && !last)) {
      return absl::InvalidArgumentError(StrCat(
          "\"data\" is nested differently from its shape: level ", depth, " has ", children,
          " entries where the shape says ", shape[depth]));
    }
  }
  return absl::OkStatus();
}

struct PendingBinary {
  size_t input_index;
  uint64_t size;
};

absl::Status ParseParameters(od::object object, InferRequest* request) {
  for (auto field : object) {
    std::string_view key;
    JSON_TRY("\"parameters\"", field.unescaped_key().get(key));
    od::value value;
    JSON_TRY("\"parameters\"", field.value().get(value));
    if (key == "binary_data_output") {
      if (value.get_bool().get(request->binary_data_output)) {
        return absl::InvalidArgumentError("parameter \"binary_data_output\" must be a boolean");
      }
    } else if (key == "priority") {
      uint64_t priority;
      if (value.get_uint64().get(priority) || priority > std::numeric_limits<uint32_t>::max()) {
        return absl::InvalidArgumentError("parameter \"priority\" must be a small unsigned integer");
      }
      request->priority = static_cast<uint32_t>(priority);
    } else if (key == "timeout") {
      if (value.get_uint64().get(request->timeout_us)) {
        return absl::InvalidArgumentError(
            "parameter \"timeout\" must be an unsigned integer (microseconds)");
      }
    }
    // Other parameters are accepted and ignored, as the protocol allows.
  }
  return absl::OkStatus();
}

// Decodes a JSON "data" array for `input`, whose shape and datatype are known.
absl::Status DecodeData(InputTensor& input, od::array array, size_t body_size) {
  uint64_t count;
  absl::Status count_status = ElementCount(input.shape, body_size, &count);
  if (!count_status.ok()) {
    return absl::InvalidArgumentError(StrCat("input '", input.name, "': ",
                                                   count_status.message()));
  }
  // Every JSON element takes at least two bytes ("0,"), so a larger count cannot match; this
  // bounds the allocation below by the body's size.
  if (count > body_size / 2 + 1) {
    return absl::InvalidArgumentError(StrCat("input '", input.name, "' shape claims ",
                                                   count, " elements but the body is only ",
                                                   body_size, " bytes long"));
  }
  std::vector<char> bytes;
  const size_t element_size = ElementSize(input.datatype);
  bytes.reserve(element_size ? count * element_size : count * 4);
  uint64_t seen = 0;
  absl::Status status = AppendData(input.datatype, array, input.shape, count, &seen, 0, &bytes);
  if (!status.ok()) {
    return absl::InvalidArgumentError(StrCat("input '", input.name, "': ", status.message()));
  }
  if (seen != count) {
    return absl::InvalidArgumentError(StrCat("input '", input.name, "' has ", seen,
                                                   " elements in \"data\" but its shape needs ",
                                                   count));
  }
  input.SetOwned(std::move(bytes));
  return absl::OkStatus();
}

// Records a shared_memory_* parameter of a tensor (true), or says it is not one (false).
absl::StatusOr<bool> TakeSharedMemoryJson(std::string_view kind, std::string_view tensor,
                                          std::string_view key, od::value value,
                                          SharedMemoryParams* params) {
  if (!key.starts_with("shared_memory_")) return false;
  std::string text;
  int64_t number = 0;
  bool is_text = false, is_number = false;
  if (std::string_view view; !value.get_string().get(view)) {
    text = view;
    is_text = true;
  } else if (!value.get_int64().get(number)) {
    is_number = true;
  }
  return TakeSharedMemoryParameter(kind, tensor, key, is_text ? &text : nullptr,
                                   is_number ? &number : nullptr, params);
}

absl::Status ParseInput(od::object& object, size_t body_size, InferRequest* request,
                        std::vector<PendingBinary>* pending) {
  InputTensor& input = request->inputs.emplace_back();
  const size_t index = request->inputs.size() - 1;
  bool has_shape = false;
  bool has_datatype = false;
  std::optional<uint64_t> binary_size;
  SharedMemoryParams shared_memory;
  // "data" may come before "shape"/"datatype"; ondemand reads forward only, so such a
  // "data" is skipped and decoded in a second pass over the object.
  bool has_data = false;
  bool decoded = false;
  for (auto field : object) {
    std::string_view key;
    JSON_TRY("an input", field.unescaped_key().get(key));
    od::value value;
    JSON_TRY("an input", field.value().get(value));
    if ((key == "name" && !input.name.empty()) || (key == "datatype" && has_datatype) ||
        (key == "shape" && has_shape) || (key == "data" && has_data)) {
      return absl::InvalidArgumentError(StrCat("an input has \"", key, "\" twice"));
    }
    if (key == "name") {
      std::string_view name;
      if (value.get_string().get(name)) {
        return absl::InvalidArgumentError("input \"name\" must be a string");
      }
      input.name = name;
    } else if (key == "datatype") {
      std::string_view name;
      if (value.get_string().get(name)) {
        return absl::InvalidArgumentError("input \"datatype\" must be a string");
      }
      auto type = DataTypeFromName(name);
      if (!type) {
        return absl::InvalidArgumentError(StrCat(
            "unknown datatype \"", name,
            "\"; use one of BOOL, UINT8..UINT64, INT8..INT64, FP16, BF16, FP32, FP64, BYTES"));
      }
      input.datatype = *type;
      has_datatype = true;
    } else if (key == "shape") {
      od::array dims;
      if (value.get_array().get(dims)) {
        return absl::InvalidArgumentError("input \"shape\" must be an array of integers");
      }
      for (auto dim : dims) {
        int64_t d;
        if (dim.get_int64().get(d) || d < 0) {
          return absl::InvalidArgumentError(
              "input \"shape\" must be an array of non-negative integers");
        }
        if (input.shape.size() >= 64) {
          return absl::InvalidArgumentError("input \"shape\" has more than 64 dimensions");
        }
        input.shape.push_back(d);
      }
      has_shape = true;
    } else if (key == "data") {
      od::json_type type;
      JSON_TRY("input \"data\"", value.type().get(type));
      if (type != od::json_type::array) {
        return absl::InvalidArgumentError("input \"data\" must be an array");
      }
      has_data = true;
      if (has_shape && has_datatype) {  // the usual order: decode in place
        od::array array;
        JSON_TRY("input \"data\"", value.get_array().get(array));
        RETURN_IF_ERROR(DecodeData(input, array, body_size));
        decoded = true;
      }  // else: decoded in a second pass over the object, below
    } else if (key == "parameters") {
      od::object params;
      if (value.get_object().get(params)) {
        return absl::InvalidArgumentError("input \"parameters\" must be an object");
      }
      for (auto param : params) {
        std::string_view pkey;
        JSON_TRY("input \"parameters\"", param.unescaped_key().get(pkey));
        od::value pvalue;
        JSON_TRY("input \"parameters\"", param.value().get(pvalue));
        ASSIGN_OR_RETURN(bool taken,
                         TakeSharedMemoryJson("input", input.name, pkey, pvalue, &shared_memory));
        if (taken) continue;
        if (pkey == "binary_data_size") {
          uint64_t size;
          if (pvalue.get_uint64().get(size)) {
            return absl::InvalidArgumentError(
                "parameter \"binary_data_size\" must be an unsigned integer");
          }
          binary_size = size;
        }
      }
    }
  }
  if (input.name.empty()) return absl::InvalidArgumentError("an input has no \"name\"");
  ASSIGN_OR_RETURN(input.shared_memory, SharedMemoryRefFrom("input", input.name, shared_memory));
  if (!has_datatype) {
    return absl::InvalidArgumentError(StrCat("input '", input.name, "' has no \"datatype\""));
  }
  if (!has_shape) {
    return absl::InvalidArgumentError(StrCat("input '", input.name, "' has no \"shape\""));
  }
  // A tensor in the body cannot hold many more elements than the body has bytes (the bound
  // leaves room); one in a region no more than the bytes of the part of it the input names.
  const uint64_t limit =
      input.shared_memory ? input.shared_memory->byte_size : body_size * 8 + 1;
  uint64_t count;
  absl::Status count_status = ElementCount(input.shape, limit, &count);
  if (!count_status.ok()) {
    return absl::InvalidArgumentError(
        StrCat("input '", input.name, "': ", count_status.message(),
               input.shared_memory ? " (its shared_memory_byte_size)" : ""));
  }
  if (input.shared_memory) {
    if (has_data || binary_size) {
      return absl::InvalidArgumentError(
          StrCat("input '", input.name, "' names a shared-memory region and carries data too"));
    }
    return absl::OkStatus();  // read from the region once the request reaches the worker
  }
  if (binary_size.has_value()) {
    if (has_data) {
      return absl::InvalidArgumentError(StrCat(
          "input '", input.name, "' has both \"data\" and a \"binary_data_size\" parameter"));
    }
    pending->push_back({index, *binary_size});
    return absl::OkStatus();
  }
  if (!has_data) {
    return absl::InvalidArgumentError(
        StrCat("input '", input.name, "' has neither \"data\" nor binary data"));
  }
  if (decoded) return absl::OkStatus();
  JSON_TRY("an input", object.reset().error());
  for (auto field : object) {
    std::string_view key;
    JSON_TRY("an input", field.unescaped_key().get(key));
    if (key != "data") continue;
    od::array array;
    JSON_TRY("input \"data\"", field.value().get_array().get(array));
    return DecodeData(input, array, body_size);
  }
  return absl::InternalError("input \"data\" vanished between passes");
}

absl::Status ParseOutput(od::object object, InferRequest* request) {
  SharedMemoryParams shared_memory;
  RequestedOutput& output = request->outputs.emplace_back();
  for (auto field : object) {
    std::string_view key;
    JSON_TRY("an output", field.unescaped_key().get(key));
    od::value value;
    JSON_TRY("an output", field.value().get(value));
    if (key == "name") {
      std::string_view name;
      if (value.get_string().get(name)) {
        return absl::InvalidArgumentError("output \"name\" must be a string");
      }
      output.name = name;
    } else if (key == "parameters") {
      od::object params;
      if (value.get_object().get(params)) {
        return absl::InvalidArgumentError("output \"parameters\" must be an object");
      }
      for (auto param : params) {
        std::string_view pkey;
        JSON_TRY("output \"parameters\"", param.unescaped_key().get(pkey));
        od::value pvalue;
        JSON_TRY("output \"parameters\"", param.value().get(pvalue));
        ASSIGN_OR_RETURN(bool taken, TakeSharedMemoryJson("output", output.name, pkey, pvalue,
                                                          &shared_memory));
        if (taken) continue;
        if (pkey == "binary_data") {
          bool binary;
          if (pvalue.get_bool().get(binary)) {
            return absl::InvalidArgumentError("parameter \"binary_data\" must be a boolean");
          }
          output.binary_data = binary;
        } else if (pkey == "classification") {
          int64_t count = 0;
          if (pvalue.get_int64().get(count) || count < 1 || count > kMaxClassification) {
            return absl::InvalidArgumentError(
                StrCat("output '", output.name, "': parameter \"classification\" must be a "
                       "number of classes from 1 to ", kMaxClassification));
          }
          output.classification = static_cast<uint32_t>(count);
        }
      }
    }
  }
  if (output.name.empty()) return absl::InvalidArgumentError("an output has no \"name\"");
  ASSIGN_OR_RETURN(output.shared_memory,
                   SharedMemoryRefFrom("output", output.name, shared_memory));
  return absl::OkStatus();
}

absl::Status ParseJson(const simdjson::padded_string_view& json, size_t body_size,
                       InferRequest* request, std::vector<PendingBinary>* pending) {
  od::parser parser;
  od::document doc;
  JSON_TRY("the request", parser.iterate(json).get(doc));
  od::object root;
  if (auto error = doc.get_object().get(root); error) {
    if (error == simdjson::INCORRECT_TYPE) {
      return absl::InvalidArgumentError("the request body must be a JSON object");
    }
    return JsonError("the request", error);
  }
  bool has_inputs = false;
  for (auto field : root) {
    std::string_view key;
    JSON_TRY("the request", field.unescaped_key().get(key));
    od::value value;
    JSON_TRY("the request", field.value().get(value));
    if (key == "id") {
      std::string_view id;
      if (value.get_string().get(id)) return absl::InvalidArgumentError("\"id\" must be a string");
      request->id = id;
    } else if (key == "inputs") {
      od::array inputs;
      if (value.get_array().get(inputs)) {
        return absl::InvalidArgumentError("\"inputs\" must be an array");
      }
      for (auto input : inputs) {
        od::object object;
        if (input.get_object().get(object)) {
          return absl::InvalidArgumentError("each of \"inputs\" must be an object");
        }
        if (request->inputs.size() >= kMaxTensorsPerRequest) {
          return absl::InvalidArgumentError(
              StrCat("the request has more than ", kMaxTensorsPerRequest, " inputs"));
        }
        RETURN_IF_ERROR(ParseInput(object, body_size, request, pending));
      }
      has_inputs = true;
    } else if (key == "outputs") {
      od::array outputs;
      if (value.get_array().get(outputs)) {
        return absl::InvalidArgumentError("\"outputs\" must be an array");
      }
      for (auto output : outputs) {
        od::object object;
        if (output.get_object().get(object)) {
          return absl::InvalidArgumentError("each of \"outputs\" must be an object");
        }
        if (request->outputs.size() >= kMaxTensorsPerRequest) {
          return absl::InvalidArgumentError(
              StrCat("the request names more than ", kMaxTensorsPerRequest, " outputs"));
        }
        RETURN_IF_ERROR(ParseOutput(object, request));
      }
    } else if (key == "parameters") {
      od::object params;
      if (value.get_object().get(params)) {
        return absl::InvalidArgumentError("\"parameters\" must be an object");
      }
      RETURN_IF_ERROR(ParseParameters(params, request));
    }
  }
  if (!doc.current_location().error()) {
    return absl::InvalidArgumentError("malformed JSON in the request: content after the object");
  }
  if (!has_inputs) return absl::InvalidArgumentError("the request has no \"inputs\"");
  return absl::OkStatus();
}

}  // namespace

absl::Status ParseHeaderLength(std::string_view value, size_t body_size, size_t* length) {
  size_t parsed = 0;
  auto result = std::from_chars(value.data(), value.data() + value.size(), parsed);
  if (result.ec != std::errc() || result.ptr != value.data() + value.size()) {
    return absl::InvalidArgumentError(StrCat(
        "Inference-Header-Content-Length '", value, "' is not a non-negative integer"));
  }
  if (parsed > body_size) {
    return absl::InvalidArgumentError(StrCat("Inference-Header-Content-Length ", parsed,
                                                   " is larger than the body (", body_size,
                                                   " bytes)"));
  }
  *length = parsed;
  return absl::OkStatus();
}

absl::Status ParseInferRequest(std::shared_ptr<const std::string> body,
                               std::optional<size_t> header_length, InferRequest* request) {
  const size_t json_length = header_length.value_or(body->size());
  if (json_length > body->size()) {
    return absl::InvalidArgumentError("Inference-Header-Content-Length is larger than the body");
  }
  std::vector<PendingBinary> pending;
  // Parse in place when the buffer has the parser's padding (bytes after the JSON are the
  // binary data or spare capacity, both readable); otherwise copy once.
  if (body->capacity() - json_length >= simdjson::SIMDJSON_PADDING) {
    simdjson::padded_string_view view(body->data(), json_length, body->capacity());
    RETURN_IF_ERROR(ParseJson(view, body->size(), request, &pending));
  } else {
    simdjson::padded_string copy(body->data(), json_length);
    RETURN_IF_ERROR(ParseJson(copy, body->size(), request, &pending));
  }
  size_t offset = json_length;
  for (const PendingBinary& binary : pending) {
    InputTensor& input = request->inputs[binary.input_index];
    if (binary.size > body->size() - offset) {
      return absl::InvalidArgumentError(StrCat(
          "input '", input.name, "' binary_data_size ", binary.size, " is larger than the ",
          body->size() - offset, " bytes of binary data left in the body"));
    }
    input.data = std::string_view(body->data() + offset, binary.size);
    offset += binary.size;
  }
  if (offset != body->size()) {
    return absl::InvalidArgumentError(
        StrCat(body->size() - offset,
                     " bytes after the JSON header are not claimed by any input's "
                     "binary_data_size"));
  }
  request->backing = std::move(body);
  return absl::OkStatus();
}

namespace {

template <typename T>
void AppendValues(const std::vector<char>& data, std::string* out) {
  const size_t n = data.size() / sizeof(T);
  for (size_t i = 0; i < n; ++i) {
    if (i) out->push_back(',');
    T value;
    std::memcpy(&value, data.data() + i * sizeof(T), sizeof(T));
    if constexpr (std::is_same_v<T, bool>) {
      out->append(value ? "true" : "false");
    } else {
      AppendJsonNumber(value, out);
    }
  }
}

void AppendTensorData(const OutputTensor& tensor, std::string* out) {
  out->push_back('[');
  const auto& d = tensor.data;
  switch (tensor.datatype) {
    case DataType::kBool: {
      for (size_t i = 0; i < d.size(); ++i) {
        if (i) out->push_back(',');
        out->append(d[i] ? "true" : "false");
      }
      break;
    }
    case DataType::kUint8: AppendValues<uint8_t>(d, out); break;
    case DataType::kUint16: AppendValues<uint16_t>(d, out); break;
    case DataType::kUint32: AppendValues<uint32_t>(d, out); break;
    case DataType::kUint64: AppendValues<uint64_t>(d, out); break;
    case DataType::kInt8: AppendValues<int8_t>(d, out); break;
    case DataType::kInt16: AppendValues<int16_t>(d, out); break;
    case DataType::kInt32: AppendValues<int32_t>(d, out); break;
    case DataType::kInt64: AppendValues<int64_t>(d, out); break;
    case DataType::kFp32: AppendValues<float>(d, out); break;
    case DataType::kFp64: AppendValues<double>(d, out); break;
    case DataType::kFp16:
    case DataType::kBf16: {
      const size_t n = d.size() / 2;
      for (size_t i = 0; i < n; ++i) {
        if (i) out->push_back(',');
        uint16_t bits;
        std::memcpy(&bits, d.data() + i * 2, 2);
        AppendJsonNumber(tensor.datatype == DataType::kFp16 ? HalfToFloat(bits)
                                                            : Bf16ToFloat(bits),
                         out);
      }
      break;
    }
    case DataType::kBytes: {
      // A malformed output ends the list after its last whole element (the JSON stays valid).
      bool first = true;
      ForEachBytesElement(std::string_view(d.data(), d.size()), [&](std::string_view element) {
        if (!first) out->push_back(',');
        first = false;
        AppendJsonString(element, out);
      }).IgnoreError();
      break;
    }
    case DataType::kInvalid:
      break;
  }
  out->push_back(']');
}

}  // namespace

void EncodeInferResponse(const InferResponse& response, std::string* body,
                         std::optional<size_t>* header_length) {
  body->clear();
  size_t binary_bytes = 0;
  size_t json_estimate = 128;
  for (const auto& output : response.outputs) {
    if (output.shared_memory) continue;
    if (output.binary) {
      binary_bytes += output.data.size();
    } else {
      json_estimate += output.data.size() * 4;
    }
  }
  body->reserve(json_estimate + binary_bytes);
  body->append("{\"model_name\":");
  AppendJsonString(response.model_name, body);
  body->append(",\"model_version\":");
  AppendJsonString(response.model_version, body);
  if (!response.id.empty()) {
    body->append(",\"id\":");
    AppendJsonString(response.id, body);
  }
  body->append(",\"outputs\":[");
  bool first = true;
  for (const auto& output : response.outputs) {
    if (!first) body->push_back(',');
    first = false;
    body->append("{\"name\":");
    AppendJsonString(output.name, body);
    body->append(",\"datatype\":\"");
    body->append(DataTypeName(output.datatype));
    body->append("\",\"shape\":[");
    for (size_t i = 0; i < output.shape.size(); ++i) {
      if (i) body->push_back(',');
      AppendJsonNumber(output.shape[i], body);
    }
    body->push_back(']');
    if (output.shared_memory) {
      body->append(",\"parameters\":{\"shared_memory_region\":");
      AppendJsonString(output.shared_memory->region, body);
      body->append(",\"shared_memory_byte_size\":");
      AppendJsonNumber(output.shared_memory->byte_size, body);
      if (output.shared_memory->offset != 0) {
        body->append(",\"shared_memory_offset\":");
        AppendJsonNumber(output.shared_memory->offset, body);
      }
      body->push_back('}');
    } else if (output.binary) {
      body->append(",\"parameters\":{\"binary_data_size\":");
      AppendJsonNumber(output.data.size(), body);
      body->push_back('}');
    } else {
      body->append(",\"data\":");
      AppendTensorData(output, body);
    }
    body->push_back('}');
  }
  body->append("]}");
  if (binary_bytes == 0) {
    header_length->reset();
    return;
  }
  *header_length = body->size();
  for (const auto& output : response.outputs) {
    if (output.binary && !output.shared_memory) {
      body->append(output.data.data(), output.data.size());
    }
  }
}

}  // namespace berth::protocol
