// Helpers shared by the protocol tests.
#pragma once

#include <gtest/gtest.h>

#include <cstring>
#include <initializer_list>
#include <string>
#include <string_view>

#include "absl/status/status.h"
#include "common/strings.h"

namespace berth::protocol::testing {

// Expects an InvalidArgument error whose message contains every one of `parts`.
inline void ExpectInvalid(const absl::Status& status,
                          std::initializer_list<std::string_view> parts) {
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument) << status;
  for (std::string_view part : parts) {
    EXPECT_NE(Msg(status).find(part), std::string_view::npos)
        << "message \"" << Msg(status) << "\" lacks \"" << part << "\"";
  }
}

// The little-endian bytes of `values`.
template <typename T>
std::string Raw(std::initializer_list<T> values) {
  std::string out(values.size() * sizeof(T), '\0');
  size_t at = 0;
  for (T v : values) {
    std::memcpy(out.data() + at, &v, sizeof(T));
    at += sizeof(T);
  }
  return out;
}

}  // namespace berth::protocol::testing
