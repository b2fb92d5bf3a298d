// Per model-version statistics in the shape of Triton's statistics extension
// (GET /v2/models/{m}/stats, the ModelStatistics RPC). Thread-safe.
#pragma once

#include <cstdint>
#include <map>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "grpc_service.pb.h"

namespace berth::worker {

class ModelStats {
 public:
  // One request answered: its time from arrival, in the queue, and the compute phases of the
  // batch it ran in (each request of a batch counts the batch's durations, as Triton does).
  void RecordSuccess(uint64_t request_ns, uint64_t queue_ns, uint64_t input_ns,
                     uint64_t infer_ns, uint64_t output_ns);
  void RecordFailure(uint64_t request_ns);
  // One executed batch of `rows` inferences (inference and execution counts, batch_stats).
  void RecordExecution(uint64_t rows, uint64_t input_ns, uint64_t infer_ns, uint64_t output_ns);
  void Fill(inference::ModelStatistics* out) const;

 private:
  struct Duration {
    uint64_t count = 0;
    uint64_t ns = 0;
    void Add(uint64_t d) { ++count; ns += d; }
  };
  struct BatchDurations {
    Duration input, infer, output;
  };
  mutable absl::Mutex mu_;
  Duration success_ ABSL_GUARDED_BY(mu_), fail_ ABSL_GUARDED_BY(mu_);
  Duration queue_ ABSL_GUARDED_BY(mu_), compute_input_ ABSL_GUARDED_BY(mu_);
  Duration compute_infer_ ABSL_GUARDED_BY(mu_), compute_output_ ABSL_GUARDED_BY(mu_);
  uint64_t inference_count_ ABSL_GUARDED_BY(mu_) = 0;
  uint64_t execution_count_ ABSL_GUARDED_BY(mu_) = 0;
  uint64_t last_inference_ms_ ABSL_GUARDED_BY(mu_) = 0;
  std::map<uint64_t, BatchDurations> batches_ ABSL_GUARDED_BY(mu_);
};

}  // namespace berth::worker
