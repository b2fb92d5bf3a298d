#include "worker/dynamic_batcher.h"

#include <gtest/gtest.h>

#include <condition_variable>
#include <deque>
#include <cstring>
#include <future>
#include <mutex>

namespace berth::worker {
namespace {

using protocol::DataType;

// Identity model over input "x" (FP32, [batch, 2]) that records batch sizes and can be held
// at a gate so tests decide when executions happen.
class GatedIdentity : public backends::ModelInstance {
 public:
  absl::StatusOr<std::vector<protocol::OutputTensor>> Execute(
      std::span<const backends::TensorView> inputs) override {
    {
      std::unique_lock<std::mutex> lock(mu_);
      ++entered_;
      cv_.notify_all();
      cv_.wait(lock, [&] { return open_; });
      batches_.push_back(inputs[0].shape[0]);
    }
    protocol::OutputTensor out;
    out.name = "y";
    out.datatype = DataType::kFp32;
    out.shape.assign(inputs[0].shape.begin(), inputs[0].shape.end());
    out.data.assign(inputs[0].data.begin(), inputs[0].data.end());
    return std::vector<protocol::OutputTensor>{std::move(out)};
  }

  void Open() {
    std::lock_guard<std::mutex> lock(mu_);
    open_ = true;
    cv_.notify_all();
  }
  void Close() {
    std::lock_guard<std::mutex> lock(mu_);
    open_ = false;
  }
  // Waits until `n` executions have started (deadline: 10 s).
  bool WaitEntered(int n) {
    std::unique_lock<std::mutex> lock(mu_);
    return cv_.wait_for(lock, std::chrono::seconds(10), [&] { return entered_ >= n; });
  }
  std::vector<int64_t> batches() {
    std::lock_guard<std::mutex> lock(mu_);
    return batches_;
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  bool open_ = false;
  int entered_ = 0;
  std::vector<int64_t> batches_;
};

std::shared_ptr<const inference::ModelConfig> Config(int max_batch_size) {
  auto config = std::make_shared<inference::ModelConfig>();
  config->set_name("m");
  config->set_max_batch_size(max_batch_size);
  auto* in = config->add_input();
  in->set_name("x");
  in->set_data_type(inference::TYPE_FP32);
  in->add_dims(2);
  auto* out = config->add_output();
  out->set_name("y");
  out->set_data_type(inference::TYPE_FP32);
  out->add_dims(2);
  return config;
}

struct Result {
  std::promise<absl::StatusOr<protocol::InferResponse>> promise;
  std::future<absl::StatusOr<protocol::InferResponse>> future = promise.get_future();
};

std::unique_ptr<QueuedRequest> Request(float value, int rows, Result* result,
                                       uint32_t priority = 0, uint64_t timeout_us = 0) {
  auto q = std::make_unique<QueuedRequest>();
  q->request.model_name = "m";
  q->request.priority = priority;
  q->request.timeout_us = timeout_us;
  q->rows = rows;
  q->arrival = Clock::now();
  auto& input = q->request.inputs.emplace_back();
  input.name = "x";
  input.datatype = DataType::kFp32;
  input.shape = {rows, 2};
  std::vector<char> bytes(rows * 2 * sizeof(float));
  for (int i = 0; i < rows * 2; ++i) {
    float v = value + static_cast<float>(i);
    std::memcpy(bytes.data() + i * sizeof(float), &v, sizeof(float));
  }
  input.SetOwned(std::move(bytes));
  q->done = [result](absl::StatusOr<protocol::InferResponse> r) {
    result->promise.set_value(std::move(r));
  };
  return q;
}

float FirstValue(const protocol::InferResponse& response) {
  float v;
  std::memcpy(&v, response.outputs.at(0).data.data(), sizeof(float));
  return v;
}

class BatcherTest : public ::testing::Test {
 protected:
  DynamicBatcher& Make(DynamicBatcher::Options options, int max_batch_size = 8) {
    auto instance = std::make_unique<GatedIdentity>();
    model_ = instance.get();
    std::vector<std::unique_ptr<backends::ModelInstance>> instances;
    instances.push_back(std::move(instance));
    options.max_batch_size = max_batch_size;
    batcher_ = std::make_unique<DynamicBatcher>(options, Config(max_batch_size), "1",
                                                std::move(instances), &stats_,
                                                metrics_.ForModel("m", "1"));
    return *batcher_;
  }

  WorkerMetrics metrics_;
  ModelStats stats_;
  GatedIdentity* model_ = nullptr;
  std::unique_ptr<DynamicBatcher> batcher_;
};

DynamicBatcher::Options Batching() {
  DynamicBatcher::Options options;
  options.batching = true;
  return options;
}

TEST_F(BatcherTest, QueuedRequestsRunAsOneBatchAndGetTheirOwnRows) {
  auto& batcher = Make(Batching());
  Result first;
  ASSERT_TRUE(batcher.Enqueue(Request(100, 1, &first)).ok());
  ASSERT_TRUE(model_->WaitEntered(1));  // the executor is busy with the first request
  std::vector<Result> rest(5);
  for (int i = 0; i < 5; ++i) {
    ASSERT_TRUE(batcher.Enqueue(Request(static_cast<float>(i * 10), i == 2 ? 2 : 1, &rest[i])).ok());
  }
  model_->Open();
  ASSERT_TRUE(first.future.get().ok());
  for (int i = 0; i < 5; ++i) {
    auto response = rest[i].future.get();
    ASSERT_TRUE(response.ok()) << response.status();
    EXPECT_EQ(FirstValue(*response), static_cast<float>(i * 10));
    EXPECT_EQ(response->outputs[0].shape[0], i == 2 ? 2 : 1);
    EXPECT_EQ(response->model_version, "1");
  }
  EXPECT_EQ(model_->batches(), (std::vector<int64_t>{1, 6}));
}

TEST_F(BatcherTest, BatchesNeverExceedMaxBatchSize) {
  auto& batcher = Make(Batching(), /*max_batch_size=*/4);
  Result first;
  ASSERT_TRUE(batcher.Enqueue(Request(0, 1, &first)).ok());
  ASSERT_TRUE(model_->WaitEntered(1));
  std::vector<Result> rest(10);
  for (auto& r : rest) ASSERT_TRUE(batcher.Enqueue(Request(1, 1, &r)).ok());
  model_->Open();
  for (auto& r : rest) ASSERT_TRUE(r.future.get().ok());
  EXPECT_EQ(model_->batches(), (std::vector<int64_t>{1, 4, 4, 2}));
}

TEST_F(BatcherTest, WithoutBatchingEachRequestRunsAlone) {
  auto& batcher = Make(DynamicBatcher::Options{});
  std::vector<Result> results(3);
  for (auto& r : results) ASSERT_TRUE(batcher.Enqueue(Request(1, 1, &r)).ok());
  model_->Open();
  for (auto& r : results) ASSERT_TRUE(r.future.get().ok());
  EXPECT_EQ(model_->batches(), (std::vector<int64_t>{1, 1, 1}));
}

TEST_F(BatcherTest, FullQueueRefusesWithUnavailable) {
  auto options = Batching();
  options.max_queue_size = 2;
  auto& batcher = Make(options);
  Result running, a, b, refused;
  ASSERT_TRUE(batcher.Enqueue(Request(0, 1, &running)).ok());
  ASSERT_TRUE(model_->WaitEntered(1));
  ASSERT_TRUE(batcher.Enqueue(Request(0, 1, &a)).ok());
  ASSERT_TRUE(batcher.Enqueue(Request(0, 1, &b)).ok());
  absl::Status status = batcher.Enqueue(Request(0, 1, &refused));
  EXPECT_EQ(status.code(), absl::StatusCode::kUnavailable);
  EXPECT_NE(std::string(status.message()).find("full"), std::string::npos);
  model_->Open();
  EXPECT_TRUE(a.future.get().ok());
  EXPECT_TRUE(b.future.get().ok());
}

TEST_F(BatcherTest, ExpiredRequestsAreAnsweredAndNeverRun) {
  auto& batcher = Make(Batching());
  Result running, expiring, patient;
  ASSERT_TRUE(batcher.Enqueue(Request(0, 1, &running)).ok());
  ASSERT_TRUE(model_->WaitEntered(1));
  ASSERT_TRUE(batcher.Enqueue(Request(5, 1, &expiring, 0, /*timeout_us=*/1000)).ok());
  ASSERT_TRUE(batcher.Enqueue(Request(7, 1, &patient)).ok());
  // Let the 1 ms timeout pass while the executor is held.
  std::this_thread::sleep_until(Clock::now() + std::chrono::milliseconds(5));
  model_->Open();
  auto expired = expiring.future.get();
  EXPECT_EQ(expired.status().code(), absl::StatusCode::kDeadlineExceeded);
  auto ok = patient.future.get();
  ASSERT_TRUE(ok.ok());
  EXPECT_EQ(FirstValue(*ok), 7.0f);
  EXPECT_EQ(model_->batches(), (std::vector<int64_t>{1, 1}));
}

TEST_F(BatcherTest, ARequestThatWouldOutwaitItsDeadlineIsRefusedAtOnce) {
  auto& batcher = Make(Batching(), /*max_batch_size=*/1);
  // One batch that takes about 40 ms teaches the batcher how long a batch takes.
  Result first;
  ASSERT_TRUE(batcher.Enqueue(Request(0, 1, &first)).ok());
  ASSERT_TRUE(model_->WaitEntered(1));
  std::this_thread::sleep_for(std::chrono::milliseconds(40));  // the batch's run time
  model_->Open();
  ASSERT_TRUE(first.future.get().ok());
  model_->Close();
  Result running, queued, hurried, patient;
  ASSERT_TRUE(batcher.Enqueue(Request(1, 1, &running)).ok());
  ASSERT_TRUE(model_->WaitEntered(2));
  ASSERT_TRUE(batcher.Enqueue(Request(2, 1, &queued)).ok());
  // A batch of ~40 ms queued before it: a 10 ms budget cannot be kept, so it is refused now,
  // with the reason, rather than timing out in the queue.
  auto hurry = Request(3, 1, &hurried);
  hurry->budget_us = 10'000;
  const absl::Status refused = batcher.Enqueue(std::move(hurry));
  EXPECT_EQ(refused.code(), absl::StatusCode::kUnavailable);
  EXPECT_NE(refused.message().find("past its deadline"), std::string_view::npos) << refused;
  auto wait = Request(4, 1, &patient);
  wait->budget_us = 10'000'000;
  ASSERT_TRUE(batcher.Enqueue(std::move(wait)).ok());
  model_->Open();
  EXPECT_TRUE(running.future.get().ok());
  EXPECT_TRUE(queued.future.get().ok());
  EXPECT_TRUE(patient.future.get().ok());
}

TEST_F(BatcherTest, AHugeTimeoutIsClampedNotAnInstantExpiry) {
  auto& batcher = Make(Batching());
  Result result;
  // 2^64-1 microseconds overflowed the deadline into the past before it was clamped.
  ASSERT_TRUE(batcher.Enqueue(Request(3, 1, &result, 0, UINT64_MAX)).ok());
  model_->Open();
  auto answer = result.future.get();
  ASSERT_TRUE(answer.ok()) << answer.status();
  EXPECT_EQ(FirstValue(*answer), 3.0f);
}

TEST_F(BatcherTest, HigherPriorityRunsFirst) {
  DynamicBatcher::Options options;  // no batching, so the order is visible
  options.priority_levels = 2;
  options.default_priority = 2;
  auto& batcher = Make(options);
  std::vector<int> order;
  std::mutex order_mu;
  auto track = [&](float value, uint32_t priority, Result* r) {
    auto q = Request(value, 1, r, priority);
    auto done = std::move(q->done);
    q->done = [&, value, done](absl::StatusOr<protocol::InferResponse> response) {
      {
        std::lock_guard<std::mutex> lock(order_mu);
        order.push_back(static_cast<int>(value));
      }
      done(std::move(response));
    };
    return q;
  };
  Result first, low, high;
  ASSERT_TRUE(batcher.Enqueue(track(0, 0, &first)).ok());
  ASSERT_TRUE(model_->WaitEntered(1));
  ASSERT_TRUE(batcher.Enqueue(track(2, 2, &low)).ok());
  ASSERT_TRUE(batcher.Enqueue(track(1, 1, &high)).ok());
  model_->Open();
  EXPECT_TRUE(first.future.get().ok());
  EXPECT_TRUE(low.future.get().ok());
  EXPECT_TRUE(high.future.get().ok());
  EXPECT_EQ(order, (std::vector<int>{0, 1, 2}));
}

TEST_F(BatcherTest, StopRunsWhatIsQueuedAndRefusesNewWork) {
  auto& batcher = Make(Batching());
  Result running, queued, late;
  ASSERT_TRUE(batcher.Enqueue(Request(0, 1, &running)).ok());
  ASSERT_TRUE(model_->WaitEntered(1));
  ASSERT_TRUE(batcher.Enqueue(Request(3, 1, &queued)).ok());
  std::thread stopper([&] { batcher.Stop(); });
  // Stop has begun once new work is refused.
  const auto deadline = Clock::now() + std::chrono::seconds(10);
  absl::Status refused;
  std::deque<Result> accepted;  // probes that got in before Stop; they must outlive the batcher
  while (Clock::now() < deadline) {
    Result& probe = accepted.emplace_back();
    refused = batcher.Enqueue(Request(9, 1, &probe));
    if (!refused.ok()) break;
  }
  EXPECT_EQ(refused.code(), absl::StatusCode::kUnavailable);
  model_->Open();
  stopper.join();
  auto response = queued.future.get();
  ASSERT_TRUE(response.ok());
  EXPECT_EQ(FirstValue(*response), 3.0f);
}

TEST_F(BatcherTest, QueueDelayCollectsAFullBatchWithoutWaitingItOut) {
  auto options = Batching();
  options.max_queue_delay = std::chrono::seconds(30);
  auto& batcher = Make(options, /*max_batch_size=*/4);
  model_->Open();
  std::vector<Result> results(4);
  for (auto& r : results) ASSERT_TRUE(batcher.Enqueue(Request(1, 1, &r)).ok());
  // A full batch goes at once; the 30 s delay would otherwise make this test time out.
  for (auto& r : results) {
    ASSERT_EQ(r.future.wait_for(std::chrono::seconds(10)), std::future_status::ready);
  }
  EXPECT_EQ(model_->batches(), (std::vector<int64_t>{4}));
}

TEST_F(BatcherTest, StatsCountInferencesAndExecutions) {
  auto& batcher = Make(Batching());
  Result first;
  ASSERT_TRUE(batcher.Enqueue(Request(0, 3, &first)).ok());
  model_->Open();
  ASSERT_TRUE(first.future.get().ok());
  inference::ModelStatistics stats;
  stats_.Fill(&stats);
  EXPECT_EQ(stats.inference_count(), 3u);
  EXPECT_EQ(stats.execution_count(), 1u);
  EXPECT_EQ(stats.inference_stats().success().count(), 1u);
  ASSERT_EQ(stats.batch_stats_size(), 1);
  EXPECT_EQ(stats.batch_stats(0).batch_size(), 3u);
}

TEST_F(BatcherTest, EveryRequestOfABatchCountsTheBatchsComputeTimesAsTritonDoes) {
  auto options = Batching();
  options.max_queue_delay = std::chrono::seconds(30);  // the two go together: a full batch
  auto& batcher = Make(options, /*max_batch_size=*/3);
  Result a, b;
  ASSERT_TRUE(batcher.Enqueue(Request(0, 1, &a)).ok());
  ASSERT_TRUE(batcher.Enqueue(Request(0, 2, &b)).ok());
  model_->Open();
  ASSERT_TRUE(a.future.get().ok());
  ASSERT_TRUE(b.future.get().ok());
  ASSERT_EQ(model_->batches(), (std::vector<int64_t>{3}));
  inference::ModelStatistics stats;
  stats_.Fill(&stats);
  EXPECT_EQ(stats.inference_count(), 3u);
  EXPECT_EQ(stats.execution_count(), 1u);
  const auto& s = stats.inference_stats();
  EXPECT_EQ(s.success().count(), 2u);
  EXPECT_EQ(s.queue().count(), 2u);
  EXPECT_EQ(s.compute_input().count(), 2u);
  EXPECT_EQ(s.compute_infer().count(), 2u);
  EXPECT_EQ(s.compute_output().count(), 2u);
  EXPECT_GE(s.success().ns(), s.queue().ns());
  // Present for tools that read them; berth has no response cache.
  EXPECT_TRUE(s.has_cache_hit());
  EXPECT_TRUE(s.has_cache_miss());
  EXPECT_EQ(s.cache_hit().count(), 0u);
  ASSERT_EQ(stats.batch_stats_size(), 1);
  EXPECT_EQ(stats.batch_stats(0).compute_infer().count(), 1u);  // per execution
}

TEST_F(BatcherTest, AWarmUpCountsInNoStatisticOrMetric) {
  auto& batcher = Make(Batching());
  model_->Open();
  Result result;
  auto request = Request(0, 1, &result);
  request->enqueued = {};  // a warm-up never passes through the queue
  std::vector<std::unique_ptr<QueuedRequest>> batch;
  batch.push_back(std::move(request));
  ASSERT_TRUE(batcher.RunDirect(std::move(batch)).ok());
  ASSERT_TRUE(result.future.get().ok());
  inference::ModelStatistics stats;
  stats_.Fill(&stats);
  EXPECT_EQ(stats.inference_count(), 0u);
  EXPECT_EQ(stats.execution_count(), 0u);
  EXPECT_EQ(stats.inference_stats().success().count(), 0u);
  EXPECT_EQ(stats.inference_stats().queue().count(), 0u);
  EXPECT_EQ(stats.inference_stats().queue().ns(), 0u);
  EXPECT_EQ(stats.last_inference(), 0u);
  EXPECT_EQ(stats.batch_stats_size(), 0);
}

TEST(ScatterResponseTest, SlicesBytesRowsAndHonoursRequestedOutputs) {
  protocol::OutputTensor bytes;
  bytes.name = "s";
  bytes.datatype = DataType::kBytes;
  bytes.shape = {3, 1};
  for (const char* s : {"a", "bb", "ccc"}) protocol::AppendBytesElement(s, &bytes.data);
  protocol::OutputTensor other;
  other.name = "t";
  other.datatype = DataType::kInt32;
  other.shape = {3};
  other.data.resize(12);
  protocol::InferRequest request;
  request.model_name = "m";
  request.outputs.push_back({"s", true});
  std::vector<protocol::OutputTensor> outputs{bytes, other};
  auto response = ScatterResponse(request, outputs, true, 3, 1, 2, "7");
  ASSERT_TRUE(response.ok());
  ASSERT_EQ(response->outputs.size(), 1u);
  EXPECT_EQ(response->outputs[0].shape, (std::vector<int64_t>{2, 1}));
  EXPECT_TRUE(response->outputs[0].binary);
  std::vector<char> expected;
  protocol::AppendBytesElement("bb", &expected);
  protocol::AppendBytesElement("ccc", &expected);
  EXPECT_EQ(response->outputs[0].data, expected);
  EXPECT_EQ(response->model_version, "7");
}

TEST(ScatterResponseTest, RejectsOutputsWithoutTheBatchDimension) {
  protocol::OutputTensor out;
  out.name = "y";
  out.datatype = DataType::kFp32;
  out.shape = {5};
  out.data.resize(20);
  protocol::InferRequest request;
  std::vector<protocol::OutputTensor> outputs{out};
  auto response = ScatterResponse(request, outputs, true, 2, 0, 1, "1");
  EXPECT_EQ(response.status().code(), absl::StatusCode::kInternal);
}

}  // namespace
}  // namespace berth::worker
