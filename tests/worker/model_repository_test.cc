#include "worker/model_repository.h"

#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <future>

namespace berth::worker {
namespace {

std::string FixtureRepository() {
  const char* root = std::getenv("BERTH_SOURCE_DIR");
  return std::string(root ? root : ".") + "/tests/fixtures/models";
}

class ModelRepositoryTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ModelRepository::Options options;
    options.root = FixtureRepository();
    options.backend.intra_op_threads = 1;
    auto repo = ModelRepository::Create(options, &metrics_);
    ASSERT_TRUE(repo.ok()) << repo.status();
    repo_ = *std::move(repo);
  }

  WorkerMetrics metrics_;
  std::unique_ptr<ModelRepository> repo_;
};

TEST_F(ModelRepositoryTest, RefusesAMissingRoot) {
  ModelRepository::Options options;
  options.root = "/nonexistent/berth";
  EXPECT_EQ(ModelRepository::Create(options, &metrics_).status().code(),
            absl::StatusCode::kNotFound);
}

TEST_F(ModelRepositoryTest, CompletesAConfiglessOnnxModelFromTheFile) {
  ASSERT_TRUE(repo_->Load("tiny_cnn").ok());
  auto model = repo_->Get("tiny_cnn", "");
  ASSERT_TRUE(model.ok()) << model.status();
  const auto& config = (*model)->config();
  EXPECT_EQ(config.platform(), "onnxruntime_onnx");
  EXPECT_EQ(config.max_batch_size(), 8);  // dynamic first dim: batchable by default
  ASSERT_EQ(config.input_size(), 1);
  EXPECT_EQ(config.input(0).name(), "input");
  EXPECT_EQ(std::vector<int64_t>(config.input(0).dims().begin(), config.input(0).dims().end()),
            (std::vector<int64_t>{1, 28, 28}));
  EXPECT_TRUE(config.has_dynamic_batching());
}

TEST_F(ModelRepositoryTest, AppliesTheVersionPolicy) {
  ASSERT_TRUE(repo_->Load("versioned").ok());
  EXPECT_EQ((*repo_->Get("versioned", ""))->version(), 3);
  EXPECT_TRUE(repo_->Get("versioned", "2").ok());
  EXPECT_EQ(repo_->Get("versioned", "1").status().code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(repo_->Get("versioned", "x").status().code(), absl::StatusCode::kNotFound);
}

TEST_F(ModelRepositoryTest, ABrokenModelIsUnavailableWithTheEngineReason) {
  EXPECT_FALSE(repo_->Load("broken").ok());
  auto model = repo_->Get("broken", "");
  EXPECT_EQ(model.status().code(), absl::StatusCode::kUnavailable);
  bool found = false;
  for (const auto& entry : repo_->Index()) {
    if (entry.name != "broken") continue;
    found = true;
    EXPECT_EQ(entry.state, "UNAVAILABLE");
    EXPECT_NE(entry.reason.find("ONNX Runtime cannot load"), std::string::npos) << entry.reason;
  }
  EXPECT_TRUE(found);
}

TEST_F(ModelRepositoryTest, UnloadDrainsAndLoadRestores) {
  ASSERT_TRUE(repo_->Load("add_sub").ok());
  auto model = repo_->Get("add_sub", "1");
  ASSERT_TRUE(model.ok());
  ASSERT_TRUE(repo_->Unload("add_sub").ok());
  EXPECT_EQ(repo_->Get("add_sub", "").status().code(), absl::StatusCode::kUnavailable);
  // A holder of the old version is refused cleanly rather than crashing.
  auto queued = std::make_unique<QueuedRequest>();
  queued->done = [](absl::StatusOr<protocol::InferResponse>) { FAIL() << "must not run"; };
  EXPECT_EQ((*model)->batcher().Enqueue(std::move(queued)).code(),
            absl::StatusCode::kUnavailable);
  ASSERT_TRUE(repo_->Load("add_sub").ok());
  EXPECT_TRUE(repo_->Get("add_sub", "").ok());
}

TEST_F(ModelRepositoryTest, AFailedReloadKeepsServingThePreviousVersion) {
  namespace fs = std::filesystem;
  const fs::path root = fs::temp_directory_path() / "berth_reload_test";
  fs::remove_all(root);
  fs::create_directories(root / "m" / "1");
  fs::copy_file(FixtureRepository() + "/tiny_cnn/1/model.onnx", root / "m" / "1" / "model.onnx");
  ModelRepository::Options options;
  options.root = root.string();
  auto repo = ModelRepository::Create(options, &metrics_);
  ASSERT_TRUE(repo.ok());
  ASSERT_TRUE((*repo)->Load("m").ok());
  // Break the file on disk, then ask for a reload.
  std::ofstream(root / "m" / "1" / "model.onnx", std::ios::trunc) << "not a model";
  EXPECT_FALSE((*repo)->Load("m").ok());
  EXPECT_TRUE((*repo)->Get("m", "1").ok());
  bool found = false;
  for (const auto& entry : (*repo)->Index()) {
    if (entry.name != "m") continue;
    found = true;
    EXPECT_EQ(entry.state, "READY");
    EXPECT_NE(entry.reason.find("reload failed"), std::string::npos) << entry.reason;
  }
  EXPECT_TRUE(found);
  repo->reset();
  fs::remove_all(root);
}

TEST_F(ModelRepositoryTest, RejectsNamesThatAreNotPlainDirectoryNames) {
  EXPECT_EQ(repo_->Load("../models").code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(repo_->Load("nope").code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(repo_->Unload("nope").code(), absl::StatusCode::kNotFound);
}

TEST_F(ModelRepositoryTest, TorchScriptNeedsItsConfigAndRunsWithIt) {
  ASSERT_TRUE(repo_->Load("tiny_cnn_pt").ok());
  auto model = repo_->Get("tiny_cnn_pt", "");
  ASSERT_TRUE(model.ok()) << model.status();
  EXPECT_EQ((*model)->config().platform(), "pytorch_libtorch");
  EXPECT_TRUE((*model)->config().parameters().contains("berth.performance_note"));
}

}  // namespace
}  // namespace berth::worker
