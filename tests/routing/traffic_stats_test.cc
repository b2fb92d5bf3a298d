#include "routing/traffic_stats.h"

#include <gtest/gtest.h>

namespace berth::routing {
namespace {

constexpr int64_t kInterval = TrafficStats::kIntervalS * 1000;

TEST(TrafficStatsTest, CountsRequestsErrorsAndLatencyPerInterval) {
  TrafficStats stats;
  const int64_t t0 = 1000 * kInterval;  // the start of an interval
  for (int i = 0; i < 98; ++i) stats.Record("svc", t0 + 10, 2.0, RequestResult::kSuccess);
  stats.Record("svc", t0 + 20, 900.0, RequestResult::kServerError);  // 2 slow of 100: the 99th is slow
  stats.Record("svc", t0 + 30, 900.0, RequestResult::kSuccess);
  auto series = stats.Series("svc", t0 + kInterval - 1);
  const auto& points = series["points"];
  ASSERT_EQ(points.size(), static_cast<size_t>(TrafficStats::kBuckets));
  const auto& last = points.back();
  EXPECT_EQ(last["time"], t0);
  EXPECT_EQ(last["requests"], 100);
  EXPECT_EQ(last["errors"], 1);
  EXPECT_EQ(last["client_errors"], 0);
  EXPECT_NEAR(last["qps"].get<double>(), 100.0 / TrafficStats::kIntervalS, 0.1);
  EXPECT_NEAR(last["p50_ms"].get<double>(), 2.0, 1.0);
  EXPECT_GT(last["p99_ms"].get<double>(), 100.0);
  EXPECT_EQ(points[points.size() - 2]["requests"], 0);  // the interval before: nothing
  EXPECT_EQ(last["avg_batch_size"], 0.0);  // no request said which batch it ran in
}

TEST(TrafficStatsTest, AWindowSumsARevisionsIntervalsFromTheOneHoldingItsStart) {
  TrafficStats stats;
  const int64_t t0 = 2000 * kInterval;
  // Revision 3: 40 fast requests before the window, 95 fast and 5 slow server errors in it
  // (over three intervals); revision 4 alone has some too.
  for (int i = 0; i < 40; ++i) stats.Record("svc", t0 - kInterval, 1.0, RequestResult::kSuccess, 0, 3);
  for (int i = 0; i < 95; ++i) {
    stats.Record("svc", t0 + (i % 3) * kInterval + 1, 1.0, RequestResult::kSuccess, 0, 3);
  }
  for (int i = 0; i < 5; ++i) {
    stats.Record("svc", t0 + 2 * kInterval, 800.0, RequestResult::kServerError, 0, 3);
  }
  for (int i = 0; i < 7; ++i) stats.Record("svc", t0, 1.0, RequestResult::kClientError, 0, 4);
  const WindowFigures w = stats.Window("svc", 3, t0 + 100, t0 + 2 * kInterval + 10);
  EXPECT_EQ(w.requests, 100u);
  EXPECT_EQ(w.errors, 5u);
  EXPECT_DOUBLE_EQ(w.error_rate(), 0.05);
  EXPECT_GT(w.p99_ms, 500.0);
  // Client errors are not the server's.
  const WindowFigures other = stats.Window("svc", 4, t0, t0 + kInterval);
  EXPECT_EQ(other.requests, 7u);
  EXPECT_EQ(other.errors, 0u);
  // A revision with no requests, and a window past what is kept, count nothing.
  EXPECT_EQ(stats.Window("svc", 9, t0, t0 + kInterval).requests, 0u);
  EXPECT_EQ(stats.Window("svc", 3, t0, t0 + 1000 * kInterval).requests, 0u);
}

TEST(TrafficStatsTest, CallersErrorsAreCountedApartFromTheServers) {
  TrafficStats stats;
  const int64_t t0 = 2000 * kInterval;
  stats.Record("svc", t0, 1.0, RequestResult::kSuccess);
  for (int i = 0; i < 3; ++i) stats.Record("svc", t0, 1.0, RequestResult::kClientError);
  stats.Record("svc", t0, 1.0, RequestResult::kServerError);
  const auto last = stats.Series("svc", t0 + 1)["points"].back();
  EXPECT_EQ(last["requests"], 5);
  EXPECT_EQ(last["client_errors"], 3);
  EXPECT_EQ(last["errors"], 1);
}

TEST(TrafficStatsTest, AverageBatchSizeOfTheRequestsThatSaid) {
  TrafficStats stats;
  const int64_t t0 = 3000 * kInterval;
  stats.Record("svc", t0, 1.0, RequestResult::kSuccess, 8);
  stats.Record("svc", t0, 1.0, RequestResult::kSuccess, 4);
  stats.Record("svc", t0, 1.0, RequestResult::kServerError);  // an error: no batch
  const auto last = stats.Series("svc", t0 + 1)["points"].back();
  EXPECT_EQ(last["requests"], 3);
  EXPECT_DOUBLE_EQ(last["avg_batch_size"].get<double>(), 6.0);
}

TEST(TrafficStatsTest, ReadyReplicasAreTheMostSeenAndCarryOver) {
  TrafficStats stats;
  const int64_t t0 = 2000 * kInterval;
  stats.SetReplicas("svc", t0, 1);
  stats.SetReplicas("svc", t0 + 100, 3);
  stats.SetReplicas("svc", t0 + 200, 2);
  stats.SetReplicas("svc", t0 + 3 * kInterval, 0);
  const auto points = stats.Series("svc", t0 + 3 * kInterval + 1)["points"];
  const size_t n = points.size();
  EXPECT_EQ(points[n - 4]["ready_replicas"], 3);  // most seen in its interval
  EXPECT_EQ(points[n - 3]["ready_replicas"], 3);  // no report: carried over
  EXPECT_EQ(points[n - 2]["ready_replicas"], 3);
  EXPECT_EQ(points[n - 1]["ready_replicas"], 0);
  EXPECT_EQ(points[0]["ready_replicas"], 0);  // before anything was known
}

TEST(TrafficStatsTest, TheRequestLogKeepsTheLastRequestsNewestFirst) {
  TrafficStats stats;
  EXPECT_TRUE(stats.RecentRequests("svc", 10).empty());
  const size_t total = TrafficStats::kLoggedRequests + 5;
  for (size_t i = 0; i < total; ++i) {
    RequestEntry e;
    e.time_ms = static_cast<int64_t>(i);
    stats.Record("svc", 0, 1.0, RequestResult::kSuccess, 0, 0, &e);
  }
  const auto recent = stats.RecentRequests("svc", 3);
  ASSERT_EQ(recent.size(), 3u);
  EXPECT_EQ(recent[0].time_ms, static_cast<int64_t>(total - 1));
  EXPECT_EQ(recent[2].time_ms, static_cast<int64_t>(total - 3));
  const auto all = stats.RecentRequests("svc", 100000);
  ASSERT_EQ(all.size(), TrafficStats::kLoggedRequests);  // bounded
  EXPECT_EQ(all.back().time_ms, 5);                       // the oldest kept
  // Sequence numbers count every request logged; `after` keeps the newer ones.
  EXPECT_EQ(recent[0].seq, total);
  EXPECT_EQ(all.back().seq, 6u);
  const auto newer = stats.RecentRequests("svc", 100, total - 2);
  ASSERT_EQ(newer.size(), 2u);
  EXPECT_EQ(newer[1].seq, total - 1);
  EXPECT_TRUE(stats.RecentRequests("svc", 100, total).empty());
  stats.Forget("svc");
  EXPECT_TRUE(stats.RecentRequests("svc", 10).empty());
}

}  // namespace
}  // namespace berth::routing
