// Per-service traffic as the gateway sees it, in 5-second buckets over the last 15 minutes:
// requests, errors and a latency histogram per bucket, for the console's charts and the
// autoscaler to come. Thread-safe (a mutex per service; the hot path holds it for a few adds).
#pragma once

#include <array>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <unordered_map>

#include "absl/base/thread_annotations.h"
#include "nlohmann/json.hpp"

namespace berth::gateway {

class TrafficStats {
 public:
  static constexpr int kIntervalS = 5;
  static constexpr int kBuckets = 180;
  static constexpr int kLatencyBins = 40;  // log-spaced, 0.05 ms .. ~30 s

  // `batch_rows`: rows of the batch the request ran in, when the worker said (0: unknown).
  void Record(const std::string& service, int64_t now_ms, double latency_ms, bool error,
              int64_t batch_rows = 0);
  // The service's ready replicas now (the controller reports them on every pass).
  void SetReplicas(const std::string& service, int64_t now_ms, int ready);
  // {"interval_s", "points": [{"time", "requests", "errors", "qps", "p50_ms", "p99_ms",
  //  "ready_replicas", "avg_batch_size"}]}; ready_replicas is the most seen in the interval
  // (the last known value carried over intervals without a report); avg_batch_size is the mean
  // size of the batches the interval's requests ran in (0 when no request said).
  nlohmann::json Series(const std::string& service, int64_t now_ms);
  void Forget(const std::string& service);

 private:
  struct Bucket {
    int64_t slot = -1;  // time / interval
    uint64_t requests = 0;
    uint64_t errors = 0;
    std::array<uint32_t, kLatencyBins> latency{};
    int replicas = -1;  // most ready replicas reported in the interval; -1: no report
    uint64_t batched = 0;      // requests that said which batch they ran in
    uint64_t batch_rows = 0;   // the sum of those batches' rows
  };
  struct Service {
    std::mutex mu;
    std::array<Bucket, kBuckets> buckets ABSL_GUARDED_BY(mu);
  };
  Service& Get(const std::string& service);
  // The bucket for `slot`, emptied first when it still holds an older interval.
  static Bucket& Current(Service& s, int64_t slot) ABSL_EXCLUSIVE_LOCKS_REQUIRED(s.mu);

  std::mutex mu_;
  std::unordered_map<std::string, std::unique_ptr<Service>> services_ ABSL_GUARDED_BY(mu_);
};

}  // namespace berth::gateway
