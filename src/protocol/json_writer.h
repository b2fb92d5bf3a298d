// A small append-only JSON writer for the hot path (responses), where building a DOM first
// would cost an allocation per value. Control-plane documents use nlohmann::json instead.
#pragma once

#include <charconv>
#include <cstdint>
#include <string>
#include <string_view>
#include <type_traits>

namespace berth::protocol {

// Appends `text` as a JSON string literal (quotes included), escaping what JSON requires.
void AppendJsonString(std::string_view text, std::string* out);

// Appends a number in its shortest round-trip form; non-finite floats become null.
template <typename T>
void AppendJsonNumber(T value, std::string* out) {
  if constexpr (std::is_floating_point_v<T>) {
    if (!(value == value) || value == static_cast<T>(1.0 / 0.0) ||
        value == -static_cast<T>(1.0 / 0.0)) {
      out->append("null");
      return;
    }
  }
  char buffer[32];
  auto result = std::to_chars(buffer, buffer + sizeof(buffer), value);
  out->append(buffer, result.ptr);
}

// {"error": "<message>"}
std::string JsonErrorBody(std::string_view message);

}  // namespace berth::protocol
