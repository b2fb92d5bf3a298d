// Statistics of several replicas merged as one server's would read.
#include "gateway/statistics_merge.h"

#include <gtest/gtest.h>

namespace berth::gateway {
namespace {

using nlohmann::json;

TEST(StatisticsMergeTest, SumsCountsAndDurationsKeepsTheLatestInference) {
  const json a = json::parse(R"({"model_stats": [{"name": "m", "version": "1",
    "last_inference": 100, "inference_count": 3, "execution_count": 2,
    "inference_stats": {"success": {"count": 3, "ns": 3000}, "fail": {"count": 1, "ns": 10}},
    "batch_stats": [{"batch_size": 1, "compute_infer": {"count": 1, "ns": 50}},
                    {"batch_size": 2, "compute_infer": {"count": 1, "ns": 90}}]}]})");
  const json b = json::parse(R"({"model_stats": [{"name": "m", "version": "1",
    "last_inference": 250, "inference_count": 4, "execution_count": 4,
    "inference_stats": {"success": {"count": 4, "ns": 1000}, "fail": {"count": 0, "ns": 0}},
    "batch_stats": [{"batch_size": 1, "compute_infer": {"count": 4, "ns": 200}}]},
    {"name": "m", "version": "2", "inference_count": 1}]})");
  const json merged = MergeStatistics({a, b});
  ASSERT_EQ(merged["model_stats"].size(), 2u);
  const json& m = merged["model_stats"][0];
  EXPECT_EQ(m["name"], "m");
  EXPECT_EQ(m["version"], "1");
  EXPECT_EQ(m["last_inference"], 250);
  EXPECT_EQ(m["inference_count"], 7);
  EXPECT_EQ(m["execution_count"], 6);
  EXPECT_EQ(m["inference_stats"]["success"], json::parse(R"({"count": 7, "ns": 4000})"));
  EXPECT_EQ(m["inference_stats"]["fail"]["count"], 1);
  EXPECT_EQ(m["batch_stats"], json::parse(R"([
    {"batch_size": 1, "compute_infer": {"count": 5, "ns": 250}},
    {"batch_size": 2, "compute_infer": {"count": 1, "ns": 90}}])"));
  EXPECT_EQ(merged["model_stats"][1]["version"], "2");  // only one replica had it
  // Numbers stay numbers (Triton's encoding), and nothing is an empty answer.
  EXPECT_TRUE(m["inference_count"].is_number_unsigned());
  EXPECT_EQ(MergeStatistics({}), json::parse(R"({"model_stats": []})"));
}

}  // namespace
}  // namespace berth::gateway
