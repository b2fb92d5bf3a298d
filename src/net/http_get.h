// Small HTTP(S) downloads into memory for request-time inputs (`image_url`): several URLs in
// parallel, each bounded in time and size and checked against a DestinationPolicy.
#pragma once

#include <chrono>
#include <span>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "net/destination_policy.h"

namespace berth::net {

struct GetOptions {
  std::chrono::milliseconds connect_timeout{3000};
  std::chrono::milliseconds total_timeout{10000};
  size_t max_bytes = 16u << 20;
  long max_redirects = 3;
  // Refuses answers whose Content-Type starts with none of these (any when empty).
  std::vector<std::string> content_types;
  const DestinationPolicy* policy = nullptr;  // required
  // URLs that start with one of these are fetched without the policy check and without
  // following redirects: the operator's own locations (e.g. the server's sample images).
  std::vector<std::string> trusted_prefixes;
};

struct GetResult {
  std::string body;
  std::string content_type;
};

// Fetches each of `urls`, at most `options.total_timeout` in all. One result per URL, in
// order. Errors name the URL (without credentials or query) and the problem:
//   InvalidArgument: not http(s), refused address, HTTP error status, wrong content type,
//                    unreachable host, timeout, too many redirects
//   ResourceExhausted + PayloadTooLarge: more than max_bytes
std::vector<absl::StatusOr<GetResult>> GetAll(std::span<const std::string> urls,
                                              const GetOptions& options);

// libcurl's global initialisation, once per process (every libcurl user here calls it first).
void InitCurlOnce();

// A URL as messages show it: no user:password@ and no query or fragment.
std::string RedactUrl(std::string_view url);

}  // namespace berth::net
