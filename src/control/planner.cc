#include "control/planner.h"

#include <algorithm>

#include "common/strings.h"
#include "control/plan_steps.h"

namespace berth::control {
using plan_steps::Create;
using plan_steps::Drain;
using plan_steps::LiveOf;

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
    std::string reason;
    const int crashes = plan_steps::CrashesOf(live, &reason);
    if (crashes >= crashes_to_fail_) {
      plan->actions.push_back({.kind = Action::Kind::kFailRevision, .revision = target,
                               .reason = reason.empty() ? "its replicas keep crashing" : reason});
      if (serving > 0) plan->weights.push_back({serving, 100});
      return;
    }
    // An autoscaled revision proves it serves with one ready replica before it takes the
    // traffic, even when the autoscaler wants none (a service at zero).
    const int needed = service.autoscaled_replicas.has_value() ? std::max(desired, 1) : desired;
    const int missing = needed - static_cast<int>(live.size());
    Create(target, missing, StrCat("replica for revision ", target), plan);
    const int ready = plan_steps::ReadyOf(live);
    if (ready >= needed) {
      plan->actions.push_back({.kind = Action::Kind::kPromote, .revision = target,
                               .reason = StrCat(ready, " of ", needed, " replicas ready")});
      serving = target;
      deploying = false;
      promoted = true;
    }
  }
  // The serving revision at the wanted count: the latest once it serves, or an older one
  // while the latest has failed.
  const bool settled = serving == target
                           ? promoted || service.latest_status == RevisionStatus::kReady
                           : !deploying;
  if (serving > 0 && settled) {
    plan_steps::ScaleTo(serving, LiveOf(service, serving), desired, "scaling up", plan);
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
