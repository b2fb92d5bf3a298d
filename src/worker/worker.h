// The worker process: the model repository, metrics and control thread, plus the REST and
// gRPC front ends that share them. `Worker` is the transport-independent core the front ends
// call; it is thread-safe.
#pragma once

#include <condition_variable>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>

#include "absl/status/statusor.h"
#include "net/destination_policy.h"
#include "net/http_get.h"
#include "boost/asio/thread_pool.hpp"
#include "grpc_service.pb.h"
#include "nlohmann/json.hpp"
#include "worker/image_classifier.h"
#include "worker/metrics.h"
#include "worker/model_repository.h"
#include "worker/shared_memory.h"

namespace berth::worker {

struct WorkerOptions {
  std::string model_repository;
  std::string http_address = "127.0.0.1";
  int http_port = 8000;
  std::string grpc_address = "127.0.0.1";
  int grpc_port = 8001;
  int http_threads = 1;
  int max_connections = 1024;  // open HTTP connections; more are answered 503 and closed
  // Threads that decode images and parse large bodies off the event loop (0: one per CPU this
  // process may run on, at most 16).
  int preprocess_threads = 0;
  size_t max_request_bytes = 64u << 20;
  size_t max_queue_size = 1024;
  backends::BackendOptions backend;
  bool exit_on_error = false;  // fail to start when any model fails to load (replicas)
  bool load_all = true;  // false: start empty (explicit model control)
  std::vector<std::string> load_models;
  // Fetching of `image_url` inputs: where it may connect, and what it may download.
  net::DestinationPolicy fetch_policy;
  std::vector<std::string> fetch_trusted_prefixes;
  size_t max_image_bytes = 16u << 20;
  net::FetchLimits fetch_limits;
  // Take the gateway's Berth-Caller header as the caller of a request (replicas); otherwise
  // the caller is the peer's address.
  bool trust_caller_header = false;
  int64_t image_fetch_timeout_ms = 10000;
  // Serve Triton's system shared-memory extension (a standalone worker); replicas behind the
  // gateway run without it, since their callers are not on this host's shared memory.
  bool shared_memory = true;
};

// Runs blocking control work (model loads) one job at a time, off the network threads.
class ControlQueue {
 public:
  ControlQueue();
  ~ControlQueue();
  void Post(std::function<void()> job);

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<std::function<void()>> jobs_;  // guarded by mu_
  bool stopping_ = false;                   // guarded by mu_
  std::thread thread_;
};

class Worker {
 public:
  static absl::StatusOr<std::unique_ptr<Worker>> Create(const WorkerOptions& options);
  ~Worker();

  const WorkerOptions& options() const { return options_; }
  ModelRepository& repository() { return *repository_; }
  WorkerMetrics& metrics() { return metrics_; }
  ControlQueue& control() { return control_; }
  // Threads for request pre-processing that is too heavy for an event loop (image decoding,
  // parsing of large bodies).
  boost::asio::thread_pool& preprocess_pool() { return preprocess_pool_; }
  // Downloads of image_url inputs (one thread, shares per caller and host), and how.
  net::Fetcher& fetcher() { return fetcher_; }
  // Registered system shared-memory regions; FailedPrecondition from SharedMemoryOff() when
  // the worker runs without them.
  SharedMemoryManager& shared_memory() { return shared_memory_; }
  absl::Status SharedMemoryOff() const;
  const net::GetOptions& image_fetch_options() const { return image_fetch_; }

  // Looks up, validates and queues a request. An error is returned at once (and `done` is
  // not called); otherwise `done` is called later from an executor thread.
  absl::Status Infer(std::unique_ptr<QueuedRequest> request);

  bool Ready() const;
  nlohmann::json ServerMetadataJson() const;
  absl::StatusOr<nlohmann::json> ModelMetadataJson(std::string_view name,
                                                   std::string_view version) const;
  absl::Status ModelMetadataProto(std::string_view name, std::string_view version,
                                  inference::ModelMetadataResponse* out) const;
  absl::Status StatisticsProto(std::string_view name, std::string_view version,
                               inference::ModelStatisticsResponse* out) const;
  absl::StatusOr<std::shared_ptr<const inference::ModelConfig>> Config(
      std::string_view name, std::string_view version) const;

 private:
  // Replaces a request's BYTES input of encoded images by the classifier's FP32 batch, and
  // its answer by labels.
  absl::Status ToClassifierInput(const std::shared_ptr<ModelVersion>& model,
                                 const ClassifierSpec& spec, QueuedRequest* request);
  // Reads the request's inputs that name shared-memory regions, and makes its answer write
  // the outputs that name one there.
  absl::Status ResolveSharedMemory(QueuedRequest* request);
  // Validates `request` against `model` and queues it.
  absl::Status Enqueue(std::shared_ptr<ModelVersion> model,
                       std::unique_ptr<QueuedRequest> request);

  explicit Worker(const WorkerOptions& options);

  WorkerOptions options_;
  WorkerMetrics metrics_;
  std::unique_ptr<ModelRepository> repository_;
  ControlQueue control_;
  boost::asio::thread_pool preprocess_pool_;
  net::Fetcher fetcher_;
  net::GetOptions image_fetch_;
  SharedMemoryManager shared_memory_;
};

inline constexpr char kServerName[] = "berth";
std::string ServerVersion();

// The number of CPUs this process may run on (its affinity mask), at least 1.
int AvailableCpus();

}  // namespace berth::worker
