#include "control/planner.h"

#include <algorithm>

#include "common/strings.h"

namespace berth::control {
namespace {

std::vector<const ReplicaView*> LiveOf(const ServiceView& service, int revision) {
  std::vector<const ReplicaView*> live;
  for (const ReplicaView& r : service.replicas) {
    if (r.revision == revision && !r.stopping) live.push_back(&r);
  }
  return live;
}

void Create(int revision, int count, const std::string& reason, Plan* plan) {
  for (int i = 0; i < count; ++i) {
    plan->actions.push_back({.kind = Action::Kind::kCreateReplica, .revision = revision,
                             .reason = reason});
  }
}

void Drain(const ReplicaView& replica, std::string reason, Plan* plan) {
  plan->actions.push_back({.kind = Action::Kind::kDrain, .revision = replica.revision,
                           .replica_id = replica.id, .reason = std::move(reason)});
}

}  // namespace

int FixedScale::DesiredReplicas(const ServiceView& service, int64_t) const {
  return std::max(0, service.spec_replicas);
}

int SpecScale::DesiredReplicas(const ServiceView& service, int64_t) const {
  return std::max(0, service.autoscaled_replicas.value_or(service.spec_replicas));
}

void ImmediateRollout::Plan(const ServiceView& service, int desired, int64_t,
                            control::Plan* plan) const {
  const int target = service.latest_revision;
  int serving = service.serving_revision;
  bool deploying = service.latest_status == RevisionStatus::kDeploying;
  bool promoted = false;

  if (deploying) {
    std::vector<const ReplicaView*> live = LiveOf(service, target);
    int crashes = 0;
    std::string reason;
    for (const ReplicaView* r : live) {
      crashes = std::max(crashes, r->crashes_in_a_row);
      if (!r->reason.empty()) reason = r->reason;
    }
    if (crashes >= crashes_to_fail_) {
      plan->actions.push_back({.kind = Action::Kind::kFailRevision, .revision = target,
                               .reason = reason.empty() ? "its replicas keep crashing" : reason});
      if (serving > 0) plan->weights.push_back({serving, 100});
      return;
    }
    const int missing = desired - static_cast<int>(live.size());
    Create(target, missing, StrCat("replica for revision ", target), plan);
    int ready = 0;
    for (const ReplicaView* r : live) ready += r->state == ReplicaState::kReady ? 1 : 0;
    if (ready >= desired) {
      plan->actions.push_back({.kind = Action::Kind::kPromote, .revision = target,
                               .reason = StrCat(ready, " of ", desired, " replicas ready")});
      serving = target;
      deploying = false;
      promoted = true;
    }
  }
  if (serving > 0 && serving == target &&
      (promoted || service.latest_status == RevisionStatus::kReady)) {
    // The serving revision at the wanted count.
    std::vector<const ReplicaView*> live = LiveOf(service, target);
    Create(target, desired - static_cast<int>(live.size()), "scaling up", plan);
    // Scale down: not-ready ones before ready ones, the youngest first.
    std::sort(live.begin(), live.end(), [](const ReplicaView* a, const ReplicaView* b) {
      const bool ar = a->state == ReplicaState::kReady, br = b->state == ReplicaState::kReady;
      if (ar != br) return !ar;
      return a->created_at_ms > b->created_at_ms;
    });
    for (size_t i = 0; i + static_cast<size_t>(std::max(desired, 0)) < live.size(); ++i) {
      Drain(*live[i], "scaling down", plan);
    }
  }
  // Replicas of revisions that neither serve nor are being rolled out drain away.
  for (const ReplicaView& r : service.replicas) {
    if (r.stopping) continue;
    const bool keep = r.revision == serving || (r.revision == target && deploying);
    if (!keep) Drain(r, StrCat("revision ", r.revision, " no longer serves"), plan);
  }
  if (serving > 0) plan->weights.push_back({serving, 100});
}

Plan PlanService(const ServiceView& service, const RolloutPolicy& rollout,
                 const ScalePolicy& scale, int64_t now_ms) {
  Plan plan;
  if (service.deleting) {
    bool any = false;
    for (const ReplicaView& r : service.replicas) {
      any = true;
      if (!r.stopping) Drain(r, "the service is being deleted", &plan);
    }
    if (!any) plan.actions.push_back({.kind = Action::Kind::kDeleteService});
    return plan;
  }
  if (service.latest_revision == 0) return plan;
  rollout.Plan(service, scale.DesiredReplicas(service, now_ms), now_ms, &plan);
  return plan;
}

}  // namespace berth::control
