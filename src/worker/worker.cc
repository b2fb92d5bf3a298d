#include "worker/worker.h"

#include "common/strings.h"
#include "backends/onnx/onnx_backend.h"
#include "common/status_macros.h"
#include "spdlog/spdlog.h"
#include "worker/request_validator.h"

namespace berth::worker {

std::string ServerVersion() { return "0.1.0"; }

ControlQueue::ControlQueue() {
  thread_ = std::thread([this] {
    std::unique_lock<std::mutex> lock(mu_);
    for (;;) {
      cv_.wait(lock, [&] { return stopping_ || !jobs_.empty(); });
      if (jobs_.empty()) return;
      auto job = std::move(jobs_.front());
      jobs_.pop_front();
      lock.unlock();
      job();
      lock.lock();
    }
  });
}

ControlQueue::~ControlQueue() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stopping_ = true;
  }
  cv_.notify_all();
  thread_.join();
}

void ControlQueue::Post(std::function<void()> job) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    jobs_.push_back(std::move(job));
  }
  cv_.notify_one();
}

absl::StatusOr<std::unique_ptr<Worker>> Worker::Create(const WorkerOptions& options) {
  std::unique_ptr<Worker> worker(new Worker(options));
  ModelRepository::Options repo_options;
  repo_options.root = options.model_repository;
  repo_options.backend = options.backend;
  repo_options.max_queue_size = options.max_queue_size;
  ASSIGN_OR_RETURN(worker->repository_,
                   ModelRepository::Create(std::move(repo_options), &worker->metrics_));
  if (options.load_all) {
    worker->repository_->LoadAll();
  } else {
    for (const auto& name : options.load_models) {
      absl::Status status = worker->repository_->Load(name);
      if (!status.ok()) spdlog::error("model '{}' did not load: {}", name, Msg(status));
    }
  }
  if (options.exit_on_error) {
    for (const IndexEntry& entry : worker->repository_->Index()) {
      if (entry.state != "READY") {
        return absl::FailedPreconditionError(
            StrCat("model '", entry.name, "' did not load: ",
                   entry.reason.empty() ? entry.state : entry.reason));
      }
    }
  }
  return worker;
}

Worker::~Worker() {
  if (repository_) repository_->UnloadAll();
}

bool Worker::Ready() const { return repository_ != nullptr; }

absl::Status Worker::Infer(std::unique_ptr<QueuedRequest> request) {
  ASSIGN_OR_RETURN(std::shared_ptr<ModelVersion> model,
                   repository_->Get(request->request.model_name, request->request.model_version));
  int64_t rows = 1;
  RETURN_IF_ERROR(ValidateRequest(model->config(), request->request, &rows));
  request->rows = rows;
  DynamicBatcher& batcher = model->batcher();
  // The version stays alive as long as the request, even if it is unloaded meanwhile.
  request->model = std::move(model);
  return batcher.Enqueue(std::move(request));
}

nlohmann::json Worker::ServerMetadataJson() const {
  return {{"name", kServerName},
          {"version", ServerVersion()},
          {"extensions",
           {"binary_tensor_data", "model_repository", "model_configuration", "statistics",
            "schedule_policy", "parameters"}}};
}

namespace {

template <typename Tensor>
nlohmann::json TensorJson(const Tensor& t, bool batched) {
  nlohmann::json shape = nlohmann::json::array();
  if (batched) shape.push_back(-1);
  for (int64_t d : t.dims()) shape.push_back(d);
  auto type = protocol::DataTypeFromConfigName(inference::DataType_Name(t.data_type()));
  return {{"name", t.name()},
          {"datatype", type ? protocol::DataTypeName(*type) : "INVALID"},
          {"shape", shape}};
}

template <typename Tensor, typename Out>
void TensorProto(const Tensor& t, bool batched, Out* out) {
  out->set_name(t.name());
  auto type = protocol::DataTypeFromConfigName(inference::DataType_Name(t.data_type()));
  out->set_datatype(std::string(type ? protocol::DataTypeName(*type) : "INVALID"));
  if (batched) out->add_shape(-1);
  for (int64_t d : t.dims()) out->add_shape(d);
}

}  // namespace

absl::StatusOr<nlohmann::json> Worker::ModelMetadataJson(std::string_view name,
                                                         std::string_view version) const {
  ASSIGN_OR_RETURN(auto model, repository_->Get(name, version));
  ASSIGN_OR_RETURN(auto versions, repository_->ReadyVersions(name));
  const auto& config = model->config();
  const bool batched = config.max_batch_size() > 0;
  nlohmann::json doc;
  doc["name"] = model->name();
  doc["versions"] = nlohmann::json::array();
  for (const auto& v : versions) doc["versions"].push_back(v->version_text());
  doc["platform"] = config.platform();
  doc["inputs"] = nlohmann::json::array();
  for (const auto& in : config.input()) doc["inputs"].push_back(TensorJson(in, batched));
  doc["outputs"] = nlohmann::json::array();
  for (const auto& out : config.output()) doc["outputs"].push_back(TensorJson(out, batched));
  if (!config.parameters().empty()) {
    nlohmann::json params = nlohmann::json::object();
    for (const auto& [key, value] : config.parameters()) params[key] = value.string_value();
    doc["parameters"] = params;
  }
  return doc;
}

absl::Status Worker::ModelMetadataProto(std::string_view name, std::string_view version,
                                        inference::ModelMetadataResponse* out) const {
  ASSIGN_OR_RETURN(auto model, repository_->Get(name, version));
  ASSIGN_OR_RETURN(auto versions, repository_->ReadyVersions(name));
  const auto& config = model->config();
  const bool batched = config.max_batch_size() > 0;
  out->set_name(model->name());
  for (const auto& v : versions) out->add_versions(v->version_text());
  out->set_platform(config.platform());
  for (const auto& in : config.input()) TensorProto(in, batched, out->add_inputs());
  for (const auto& o : config.output()) TensorProto(o, batched, out->add_outputs());
  return absl::OkStatus();
}

absl::Status Worker::StatisticsProto(std::string_view name, std::string_view version,
                                     inference::ModelStatisticsResponse* out) const {
  std::vector<std::shared_ptr<ModelVersion>> models;
  if (name.empty()) {
    models = repository_->AllReady();
  } else if (version.empty()) {
    ASSIGN_OR_RETURN(models, repository_->ReadyVersions(name));
  } else {
    ASSIGN_OR_RETURN(auto model, repository_->Get(name, version));
    models.push_back(model);
  }
  for (const auto& model : models) {
    auto* stats = out->add_model_stats();
    stats->set_name(model->name());
    stats->set_version(model->version_text());
    model->stats().Fill(stats);
  }
  return absl::OkStatus();
}

absl::StatusOr<std::shared_ptr<const inference::ModelConfig>> Worker::Config(
    std::string_view name, std::string_view version) const {
  if (!version.empty()) {
    ASSIGN_OR_RETURN(auto model, repository_->Get(name, version));
    return model->shared_config();
  }
  return repository_->Config(name);
}

}  // namespace berth::worker
