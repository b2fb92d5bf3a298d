#include "worker/model_stats.h"

#include <chrono>

namespace berth::worker {

void ModelStats::RecordSuccess(uint64_t request_ns, uint64_t queue_ns, uint64_t input_ns,
                               uint64_t infer_ns, uint64_t output_ns) {
  absl::MutexLock lock(&mu_);
  success_.Add(request_ns);
  queue_.Add(queue_ns);
  compute_input_.Add(input_ns);
  compute_infer_.Add(infer_ns);
  compute_output_.Add(output_ns);
  last_inference_ms_ = std::chrono::duration_cast<std::chrono::milliseconds>(
                           std::chrono::system_clock::now().time_since_epoch())
                           .count();
}

void ModelStats::RecordFailure(uint64_t request_ns) {
  absl::MutexLock lock(&mu_);
  fail_.Add(request_ns);
}

void ModelStats::RecordExecution(uint64_t rows, uint64_t input_ns, uint64_t infer_ns,
                                 uint64_t output_ns) {
  absl::MutexLock lock(&mu_);
  inference_count_ += rows;
  ++execution_count_;
  BatchDurations& b = batches_[rows];
  b.input.Add(input_ns);
  b.infer.Add(infer_ns);
  b.output.Add(output_ns);
}

void ModelStats::Fill(inference::ModelStatistics* out) const {
  auto set = [](const Duration& d, inference::StatisticDuration* s) {
    s->set_count(d.count);
    s->set_ns(d.ns);
  };
  absl::MutexLock lock(&mu_);
  out->set_last_inference(last_inference_ms_);
  out->set_inference_count(inference_count_);
  out->set_execution_count(execution_count_);
  auto* stats = out->mutable_inference_stats();
  set(success_, stats->mutable_success());
  set(fail_, stats->mutable_fail());
  set(queue_, stats->mutable_queue());
  set(compute_input_, stats->mutable_compute_input());
  set(compute_infer_, stats->mutable_compute_infer());
  set(compute_output_, stats->mutable_compute_output());
  // No response cache: present, and zero, for the tools that read them.
  set(Duration{}, stats->mutable_cache_hit());
  set(Duration{}, stats->mutable_cache_miss());
  for (const auto& [rows, b] : batches_) {
    auto* batch = out->add_batch_stats();
    batch->set_batch_size(rows);
    set(b.input, batch->mutable_compute_input());
    set(b.infer, batch->mutable_compute_infer());
    set(b.output, batch->mutable_compute_output());
  }
}

}  // namespace berth::worker
