// API keys: the format berth issues, and how a presented key is checked. A key looks like
// `brth_` + 22 base62 characters of randomness (131 bits) + 6 base62 characters of checksum,
// 33 characters in all. The checksum lets a typo be refused before any lookup; only the
// SHA-256 of a key is ever stored.
#pragma once

#include <string>
#include <string_view>

#include "absl/status/statusor.h"

namespace berth::control {

inline constexpr std::string_view kApiKeyPrefix = "brth_";
inline constexpr size_t kApiKeyRandomChars = 22;
inline constexpr size_t kApiKeyChecksumChars = 6;
inline constexpr size_t kApiKeyLength =
    kApiKeyPrefix.size() + kApiKeyRandomChars + kApiKeyChecksumChars;
// Characters of a key shown in listings (the prefix plus a few random ones); not secret.
inline constexpr size_t kApiKeyDisplayChars = 12;

struct NewApiKey {
  std::string key;      // shown to the user once, never stored
  std::string display;  // the first kApiKeyDisplayChars characters, for listings
  std::string hash;     // lowercase hex SHA-256 of `key`, what the store keeps
};

// A new key from the operating system's CSPRNG (OpenSSL RAND_bytes).
absl::StatusOr<NewApiKey> GenerateApiKey();

// OK when `key` has berth's shape and a valid checksum; InvalidArgument (with a reason that
// never repeats the key) otherwise.
absl::Status CheckApiKeyFormat(std::string_view key);

// Lowercase hex SHA-256.
std::string Sha256Hex(std::string_view data);

// Equality that takes the same time wherever the inputs differ (for comparing hashes).
bool ConstantTimeEquals(std::string_view a, std::string_view b);

}  // namespace berth::control
