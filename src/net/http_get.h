// Small HTTP(S) downloads into memory for request-time inputs (`image_url`): several URLs in
// parallel, each bounded in time and size and checked against a DestinationPolicy. A Fetcher
// runs every download of a process on one thread (libcurl's multi interface), with a share per
// caller and a limit per host, so that one caller's slow URLs cannot delay another's.
#pragma once

#include <chrono>
#include <functional>
#include <memory>
#include <span>
#include <string>
#include <thread>
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

using GetResults = std::vector<absl::StatusOr<GetResult>>;

// How many downloads a Fetcher runs at once. A download that finds no free slot waits, in its
// caller's queue, at most its total timeout; callers with waiting downloads take turns.
struct FetchLimits {
  int max_running = 64;       // in all
  int max_per_host = 8;       // to one host (as the URL names it)
  int max_per_caller = 4;     // for one caller
  size_t max_waiting = 4096;  // queued in all; past it a download fails at once
};

class Fetcher {
 public:
  explicit Fetcher(const FetchLimits& limits = {});
  ~Fetcher();  // fails what is queued or running (Unavailable) and joins the thread
  Fetcher(const Fetcher&) = delete;
  Fetcher& operator=(const Fetcher&) = delete;

  // Downloads each of `urls` for `caller` (any string that tells callers apart: a key id, a
  // peer address). `done` runs once, with one result per URL in order: on the fetcher's thread
  // (or at once on the caller's, with every URL failed, when the fetcher is stopping); it
  // must not block. `options` must stay valid until then. Errors name the URL
  // (without credentials or query) and the problem:
  //   InvalidArgument: not http(s), refused address, HTTP error status, wrong content type,
  //                    unreachable host, timeout, too many redirects
  //   ResourceExhausted + PayloadTooLarge: more than max_bytes
  //   Unavailable: no download slot within the total timeout, or the fetcher is stopping
  void Fetch(std::vector<std::string> urls, std::string caller, const GetOptions& options,
             std::function<void(GetResults)> done);

  struct Counts {
    size_t waiting = 0;
    size_t running = 0;
  };
  Counts counts() const;

 private:
  struct State;
  void Run();

  std::unique_ptr<State> state_;
  std::thread thread_;
};

// Fetches each of `urls` and waits for the results (a Fetcher of its own, without limits):
// for one-off downloads outside the request path.
GetResults GetAll(std::span<const std::string> urls, const GetOptions& options);

// libcurl's global initialisation, once per process (every libcurl user here calls it first).
void InitCurlOnce();

// A URL as messages show it: no user:password@ and no query or fragment.
std::string RedactUrl(std::string_view url);

}  // namespace berth::net
