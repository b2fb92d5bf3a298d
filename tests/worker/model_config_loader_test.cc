#include "worker/model_config_loader.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

namespace berth::worker {
namespace {

TEST(ModelConfigLoaderTest, ParsesTritonTextFormatAndToleratesUnknownFields) {
  auto config = ParseModelConfig(R"(
    name: "m"
    platform: "onnxruntime_onnx"
    max_batch_size: 8
    input [{ name: "x" data_type: TYPE_FP32 dims: [ 3, 224, 224 ] }]
    output [{ name: "y" data_type: TYPE_FP32 dims: [ 1000 ] }]
    dynamic_batching { preferred_batch_size: [ 4, 8 ] max_queue_delay_microseconds: 100 }
    instance_group [{ count: 2 kind: KIND_CPU }]
    some_future_field { value: 1 }
  )", "test");
  ASSERT_TRUE(config.ok()) << config.status();
  EXPECT_EQ(config->max_batch_size(), 8);
  EXPECT_EQ(config->input(0).dims_size(), 3);
  EXPECT_EQ(config->dynamic_batching().preferred_batch_size(1), 8);
  EXPECT_EQ(InstanceCount(*config), 2);
  EXPECT_TRUE(CheckServable(*config).ok());
}

TEST(ModelConfigLoaderTest, ReportsWhereTheSyntaxErrorIs) {
  auto config = ParseModelConfig("name: \"m\"\nmax_batch_size: \"eight\"\n", "cfg");
  ASSERT_FALSE(config.ok());
  EXPECT_NE(std::string(config.status().message()).find("line 2"), std::string::npos)
      << config.status();
}

TEST(ModelConfigLoaderTest, RefusesWhatTheWorkerCannotServe) {
  inference::ModelConfig config;
  config.add_instance_group()->set_kind(inference::ModelInstanceGroup::KIND_GPU);
  EXPECT_EQ(CheckServable(config).code(), absl::StatusCode::kFailedPrecondition);
  inference::ModelConfig batch;
  batch.set_max_batch_size(4);
  batch.mutable_dynamic_batching()->add_preferred_batch_size(8);
  EXPECT_EQ(CheckServable(batch).code(), absl::StatusCode::kInvalidArgument);
}

TEST(ModelConfigLoaderTest, RefusesSequenceModelsAndEnsemblesNamingTheScheduler) {
  auto sequence = ParseModelConfig(R"(
    name: "counter"
    max_batch_size: 8
    sequence_batching { max_sequence_idle_microseconds: 5000000 }
  )", "counter/config.pbtxt");
  ASSERT_FALSE(sequence.ok());
  EXPECT_EQ(sequence.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(sequence.status().message().find("sequence_batching"), std::string_view::npos);
  auto ensemble = ParseModelConfig(R"(
    name: "pipeline"
    platform: "ensemble"
    ensemble_scheduling { step [{ model_name: "a" model_version: -1 }] }
  )", "pipeline/config.pbtxt");
  ASSERT_FALSE(ensemble.ok());
  EXPECT_NE(ensemble.status().message().find("ensemble_scheduling"), std::string_view::npos)
      << ensemble.status();
}

TEST(ModelConfigLoaderTest, ConfigNameMustMatchItsDirectory) {
  const auto dir = std::filesystem::temp_directory_path() / "berth_config_loader_test";
  std::filesystem::create_directories(dir);
  std::ofstream(dir / "config.pbtxt") << "name: \"other\"\n";
  auto config = LoadModelConfig(dir.string(), "mine");
  EXPECT_EQ(config.status().code(), absl::StatusCode::kInvalidArgument);
  std::filesystem::remove(dir / "config.pbtxt");
  config = LoadModelConfig(dir.string(), "mine");
  ASSERT_TRUE(config.ok());
  EXPECT_EQ(config->name(), "mine");
  std::filesystem::remove_all(dir);
}

TEST(ModelConfigLoaderTest, ModelNamesCannotEscapeTheRepository) {
  EXPECT_TRUE(IsValidModelName("resnet50"));
  EXPECT_TRUE(IsValidModelName("my-model_v1.2"));
  for (const char* bad : {"", ".", "..", "../etc", "a/b", ".hidden", "a b", "a\\b", "a\nb"}) {
    EXPECT_FALSE(IsValidModelName(bad)) << bad;
  }
  EXPECT_FALSE(IsValidModelName(std::string(129, 'a')));
}

}  // namespace
}  // namespace berth::worker
