// TritonJson: Triton's field names, every field present, 64-bit integers as numbers (in
// nested messages, repeated fields and maps), strings left alone.
#include "protocol/proto_json.h"

#include <gtest/gtest.h>

#include "grpc_service.pb.h"
#include "model_config.pb.h"
#include "nlohmann/json.hpp"

namespace berth::protocol {
namespace {

TEST(ProtoJsonTest, StatisticsCarryNumbers) {
  inference::ModelStatisticsResponse response;
  auto* m = response.add_model_stats();
  m->set_name("m");
  m->set_version("1");
  m->set_inference_count(280577);
  m->set_execution_count(18446744073709551615ull);  // the largest uint64 survives
  m->mutable_inference_stats()->mutable_success()->set_ns(1404984636781);
  m->mutable_inference_stats()->mutable_fail();  // present, all zero
  m->add_batch_stats()->set_batch_size(8);
  auto json = TritonJson(response);
  ASSERT_TRUE(json.ok()) << json.status();
  const auto j = nlohmann::json::parse(*json);
  const auto& stats = j["model_stats"][0];
  EXPECT_EQ(stats["version"], "1");  // versions stay strings
  EXPECT_TRUE(stats["inference_count"].is_number_unsigned());
  EXPECT_EQ(stats["inference_count"], 280577);
  EXPECT_EQ(stats["execution_count"].get<uint64_t>(), 18446744073709551615ull);
  EXPECT_EQ(stats["inference_stats"]["success"]["ns"], 1404984636781);
  EXPECT_EQ(stats["inference_stats"]["fail"]["count"], 0);  // printed although zero
  EXPECT_EQ(stats["batch_stats"][0]["batch_size"], 8);
  EXPECT_EQ(stats["last_inference"], 0);
}

TEST(ProtoJsonTest, ConfigDimsDelaysAndMapsCarryNumbers) {
  inference::ModelConfig config;
  config.set_name("m");
  config.set_max_batch_size(8);
  auto* in = config.add_input();
  in->set_name("x");
  in->add_dims(-1);
  in->add_dims(16);
  config.mutable_dynamic_batching()->set_max_queue_delay_microseconds(500);
  auto& warmup_input = (*config.add_model_warmup()->mutable_inputs())["x"];
  warmup_input.add_dims(16);
  (*config.mutable_parameters())["key"].set_string_value("123");
  auto json = TritonJson(config);
  ASSERT_TRUE(json.ok()) << json.status();
  const auto j = nlohmann::json::parse(*json);
  EXPECT_EQ(j["input"][0]["dims"], nlohmann::json({-1, 16}));
  EXPECT_EQ(j["dynamic_batching"]["max_queue_delay_microseconds"], 500);
  EXPECT_EQ(j["max_batch_size"], 8);
  EXPECT_EQ(j["model_warmup"][0]["inputs"]["x"]["dims"], nlohmann::json({16}));
  EXPECT_EQ(j["parameters"]["key"]["string_value"], "123");  // a string stays a string
  EXPECT_EQ(j["input"][0]["data_type"], "TYPE_INVALID");
}

}  // namespace
}  // namespace berth::protocol
