#include "protocol/infer.h"

#include <cstring>

#include "common/status_macros.h"
#include "common/strings.h"

namespace berth::protocol {

absl::Status ElementCount(std::span<const int64_t> shape, uint64_t limit, uint64_t* count) {
  uint64_t total = 1;
  for (int64_t dim : shape) {
    if (dim < 0) return absl::InvalidArgumentError(StrCat("negative dimension ", dim));
    if (dim != 0 && total > limit / static_cast<uint64_t>(dim)) {
      return absl::InvalidArgumentError("shape has more elements than the request can hold");
    }
    total *= static_cast<uint64_t>(dim);
  }
  *count = total;
  return absl::OkStatus();
}

absl::Status ValidateBytesTensor(std::string_view data, uint64_t count) {
  size_t offset = 0;
  for (uint64_t i = 0; i < count; ++i) {
    if (data.size() - offset < 4) {
      return absl::InvalidArgumentError(
          StrCat("BYTES data ends before element ", i, " of ", count));
    }
    uint32_t length;
    std::memcpy(&length, data.data() + offset, 4);
    offset += 4;
    if (data.size() - offset < length) {
      return absl::InvalidArgumentError(
          StrCat("BYTES element ", i, " claims ", length, " bytes but only ",
                       data.size() - offset, " remain"));
    }
    offset += length;
  }
  if (offset != data.size()) {
    return absl::InvalidArgumentError(
        StrCat("BYTES data has ", data.size() - offset, " bytes after the last of ", count,
                     " elements"));
  }
  return absl::OkStatus();
}

absl::Status ForEachBytesElement(std::string_view data,
                                 const std::function<void(std::string_view)>& visit) {
  for (size_t index = 0; !data.empty(); ++index) {
    if (data.size() < 4) {
      return absl::InvalidArgumentError(
          StrCat("BYTES data ends inside the length of element ", index));
    }
    uint32_t length;
    std::memcpy(&length, data.data(), 4);
    data.remove_prefix(4);
    if (data.size() < length) {
      return absl::InvalidArgumentError(StrCat("BYTES element ", index, " claims ", length,
                                               " bytes but only ", data.size(), " remain"));
    }
    visit(data.substr(0, length));
    data.remove_prefix(length);
  }
  return absl::OkStatus();
}

absl::StatusOr<std::vector<std::string_view>> SplitBytesTensor(std::string_view data) {
  std::vector<std::string_view> elements;
  RETURN_IF_ERROR(
      ForEachBytesElement(data, [&](std::string_view element) { elements.push_back(element); }));
  return elements;
}

void AppendBytesElement(std::string_view element, std::vector<char>* out) {
  const uint32_t length = static_cast<uint32_t>(element.size());
  const size_t at = out->size();
  out->resize(at + 4 + element.size());
  std::memcpy(out->data() + at, &length, 4);
  if (!element.empty()) std::memcpy(out->data() + at + 4, element.data(), element.size());
}

absl::StatusOr<bool> TakeSharedMemoryParameter(std::string_view kind, std::string_view tensor,
                                               std::string_view key,
                                               const std::string* string_value,
                                               const int64_t* int_value,
                                               SharedMemoryParams* params) {
  if (!key.starts_with("shared_memory_")) return false;
  auto wrong_type = [&](std::string_view want) {
    return absl::InvalidArgumentError(StrCat(kind, " '", tensor, "': parameter \"", key,
                                             "\" must be ", want));
  };
  if (key == "shared_memory_region") {
    if (string_value == nullptr) return wrong_type("a string (the registered region's name)");
    params->region = *string_value;
  } else if (key == "shared_memory_offset" || key == "shared_memory_byte_size") {
    if (int_value == nullptr || *int_value < 0) return wrong_type("a non-negative integer");
    (key == "shared_memory_offset" ? params->offset : params->byte_size) =
        static_cast<uint64_t>(*int_value);
  } else {
    return absl::InvalidArgumentError(
        StrCat(kind, " '", tensor, "': parameter \"", key,
               "\" is not one of the shared-memory extension's (shared_memory_region, "
               "shared_memory_offset, shared_memory_byte_size)"));
  }
  return true;
}

absl::StatusOr<std::optional<SharedMemoryRef>> SharedMemoryRefFrom(
    std::string_view kind, std::string_view tensor, const SharedMemoryParams& params) {
  if (!params.region) {
    if (params.offset || params.byte_size) {
      return absl::InvalidArgumentError(
          StrCat(kind, " '", tensor, "' has shared_memory_offset or shared_memory_byte_size "
                 "but no shared_memory_region"));
    }
    return std::nullopt;
  }
  if (!params.byte_size) {
    return absl::InvalidArgumentError(StrCat(kind, " '", tensor, "' names shared_memory_region '",
                                             *params.region,
                                             "' but no shared_memory_byte_size"));
  }
  return SharedMemoryRef{*params.region, params.offset.value_or(0), *params.byte_size};
}

}  // namespace berth::protocol
