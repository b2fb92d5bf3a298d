// The autoscaler on replayed traffic traces: one reading and one decision a second of a fake
// timeline, the ready count following the decision (after `ready_lag_s` seconds), no clock
// and no sleeping.
#include "control/autoscaler.h"

#include <gtest/gtest.h>

#include <functional>
#include <set>
#include <vector>

namespace berth::control {
namespace {

struct Step {
  int64_t second;
  double load;
  int ready;
  AutoscalerDecision decision;
};

// Replays `load(second)` (the revision's total metric) from second 0 to `seconds` - 1.
std::vector<Step> Replay(Autoscaler& autoscaler, int seconds,
                         const std::function<double(int64_t)>& load, int ready = 1,
                         int ready_lag_s = 0) {
  std::vector<Step> steps;
  std::vector<int> desired_at;  // the decision of each second
  for (int64_t s = 0; s < seconds; ++s) {
    const int64_t now_ms = s * 1000;
    autoscaler.Record(now_ms, load(s));
    AutoscalerDecision d = autoscaler.Decide(now_ms, ready);
    desired_at.push_back(d.desired);
    steps.push_back({s, load(s), ready, d});
    // Replicas become ready (or go) `ready_lag_s` seconds after they were asked for.
    const int64_t applied = s - ready_lag_s;
    if (applied >= 0) ready = desired_at[static_cast<size_t>(applied)];
  }
  return steps;
}

TEST(AutoscalerTest, AConstantLoadHoldsASteadyCount) {
  AutoscalerConfig config;
  config.target = 2;
  config.max_replicas = 20;
  Autoscaler autoscaler(config);
  const auto steps = Replay(autoscaler, 300, [](int64_t) { return 10.0; }, 1, 3);
  // After the start-up (the panic window sees 10 in flight against 1 ready: panic to 5), the
  // count is 5 and never moves: no flapping.
  std::set<int> after_warmup;
  for (const Step& s : steps) {
    if (s.second >= 70) after_warmup.insert(s.decision.desired);
  }
  EXPECT_EQ(after_warmup, std::set<int>{5});
  EXPECT_EQ(steps.back().decision.stable_desired, 5);
  EXPECT_FALSE(steps.back().decision.panicking);
  EXPECT_NE(steps.back().decision.reason.find("concurrency 10.0 over 60.0 s / target 2.0 -> 5"),
            std::string::npos)
      << steps.back().decision.reason;
}

TEST(AutoscalerTest, ABurstPanicsUpAtOnceAndScalesDownOnlyAfterAStableWindow) {
  AutoscalerConfig config;
  config.target = 1;
  config.max_replicas = 50;
  Autoscaler autoscaler(config);
  // 2 in flight for two minutes, 30 for twenty seconds, then 2 again.
  const auto load = [](int64_t s) { return s >= 120 && s < 140 ? 30.0 : 2.0; };
  const auto steps = Replay(autoscaler, 400, load, 2, 2);
  EXPECT_EQ(steps[119].decision.desired, 2);
  EXPECT_FALSE(steps[119].decision.panicking);
  // Within the panic window's first seconds the count jumps toward 30, not a step at a time.
  int first_panic = -1;
  for (const Step& s : steps) {
    if (s.decision.panicking) {
      first_panic = static_cast<int>(s.second);
      break;
    }
  }
  ASSERT_GE(first_panic, 120);
  EXPECT_LE(first_panic, 122);
  EXPECT_GE(steps[126].decision.desired, 24) << steps[126].decision.reason;
  EXPECT_NE(steps[126].decision.reason.find("panic:"), std::string::npos);
  // No scale-down while panicking, which lasts a stable window past the last decision whose
  // short-window desire was over twice the ready replicas.
  int last_over = -1;
  for (const Step& s : steps) {
    if (s.decision.panic_desired >= 2 * std::max(s.ready, 1)) last_over = static_cast<int>(s.second);
  }
  ASSERT_GE(last_over, first_panic);
  int peak = 0;
  for (int s = first_panic; s < last_over + 60; ++s) {
    EXPECT_TRUE(steps[s].decision.panicking) << "second " << s;
    EXPECT_GE(steps[s].decision.desired, peak) << "second " << s;
    peak = std::max(peak, steps[s].decision.desired);
  }
  EXPECT_GE(peak, 30);
  EXPECT_FALSE(steps[last_over + 60].decision.panicking);
  // Afterwards it comes down, to no less than half the ready count per decision, back to 2.
  for (int s = last_over + 60; s < 400; ++s) {
    EXPECT_GE(steps[s].decision.desired, steps[s].ready / 2) << "second " << s;
  }
  EXPECT_EQ(steps.back().decision.desired, 2);
  EXPECT_FALSE(steps.back().decision.panicking);
}

TEST(AutoscalerTest, ScalesToZeroOnlyAfterTheStableWindowAndTheGrace) {
  AutoscalerConfig config;
  config.min_replicas = 0;
  config.scale_to_zero_after_ms = 90'000;  // longer than the 60 s stable window
  Autoscaler autoscaler(config);
  const auto steps = Replay(autoscaler, 300, [](int64_t s) { return s < 30 ? 1.0 : 0.0; });
  int zero_at = -1;
  for (const Step& s : steps) {
    if (s.decision.desired == 0) {
      zero_at = static_cast<int>(s.second);
      break;
    }
  }
  // The last traffic was at second 29: zero at 29 + 90.
  EXPECT_EQ(zero_at, 119);
  EXPECT_NE(steps[100].decision.reason.find("before scaling to zero"), std::string::npos)
      << steps[100].decision.reason;
  EXPECT_NE(steps[119].decision.reason.find("scaled to zero"), std::string::npos);
  // A request after that brings one replica back at once.
  Autoscaler again(config);
  Replay(again, 200, [](int64_t) { return 0.0; });
  again.Record(200'000, 1);
  EXPECT_EQ(again.Decide(200'000, 0).desired, 1);
}

TEST(AutoscalerTest, ANewRevisionKeepsOneReplicaWhileItLoadsAndStaysAtZeroOnceThere) {
  AutoscalerConfig config;
  config.min_replicas = 0;
  config.scale_to_zero_after_ms = 30'000;
  Autoscaler autoscaler(config);
  // No replica is ready yet (the model is loading) and nothing has asked for it: the one it
  // starts with is kept for the whole grace, not dropped because none is ready.
  for (int64_t s = 0; s < 30; ++s) {
    autoscaler.Record(s * 1000, 0);
    EXPECT_EQ(autoscaler.Decide(s * 1000, 0).desired, 1) << "second " << s;
  }
  autoscaler.Record(30'000, 0);
  const AutoscalerDecision zero = autoscaler.Decide(30'000, 1);
  EXPECT_EQ(zero.desired, 0);
  EXPECT_NE(zero.reason.find("scaled to zero"), std::string::npos) << zero.reason;
  // At zero with no request it stays there, whatever the ready count says meanwhile.
  for (int64_t s = 31; s < 100; ++s) {
    autoscaler.Record(s * 1000, 0);
    const AutoscalerDecision d = autoscaler.Decide(s * 1000, s < 35 ? 1 : 0);
    EXPECT_EQ(d.desired, 0) << "second " << s << ": " << d.reason;
  }
  // One held request wants a replica at once, and the grace starts again from it.
  autoscaler.Record(100'000, 1);
  EXPECT_EQ(autoscaler.Decide(100'000, 0).desired, 1);
  autoscaler.Record(101'000, 0);
  EXPECT_EQ(autoscaler.Decide(101'000, 1).desired, 1);
}

TEST(AutoscalerTest, InitialReplicasHoldForTheFirstWindowThenTheLoadDecides) {
  AutoscalerConfig config;
  config.min_replicas = 0;
  config.initial_replicas = 3;
  config.scale_to_zero_after_ms = 1000;
  Autoscaler autoscaler(config);
  const auto steps = Replay(autoscaler, 200, [](int64_t) { return 0.0; }, 3);
  for (int s = 0; s < 60; ++s) EXPECT_EQ(steps[static_cast<size_t>(s)].decision.desired, 3) << s;
  EXPECT_NE(steps[10].decision.reason.find("held at the initial 3"), std::string::npos);
  // Then the idle revision goes down (no faster than halving) and to zero.
  EXPECT_LT(steps[61].decision.desired, 3);
  EXPECT_EQ(steps.back().decision.desired, 0);
}

TEST(AutoscalerTest, WithAMinimumItNeverGoesBelowIt) {
  AutoscalerConfig config;
  config.min_replicas = 2;
  Autoscaler autoscaler(config);
  const auto steps = Replay(autoscaler, 200, [](int64_t) { return 0.0; }, 2);
  for (const Step& s : steps) EXPECT_EQ(s.decision.desired, 2);
}

TEST(AutoscalerTest, TheScaleDownDelayRidesOutADip) {
  AutoscalerConfig config;
  config.target = 1;
  config.stable_window_ms = 10'000;  // short, so that the dip shows in the stable average
  config.scale_down_delay_ms = 30'000;
  Autoscaler autoscaler(config);
  // 4 in flight, a 15 s dip to 1, back to 4.
  const auto load = [](int64_t s) { return s >= 60 && s < 75 ? 1.0 : 4.0; };
  const auto steps = Replay(autoscaler, 120, load, 4);
  for (int s = 30; s < 120; ++s) EXPECT_EQ(steps[s].decision.desired, 4) << "second " << s;
  EXPECT_NE(steps[74].decision.reason.find("scale-down delay"), std::string::npos)
      << steps[74].decision.reason;
  // Without the delay the same trace goes down during the dip.
  config.scale_down_delay_ms = 0;
  Autoscaler eager(config);
  const auto eager_steps = Replay(eager, 120, load, 4);
  EXPECT_LT(eager_steps[74].decision.desired, 4);
}

TEST(AutoscalerTest, RateLimitsAndTheMaximum) {
  AutoscalerConfig config;
  config.target = 1;
  config.max_replicas = 10;
  Autoscaler capped(config);
  capped.Record(0, 5000);
  AutoscalerDecision d = capped.Decide(0, 1);
  EXPECT_EQ(d.desired, 10);
  EXPECT_NE(d.reason.find("bounded to 10 (min 1, max 10)"), std::string::npos) << d.reason;
  config.max_replicas = 100;
  config.max_scale_up_rate = 2;
  Autoscaler slow(config);
  slow.Record(0, 5000);
  d = slow.Decide(0, 3);
  EXPECT_EQ(d.desired, 6);
  EXPECT_NE(d.reason.find("held to 6 by the scale-up rate"), std::string::npos) << d.reason;
  // From 8 ready with no load, one decision goes to 4 at the least.
  Autoscaler down(AutoscalerConfig{});
  down.Record(0, 0);
  EXPECT_EQ(down.Decide(0, 8).desired, 4);
}

TEST(AutoscalerTest, CpuAndRpsReadTheSameWay) {
  AutoscalerConfig config;
  config.metric = AutoscalerConfig::Metric::kCpu;
  config.target = 80;  // the seed's rule: scale out when CPU > 80 % of the replica's limit
  config.max_replicas = 10;
  Autoscaler cpu(config);
  // Three replicas at 95 % each: 285 % in all -> ceil(285 / 80) = 4.
  const auto steps = Replay(cpu, 120, [](int64_t) { return 285.0; }, 3);
  EXPECT_EQ(steps.back().decision.desired, 4);
  EXPECT_NE(steps.back().decision.reason.find("cpu 285.0"), std::string::npos);
  config.metric = AutoscalerConfig::Metric::kRps;
  config.target = 100;
  Autoscaler rps(config);
  const auto rps_steps = Replay(rps, 120, [](int64_t) { return 450.0; }, 5);
  EXPECT_EQ(rps_steps.back().decision.desired, 5);
  // Bad readings count as none.
  Autoscaler odd(AutoscalerConfig{});
  odd.Record(0, -3);
  odd.Record(1000, std::numeric_limits<double>::quiet_NaN());
  EXPECT_EQ(odd.Decide(1000, 1).stable_observed, 0);
}

}  // namespace
}  // namespace berth::control
