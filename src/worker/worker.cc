#include "worker/worker.h"

#include <sched.h>

#include <algorithm>
#include <boost/asio/post.hpp>
#include <thread>

#include "common/strings.h"
#include "backends/onnx/onnx_backend.h"
#include "common/status_macros.h"
#include "common/version.h"
#include "spdlog/spdlog.h"
#include "worker/classification.h"
#include "worker/image_classifier.h"
#include "worker/request_validator.h"

namespace berth::worker {

std::string ServerVersion() { return kVersion; }

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

int AvailableCpus() {
  cpu_set_t set;
  CPU_ZERO(&set);
  if (sched_getaffinity(0, sizeof(set), &set) == 0) return std::max(1, CPU_COUNT(&set));
  return std::max(1u, std::thread::hardware_concurrency());
}

Worker::Worker(const WorkerOptions& options)
    : options_(options),
      preprocess_pool_(static_cast<size_t>(options.preprocess_threads > 0
                                               ? options.preprocess_threads
                                               : std::min(16, AvailableCpus()))),
      fetcher_(options.fetch_limits) {}

absl::StatusOr<std::unique_ptr<Worker>> Worker::Create(const WorkerOptions& options) {
  std::unique_ptr<Worker> worker(new Worker(options));
  net::GetOptions& get = worker->image_fetch_;
  get.policy = &worker->options_.fetch_policy;
  get.trusted_prefixes = options.fetch_trusted_prefixes;
  get.max_bytes = options.max_image_bytes;
  get.total_timeout = std::chrono::milliseconds(options.image_fetch_timeout_ms);
  get.connect_timeout = std::min(get.connect_timeout, get.total_timeout);
  get.content_types = {"image/", "application/octet-stream", "binary/octet-stream"};
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

namespace {

// The encoded images of a BYTES input, at least one and at most `max`.
absl::StatusOr<std::vector<std::string>> BytesElements(std::string_view data, size_t max) {
  ASSIGN_OR_RETURN(std::vector<std::string_view> elements, protocol::SplitBytesTensor(data));
  if (elements.empty()) return absl::InvalidArgumentError("the BYTES input holds no image");
  if (elements.size() > max) {
    return absl::InvalidArgumentError(
        StrCat("more than ", max, " images in one request; this model takes at most ", max));
  }
  return std::vector<std::string>(elements.begin(), elements.end());
}

constexpr int kBytesTopK = 5;

// The classifier's scores as three outputs: "label" (BYTES), "index" (INT64) and "score" (FP32),
// each [N, k], best first.
absl::StatusOr<protocol::InferResponse> ToClassification(protocol::InferResponse response,
                                                         size_t images,
                                                         const std::vector<std::string>& labels) {
  if (response.outputs.empty() || response.outputs[0].datatype != protocol::DataType::kFp32) {
    return absl::InternalError("the model did not return FP32 scores");
  }
  const auto& data = response.outputs[0].data;
  std::span<const float> scores(reinterpret_cast<const float*>(data.data()),
                                data.size() / sizeof(float));
  const nlohmann::json predictions = PredictionsJson(scores, images, kBytesTopK, labels, true);
  protocol::OutputTensor label{.name = "label", .datatype = protocol::DataType::kBytes};
  protocol::OutputTensor index{.name = "index", .datatype = protocol::DataType::kInt64};
  protocol::OutputTensor score{.name = "score", .datatype = protocol::DataType::kFp32};
  const int64_t k = predictions.empty() ? 0 : static_cast<int64_t>(predictions[0].size());
  for (const auto& row : predictions) {
    for (const auto& p : row) {
      protocol::AppendBytesElement(p["label"].get<std::string>(), &label.data);
      const int64_t i = p["index"].get<int64_t>();
      const float v = p["score"].get<float>();
      index.data.insert(index.data.end(), reinterpret_cast<const char*>(&i),
                        reinterpret_cast<const char*>(&i) + sizeof(i));
      score.data.insert(score.data.end(), reinterpret_cast<const char*>(&v),
                        reinterpret_cast<const char*>(&v) + sizeof(v));
    }
  }
  for (auto* t : {&label, &index, &score}) t->shape = {static_cast<int64_t>(images), k};
  response.outputs = {std::move(label), std::move(index), std::move(score)};
  return response;
}

}  // namespace

absl::Status Worker::SharedMemoryOff() const {
  if (options_.shared_memory) return absl::OkStatus();
  return absl::FailedPreconditionError(
      "this worker serves no shared memory (it runs as a replica behind berth's gateway, or "
      "with --shared-memory none): send tensors in the request (JSON data, binary data or raw "
      "contents)");
}

absl::Status Worker::ResolveSharedMemory(QueuedRequest* request) {
  std::vector<protocol::RequestedOutput> to_write;
  for (const auto& output : request->request.outputs) {
    if (output.shared_memory) to_write.push_back(output);
  }
  bool any_input = false;
  for (const auto& input : request->request.inputs) any_input |= input.shared_memory.has_value();
  if (!any_input && to_write.empty()) return absl::OkStatus();
  if (absl::Status off = SharedMemoryOff(); !off.ok()) {
    return absl::FailedPreconditionError(StrCat("the request names a shared-memory region, but ",
                                                off.message()));
  }
  for (auto& input : request->request.inputs) {
    if (!input.shared_memory) continue;
    ASSIGN_OR_RETURN(std::vector<char> bytes, shared_memory_.Read(*input.shared_memory,
                                                                  input.name));
    input.SetOwned(std::move(bytes));
  }
  if (to_write.empty()) return absl::OkStatus();
  // Outputs are written where the request asked, from the executor thread that produced
  // them, before the answer (which then carries no data for them) goes out.
  request->done = [done = std::move(request->done), to_write = std::move(to_write),
                   manager = &shared_memory_](absl::StatusOr<protocol::InferResponse> result) {
    if (result.ok()) {
      for (auto& output : result->outputs) {
        auto it = std::find_if(to_write.begin(), to_write.end(),
                               [&](const auto& wanted) { return wanted.name == output.name; });
        if (it == to_write.end()) continue;
        if (absl::Status written = manager->Write(*it->shared_memory, output.name, output.data);
            !written.ok()) {
          return done(written);
        }
        output.shared_memory = *it->shared_memory;
        output.shared_memory->byte_size = output.data.size();
        output.data.clear();
        output.data.shrink_to_fit();
      }
    }
    done(std::move(result));
  };
  return absl::OkStatus();
}

namespace {

// Outputs asked for as classifications are ranked once the model produced them, before
// anything else (a shared-memory write) sees them.
void WrapClassification(const std::shared_ptr<ModelVersion>& model, QueuedRequest* request) {
  std::vector<std::pair<std::string, uint32_t>> wanted;
  for (const auto& output : request->request.outputs) {
    if (output.classification > 0) wanted.emplace_back(output.name, output.classification);
  }
  if (wanted.empty()) return;
  request->done = [done = std::move(request->done), wanted = std::move(wanted),
                   model](absl::StatusOr<protocol::InferResponse> result) {
    if (result.ok()) {
      const inference::ModelConfig& config = model->config();
      const bool batched = config.max_batch_size() > 0;
      for (auto& output : result->outputs) {
        auto it = std::find_if(wanted.begin(), wanted.end(),
                               [&](const auto& w) { return w.first == output.name; });
        if (it == wanted.end()) continue;
        // The model's labels are its first output's label file (where its config names one).
        bool labelled = false;
        for (const auto& configured : config.output()) {
          if (configured.name() == output.name) labelled = !configured.label_filename().empty();
        }
        static const std::vector<std::string> kNoLabels;
        absl::StatusOr<protocol::OutputTensor> classes =
            Classify(output, it->second, batched, labelled ? model->labels() : kNoLabels);
        if (!classes.ok()) return done(classes.status());
        output = *std::move(classes);
      }
    }
    done(std::move(result));
  };
}

}  // namespace

absl::Status Worker::Infer(std::unique_ptr<QueuedRequest> request) {
  ASSIGN_OR_RETURN(std::shared_ptr<ModelVersion> model,
                   repository_->Get(request->request.model_name, request->request.model_version));
  RETURN_IF_ERROR(ResolveSharedMemory(request.get()));
  WrapClassification(model, request.get());
  const auto& inputs = request->request.inputs;
  if (inputs.size() == 1 && inputs[0].datatype == protocol::DataType::kBytes) {
    if (auto spec = ClassifierSpecFromConfig(model->config()); spec.ok()) {
      // Encoded images for an image classifier (the gRPC and V2 form of /classify). Decoding
      // is CPU work: the pre-processing pool does it, not the caller's thread (an event loop).
      boost::asio::post(preprocess_pool_, [this, model = std::move(model), spec = *std::move(spec),
                                           request = std::move(request)]() mutable {
        const InferCallback done = request->done;
        absl::Status status = ToClassifierInput(model, spec, request.get());
        if (status.ok()) status = Enqueue(std::move(model), std::move(request));
        if (!status.ok()) done(status);
      });
      return absl::OkStatus();
    }
  }
  return Enqueue(std::move(model), std::move(request));
}

absl::Status Worker::ToClassifierInput(const std::shared_ptr<ModelVersion>& model,
                                       const ClassifierSpec& spec, QueuedRequest* request) {
  const auto& config = model->config();
  const size_t max = config.max_batch_size() > 0 ? config.max_batch_size() : 1;
  ASSIGN_OR_RETURN(std::vector<std::string> images,
                   BytesElements(request->request.inputs[0].data, max));
  ASSIGN_OR_RETURN(std::vector<char> tensor, ImagesToBatch(images, spec));
  protocol::InputTensor input;
  input.name = spec.input_name;
  input.datatype = protocol::DataType::kFp32;
  if (config.max_batch_size() > 0) input.shape.push_back(static_cast<int64_t>(images.size()));
  for (int64_t d : config.input(0).dims()) input.shape.push_back(d);
  input.SetOwned(std::move(tensor));
  request->request.inputs.clear();
  request->request.inputs.push_back(std::move(input));
  request->request.outputs.clear();
  request->done = [done = std::move(request->done), count = images.size(),
                   model](absl::StatusOr<protocol::InferResponse> result) {
    if (!result.ok()) return done(std::move(result));
    done(ToClassification(*std::move(result), count, model->labels()));
  };
  return absl::OkStatus();
}

absl::Status Worker::Enqueue(std::shared_ptr<ModelVersion> model,
                             std::unique_ptr<QueuedRequest> request) {
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
          {"extensions", options_.shared_memory
                             ? nlohmann::json{"classification", "binary_tensor_data",
                                              "model_repository", "model_configuration",
                                              "statistics", "schedule_policy", "parameters",
                                              "system_shared_memory"}
                             : nlohmann::json{"classification", "binary_tensor_data",
                                              "model_repository", "model_configuration",
                                              "statistics", "schedule_policy", "parameters"}}};
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
