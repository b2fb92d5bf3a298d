#include "control/canary_rollout.h"

#include <algorithm>
#include <cmath>

#include "common/strings.h"
#include "control/plan_steps.h"

namespace berth::control {
namespace {

using json = nlohmann::json;
using plan_steps::LiveOf;

std::string Percent(double fraction) { return StrCat(Fixed(fraction * 100), "%"); }

std::string Ms(double ms) { return StrCat(Fixed(ms), " ms"); }

json FiguresJson(const RevisionFigures& f) {
  return {{"requests", f.requests}, {"error_rate", f.error_rate()}, {"p99_ms", f.p99_ms}};
}

// A fresh state for `target` from the spec's settings.
json Fresh(const json& spec, int target, int stable) {
  json steps = spec.value("steps", json::array({10}));
  json gates = json::object();
  for (const char* gate : {"max_error_rate", "max_p99_ms"}) {
    if (spec.contains(gate)) gates[gate] = spec[gate];
  }
  gates["min_requests"] = spec.value("min_requests", 20);
  return {{"revision", target},
          {"stable_revision", stable},
          {"phase", kRolloutStarting},
          {"steps", steps},
          {"step", 0},
          {"weight", steps.empty() ? 10 : steps[0].get<int>()},
          {"interval_s", spec.value("interval_s", 0)},
          {"gates", gates},
          {"step_started_ms", 0},
          {"last_check", nullptr},
          {"message", StrCat("revision ", target, " is starting as a canary beside revision ",
                             stable)}};
}

// The gate `figures` fail, as the message that halts the canary; empty when they pass.
std::string FailedGate(const json& gates, const RevisionFigures& canary,
                       const RevisionFigures& stable) {
  if (gates.contains("max_error_rate")) {
    const double limit = gates["max_error_rate"].get<double>();
    if (canary.error_rate() > limit && canary.error_rate() > stable.error_rate()) {
      return StrCat("canary halted: error rate ", Percent(canary.error_rate()), " > ",
                    Percent(limit), " over ", canary.requests, " requests (stable: ",
                    Percent(stable.error_rate()), " over ", stable.requests, ")");
    }
  }
  if (gates.contains("max_p99_ms")) {
    const double limit = gates["max_p99_ms"].get<double>();
    if (canary.p99_ms > limit && canary.p99_ms > stable.p99_ms) {
      return StrCat("canary halted: p99 latency ", Ms(canary.p99_ms), " > ", Ms(limit),
                    " over ", canary.requests, " requests (stable: ", Ms(stable.p99_ms), ")");
    }
  }
  return "";
}

}  // namespace

bool RolloutActive(const std::string& phase) {
  return phase == kRolloutStarting || phase == kRolloutProgressing || phase == kRolloutWaiting ||
         phase == kRolloutPaused || phase == kRolloutPromoting || phase == kRolloutAborting;
}

void CanaryRollout::Settle(const ServiceView& service, control::Plan* plan) const {
  const json& state = service.rollout_state;
  if (!state.is_object() || !RolloutActive(state.value("phase", ""))) return;
  const int revision = state.value("revision", 0);
  if (revision == service.latest_revision &&
      service.latest_status == RevisionStatus::kDeploying) {
    return;  // still a canary (the planner rolls it out as one next pass)
  }
  json settled = state;
  const bool promoted =
      revision == service.serving_revision && service.latest_status == RevisionStatus::kReady;
  settled["phase"] = promoted ? kRolloutPromoted : kRolloutHalted;
  settled["message"] =
      promoted ? StrCat("revision ", revision, " serves all the traffic")
               : StrCat("revision ", revision, " no longer rolls out (",
                        revision == service.latest_revision ? "it failed" : "a newer one came",
                        ")");
  plan->actions.push_back({.kind = Action::Kind::kSetRollout,
                           .reason = settled["message"].get<std::string>(),
                           .rollout = std::move(settled)});
}

void CanaryRollout::Plan(const ServiceView& service, int desired, int64_t now_ms,
                         control::Plan* plan) const {
  const int target = service.latest_revision;
  const int stable = service.serving_revision;
  const bool canary = service.rollout_spec.is_object() && stable > 0 && target != stable &&
                      service.latest_status == RevisionStatus::kDeploying;
  if (!canary) {
    immediate_.Plan(service, desired, now_ms, plan);
    Settle(service, plan);
    return;
  }
  const json& stored = service.rollout_state;
  json state = stored.is_object() && stored.value("revision", 0) == target
                   ? stored
                   : Fresh(service.rollout_spec, target, stable);
  state.erase("generation");  // the controller's, for the store's compare-and-set
  std::string phase = state.value("phase", kRolloutStarting);
  std::string event;  // set when the state changes in a way people should hear of

  const auto halt = [&](std::string why, const char* to) {
    plan->actions.push_back(
        {.kind = Action::Kind::kFailRevision, .revision = target, .reason = why});
    plan->weights.push_back({stable, 100});
    state["phase"] = to;
    state["weight"] = 0;
    state["message"] = why;
    event = why;
  };

  std::vector<const ReplicaView*> canary_live = LiveOf(service, target);
  std::string crash_reason;
  if (plan_steps::CrashesOf(canary_live, &crash_reason) >= crashes_to_fail_) {
    halt(StrCat("canary halted: its replicas keep crashing",
                crash_reason.empty() ? "" : StrCat(" (", crash_reason, ")")),
         kRolloutHalted);
  } else if (phase == kRolloutAborting || !RolloutActive(phase)) {
    // A rollout someone aborted (or that a server running an older plan left inactive).
    halt(StrCat("the rollout of revision ", target, " was aborted; revision ", stable,
                " takes all the traffic"),
         kRolloutAborted);
  }

  int weight = std::clamp(state.value("weight", 10), 0, 100);
  const int canary_ready = plan_steps::ReadyOf(canary_live);
  const int64_t interval_ms = state.value("interval_s", 0) * int64_t{1000};
  // The end of a progressing step: its gates are judged before the replicas are planned, so
  // that a halt plans none for the canary and the next step's share gets its replicas now.
  if (event.empty() && phase == kRolloutProgressing && canary_ready > 0 &&
      service.wall_ms - state.value("step_started_ms", int64_t{0}) >= interval_ms) {
    const json& gates = state["gates"];
    const uint64_t min_requests = gates.value("min_requests", uint64_t{20});
    state["last_check"] = {{"canary", FiguresJson(service.canary_figures)},
                           {"stable", FiguresJson(service.stable_figures)},
                           {"at_ms", service.wall_ms}};
    const std::string failed =
        service.canary_figures.requests < min_requests
            ? ""
            : FailedGate(gates, service.canary_figures, service.stable_figures);
    if (!failed.empty()) {
      state["last_check"]["passed"] = false;
      halt(failed, kRolloutHalted);
    } else if (service.canary_figures.requests < min_requests) {
      state["last_check"]["passed"] = nullptr;
      state["message"] =
          StrCat("step ", state.value("step", 0) + 1, " waits for ", min_requests,
                 " canary requests before its gates are judged (",
                 service.canary_figures.requests, " so far)");
    } else {
      state["last_check"]["passed"] = true;
      const json& steps = state["steps"];
      const size_t next = state.value("step", size_t{0}) + 1;
      const std::string passed =
          StrCat("gates passed over ", service.canary_figures.requests, " requests (error rate ",
                 Percent(service.canary_figures.error_rate()), ", p99 ",
                 Ms(service.canary_figures.p99_ms), ")");
      if (next < steps.size()) {
        weight = steps[next].get<int>();
        state["step"] = next;
        state["weight"] = weight;
        state["step_started_ms"] = service.wall_ms;
        state["message"] = StrCat(passed, ": canary revision ", target, " takes ", weight,
                                  "% of the traffic");
      } else {
        state["phase"] = kRolloutPromoting;
        phase = kRolloutPromoting;
        state["message"] = StrCat(passed, " at every step: promoting revision ", target);
      }
      event = state["message"];
    }
  }

  if (!event.empty() && !RolloutActive(state.value("phase", ""))) {
    // Halted or aborted: the stable revision at its count; every canary replica drains with
    // the failed revision.
    plan_steps::ScaleTo(stable, LiveOf(service, stable), desired, "scaling up", plan);
    plan->actions.push_back({.kind = Action::Kind::kSetRollout, .reason = event,
                             .rollout = std::move(state)});
    return;
  }

  const int canary_wanted =
      phase == kRolloutPromoting
          ? desired
          : std::max(1, static_cast<int>(std::ceil(desired * weight / 100.0)));
  plan_steps::ScaleTo(target, canary_live, canary_wanted,
                      StrCat("replica for canary revision ", target), plan);
  plan_steps::ScaleTo(stable, LiveOf(service, stable), desired, "replica for the stable revision",
                      plan);
  for (const ReplicaView& r : service.replicas) {
    if (!r.stopping && r.revision != stable && r.revision != target) {
      plan_steps::Drain(r, StrCat("revision ", r.revision, " no longer serves"), plan);
    }
  }
  if (phase == kRolloutPromoting) {
    if (canary_ready >= desired) {
      plan->actions.push_back({.kind = Action::Kind::kPromote, .revision = target,
                               .reason = StrCat("the canary passed its rollout (",
                                                canary_ready, " replicas ready)")});
      plan->weights.push_back({target, 100});
      state["phase"] = kRolloutPromoted;
      state["weight"] = 100;
      state["message"] = StrCat("revision ", target, " was promoted and serves all the traffic");
      event = state["message"];
    } else {
      plan->weights.push_back({stable, 100 - weight});
      plan->weights.push_back({target, weight});
    }
  } else if (canary_ready == 0) {
    plan->weights.push_back({stable, 100});
    if (phase != kRolloutStarting) {
      state["phase"] = kRolloutStarting;
      state["message"] = StrCat("no replica of canary revision ", target, " is ready");
    }
    state["step_started_ms"] = 0;
  } else {
    if (phase == kRolloutStarting) {
      phase = interval_ms > 0 ? kRolloutProgressing : kRolloutWaiting;
      state["phase"] = phase;
      state["step_started_ms"] = service.wall_ms;
      state["message"] =
          StrCat("canary revision ", target, " takes ", weight, "% of the traffic",
                 interval_ms > 0 ? "" : "; berth rollout promote moves it on");
      event = state["message"];
    }
    plan->weights.push_back({stable, 100 - weight});
    plan->weights.push_back({target, weight});
  }
  state["weight"] = state["phase"] == kRolloutPromoted ? 100 : weight;
  json before = stored;
  before.erase("generation");
  if (state != before) {
    plan->actions.push_back(
        {.kind = Action::Kind::kSetRollout, .reason = event, .rollout = std::move(state)});
  }
}

}  // namespace berth::control
