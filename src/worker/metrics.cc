#include "worker/metrics.h"

#include "prometheus/text_serializer.h"

namespace berth::worker {
namespace {

const prometheus::Histogram::BucketBoundaries& LatencyBuckets() {
  static const auto* buckets = new prometheus::Histogram::BucketBoundaries{
      0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025,
      0.05,   0.1,     0.25,   0.5,   1.0,    2.5,   5.0,  10.0};
  return *buckets;
}

const prometheus::Histogram::BucketBoundaries& BatchBuckets() {
  static const auto* buckets = new prometheus::Histogram::BucketBoundaries{
      1, 2, 4, 8, 16, 32, 64, 128, 256};
  return *buckets;
}

}  // namespace

WorkerMetrics::WorkerMetrics()
    : registry_(std::make_shared<prometheus::Registry>()),
      requests_(prometheus::BuildCounter()
                    .Name("berth_inference_requests_total")
                    .Help("Inference requests answered, by outcome")
                    .Register(*registry_)),
      rejected_(prometheus::BuildCounter()
                    .Name("berth_inference_rejected_total")
                    .Help("Inference requests refused before execution, by reason")
                    .Register(*registry_)),
      inferences_(prometheus::BuildCounter()
                      .Name("berth_inference_count_total")
                      .Help("Inferences run (batch rows), summed over executions")
                      .Register(*registry_)),
      executions_(prometheus::BuildCounter()
                      .Name("berth_inference_executions_total")
                      .Help("Model executions (batches) run")
                      .Register(*registry_)),
      request_seconds_(prometheus::BuildHistogram()
                           .Name("berth_inference_request_duration_seconds")
                           .Help("Time from a request's arrival in the worker to its answer")
                           .Register(*registry_)),
      queue_seconds_(prometheus::BuildHistogram()
                         .Name("berth_inference_queue_duration_seconds")
                         .Help("Time requests wait in the batcher's queue")
                         .Register(*registry_)),
      compute_seconds_(prometheus::BuildHistogram()
                           .Name("berth_inference_compute_duration_seconds")
                           .Help("Time the engine spends on one batch")
                           .Register(*registry_)),
      batch_size_(prometheus::BuildHistogram()
                      .Name("berth_inference_batch_size")
                      .Help("Rows per executed batch")
                      .Register(*registry_)),
      in_flight_(prometheus::BuildGauge()
                     .Name("berth_inference_in_flight_requests")
                     .Help("Requests accepted and not yet answered")
                     .Register(*registry_)),
      queue_depth_(prometheus::BuildGauge()
                       .Name("berth_inference_queue_depth")
                       .Help("Requests waiting in the batcher's queue")
                       .Register(*registry_)),
      model_state_(prometheus::BuildGauge()
                       .Name("berth_model_state")
                       .Help("1 for the model version's current state, 0 for the others")
                       .Register(*registry_)),
      connections_rejected_(prometheus::BuildCounter()
                                .Name("berth_http_connections_rejected_total")
                                .Help("HTTP connections refused because --max-connections were open")
                                .Register(*registry_)
                                .Add({})) {}

ModelMetrics WorkerMetrics::ForModel(const std::string& model, const std::string& version) {
  const prometheus::Labels labels{{"model", model}, {"version", version}};
  auto with = [&](const char* key, const char* value) {
    prometheus::Labels l = labels;
    l.emplace(key, value);
    return l;
  };
  ModelMetrics m;
  m.success = &requests_.Add(with("outcome", "success"));
  m.failure = &requests_.Add(with("outcome", "failure"));
  m.rejected_queue_full = &rejected_.Add(with("reason", "queue_full"));
  m.rejected_timeout = &rejected_.Add(with("reason", "timeout"));
  m.rejected_queue_time = &rejected_.Add(with("reason", "queue_time"));
  m.inferences = &inferences_.Add(labels);
  m.executions = &executions_.Add(labels);
  m.request_seconds = &request_seconds_.Add(labels, LatencyBuckets());
  m.queue_seconds = &queue_seconds_.Add(labels, LatencyBuckets());
  m.compute_seconds = &compute_seconds_.Add(labels, LatencyBuckets());
  m.batch_size = &batch_size_.Add(labels, BatchBuckets());
  m.in_flight = &in_flight_.Add(labels);
  m.queue_depth = &queue_depth_.Add(labels);
  return m;
}

void WorkerMetrics::SetModelState(const std::string& model, const std::string& version,
                                  const std::string& state) {
  for (const char* s : {"LOADING", "READY", "UNLOADING", "UNAVAILABLE"}) {
    model_state_.Add({{"model", model}, {"version", version}, {"state", s}})
        .Set(state == s ? 1.0 : 0.0);
  }
}

std::string WorkerMetrics::Serialize() const {
  return prometheus::TextSerializer().Serialize(registry_->Collect());
}

}  // namespace berth::worker
