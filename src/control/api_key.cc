#include "control/api_key.h"

#include <openssl/crypto.h>
#include <openssl/rand.h>
#include <openssl/sha.h>

#include <array>

namespace berth::control {
namespace {

constexpr char kBase62[] = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";

std::array<unsigned char, SHA256_DIGEST_LENGTH> Sha256(std::string_view data) {
  std::array<unsigned char, SHA256_DIGEST_LENGTH> digest;
  SHA256(reinterpret_cast<const unsigned char*>(data.data()), data.size(), digest.data());
  return digest;
}

// Six base62 characters derived from the SHA-256 of the prefix and random part.
std::string Checksum(std::string_view body) {
  const auto digest = Sha256(body);
  uint64_t value = 0;
  for (int i = 0; i < 8; ++i) value = (value << 8) | digest[i];
  std::string out(kApiKeyChecksumChars, '0');
  for (size_t i = 0; i < kApiKeyChecksumChars; ++i) {
    out[kApiKeyChecksumChars - 1 - i] = kBase62[value % 62];
    value /= 62;
  }
  return out;
}

bool IsBase62(char c) {
  return (c >= '0' && c <= '9') || (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z');
}

}  // namespace

std::string Sha256Hex(std::string_view data) {
  static constexpr char kHex[] = "0123456789abcdef";
  const auto digest = Sha256(data);
  std::string out;
  out.reserve(digest.size() * 2);
  for (unsigned char byte : digest) {
    out.push_back(kHex[byte >> 4]);
    out.push_back(kHex[byte & 0xf]);
  }
  return out;
}

bool ConstantTimeEquals(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  return CRYPTO_memcmp(a.data(), b.data(), a.size()) == 0;
}

absl::StatusOr<NewApiKey> GenerateApiKey() {
  std::string body(kApiKeyPrefix);
  // Rejection sampling keeps every base62 character equally likely: bytes >= 248 (4 * 62)
  // would favour the first characters and are drawn again.
  unsigned char buffer[64];
  while (body.size() < kApiKeyPrefix.size() + kApiKeyRandomChars) {
    if (RAND_bytes(buffer, sizeof(buffer)) != 1) {
      return absl::InternalError("the system's random number generator failed");
    }
    for (unsigned char byte : buffer) {
      if (byte >= 248) continue;
      body.push_back(kBase62[byte % 62]);
      if (body.size() == kApiKeyPrefix.size() + kApiKeyRandomChars) break;
    }
  }
  NewApiKey out;
  out.key = body + Checksum(body);
  out.display = out.key.substr(0, kApiKeyDisplayChars);
  out.hash = Sha256Hex(out.key);
  return out;
}

absl::Status CheckApiKeyFormat(std::string_view key) {
  if (key.size() != kApiKeyLength || key.substr(0, kApiKeyPrefix.size()) != kApiKeyPrefix) {
    return absl::InvalidArgumentError(
        "not a berth API key: keys start with 'brth_' and are 33 characters long");
  }
  for (char c : key.substr(kApiKeyPrefix.size())) {
    if (!IsBase62(c)) return absl::InvalidArgumentError("not a berth API key: bad character");
  }
  const std::string_view body = key.substr(0, kApiKeyLength - kApiKeyChecksumChars);
  const std::string expected = Checksum(body);
  if (!ConstantTimeEquals(expected, key.substr(body.size()))) {
    return absl::InvalidArgumentError(
        "the API key's checksum does not match: check it was copied whole and unchanged");
  }
  return absl::OkStatus();
}

}  // namespace berth::control
