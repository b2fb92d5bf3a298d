// The per-model scheduler: a bounded, prioritised queue of requests, and one executor thread
// per model instance that forms batches from the queue (max batch size, preferred sizes, max
// queue delay), runs them and scatters the results. Thread-safe.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "absl/status/statusor.h"
#include "backends/backend.h"
#include "model_config.pb.h"
#include "protocol/infer.h"
#include "worker/metrics.h"
#include "worker/model_stats.h"

namespace berth::worker {

using Clock = std::chrono::steady_clock;
using InferCallback = std::function<void(absl::StatusOr<protocol::InferResponse>)>;

struct QueuedRequest {
  protocol::InferRequest request;
  int64_t rows = 1;                  // batch rows this request carries
  Clock::time_point arrival;         // when the worker received it
  Clock::time_point enqueued;        // set by Enqueue
  Clock::time_point deadline = Clock::time_point::max();  // set by Enqueue
  // The time the one who sent it still waits for the answer (the gateway's Berth-Timeout-Us,
  // a gRPC deadline), microseconds from `arrival`; 0: none. It shortens the timeout, never
  // lengthens it, whatever the model's queue policy allows callers.
  uint64_t budget_us = 0;
  InferCallback done;                // called exactly once, from an executor thread
  std::shared_ptr<const void> model;  // keeps the model version serving it alive
};

// The longest timeout a request may ask for (parameters.timeout, microseconds): one hour.
inline constexpr uint64_t kMaxRequestTimeoutUs = uint64_t{3600} * 1000 * 1000;

class DynamicBatcher {
 public:
  struct Options {
    int max_batch_size = 0;  // 0: the model does not batch; one request per execution
    bool batching = false;   // dynamic batching enabled (else one request per execution)
    std::vector<int> preferred_batch_sizes;
    std::chrono::microseconds max_queue_delay{0};
    size_t max_queue_size = 1024;
    uint32_t priority_levels = 1;
    uint32_t default_priority = 1;  // 1 is the highest
    uint64_t default_timeout_us = 0;  // 0: none
    bool allow_timeout_override = true;
  };

  // Options from a model config (dynamic_batching block), with `max_queue_size` as the bound
  // when the config sets none.
  static Options OptionsFromConfig(const inference::ModelConfig& config, size_t max_queue_size);

  DynamicBatcher(Options options, std::shared_ptr<const inference::ModelConfig> config,
                 std::string version,
                 std::vector<std::unique_ptr<backends::ModelInstance>> instances,
                 ModelStats* stats, ModelMetrics metrics);
  ~DynamicBatcher();

  DynamicBatcher(const DynamicBatcher&) = delete;
  DynamicBatcher& operator=(const DynamicBatcher&) = delete;

  // Queues a request; Unavailable when the queue is full or the batcher is stopping (the
  // callback is then not called). Never blocks on execution.
  absl::Status Enqueue(std::unique_ptr<QueuedRequest> request);

  // Stops accepting, runs what is queued, then joins the executors. Idempotent.
  void Stop();

  // Runs one batch synchronously on instance 0, bypassing the queue and every statistic
  // (model warm-up).
  absl::Status RunDirect(std::vector<std::unique_ptr<QueuedRequest>> batch);

 private:
  using Batch = std::vector<std::unique_ptr<QueuedRequest>>;
  struct Scratch {
    std::vector<std::vector<char>> gathered;
    std::vector<std::vector<int64_t>> shapes;
  };

  void ExecutorLoop(size_t instance_index);
  // Under mu_: returns a batch ready to run, or an empty one with `*wait_until` set.
  Batch TakeBatch(Clock::time_point now, Clock::time_point* wait_until, Batch* expired);
  // `counted`: false for warm-up batches, which no statistic or metric sees.
  void Execute(backends::ModelInstance& instance, Batch& batch, Scratch& scratch,
               bool counted = true);
  void Fail(Batch& batch, const absl::Status& status, bool counted = true);
  size_t QueueIndex(uint32_t priority) const;

  const Options options_;
  const std::shared_ptr<const inference::ModelConfig> config_;
  const std::string version_;
  std::vector<std::unique_ptr<backends::ModelInstance>> instances_;
  ModelStats* const stats_;
  const ModelMetrics metrics_;

  std::mutex mu_;
  std::condition_variable cv_;
  std::vector<std::deque<std::unique_ptr<QueuedRequest>>> queues_;  // guarded by mu_
  size_t queued_ = 0;       // guarded by mu_
  // How long a batch takes to run, a moving average (microseconds; 0 until one ran): with the
  // queue's length it says how long a new request would wait, so that one that would outwait
  // its deadline is refused at once (admission by queue time) instead of timing out later.
  std::atomic<int64_t> batch_us_{0};
  bool stopping_ = false;   // guarded by mu_
  std::vector<std::thread> executors_;
};

// Builds the response for one request from the batch outputs (rows [row_offset, +rows)).
// With `take`, the request is the batch's only one and its outputs are moved, not copied.
absl::StatusOr<protocol::InferResponse> ScatterResponse(
    const protocol::InferRequest& request, std::vector<protocol::OutputTensor>& outputs,
    bool batched, int64_t total_rows, int64_t row_offset, int64_t rows,
    const std::string& version, bool take = false);

}  // namespace berth::worker
