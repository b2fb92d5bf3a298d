#include "worker/dynamic_batcher.h"

#include <algorithm>
#include <cstring>

#include "common/status_macros.h"
#include "common/strings.h"
#include "protocol/infer.h"
#include "spdlog/spdlog.h"

namespace berth::worker {
namespace {

uint64_t Nanos(Clock::duration d) {
  return static_cast<uint64_t>(std::chrono::duration_cast<std::chrono::nanoseconds>(d).count());
}

double Seconds(Clock::duration d) { return std::chrono::duration<double>(d).count(); }

// True when two requests can share a batch: same inputs with the same non-batch dims.
bool Compatible(const protocol::InferRequest& a, const protocol::InferRequest& b) {
  if (a.inputs.size() != b.inputs.size()) return false;
  for (size_t i = 0; i < a.inputs.size(); ++i) {
    const auto& x = a.inputs[i];
    const protocol::InputTensor* y = &b.inputs[i];
    if (y->name != x.name) {  // inputs may come in another order
      y = nullptr;
      for (const auto& candidate : b.inputs) {
        if (candidate.name == x.name) y = &candidate;
      }
      if (y == nullptr) return false;
    }
    if (x.shape.size() != y->shape.size()) return false;
    if (!std::equal(x.shape.begin() + 1, x.shape.end(), y->shape.begin() + 1)) return false;
  }
  return true;
}

const protocol::InputTensor* FindInput(const protocol::InferRequest& request,
                                       const std::string& name) {
  for (const auto& input : request.inputs) {
    if (input.name == name) return &input;
  }
  return nullptr;
}

}  // namespace

DynamicBatcher::Options DynamicBatcher::OptionsFromConfig(const inference::ModelConfig& config,
                                                          size_t max_queue_size) {
  Options options;
  options.max_batch_size = config.max_batch_size();
  options.batching = config.max_batch_size() > 0 && config.has_dynamic_batching();
  options.max_queue_size = max_queue_size;
  if (config.has_dynamic_batching()) {
    const auto& db = config.dynamic_batching();
    options.preferred_batch_sizes.assign(db.preferred_batch_size().begin(),
                                         db.preferred_batch_size().end());
    std::sort(options.preferred_batch_sizes.begin(), options.preferred_batch_sizes.end());
    options.max_queue_delay = std::chrono::microseconds(db.max_queue_delay_microseconds());
    options.priority_levels = std::max<uint32_t>(1, static_cast<uint32_t>(db.priority_levels()));
    options.default_priority =
        db.default_priority_level() > 0 ? static_cast<uint32_t>(db.default_priority_level())
                                        : (options.priority_levels + 1) / 2;
    if (db.has_default_queue_policy()) {
      const auto& policy = db.default_queue_policy();
      options.default_timeout_us = policy.default_timeout_microseconds();
      options.allow_timeout_override = policy.allow_timeout_override();
      if (policy.max_queue_size() > 0) {
        options.max_queue_size = static_cast<size_t>(policy.max_queue_size());
      }
    }
  }
  return options;
}

DynamicBatcher::DynamicBatcher(Options options,
                               std::shared_ptr<const inference::ModelConfig> config,
                               std::string version,
                               std::vector<std::unique_ptr<backends::ModelInstance>> instances,
                               ModelStats* stats, ModelMetrics metrics)
    : options_(std::move(options)),
      config_(std::move(config)),
      version_(std::move(version)),
      instances_(std::move(instances)),
      stats_(stats),
      metrics_(metrics),
      queues_(std::max<uint32_t>(1, options_.priority_levels)) {
  for (size_t i = 0; i < instances_.size(); ++i) {
    executors_.emplace_back([this, i] { ExecutorLoop(i); });
  }
}

DynamicBatcher::~DynamicBatcher() { Stop(); }

size_t DynamicBatcher::QueueIndex(uint32_t priority) const {
  uint32_t level = priority == 0 ? options_.default_priority : priority;
  level = std::clamp<uint32_t>(level, 1, static_cast<uint32_t>(queues_.size()));
  return level - 1;
}

absl::Status DynamicBatcher::Enqueue(std::unique_ptr<QueuedRequest> request) {
  request->enqueued = Clock::now();
  uint64_t timeout = options_.default_timeout_us;
  if (options_.allow_timeout_override && request->request.timeout_us > 0) {
    // A caller's timeout is clamped, so that a huge value cannot overflow into the past.
    timeout = std::min(request->request.timeout_us, kMaxRequestTimeoutUs);
  }
  if (timeout > 0) request->deadline = request->enqueued + std::chrono::microseconds(timeout);
  if (request->budget_us > 0) {
    const Clock::time_point by =
        request->arrival + std::chrono::microseconds(std::min(request->budget_us,
                                                              kMaxRequestTimeoutUs));
    request->deadline = std::min(request->deadline, by);
  }
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (stopping_) {
      return absl::UnavailableError(
          StrCat("model '", config_->name(), "' is unloading; retry later"));
    }
    if (queued_ >= options_.max_queue_size) {
      metrics_.rejected_queue_full->Increment();
      return absl::UnavailableError(StrCat("the queue of model '", config_->name(),
                                                 "' is full (", options_.max_queue_size,
                                                 " requests); retry later"));
    }
    // Admission by queue time: the batches queued ahead of it, shared by the instances (its
    // deadline bounds its wait in the queue, not its own run).
    const int64_t batch_us = batch_us_.load(std::memory_order_relaxed);
    if (request->deadline != Clock::time_point::max() && batch_us > 0 && queued_ > 0) {
      const int64_t per_batch = options_.batching ? std::max(options_.max_batch_size, 1) : 1;
      const auto instances = static_cast<int64_t>(std::max<size_t>(instances_.size(), 1));
      const int64_t batches = (static_cast<int64_t>(queued_) + per_batch - 1) / per_batch;
      const auto wait = std::chrono::microseconds((batches + instances - 1) / instances * batch_us);
      if (request->enqueued + wait > request->deadline) {
        metrics_.rejected_queue_time->Increment();
        return absl::UnavailableError(StrCat(
            "model '", config_->name(), "' would keep this request about ",
            std::chrono::duration_cast<std::chrono::milliseconds>(wait).count(),
            " ms in its queue (", queued_, " ahead), past its deadline; retry shortly"));
      }
    }
    queues_[QueueIndex(request->request.priority)].push_back(std::move(request));
    ++queued_;
    metrics_.queue_depth->Set(static_cast<double>(queued_));
  }
  metrics_.in_flight->Increment();
  cv_.notify_one();
  return absl::OkStatus();
}

void DynamicBatcher::Stop() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (stopping_ && executors_.empty()) return;
    stopping_ = true;
  }
  cv_.notify_all();
  for (auto& t : executors_) {
    if (t.joinable()) t.join();
  }
  executors_.clear();
}

DynamicBatcher::Batch DynamicBatcher::TakeBatch(Clock::time_point now,
                                                Clock::time_point* wait_until, Batch* expired) {
  // Drop requests whose deadline passed: they are answered, never run.
  for (auto& queue : queues_) {
    for (auto it = queue.begin(); it != queue.end();) {
      if ((*it)->deadline <= now) {
        expired->push_back(std::move(*it));
        it = queue.erase(it);
        --queued_;
      } else {
        ++it;
      }
    }
  }
  Batch batch;
  if (queued_ == 0) return batch;
  const bool batching = options_.batching;
  // Walk the queues in priority order, FIFO within a level, while requests fit.
  int64_t rows = 0;
  size_t taken_requests = 0;
  const QueuedRequest* first = nullptr;
  Clock::time_point oldest = Clock::time_point::max();
  bool stopped_early = false;
  for (auto& queue : queues_) {
    for (auto& request : queue) {
      if (first == nullptr) {
        first = request.get();
      } else if (!batching || rows + request->rows > options_.max_batch_size ||
                 !Compatible(first->request, request->request)) {
        stopped_early = true;
        break;
      }
      rows += request->rows;
      oldest = std::min(oldest, request->enqueued);
      ++taken_requests;
      if (!batching) break;
    }
    if (stopped_early || (!batching && taken_requests > 0)) break;
  }
  bool ready = !batching || stopping_ || stopped_early || rows >= options_.max_batch_size ||
               options_.max_queue_delay.count() == 0;
  if (!ready && !options_.preferred_batch_sizes.empty() &&
      rows == options_.preferred_batch_sizes.back()) {
    ready = true;
  }
  if (!ready) {
    const Clock::time_point due = oldest + options_.max_queue_delay;
    if (now < due) {
      *wait_until = due;
      return batch;
    }
  }
  for (auto& queue : queues_) {
    while (taken_requests > 0 && !queue.empty()) {
      batch.push_back(std::move(queue.front()));
      queue.pop_front();
      --taken_requests;
      --queued_;
    }
  }
  return batch;
}

void DynamicBatcher::ExecutorLoop(size_t instance_index) {
  backends::ModelInstance& instance = *instances_[instance_index];
  Scratch scratch;
  std::unique_lock<std::mutex> lock(mu_);
  for (;;) {
    cv_.wait(lock, [&] { return stopping_ || queued_ > 0; });
    if (queued_ == 0 && stopping_) return;
    Clock::time_point wait_until = Clock::time_point::max();
    Batch expired;
    Batch batch = TakeBatch(Clock::now(), &wait_until, &expired);
    metrics_.queue_depth->Set(static_cast<double>(queued_));
    if (batch.empty() && expired.empty()) {
      // Not ready: wait for more requests or for the oldest request's delay to run out.
      cv_.wait_until(lock, wait_until);
      continue;
    }
    // Another executor may be able to form a batch from what remains.
    if (queued_ > 0) cv_.notify_one();
    lock.unlock();
    if (!expired.empty()) {
      metrics_.rejected_timeout->Increment(static_cast<double>(expired.size()));
      Fail(expired, absl::DeadlineExceededError(StrCat(
                        "the request waited longer than its timeout in the queue of model '",
                        config_->name(), "' and was not run")));
    }
    if (!batch.empty()) {
      const auto started = Clock::now();
      Execute(instance, batch, scratch);
      const int64_t took = std::chrono::duration_cast<std::chrono::microseconds>(
                               Clock::now() - started)
                               .count();
      // A moving average over about the last eight batches.
      const int64_t before = batch_us_.load(std::memory_order_relaxed);
      batch_us_.store(before == 0 ? took : before + (took - before) / 8,
                      std::memory_order_relaxed);
    }
    lock.lock();
  }
}

absl::Status DynamicBatcher::RunDirect(Batch batch) {
  Scratch scratch;
  absl::Status result;
  for (auto& request : batch) {
    auto done = std::move(request->done);
    request->done = [&result, done](absl::StatusOr<protocol::InferResponse> response) {
      if (!response.ok() && result.ok()) result = response.status();
      if (done) done(std::move(response));
    };
  }
  Execute(*instances_[0], batch, scratch, /*counted=*/false);
  return result;
}

void DynamicBatcher::Fail(Batch& batch, const absl::Status& status, bool counted) {
  const Clock::time_point now = Clock::now();
  for (auto& request : batch) {
    if (!counted) {
      request->done(status);
      continue;
    }
    const auto elapsed = now - request->arrival;
    stats_->RecordFailure(Nanos(elapsed));
    metrics_.failure->Increment();
    metrics_.request_seconds->Observe(Seconds(elapsed));
    metrics_.in_flight->Decrement();
    request->done(status);
  }
}

void DynamicBatcher::Execute(backends::ModelInstance& instance, Batch& batch, Scratch& scratch,
                             bool counted) {
  const Clock::time_point start = Clock::now();
  const bool batched = config_->max_batch_size() > 0;
  int64_t total_rows = 0;
  for (const auto& request : batch) total_rows += request->rows;

  // Gather: a single request is passed through without a copy; several are concatenated
  // along the batch dimension into per-executor buffers that are reused across batches.
  const int input_count = config_->input_size();
  scratch.gathered.resize(input_count);
  scratch.shapes.resize(input_count);
  std::vector<backends::TensorView> views;
  views.reserve(input_count);
  for (int i = 0; i < input_count; ++i) {
    const std::string& name = config_->input(i).name();
    const protocol::InputTensor* head = FindInput(batch.front()->request, name);
    if (head == nullptr) {
      Fail(batch, absl::InternalError("validated request lost input '" + name + "'"), counted);
      return;
    }
    if (batch.size() == 1) {
      views.push_back({name, head->datatype, head->shape, head->data});
      continue;
    }
    auto& buffer = scratch.gathered[i];
    buffer.clear();
    for (const auto& request : batch) {
      const protocol::InputTensor* input = FindInput(request->request, name);
      buffer.insert(buffer.end(), input->data.begin(), input->data.end());
    }
    auto& shape = scratch.shapes[i];
    shape.assign(head->shape.begin(), head->shape.end());
    shape[0] = total_rows;
    views.push_back({name, head->datatype, shape, std::string_view(buffer.data(), buffer.size())});
  }
  const Clock::time_point gathered = Clock::now();
  absl::StatusOr<std::vector<protocol::OutputTensor>> outputs = instance.Execute(views);
  const Clock::time_point computed = Clock::now();
  if (!outputs.ok()) {
    spdlog::error("model '{}' version {} failed a batch of {} requests: {}", config_->name(),
                  version_, batch.size(), Msg(outputs.status()));
    Fail(batch, outputs.status(), counted);
    return;
  }
  int64_t offset = 0;
  std::vector<absl::StatusOr<protocol::InferResponse>> responses;
  responses.reserve(batch.size());
  for (const auto& request : batch) {
    responses.push_back(ScatterResponse(request->request, *outputs, batched, total_rows, offset,
                                        request->rows, version_, batch.size() == 1));
    offset += request->rows;
  }
  if (!counted) {
    // A warm-up: answered, but neither an inference nor an execution in any figure.
    for (size_t i = 0; i < batch.size(); ++i) batch[i]->done(std::move(responses[i]));
    return;
  }
  const Clock::time_point scattered = Clock::now();
  metrics_.executions->Increment();
  metrics_.inferences->Increment(static_cast<double>(total_rows));
  metrics_.batch_size->Observe(static_cast<double>(total_rows));
  metrics_.compute_seconds->Observe(Seconds(computed - start));
  stats_->RecordExecution(static_cast<uint64_t>(total_rows), Nanos(gathered - start),
                          Nanos(computed - gathered), Nanos(scattered - computed));
  for (size_t i = 0; i < batch.size(); ++i) {
    auto& request = batch[i];
    const auto elapsed = scattered - request->arrival;
    if (responses[i].ok()) {
      responses[i]->batch_rows = total_rows;
      stats_->RecordSuccess(Nanos(elapsed), Nanos(start - request->enqueued),
                            Nanos(gathered - start), Nanos(computed - gathered),
                            Nanos(scattered - computed));
      metrics_.success->Increment();
    } else {
      stats_->RecordFailure(Nanos(elapsed));
      metrics_.failure->Increment();
    }
    metrics_.request_seconds->Observe(Seconds(elapsed));
    metrics_.queue_seconds->Observe(Seconds(start - request->enqueued));
    metrics_.in_flight->Decrement();
    request->done(std::move(responses[i]));
  }
}

absl::StatusOr<protocol::InferResponse> ScatterResponse(
    const protocol::InferRequest& request, std::vector<protocol::OutputTensor>& outputs,
    bool batched, int64_t total_rows, int64_t row_offset, int64_t rows,
    const std::string& version, bool take) {
  protocol::InferResponse response;
  response.model_name = request.model_name;
  response.model_version = version;
  response.id = request.id;
  // Each output is moved at most once: only when every output is returned exactly once.
  take = take && request.outputs.empty();
  auto emit = [&](protocol::OutputTensor& out, std::optional<bool> binary) -> absl::Status {
    protocol::OutputTensor& slice = response.outputs.emplace_back();
    slice.name = out.name;
    slice.datatype = out.datatype;
    slice.binary = binary.value_or(request.binary_data_output);
    if (!batched || (row_offset == 0 && rows == total_rows)) {
      slice.shape = out.shape;
      if (take) {
        slice.data = std::move(out.data);
      } else {
        slice.data = out.data;
      }
      return absl::OkStatus();
    }
    if (out.shape.empty() || out.shape[0] != total_rows) {
      return absl::InternalError(StrCat("output '", out.name,
                                              "' does not have the batch as its first dimension"));
    }
    slice.shape = out.shape;
    slice.shape[0] = rows;
    if (out.datatype != protocol::DataType::kBytes) {
      const size_t row_bytes = out.data.size() / static_cast<size_t>(total_rows);
      const auto begin = out.data.begin() + static_cast<std::ptrdiff_t>(row_bytes * row_offset);
      slice.data.assign(begin, begin + static_cast<std::ptrdiff_t>(row_bytes * rows));
      return absl::OkStatus();
    }
    // BYTES: walk the length-prefixed elements to find this request's rows.
    uint64_t per_row = 1;
    for (size_t d = 1; d < out.shape.size(); ++d) per_row *= static_cast<uint64_t>(out.shape[d]);
    const uint64_t first = per_row * static_cast<uint64_t>(row_offset);
    const uint64_t last = first + per_row * static_cast<uint64_t>(rows);
    const std::string_view all(out.data.data(), out.data.size());
    ASSIGN_OR_RETURN(std::vector<std::string_view> elements, protocol::SplitBytesTensor(all));
    if (elements.size() < last) {
      return absl::InternalError(StrCat("output '", out.name, "' holds ", elements.size(),
                                        " BYTES elements, fewer than its shape says"));
    }
    if (last > first) {
      // From the length prefix of the first element to the end of the last one.
      const size_t begin = static_cast<size_t>(elements[first].data() - all.data()) - 4;
      const size_t end = static_cast<size_t>(elements[last - 1].data() - all.data()) +
                         elements[last - 1].size();
      slice.data.assign(out.data.begin() + static_cast<std::ptrdiff_t>(begin),
                        out.data.begin() + static_cast<std::ptrdiff_t>(end));
    }
    return absl::OkStatus();
  };
  if (request.outputs.empty()) {
    for (auto& out : outputs) {
      absl::Status status = emit(out, std::nullopt);
      if (!status.ok()) return status;
    }
    return response;
  }
  for (const auto& requested : request.outputs) {
    protocol::OutputTensor* found = nullptr;
    for (auto& out : outputs) {
      if (out.name == requested.name) found = &out;
    }
    if (found == nullptr) {
      return absl::InvalidArgumentError(StrCat("the model produced no output '",
                                                     requested.name, "'"));
    }
    absl::Status status = emit(*found, requested.binary_data);
    if (!status.ok()) return status;
  }
  return response;
}

}  // namespace berth::worker
