// Prometheus metrics of a worker (prometheus-cpp registry, text exposition at /metrics).
// Thread-safe: prometheus-cpp counters and histograms may be updated from any thread.
#pragma once

#include <memory>
#include <string>

#include "prometheus/counter.h"
#include "prometheus/family.h"
#include "prometheus/gauge.h"
#include "prometheus/histogram.h"
#include "prometheus/registry.h"

namespace berth::worker {

// The series of one model version; pointers stay valid for the registry's lifetime.
struct ModelMetrics {
  prometheus::Counter* success = nullptr;
  prometheus::Counter* failure = nullptr;
  prometheus::Counter* rejected_queue_full = nullptr;
  prometheus::Counter* rejected_timeout = nullptr;
  prometheus::Counter* rejected_queue_time = nullptr;  // would outwait its deadline
  prometheus::Counter* inferences = nullptr;  // batch rows, summed
  prometheus::Counter* executions = nullptr;
  prometheus::Histogram* request_seconds = nullptr;
  prometheus::Histogram* queue_seconds = nullptr;
  prometheus::Histogram* compute_seconds = nullptr;
  prometheus::Histogram* batch_size = nullptr;
  prometheus::Gauge* in_flight = nullptr;
  prometheus::Gauge* queue_depth = nullptr;
};

class WorkerMetrics {
 public:
  WorkerMetrics();

  ModelMetrics ForModel(const std::string& model, const std::string& version);
  // Sets berth_model_state{model,version,state} so that exactly `state` is 1.
  void SetModelState(const std::string& model, const std::string& version,
                     const std::string& state);
  // HTTP connections refused over --max-connections.
  prometheus::Counter& connections_rejected() { return connections_rejected_; }
  // The text exposition format (version 0.0.4).
  std::string Serialize() const;

 private:
  std::shared_ptr<prometheus::Registry> registry_;
  prometheus::Family<prometheus::Counter>& requests_;
  prometheus::Family<prometheus::Counter>& rejected_;
  prometheus::Family<prometheus::Counter>& inferences_;
  prometheus::Family<prometheus::Counter>& executions_;
  prometheus::Family<prometheus::Histogram>& request_seconds_;
  prometheus::Family<prometheus::Histogram>& queue_seconds_;
  prometheus::Family<prometheus::Histogram>& compute_seconds_;
  prometheus::Family<prometheus::Histogram>& batch_size_;
  prometheus::Family<prometheus::Gauge>& in_flight_;
  prometheus::Family<prometheus::Gauge>& queue_depth_;
  prometheus::Family<prometheus::Gauge>& model_state_;
  prometheus::Counter& connections_rejected_;
};

}  // namespace berth::worker
