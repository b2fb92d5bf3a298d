// The canary policy as a sequence of passes: each pass is a service view (the state the last
// pass wrote, the replicas, the gateway's figures) and the plan it gives. No store, no clock.
#include "control/canary_rollout.h"

#include <gtest/gtest.h>

namespace berth::control {
namespace {

using json = nlohmann::json;
using Kind = Action::Kind;

constexpr int64_t kStart = 1'700'000'000'000;

ReplicaView Replica(std::string id, int revision, ReplicaState state) {
  return {.id = std::move(id), .revision = revision, .state = state};
}

// Stable revision 1 with `stable_ready` ready replicas; revision 2 deploying as a canary.
ServiceView Canary(json rollout_spec, std::vector<ReplicaView> replicas, json state = {}) {
  ServiceView v;
  v.name = "web";
  v.serving_revision = 1;
  v.latest_revision = 2;
  v.latest_status = RevisionStatus::kDeploying;
  v.spec_replicas = 4;
  v.replicas = std::move(replicas);
  v.rollout_spec = std::move(rollout_spec);
  v.rollout_state = state.is_object() ? std::move(state) : json::object();
  v.wall_ms = kStart;
  return v;
}

std::vector<ReplicaView> StableReady(int n) {
  std::vector<ReplicaView> out;
  for (int i = 0; i < n; ++i) out.push_back(Replica("s" + std::to_string(i), 1, ReplicaState::kReady));
  return out;
}

int Count(const Plan& plan, Kind kind, int revision = 0) {
  int n = 0;
  for (const Action& a : plan.actions) {
    n += a.kind == kind && (revision == 0 || a.revision == revision) ? 1 : 0;
  }
  return n;
}

const Action* Find(const Plan& plan, Kind kind) {
  for (const Action& a : plan.actions) {
    if (a.kind == kind) return &a;
  }
  return nullptr;
}

// The state the plan wrote (what the next pass reads), or the one it kept.
json StateAfter(const Plan& plan, const json& before) {
  const Action* set = Find(plan, Kind::kSetRollout);
  return set != nullptr ? set->rollout : before;
}

const json kGated = {{"steps", {10, 50}}, {"interval_s", 30}, {"max_error_rate", 0.01},
                     {"max_p99_ms", 250}, {"min_requests", 20}};

Plan PlanOf(const ServiceView& view) {
  const CanaryRollout policy;
  Plan plan;
  policy.Plan(view, view.spec_replicas, 0, &plan);
  return plan;
}

TEST(CanaryRolloutTest, WithoutARolloutSpecANewRevisionReplacesTheOldOneAtOnce) {
  std::vector<ReplicaView> replicas = StableReady(4);
  for (int i = 0; i < 4; ++i) replicas.push_back(Replica("c" + std::to_string(i), 2, ReplicaState::kReady));
  const Plan plan = PlanOf(Canary(nullptr, replicas));
  EXPECT_EQ(Count(plan, Kind::kPromote, 2), 1);
  EXPECT_EQ(plan.weights, (std::vector<TrafficWeight>{{2, 100}}));
  EXPECT_EQ(Count(plan, Kind::kSetRollout), 0);
}

TEST(CanaryRolloutTest, TheCanaryGetsReplicasForItsShareAndTrafficOnceOneIsReady) {
  // Pass 1: one canary replica (10% of 4, at least one); the stable keeps its 4 and all the
  // traffic while none is ready.
  ServiceView view = Canary(kGated, StableReady(4));
  Plan plan = PlanOf(view);
  EXPECT_EQ(Count(plan, Kind::kCreateReplica, 2), 1);
  EXPECT_EQ(Count(plan, Kind::kCreateReplica, 1), 0);
  EXPECT_EQ(Count(plan, Kind::kDrain), 0);
  EXPECT_EQ(plan.weights, (std::vector<TrafficWeight>{{1, 100}}));
  json state = StateAfter(plan, view.rollout_state);
  EXPECT_EQ(state["phase"], kRolloutStarting);
  EXPECT_EQ(state["weight"], 10);
  // Pass 2: it is ready: 90/10, the step's interval starts now.
  std::vector<ReplicaView> replicas = StableReady(4);
  replicas.push_back(Replica("c0", 2, ReplicaState::kReady));
  view = Canary(kGated, replicas, state);
  plan = PlanOf(view);
  EXPECT_EQ(plan.weights, (std::vector<TrafficWeight>{{1, 90}, {2, 10}}));
  EXPECT_EQ(Count(plan, Kind::kCreateReplica), 0);
  state = StateAfter(plan, state);
  EXPECT_EQ(state["phase"], kRolloutProgressing);
  EXPECT_EQ(state["step_started_ms"], kStart);
  // Before the interval is over nothing moves, and nothing is written.
  view = Canary(kGated, replicas, state);
  view.wall_ms = kStart + 29'000;
  view.canary_figures = {.requests = 500, .errors = 0, .p99_ms = 5};
  plan = PlanOf(view);
  EXPECT_EQ(Count(plan, Kind::kSetRollout), 0);
  EXPECT_EQ(plan.weights, (std::vector<TrafficWeight>{{1, 90}, {2, 10}}));
}

TEST(CanaryRolloutTest, PassingGatesStepUpThenPromoteWithTheFullCount) {
  std::vector<ReplicaView> replicas = StableReady(4);
  replicas.push_back(Replica("c0", 2, ReplicaState::kReady));
  json state = {{"revision", 2}, {"stable_revision", 1}, {"phase", kRolloutProgressing},
                {"steps", {10, 50}}, {"step", 0}, {"weight", 10}, {"interval_s", 30},
                {"gates", {{"max_error_rate", 0.01}, {"min_requests", 20}}},
                {"step_started_ms", kStart - 30'000}, {"generation", 7}};
  ServiceView view = Canary(kGated, replicas, state);
  view.canary_figures = {.requests = 300, .errors = 1, .p99_ms = 8};  // 0.33%: under 1%
  view.stable_figures = {.requests = 2700, .errors = 0, .p99_ms = 7};
  Plan plan = PlanOf(view);
  state = StateAfter(plan, state);
  EXPECT_FALSE(state.contains("generation"));  // the controller's to set
  EXPECT_EQ(state["step"], 1);
  EXPECT_EQ(state["weight"], 50);
  EXPECT_EQ(state["last_check"]["passed"], true);
  EXPECT_EQ(state["last_check"]["canary"]["requests"], 300);
  EXPECT_NE(Find(plan, Kind::kSetRollout)->reason.find("gates passed over 300 requests"),
            std::string::npos);
  // At 50% the canary wants 2 replicas.
  view = Canary(kGated, replicas, state);
  plan = PlanOf(view);
  EXPECT_EQ(Count(plan, Kind::kCreateReplica, 2), 1);
  EXPECT_EQ(plan.weights, (std::vector<TrafficWeight>{{1, 50}, {2, 50}}));
  // The last step passes: promoting, the canary gets all 4, then it is promoted.
  replicas.push_back(Replica("c1", 2, ReplicaState::kReady));
  view = Canary(kGated, replicas, state);
  view.wall_ms = kStart + 30'000;
  view.canary_figures = {.requests = 1500, .errors = 0, .p99_ms = 9};
  plan = PlanOf(view);
  state = StateAfter(plan, state);
  EXPECT_EQ(state["phase"], kRolloutPromoting);
  view = Canary(kGated, replicas, state);
  plan = PlanOf(view);
  EXPECT_EQ(Count(plan, Kind::kCreateReplica, 2), 2);
  EXPECT_EQ(Count(plan, Kind::kPromote), 0);
  for (int i = 2; i < 4; ++i) replicas.push_back(Replica("c" + std::to_string(i), 2, ReplicaState::kReady));
  view = Canary(kGated, replicas, state);
  plan = PlanOf(view);
  EXPECT_EQ(Count(plan, Kind::kPromote, 2), 1);
  EXPECT_EQ(plan.weights, (std::vector<TrafficWeight>{{2, 100}}));
  EXPECT_EQ(StateAfter(plan, state)["phase"], kRolloutPromoted);
}

TEST(CanaryRolloutTest, AFailingGateHaltsTheCanaryAtOnceNamingTheFigures) {
  std::vector<ReplicaView> replicas = StableReady(4);
  replicas.push_back(Replica("c0", 2, ReplicaState::kReady));
  json state = {{"revision", 2}, {"stable_revision", 1}, {"phase", kRolloutProgressing},
                {"steps", {10, 50}}, {"step", 0}, {"weight", 10}, {"interval_s", 30},
                {"gates", {{"max_error_rate", 0.01}, {"max_p99_ms", 250}, {"min_requests", 20}}},
                {"step_started_ms", kStart - 30'000}};
  ServiceView view = Canary(kGated, replicas, state);
  view.canary_figures = {.requests = 412, .errors = 17, .p99_ms = 8};  // 4.1%
  view.stable_figures = {.requests = 3700, .errors = 0, .p99_ms = 7};
  Plan plan = PlanOf(view);
  const Action* fail = Find(plan, Kind::kFailRevision);
  ASSERT_NE(fail, nullptr);
  EXPECT_EQ(fail->revision, 2);
  EXPECT_EQ(fail->reason,
            "canary halted: error rate 4.1% > 1.0% over 412 requests (stable: 0.0% over 3700)");
  EXPECT_EQ(plan.weights, (std::vector<TrafficWeight>{{1, 100}}));
  EXPECT_EQ(Count(plan, Kind::kCreateReplica), 0);
  EXPECT_EQ(Count(plan, Kind::kFailRevision), 1);
  // With a stable replica missing, the halt plans that one replica, once, and none for the
  // canary at its next share.
  {
    std::vector<ReplicaView> short_stable = StableReady(3);
    short_stable.push_back(Replica("c0", 2, ReplicaState::kReady));
    ServiceView shortened = Canary(kGated, short_stable, state);
    shortened.canary_figures = view.canary_figures;
    shortened.stable_figures = view.stable_figures;
    const Plan halted = PlanOf(shortened);
    EXPECT_EQ(Count(halted, Kind::kCreateReplica, 1), 1);
    EXPECT_EQ(Count(halted, Kind::kCreateReplica, 2), 0);
    EXPECT_EQ(Count(halted, Kind::kFailRevision), 1);
  }
  state = StateAfter(plan, state);
  EXPECT_EQ(state["phase"], kRolloutHalted);
  EXPECT_EQ(state["last_check"]["passed"], false);
  // A p99 over its limit and over the stable's halts it too.
  view.canary_figures = {.requests = 412, .errors = 0, .p99_ms = 400};
  plan = PlanOf(view);
  ASSERT_NE(Find(plan, Kind::kFailRevision), nullptr);
  EXPECT_NE(Find(plan, Kind::kFailRevision)->reason.find("p99 latency 400.0 ms > 250.0 ms"),
            std::string::npos);
}

TEST(CanaryRolloutTest, TroubleTheStableSharesIsNotBlamedOnTheCanaryAndFewRequestsWait) {
  std::vector<ReplicaView> replicas = StableReady(4);
  replicas.push_back(Replica("c0", 2, ReplicaState::kReady));
  const json state = {{"revision", 2}, {"stable_revision", 1}, {"phase", kRolloutProgressing},
                      {"steps", {10, 50}}, {"step", 0}, {"weight", 10}, {"interval_s", 30},
                      {"gates", {{"max_error_rate", 0.01}, {"min_requests", 20}}},
                      {"step_started_ms", kStart - 30'000}};
  ServiceView view = Canary(kGated, replicas, state);
  view.canary_figures = {.requests = 100, .errors = 5, .p99_ms = 8};   // 5%
  view.stable_figures = {.requests = 900, .errors = 60, .p99_ms = 7};  // 6.7%
  Plan plan = PlanOf(view);
  EXPECT_EQ(Count(plan, Kind::kFailRevision), 0);
  EXPECT_EQ(StateAfter(plan, state)["step"], 1);
  // Under min_requests the gates are not judged: it waits, saying so.
  view.canary_figures = {.requests = 12, .errors = 6, .p99_ms = 8};
  plan = PlanOf(view);
  EXPECT_EQ(Count(plan, Kind::kFailRevision), 0);
  const json waiting = StateAfter(plan, state);
  EXPECT_EQ(waiting["step"], 0);
  EXPECT_NE(waiting["message"].get<std::string>().find("waits for 20 canary requests before its gates are judged (12 so far)"),
            std::string::npos)
      << waiting["message"];
}

TEST(CanaryRolloutTest, AbortPausedWeightsAndManualSteps) {
  std::vector<ReplicaView> replicas = StableReady(2);
  replicas.push_back(Replica("c0", 2, ReplicaState::kReady));
  const json manual = {{"steps", {20}}, {"interval_s", 0}, {"min_requests", 20}};
  // A manual step waits however long it has been.
  json state = {{"revision", 2}, {"stable_revision", 1}, {"phase", kRolloutWaiting},
                {"steps", {20}}, {"step", 0}, {"weight", 20}, {"interval_s", 0},
                {"gates", {{"min_requests", 20}}}, {"step_started_ms", kStart - 3'600'000}};
  ServiceView view = Canary(manual, replicas, state);
  view.spec_replicas = 2;
  view.spec_replicas = 2;
  Plan plan = PlanOf(view);
  EXPECT_EQ(Count(plan, Kind::kSetRollout), 0);
  EXPECT_EQ(plan.weights, (std::vector<TrafficWeight>{{1, 80}, {2, 20}}));
  // Weights set by hand hold.
  state["phase"] = kRolloutPaused;
  state["weight"] = 70;
  view = Canary(manual, replicas, state);
  view.spec_replicas = 2;
  plan = PlanOf(view);
  EXPECT_EQ(plan.weights, (std::vector<TrafficWeight>{{1, 30}, {2, 70}}));
  EXPECT_EQ(Count(plan, Kind::kCreateReplica, 2), 1);  // 70% of 2
  // Abort: the canary fails, the stable takes everything.
  state["phase"] = kRolloutAborting;
  view = Canary(manual, replicas, state);
  view.spec_replicas = 2;
  plan = PlanOf(view);
  ASSERT_NE(Find(plan, Kind::kFailRevision), nullptr);
  EXPECT_EQ(plan.weights, (std::vector<TrafficWeight>{{1, 100}}));
  EXPECT_EQ(StateAfter(plan, state)["phase"], kRolloutAborted);
}

TEST(CanaryRolloutTest, AFailedOrPromotedRevisionSettlesTheState) {
  ServiceView view;
  view.name = "web";
  view.serving_revision = 2;
  view.latest_revision = 2;
  view.latest_status = RevisionStatus::kReady;
  view.spec_replicas = 1;
  view.replicas = {Replica("c0", 2, ReplicaState::kReady)};
  view.rollout_spec = kGated;
  view.rollout_state = {{"revision", 2}, {"phase", kRolloutPromoting}};
  Plan plan = PlanOf(view);
  EXPECT_EQ(StateAfter(plan, view.rollout_state)["phase"], kRolloutPromoted);
  view.serving_revision = 1;
  view.latest_status = RevisionStatus::kFailed;
  view.replicas = StableReady(1);
  plan = PlanOf(view);
  EXPECT_EQ(StateAfter(plan, view.rollout_state)["phase"], kRolloutHalted);
  EXPECT_EQ(plan.weights, (std::vector<TrafficWeight>{{1, 100}}));
}

}  // namespace
}  // namespace berth::control
