#include "protocol/proto_json.h"

#include <charconv>

#include "google/protobuf/descriptor.h"
#include "google/protobuf/util/json_util.h"
#include "nlohmann/json.hpp"

namespace berth::protocol {
namespace {

using google::protobuf::FieldDescriptor;
using google::protobuf::Message;

bool Is64BitInteger(const FieldDescriptor& field) {
  return field.cpp_type() == FieldDescriptor::CPPTYPE_INT64 ||
         field.cpp_type() == FieldDescriptor::CPPTYPE_UINT64;
}

// A 64-bit integer that protobuf wrote as a string, as a number (left alone if it is not one).
void ToNumber(const FieldDescriptor& field, nlohmann::json& value) {
  if (!value.is_string()) return;
  const std::string& text = value.get_ref<const std::string&>();
  const char* end = text.data() + text.size();
  if (field.cpp_type() == FieldDescriptor::CPPTYPE_INT64) {
    int64_t n = 0;
    if (auto r = std::from_chars(text.data(), end, n); r.ec == std::errc() && r.ptr == end) {
      value = n;
    }
  } else {
    uint64_t n = 0;
    if (auto r = std::from_chars(text.data(), end, n); r.ec == std::errc() && r.ptr == end) {
      value = n;
    }
  }
}

void Numbers(const Message& message, nlohmann::json& json);

// One value of `field` (a message, or a 64-bit integer) as it appears in `json`.
void NumbersInValue(const Message& message, const FieldDescriptor& field, int index,
                    nlohmann::json& json) {
  const auto* reflection = message.GetReflection();
  if (field.cpp_type() == FieldDescriptor::CPPTYPE_MESSAGE) {
    const Message& child = index < 0 ? reflection->GetMessage(message, &field)
                                     : reflection->GetRepeatedMessage(message, &field, index);
    Numbers(child, json);
  } else if (Is64BitInteger(field)) {
    ToNumber(field, json);
  }
}

void Numbers(const Message& message, nlohmann::json& json) {
  if (!json.is_object()) return;
  const auto* descriptor = message.GetDescriptor();
  const auto* reflection = message.GetReflection();
  for (int i = 0; i < descriptor->field_count(); ++i) {
    const FieldDescriptor& field = *descriptor->field(i);
    auto it = json.find(field.name());
    if (it == json.end()) continue;
    if (field.is_map()) {
      // Entries are messages {key, value}; JSON has them as an object keyed by the key's text.
      const FieldDescriptor& key = *field.message_type()->map_key();
      const FieldDescriptor& value = *field.message_type()->map_value();
      for (int k = 0; k < reflection->FieldSize(message, &field); ++k) {
        const Message& entry = reflection->GetRepeatedMessage(message, &field, k);
        const auto* entry_reflection = entry.GetReflection();
        std::string key_text;
        if (key.cpp_type() == FieldDescriptor::CPPTYPE_STRING) {
          key_text = entry_reflection->GetString(entry, &key);
        } else if (key.cpp_type() == FieldDescriptor::CPPTYPE_INT64) {
          key_text = std::to_string(entry_reflection->GetInt64(entry, &key));
        } else if (key.cpp_type() == FieldDescriptor::CPPTYPE_UINT64) {
          key_text = std::to_string(entry_reflection->GetUInt64(entry, &key));
        } else if (key.cpp_type() == FieldDescriptor::CPPTYPE_INT32) {
          key_text = std::to_string(entry_reflection->GetInt32(entry, &key));
        } else if (key.cpp_type() == FieldDescriptor::CPPTYPE_UINT32) {
          key_text = std::to_string(entry_reflection->GetUInt32(entry, &key));
        } else {
          continue;  // bool keys: none in Triton's protos
        }
        auto slot = it->find(key_text);
        if (slot != it->end()) NumbersInValue(entry, value, -1, *slot);
      }
    } else if (field.is_repeated()) {
      if (!it->is_array()) continue;
      const int size = reflection->FieldSize(message, &field);
      for (int k = 0; k < size && k < static_cast<int>(it->size()); ++k) {
        NumbersInValue(message, field, k, (*it)[static_cast<size_t>(k)]);
      }
    } else {
      NumbersInValue(message, field, -1, *it);
    }
  }
}

}  // namespace

absl::StatusOr<std::string> TritonJson(const Message& message) {
  std::string text;
  google::protobuf::util::JsonPrintOptions options;
  options.preserve_proto_field_names = true;
  options.always_print_primitive_fields = true;
  if (auto status = google::protobuf::util::MessageToJsonString(message, &text, options);
      !status.ok()) {
    return absl::InternalError(std::string("cannot encode ") + message.GetTypeName() +
                               " as JSON: " + std::string(status.message()));
  }
  nlohmann::json json = nlohmann::json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (json.is_discarded()) return absl::InternalError("protobuf wrote JSON that does not parse");
  Numbers(message, json);
  return json.dump();
}

}  // namespace berth::protocol
