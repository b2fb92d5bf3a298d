// Fetches a model file named by a URI (file://, http(s)://, s3://) to a local path, computing
// its SHA-256 and enforcing a size limit while the bytes arrive.
#pragma once

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <optional>
#include <vector>

#include "absl/status/statusor.h"
#include "net/destination_policy.h"

namespace berth::models {

// A SHA-256 computed over bytes as they stream by (OpenSSL EVP). Not thread-safe.
class Sha256Stream {
 public:
  Sha256Stream();
  ~Sha256Stream();
  Sha256Stream(Sha256Stream&&) noexcept;
  Sha256Stream& operator=(Sha256Stream&&) noexcept;

  void Update(std::span<const uint8_t> bytes);
  void Update(std::string_view bytes);
  // The digest of everything passed to Update, as 64 lowercase hex digits. Call once.
  std::string FinishHex();

 private:
  struct Context;
  std::unique_ptr<Context> context_;
};

struct S3Options {
  // Where the S3 API answers, e.g. http://127.0.0.1:4568 or https://s3.amazonaws.com;
  // empty: https://s3.<region>.amazonaws.com.
  std::string endpoint;
  std::string region = "us-east-1";
  // Empty access key: unsigned (anonymous) requests, for public buckets.
  std::string access_key, secret_key;
  // Path style (endpoint/bucket/key) or virtual-hosted style (bucket.endpoint/key).
  bool path_style = true;
};

struct FetchOptions {
  uint64_t max_bytes = 0;  // a larger model fails with PayloadTooLarge (HTTP 413)
  std::chrono::seconds connect_timeout{10};
  std::chrono::seconds total_timeout{600};
  S3Options s3;
  // http(s):// destinations are checked against this policy (nullptr: any address). The S3
  // endpoint is the operator's and is not checked.
  const net::DestinationPolicy* policy = nullptr;
  // file:// paths must lie inside one of these directories (after resolving links); an empty
  // list refuses file:// with PermissionDenied. nullopt: any path.
  std::optional<std::vector<std::filesystem::path>> file_roots;
};

struct FetchResult {
  uint64_t size_bytes = 0;
  std::string sha256_hex;
};

// Copies the single-file model at `uri` to `dest` (created or replaced). On any failure no file
// is left at `dest`. Errors, which never contain credentials:
//   InvalidArgument: malformed or unsupported URI, a directory, HTTP 4xx (status in the message)
//   ResourceExhausted + PayloadTooLarge: more than max_bytes
//   Unavailable: cannot connect, HTTP 5xx; DeadlineExceeded: a timeout; Internal: local I/O.
absl::StatusOr<FetchResult> FetchModel(std::string_view uri, const std::filesystem::path& dest,
                                       const FetchOptions& options);

}  // namespace berth::models
