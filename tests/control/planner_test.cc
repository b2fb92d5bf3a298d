// The planner as a table: a service view in, the actions and traffic weights out. No store,
// no clock, no threads: each case is the situation and what the controller must do about it.
#include "control/planner.h"

#include <gtest/gtest.h>

namespace berth::control {
namespace {

using Kind = Action::Kind;

ReplicaView Replica(std::string id, int revision, ReplicaState state, int64_t created = 0) {
  return {.id = std::move(id), .revision = revision, .state = state, .created_at_ms = created};
}

ReplicaView Crashing(std::string id, int revision, int crashes, std::string reason) {
  ReplicaView r = Replica(std::move(id), revision, ReplicaState::kCrashLoopBackOff);
  r.crashes_in_a_row = crashes;
  r.reason = std::move(reason);
  return r;
}

ReplicaView Stopping(ReplicaView r) {
  r.stopping = true;
  return r;
}

Action Create(int revision, std::string reason) {
  return {.kind = Kind::kCreateReplica, .revision = revision, .reason = std::move(reason)};
}
Action Drain(std::string id, int revision, std::string reason) {
  return {.kind = Kind::kDrain, .revision = revision, .replica_id = std::move(id),
          .reason = std::move(reason)};
}
Action Promote(int revision, std::string reason) {
  return {.kind = Kind::kPromote, .revision = revision, .reason = std::move(reason)};
}
Action Fail(int revision, std::string reason) {
  return {.kind = Kind::kFailRevision, .revision = revision, .reason = std::move(reason)};
}

std::string Describe(const std::vector<Action>& actions) {
  std::string out;
  for (const Action& a : actions) {
    static constexpr const char* kNames[] = {"create", "drain", "fail", "promote", "delete"};
    out += std::string(kNames[static_cast<int>(a.kind)]) + " rev " + std::to_string(a.revision) +
           (a.replica_id.empty() ? "" : " " + a.replica_id) + " (" + a.reason + "); ";
  }
  return out;
}

struct Case {
  std::string name;
  ServiceView service;
  std::vector<Action> actions;
  std::vector<TrafficWeight> weights;
};

ServiceView Service(int serving, int latest, RevisionStatus status, int replicas,
                    std::vector<ReplicaView> views) {
  return {.name = "web",
          .serving_revision = serving,
          .latest_revision = latest,
          .latest_status = status,
          .spec_replicas = replicas,
          .replicas = std::move(views)};
}

const std::vector<Case>& Cases() {
  using S = ReplicaState;
  using R = RevisionStatus;
  static const std::vector<Case> cases = {
      {"a first revision gets all its replicas at once",
       Service(0, 1, R::kDeploying, 2, {}),
       {Create(1, "replica for revision 1"), Create(1, "replica for revision 1")},
       {}},
      {"a first revision waits for every replica before it takes traffic",
       Service(0, 1, R::kDeploying, 2, {Replica("a", 1, S::kReady), Replica("b", 1, S::kStarting)}),
       {},
       {}},
      {"a first revision takes the traffic once all are ready",
       Service(0, 1, R::kDeploying, 2, {Replica("a", 1, S::kReady), Replica("b", 1, S::kReady)}),
       {Promote(1, "2 of 2 replicas ready")},
       {{1, 100}}},
      {"a new revision starts beside the serving one, which keeps all traffic",
       Service(1, 2, R::kDeploying, 1, {Replica("a", 1, S::kReady)}),
       {Create(2, "replica for revision 2")},
       {{1, 100}}},
      {"once the new revision is ready it serves and the old one drains in the same pass",
       Service(1, 2, R::kDeploying, 1, {Replica("a", 1, S::kReady), Replica("b", 2, S::kReady)}),
       {Promote(2, "1 of 1 replicas ready"), Drain("a", 1, "revision 1 no longer serves")},
       {{2, 100}}},
      {"a revision whose replica keeps crashing fails; the serving one stays",
       Service(1, 2, R::kDeploying, 1,
               {Replica("a", 1, S::kReady), Crashing("b", 2, 3, "exit code 1: bad model")}),
       {Fail(2, "exit code 1: bad model")},
       {{1, 100}}},
      {"two crashes are not yet a failure",
       Service(1, 2, R::kDeploying, 1,
               {Replica("a", 1, S::kReady), Crashing("b", 2, 2, "exit code 1")}),
       {},
       {{1, 100}}},
      {"a failure without a reason says what happened",
       Service(0, 1, R::kDeploying, 1, {Crashing("a", 1, 5, "")}),
       {Fail(1, "its replicas keep crashing")},
       {}},
      {"scaling up the serving revision",
       Service(1, 1, R::kReady, 3, {Replica("a", 1, S::kReady)}),
       {Create(1, "scaling up"), Create(1, "scaling up")},
       {{1, 100}}},
      {"scaling down drains not-ready replicas first, then the youngest",
       Service(1, 1, R::kReady, 1,
               {Replica("old", 1, S::kReady, 100), Replica("young", 1, S::kReady, 300),
                Replica("starting", 1, S::kStarting, 50)}),
       {Drain("starting", 1, "scaling down"), Drain("young", 1, "scaling down")},
       {{1, 100}}},
      {"scaling to zero drains every replica",
       Service(1, 1, R::kReady, 0, {Replica("a", 1, S::kReady)}),
       {Drain("a", 1, "scaling down")},
       {{1, 100}}},
      {"replicas already stopping are neither counted nor drained again",
       Service(1, 1, R::kReady, 1,
               {Stopping(Replica("gone", 1, S::kDraining)), Replica("a", 1, S::kReady)}),
       {},
       {{1, 100}}},
      {"a stopping replica is replaced",
       Service(1, 1, R::kReady, 1, {Stopping(Replica("gone", 1, S::kDraining))}),
       {Create(1, "scaling up")},
       {{1, 100}}},
      {"after a failed rollout the serving revision keeps its replicas and the failed one's "
       "leftovers drain",
       Service(1, 2, R::kFailed, 1, {Replica("a", 1, S::kReady), Replica("b", 2, S::kPending)}),
       {Drain("b", 2, "revision 2 no longer serves")},
       {{1, 100}}},
      {"replicas of a revision that is neither serving nor latest drain",
       Service(2, 3, R::kDeploying, 1,
               {Replica("a", 1, S::kReady), Replica("b", 2, S::kReady), Replica("c", 3, S::kStarting)}),
       {Drain("a", 1, "revision 1 no longer serves")},
       {{2, 100}}},
      {"a service with no revision yet has nothing to do",
       Service(0, 0, R::kDeploying, 1, {}),
       {},
       {}},
  };
  return cases;
}

TEST(PlannerTest, ImmediateRolloutAndFixedScale) {
  const ImmediateRollout rollout(3);
  const FixedScale scale;
  for (const Case& c : Cases()) {
    SCOPED_TRACE(c.name);
    const Plan plan = PlanService(c.service, rollout, scale, 0);
    EXPECT_EQ(plan.actions, c.actions) << "got: " << Describe(plan.actions)
                                       << "\nwant: " << Describe(c.actions);
    EXPECT_EQ(plan.weights, c.weights);
  }
}

TEST(PlannerTest, DeletingDrainsEveryReplicaThenDeletes) {
  const ImmediateRollout rollout;
  const FixedScale scale;
  ServiceView service = Service(1, 2, RevisionStatus::kDeploying, 1,
                                {Replica("a", 1, ReplicaState::kReady),
                                 Stopping(Replica("b", 2, ReplicaState::kDraining))});
  service.deleting = true;
  Plan plan = PlanService(service, rollout, scale, 0);
  EXPECT_EQ(plan.actions,
            std::vector<Action>({Drain("a", 1, "the service is being deleted")}));
  EXPECT_TRUE(plan.weights.empty());
  service.replicas.clear();
  plan = PlanService(service, rollout, scale, 0);
  EXPECT_EQ(plan.actions, std::vector<Action>({{.kind = Kind::kDeleteService}}));
}

// A scale policy is consulted for the count; the rollout policy does the rest.
class Fixed final : public ScalePolicy {
 public:
  explicit Fixed(int n) : n_(n) {}
  int DesiredReplicas(const ServiceView&, int64_t) const override { return n_; }

 private:
  const int n_;
};

TEST(PlannerTest, TheScalePolicyDecidesTheCount) {
  const ImmediateRollout rollout;
  const ServiceView service =
      Service(1, 1, RevisionStatus::kReady, 1, {Replica("a", 1, ReplicaState::kReady)});
  EXPECT_EQ(PlanService(service, rollout, Fixed(2), 0).actions,
            std::vector<Action>({Create(1, "scaling up")}));
  EXPECT_EQ(PlanService(service, rollout, Fixed(0), 0).actions,
            std::vector<Action>({Drain("a", 1, "scaling down")}));
}

TEST(PlannerTest, AnAutoscaledRevisionAtZeroTakesTheTrafficOnlyOnceOneReplicaIsReady) {
  const ImmediateRollout rollout;
  const SpecScale scale;
  // The autoscaler wants none (its grace passed while the first replica kept crashing): the
  // revision still needs one ready replica to be promoted.
  ServiceView service = Service(0, 1, RevisionStatus::kDeploying, 1,
                                {Replica("a", 1, ReplicaState::kCrashLoopBackOff)});
  service.autoscaled_replicas = 0;
  EXPECT_EQ(PlanService(service, rollout, scale, 0).actions, std::vector<Action>{});
  // Once it is ready the revision serves, then goes to zero as the autoscaler wants.
  service.replicas = {Replica("a", 1, ReplicaState::kReady)};
  EXPECT_EQ(PlanService(service, rollout, scale, 0).actions,
            std::vector<Action>({Promote(1, "1 of 1 replicas ready"),
                                 Drain("a", 1, "scaling down")}));
  // With none at all it starts one.
  service.replicas.clear();
  EXPECT_EQ(PlanService(service, rollout, scale, 0).actions,
            std::vector<Action>({Create(1, "replica for revision 1")}));
}

TEST(PlannerTest, TheCrashThresholdIsThePolicys) {
  const FixedScale scale;
  const ServiceView service = Service(1, 2, RevisionStatus::kDeploying, 1,
                                      {Replica("a", 1, ReplicaState::kReady),
                                       Crashing("b", 2, 1, "exit code 2")});
  EXPECT_EQ(PlanService(service, ImmediateRollout(1), scale, 0).actions,
            std::vector<Action>({Fail(2, "exit code 2")}));
  EXPECT_TRUE(PlanService(service, ImmediateRollout(3), scale, 0).actions.empty());
}

}  // namespace
}  // namespace berth::control
