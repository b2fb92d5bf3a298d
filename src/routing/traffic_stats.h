// Per-service traffic as the gateway sees it, in 5-second buckets over the last 15 minutes:
// requests, errors and a latency histogram per bucket, for the service as a whole and for each
// of its last kRevisions revisions (what a canary is judged by), for the console's charts and
// the autoscaler. Thread-safe (a mutex per service; the hot path holds it for a few adds).
#pragma once

#include <array>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "nlohmann/json.hpp"

namespace berth::routing {

// One request in a service's request log: what a person asks when a caller says "it failed".
// Never a body, a header or a key: the key's name only.
struct RequestEntry {
  uint64_t seq = 0;  // 1, 2, ... per service, in the order the log received them
  int64_t time_ms = 0;
  std::string protocol;  // "http" | "grpc"
  std::string method;    // "POST", "GET"; "gRPC" for gRPC
  std::string route;     // the path without its query, or the RPC ("ModelInfer")
  int status = 0;        // the HTTP status (for gRPC, the HTTP status of its code)
  int grpc_code = -1;    // gRPC only
  double latency_ms = 0;
  int64_t revision = 0;  // 0: no replica took it
  std::string replica;
  std::string key;  // the caller's key name
  uint64_t bytes_in = 0;
  uint64_t bytes_out = 0;
};

// How a request ended, as the statistics count it.
enum class RequestResult {
  kSuccess,
  kClientError,  // the caller's fault (HTTP 4xx; gRPC INVALID_ARGUMENT, NOT_FOUND, ...)
  kServerError,  // the server's or a replica's (HTTP 5xx; gRPC INTERNAL, UNAVAILABLE, ...)
};

// A revision's requests over a stretch of time, for judging a canary.
struct WindowFigures {
  uint64_t requests = 0;
  uint64_t errors = 0;  // the server's (5xx)
  double p99_ms = 0;
  double error_rate() const {
    return requests == 0 ? 0 : static_cast<double>(errors) / static_cast<double>(requests);
  }
};

class TrafficStats {
 public:
  static constexpr int kIntervalS = 5;
  static constexpr int kBuckets = 180;
  static constexpr int kLatencyBins = 40;  // log-spaced, 0.05 ms .. ~30 s
  static constexpr size_t kRevisions = 4;  // per service; a newer one replaces the oldest

  // `batch_rows`: rows of the batch the request ran in, when the worker said (0: unknown).
  // `revision`: the revision that served it (0: none, as when no replica was ready).
  // `entry`, when given, goes into the request log under the same lock.
  void Record(const std::string& service, int64_t now_ms, double latency_ms,
              RequestResult result, int64_t batch_rows = 0, int64_t revision = 0,
              RequestEntry* entry = nullptr);
  // A shadow request (a copy sent to a revision whose answer was discarded): counted in the
  // revision's figures only, not in the service's, which count what callers got.
  void RecordShadow(const std::string& service, int64_t now_ms, double latency_ms,
                    RequestResult result, int64_t revision);
  // The service's ready replicas now (the controller reports them on every pass).
  void SetReplicas(const std::string& service, int64_t now_ms, int ready);
  // {"interval_s", "points": [{"time", "requests", "errors", "client_errors", "qps", "p50_ms",
  //  "p99_ms", "ready_replicas", "avg_batch_size"}]}; errors are the server's (5xx),
  // client_errors the callers' (4xx); ready_replicas is the most seen in the interval
  // (the last known value carried over intervals without a report); avg_batch_size is the mean
  // size of the batches the interval's requests ran in (0 when no request said). With a
  // `revision`, the requests are that revision's only (all zero when it has none recorded);
  // ready_replicas stays the service's.
  nlohmann::json Series(const std::string& service, int64_t now_ms, int64_t revision = 0);
  void Forget(const std::string& service);
  // The revision's requests in the intervals from the one holding `from_ms` to the one holding
  // `to_ms` (wall-clock), at most the 15 minutes kept.
  WindowFigures Window(const std::string& service, int64_t revision, int64_t from_ms,
                       int64_t to_ms);

  // The request log (filled by Record): the last kLoggedRequests requests of each service, in
  // memory only.
  static constexpr size_t kLoggedRequests = 1000;
  // Newest first, at most `limit`, only those after sequence number `after` (0: all).
  std::vector<RequestEntry> RecentRequests(const std::string& service, size_t limit,
                                           uint64_t after = 0);

 private:
  struct Bucket {
    int64_t slot = -1;  // time / interval
    uint64_t requests = 0;
    uint64_t errors = 0;         // server errors
    uint64_t client_errors = 0;  // the callers' own
    std::array<uint32_t, kLatencyBins> latency{};
    int replicas = -1;  // most ready replicas reported in the interval; -1: no report
    uint64_t batched = 0;      // requests that said which batch they ran in
    uint64_t batch_rows = 0;   // the sum of those batches' rows
  };
  using Buckets = std::array<Bucket, kBuckets>;
  struct Service {
    std::mutex mu;
    Buckets buckets ABSL_GUARDED_BY(mu);
    // (revision, its buckets), at most kRevisions.
    std::vector<std::pair<int64_t, std::unique_ptr<Buckets>>> revisions ABSL_GUARDED_BY(mu);
    // A ring: `next` is where the next entry goes once it holds kLoggedRequests.
    std::vector<RequestEntry> log ABSL_GUARDED_BY(mu);
    size_t next = 0 ABSL_GUARDED_BY(mu);
    uint64_t logged = 0 ABSL_GUARDED_BY(mu);  // entries ever logged: the last one's seq
  };
  // Shared, so that a Forget while a request records leaves the recorder's copy valid.
  std::shared_ptr<Service> Get(const std::string& service);
  // The bucket for `slot`, emptied first when it still holds an older interval.
  static Bucket& Current(Buckets& buckets, int64_t slot);
  // The revision's buckets, made (in place of the lowest revision when full) if `make`.
  static Buckets* RevisionBuckets(Service& s, int64_t revision, bool make)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(s.mu);
  static void Add(Bucket& b, double latency_ms, RequestResult result, int64_t batch_rows);
  static void AppendToLog(Service& s, RequestEntry entry) ABSL_EXCLUSIVE_LOCKS_REQUIRED(s.mu);

  std::mutex mu_;
  std::unordered_map<std::string, std::shared_ptr<Service>> services_ ABSL_GUARDED_BY(mu_);
};

}  // namespace berth::routing
