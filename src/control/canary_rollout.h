// Progressive delivery as a RolloutPolicy: a service whose spec has a "rollout" rolls each new
// revision out as a canary beside the serving (stable) one instead of replacing it at once.
//
//   spec.rollout = {"steps": [10, 25, 50], "interval_s": 30,
//                   "max_error_rate": 0.01, "max_p99_ms": 250, "min_requests": 20}
//
// The canary takes steps[0] percent of the traffic once a replica of it is ready (it gets
// replicas for its share, at least one; the stable keeps its full count). With interval_s > 0,
// at the end of each interval the gates are judged on the gateway's figures for both revisions
// over that interval: the canary fails a gate when it is over the limit and worse than the
// stable (so that trouble both share is not blamed on it); fewer than min_requests canary
// requests wait for more. Passing moves to the next step; after the last, the canary gets the
// full count and is promoted. Failing halts it at once: the revision fails with the gate and the
// figures as its reason, its traffic returns to the stable and its replicas drain. With
// interval_s 0 each step waits for a person (`berth rollout promote` / `abort`).
//
// The state lives in the store (ServiceRecord::rollout), so that a server restart resumes the
// rollout where it was; people change it through the API's rollout commands (promote, abort,
// set weights), which write the phase this policy acts on. A service without "rollout", and
// the first revision of any service, deploy as ImmediateRollout does.
#pragma once

#include <string>

#include "control/planner.h"
#include "nlohmann/json.hpp"

namespace berth::control {

// The rollout's phases, as the state's "phase" names them.
inline constexpr char kRolloutStarting[] = "starting";        // no canary replica is ready yet
inline constexpr char kRolloutProgressing[] = "progressing";  // steps advance by the gates
inline constexpr char kRolloutWaiting[] = "waiting";          // a manual step: waits for promote
inline constexpr char kRolloutPaused[] = "paused";            // weights set by hand
inline constexpr char kRolloutPromoting[] = "promoting";      // the canary gets the full count
inline constexpr char kRolloutPromoted[] = "promoted";
inline constexpr char kRolloutHalted[] = "halted";      // a gate failed, or its replicas crashed
inline constexpr char kRolloutAborting[] = "aborting";  // asked to abort; the next pass does
inline constexpr char kRolloutAborted[] = "aborted";

// Whether a rollout in `phase` still has a canary taking (or about to take) traffic.
bool RolloutActive(const std::string& phase);

class CanaryRollout final : public RolloutPolicy {
 public:
  explicit CanaryRollout(int crashes_to_fail = 3)
      : crashes_to_fail_(crashes_to_fail), immediate_(crashes_to_fail) {}
  void Plan(const ServiceView& service, int desired, int64_t now_ms,
            control::Plan* plan) const override;

 private:
  // Ends the state of a rollout whose revision is no longer a canary (promoted or failed by
  // other means).
  void Settle(const ServiceView& service, control::Plan* plan) const;

  const int crashes_to_fail_;
  const ImmediateRollout immediate_;
};

}  // namespace berth::control
