// What the controller should do about one service, as a pure function: a view of the service,
// its latest revision and its live replicas, plus a RolloutPolicy and a ScalePolicy, give the
// actions to take (create replicas, drain some, fail or promote a revision, delete the
// service) and the traffic weight of each revision. No store, no clock, no processes: the
// controller builds the view, executes the plan in order and stops at the first action it
// cannot record (the next pass plans again from what was recorded).
//
// A new rollout strategy (canary steps, blue/green) is a RolloutPolicy; a new scaling rule
// (the autoscaler) is a ScalePolicy. Neither needs to touch the controller.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "control/states.h"
#include "nlohmann/json.hpp"

namespace berth::control {

struct ReplicaView {
  std::string id;
  int revision = 0;
  ReplicaState state = ReplicaState::kPending;
  bool stopping = false;  // draining, or stopped on purpose: not counted as live
  int crashes_in_a_row = 0;
  std::string reason;
  int64_t created_at_ms = 0;
};

// A revision's requests over a stretch of time, as the gateway counted them.
struct RevisionFigures {
  uint64_t requests = 0;
  uint64_t errors = 0;  // the server's (5xx, or gRPC's server codes)
  double p99_ms = 0;
  double error_rate() const {
    return requests == 0 ? 0 : static_cast<double>(errors) / static_cast<double>(requests);
  }
};

struct ServiceView {
  std::string name;
  bool deleting = false;
  int serving_revision = 0;  // 0: none yet
  int latest_revision = 0;   // 0: none
  RevisionStatus latest_status = RevisionStatus::kDeploying;
  int spec_replicas = 1;                // what the latest spec asks for
  // The autoscaler's recommendation, for a service whose spec asks for autoscaling.
  std::optional<int> autoscaled_replicas;
  std::vector<ReplicaView> replicas;    // the service's replicas that are not terminal
  // Canary rollouts (control/canary_rollout.h): the spec's "rollout" (null: none), the state
  // the store keeps for it, wall-clock now, and the latest and the serving revision's
  // requests since the state's current step began.
  nlohmann::json rollout_spec;
  nlohmann::json rollout_state = nlohmann::json::object();
  int64_t wall_ms = 0;
  RevisionFigures canary_figures;
  RevisionFigures stable_figures;
};

struct Action {
  enum class Kind {
    kCreateReplica,  // `revision`; `reason` says why
    kDrain,          // `replica_id`; `reason` says why
    kFailRevision,   // `revision`; its live replicas are stopped; `reason` says why
    kPromote,        // `revision` takes the traffic; the one serving before retires
    kDeleteService,  // every replica is gone
    kSetRollout,     // `rollout` is the service's new rollout state; `reason` is its event
  };
  Kind kind;
  int revision = 0;
  std::string replica_id;
  std::string reason;
  nlohmann::json rollout;

  bool operator==(const Action&) const = default;
};

struct TrafficWeight {
  int revision = 0;
  int weight = 0;
  bool operator==(const TrafficWeight&) const = default;
};

struct Plan {
  std::vector<Action> actions;
  std::vector<TrafficWeight> weights;  // the revisions that take traffic after the plan
};

// How many replicas the latest revision should have now.
class ScalePolicy {
 public:
  virtual ~ScalePolicy() = default;
  virtual int DesiredReplicas(const ServiceView& service, int64_t now_ms) const = 0;
};

// The spec's replica count, always.
class FixedScale final : public ScalePolicy {
 public:
  int DesiredReplicas(const ServiceView& service, int64_t now_ms) const override;
};

// The autoscaler's recommendation where the service has one, else the spec's count.
class SpecScale final : public ScalePolicy {
 public:
  int DesiredReplicas(const ServiceView& service, int64_t now_ms) const override;
};

// How the latest revision replaces the serving one.
class RolloutPolicy {
 public:
  virtual ~RolloutPolicy() = default;
  // Appends to `plan` what the service needs with `desired` replicas. Called for a service
  // that is not being deleted and has a latest revision.
  virtual void Plan(const ServiceView& service, int desired, int64_t now_ms,
                    control::Plan* plan) const = 0;
};

// The new revision gets all its replicas at once and takes all the traffic when every one is
// ready; the old one's replicas then drain. `crashes_to_fail` crashes in a row of a replica
// before the revision was ever ready fail it, and the serving revision stays.
class ImmediateRollout final : public RolloutPolicy {
 public:
  explicit ImmediateRollout(int crashes_to_fail = 3) : crashes_to_fail_(crashes_to_fail) {}
  void Plan(const ServiceView& service, int desired, int64_t now_ms,
            control::Plan* plan) const override;

 private:
  const int crashes_to_fail_;
};

Plan PlanService(const ServiceView& service, const RolloutPolicy& rollout,
                 const ScalePolicy& scale, int64_t now_ms);

}  // namespace berth::control
