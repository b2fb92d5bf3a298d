// The small steps rollout policies build plans from (control/planner.h), shared by them.
#pragma once

#include <algorithm>
#include <string>
#include <vector>

#include "control/planner.h"

namespace berth::control::plan_steps {

// The revision's replicas that are not stopping.
inline std::vector<const ReplicaView*> LiveOf(const ServiceView& service, int revision) {
  std::vector<const ReplicaView*> live;
  for (const ReplicaView& r : service.replicas) {
    if (r.revision == revision && !r.stopping) live.push_back(&r);
  }
  return live;
}

inline int ReadyOf(const std::vector<const ReplicaView*>& live) {
  int ready = 0;
  for (const ReplicaView* r : live) ready += r->state == ReplicaState::kReady ? 1 : 0;
  return ready;
}

inline void Create(int revision, int count, const std::string& reason, Plan* plan) {
  for (int i = 0; i < count; ++i) {
    plan->actions.push_back({.kind = Action::Kind::kCreateReplica, .revision = revision,
                             .reason = reason});
  }
}

inline void Drain(const ReplicaView& replica, std::string reason, Plan* plan) {
  plan->actions.push_back({.kind = Action::Kind::kDrain, .revision = replica.revision,
                           .replica_id = replica.id, .reason = std::move(reason)});
}

// Brings `live` (one revision's) to `wanted`: creates the missing ones, or drains the extra
// ones, not-ready before ready, the youngest first.
inline void ScaleTo(int revision, std::vector<const ReplicaView*> live, int wanted,
                    const std::string& up_reason, Plan* plan) {
  wanted = std::max(wanted, 0);
  Create(revision, wanted - static_cast<int>(live.size()), up_reason, plan);
  std::sort(live.begin(), live.end(), [](const ReplicaView* a, const ReplicaView* b) {
    const bool ar = a->state == ReplicaState::kReady, br = b->state == ReplicaState::kReady;
    if (ar != br) return !ar;
    return a->created_at_ms > b->created_at_ms;
  });
  for (size_t i = 0; i + static_cast<size_t>(wanted) < live.size(); ++i) {
    Drain(*live[i], "scaling down", plan);
  }
}

// The largest crash count in a row among `live`, and the last reason one of them gave.
inline int CrashesOf(const std::vector<const ReplicaView*>& live, std::string* reason) {
  int crashes = 0;
  for (const ReplicaView* r : live) {
    crashes = std::max(crashes, r->crashes_in_a_row);
    if (!r->reason.empty()) *reason = r->reason;
  }
  return crashes;
}

}  // namespace berth::control::plan_steps
