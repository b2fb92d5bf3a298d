// Fuzz target for the multipart/form-data reader of classify requests: the first line of the
// input is the Content-Type, the rest the body. Any input must give parts or a clear error,
// and every part must lie inside the body.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "worker/multipart.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view input(reinterpret_cast<const char*>(data), size);
  const size_t eol = input.find('\n');
  const std::string_view type = input.substr(0, eol);
  const std::string_view body = eol == std::string_view::npos ? "" : input.substr(eol + 1);
  auto parts = berth::worker::ParseFormData(type, body, 16);
  if (!parts.ok()) return 0;
  if (parts->size() > 16) __builtin_trap();
  for (const auto& part : *parts) {
    if (part.body.data() < body.data() ||
        part.body.data() + part.body.size() > body.data() + body.size()) {
      __builtin_trap();
    }
  }
  return 0;
}
