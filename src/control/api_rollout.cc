// /api/v1/services/{name}/rollout: the state of a service's canary rollout, and the commands
// people give it (promote, abort, set weights). The controller's CanaryRollout policy acts on
// the phase a command writes, on its next pass (woken at once).
#include <algorithm>
#include <cctype>
#include <functional>
#include <set>

#include "common/status_macros.h"
#include "common/strings.h"
#include "control/api.h"
#include "control/api_internal.h"
#include "control/canary_rollout.h"
#include "control/states.h"

namespace berth::control {

using json = nlohmann::json;
using namespace api_internal;

namespace api_internal {

absl::StatusOr<json> NormalizeRollout(const json& given) {
  if (!given.is_object()) {
    return absl::InvalidArgumentError(
        "spec.rollout: give an object such as {\"steps\": [10, 50], \"interval_s\": 30, "
        "\"max_error_rate\": 0.01}");
  }
  // A null member is one left out (as a merge patch removes it).
  json rollout = json::object();
  for (const auto& [key, value] : given.items()) {
    if (!value.is_null()) rollout[key] = value;
  }
  RETURN_IF_ERROR(OnlyFields(rollout, "spec.rollout",
                             {"steps", "interval_s", "max_error_rate", "max_p99_ms",
                              "min_requests", "route_header", "shadow_percent"}));
  json out = json::object();
  if (rollout.contains("route_header")) {
    const json& pin = rollout["route_header"];
    static constexpr char kUsage[] =
        "spec.rollout.route_header: {\"name\": \"x-variant\", \"value\": \"b\"} sends the "
        "requests that carry that header value to the canary";
    if (!pin.is_object() || !pin.contains("name") || !pin["name"].is_string() ||
        !pin.contains("value") || !pin["value"].is_string() || pin.size() != 2) {
      return absl::InvalidArgumentError(kUsage);
    }
    std::string name = pin["name"].get<std::string>();
    const std::string value = pin["value"].get<std::string>();
    const bool token = !name.empty() && name.size() <= 64 &&
                       std::all_of(name.begin(), name.end(), [](unsigned char c) {
                         return std::isalnum(c) || c == '-' || c == '_';
                       });
    std::transform(name.begin(), name.end(), name.begin(),
                   [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
    static const std::set<std::string> kReserved = {
        "authorization", "cookie", "host", "content-length", "content-type", "connection",
        "transfer-encoding", "te", "upgrade", "grpc-timeout", "grpc-encoding"};
    if (!token || kReserved.contains(name)) {
      return absl::InvalidArgumentError(StrCat(
          "spec.rollout.route_header.name: '", pin["name"].get<std::string>(),
          "' is not a header berth can route by (letters, digits, - and _, at most 64; not a "
          "header HTTP or gRPC itself uses)"));
    }
    const bool printable = !value.empty() && value.size() <= 256 &&
                           std::all_of(value.begin(), value.end(), [](unsigned char c) {
                             return c >= 0x21 && c <= 0x7e;
                           });
    if (!printable) {
      return absl::InvalidArgumentError(
          "spec.rollout.route_header.value: 1 to 256 visible ASCII characters, no spaces");
    }
    out["route_header"] = {{"name", name}, {"value", value}};
  }
  const json steps = rollout.value("steps", json::array({10}));
  if (!steps.is_array() || steps.empty() || steps.size() > 20) {
    return absl::InvalidArgumentError(
        "spec.rollout.steps: the canary's traffic percent at each step, 1 to 20 whole numbers "
        "such as [10, 25, 50] (after the last it takes all the traffic)");
  }
  int previous = 0;
  for (const json& step : steps) {
    if (!step.is_number_integer() || step.get<int64_t>() <= previous || step.get<int64_t>() > 99) {
      return absl::InvalidArgumentError(StrCat(
          "spec.rollout.steps: ", step.dump(), " is not a percent above the step before it ",
          "(steps rise from 1 to at most 99; after the last the canary takes all the traffic)"));
    }
    previous = step.get<int>();
  }
  out["steps"] = steps;
  ASSIGN_OR_RETURN(const int64_t interval,
                   IntField(rollout, "interval_s", "spec.rollout.interval_s", 0, 86400, 0));
  if (interval > 0 && interval < 5) {
    return absl::InvalidArgumentError(
        "spec.rollout.interval_s: at least 5 (the gateway counts requests in 5-second "
        "intervals), or 0 for steps that wait for berth rollout promote");
  }
  out["interval_s"] = interval;
  const bool gated = rollout.contains("max_error_rate") || rollout.contains("max_p99_ms");
  if (gated && interval == 0) {
    return absl::InvalidArgumentError(
        "spec.rollout: gates are judged at the end of each interval; give interval_s too");
  }
  if (rollout.contains("max_error_rate")) {
    const json& rate = rollout["max_error_rate"];
    if (!rate.is_number() || rate.get<double>() < 0 || rate.get<double>() >= 1) {
      return absl::InvalidArgumentError(
          "spec.rollout.max_error_rate: a fraction of the canary's requests, from 0 to below 1 "
          "(0.01 is 1%)");
    }
    out["max_error_rate"] = rate.get<double>();
  }
  if (rollout.contains("max_p99_ms")) {
    const json& p99 = rollout["max_p99_ms"];
    if (!p99.is_number() || !(p99.get<double>() > 0) || p99.get<double>() > 3'600'000) {
      return absl::InvalidArgumentError(
          "spec.rollout.max_p99_ms: the canary's 99th-percentile latency limit in "
          "milliseconds, above 0");
    }
    out["max_p99_ms"] = p99.get<double>();
  }
  if (rollout.contains("shadow_percent")) {
    ASSIGN_OR_RETURN(const int64_t shadow,
                     IntField(rollout, "shadow_percent", "spec.rollout.shadow_percent", 1, 100, 0));
    out["shadow_percent"] = shadow;
  }
  ASSIGN_OR_RETURN(const int64_t min_requests,
                   IntField(rollout, "min_requests", "spec.rollout.min_requests", 1, 1'000'000,
                            20));
  out["min_requests"] = min_requests;
  return out;
}

json RolloutJson(const json& state) {
  json doc = state;
  doc.erase("generation");
  const int64_t started = state.value("step_started_ms", int64_t{0});
  doc.erase("step_started_ms");
  doc["step_started_at"] = started > 0 ? json(TimeText(started)) : json(nullptr);
  const int64_t interval_s = state.value("interval_s", int64_t{0});
  doc["next_step_at"] = started > 0 && interval_s > 0 &&
                                state.value("phase", "") == kRolloutProgressing
                            ? json(TimeText(started + interval_s * 1000))
                            : json(nullptr);
  if (doc.contains("last_check") && doc["last_check"].is_object()) {
    json& check = doc["last_check"];
    check["at"] = TimeText(check.value("at_ms", int64_t{0}));
    check.erase("at_ms");
  }
  return doc;
}

}  // namespace api_internal

absl::StatusOr<ApiResponse> ControlApi::ChangeRollout(
    const std::string& name, const std::string& what,
    const std::function<absl::Status(json& state)>& change) {
  // The controller writes the state too: a write that lost the race reads it again.
  for (int attempt = 0; attempt < 5; ++attempt) {
    ASSIGN_OR_RETURN(ServiceRecord service, FindService(name));
    json state = service.rollout;
    const std::string phase = state.value("phase", "");
    if (service.deleting || !RolloutActive(phase) ||
        state.value("revision", 0) != service.latest_revision) {
      // A conflict with the service's state (409), as the API answers them.
      return absl::AbortedError(StrCat(
          "service '", name, "' has no rollout in progress",
          phase.empty() ? std::string(" (deploy a new revision with a spec.rollout, or berth "
                                      "deploy --canary PERCENT)")
                        : StrCat(" (its last one is ", phase, ")")));
    }
    const int64_t generation = state.value("generation", int64_t{0});
    RETURN_IF_ERROR(change(state));
    state["generation"] = generation + 1;
    const absl::Status written = store_->UpdateRollout(name, state, generation);
    if (absl::IsAborted(written)) continue;
    RETURN_IF_ERROR(written);
    controller_->Event(name, "service/" + name, "Rollout",
                       StrCat(what, " (revision ", state.value("revision", 0), ")"));
    controller_->Wake();
    return Json(200, RolloutJson(state));
  }
  return absl::AbortedError(
      StrCat("the rollout of service '", name, "' keeps changing; try again"));
}

void ControlApi::AddRolloutRoutes() {
  using Result = absl::StatusOr<ApiResponse>;
  AddRoute("GET", "services/{name}/rollout", Access::kRead, [this](ApiRequest& r) -> Result {
    const std::string& name = r.params["name"];
    ASSIGN_OR_RETURN(ServiceRecord service, FindService(name));
    if (service.rollout.empty()) {
      return absl::NotFoundError(StrCat(
          "service '", name, "' has had no rollout; deploy a new revision with a spec.rollout "
          "(or berth deploy --canary PERCENT) to roll it out as a canary"));
    }
    return Json(200, RolloutJson(service.rollout));
  });
  AddRoute("POST", "services/{name}/rollout/promote", Access::kDeploy,
           [this](ApiRequest& r) -> Result {
             return ChangeRollout(r.params["name"], "promote requested", [](json& state) {
               state["phase"] = kRolloutPromoting;
               state["message"] = StrCat("promoting revision ", state.value("revision", 0),
                                         " as asked; it gets the full replica count first");
               return absl::OkStatus();
             });
           });
  AddRoute("POST", "services/{name}/rollout/abort", Access::kDeploy,
           [this](ApiRequest& r) -> Result {
             return ChangeRollout(r.params["name"], "abort requested", [](json& state) {
               state["phase"] = kRolloutAborting;
               state["message"] = "aborting as asked; the stable revision takes all the traffic";
               return absl::OkStatus();
             });
           });
  AddRoute("PUT", "services/{name}/rollout/weights", Access::kDeploy,
           [this](ApiRequest& r) -> Result {
             ASSIGN_OR_RETURN(json body, ParseBody(r));
             RETURN_IF_ERROR(OnlyFields(body, "rollout", {"weights"}));
             if (!body.contains("weights") || !body["weights"].is_object()) {
               return absl::InvalidArgumentError(
                   "weights: give each revision's percent, e.g. {\"weights\": {\"2\": 50, "
                   "\"3\": 50}}");
             }
             const json weights = body["weights"];
             return ChangeRollout(
                 r.params["name"], StrCat("weights set to ", weights.dump()),
                 [&weights](json& state) -> absl::Status {
                   const std::string canary = std::to_string(state.value("revision", 0));
                   const std::string stable =
                       std::to_string(state.value("stable_revision", 0));
                   int64_t sum = 0;
                   for (const auto& [revision, percent] : weights.items()) {
                     if (revision != canary && revision != stable) {
                       return absl::InvalidArgumentError(StrCat(
                           "weights: revision ", revision, " takes no part in this rollout (",
                           "stable ", stable, ", canary ", canary, ")"));
                     }
                     if (!percent.is_number_integer() || percent.get<int64_t>() < 0 ||
                         percent.get<int64_t>() > 100) {
                       return absl::InvalidArgumentError(StrCat(
                           "weights: revision ", revision, ": a whole percent from 0 to 100"));
                     }
                     sum += percent.get<int64_t>();
                   }
                   if (sum != 100 || !weights.contains(canary)) {
                     return absl::InvalidArgumentError(StrCat(
                         "weights: the percents of revisions ", stable, " and ", canary,
                         " must add up to 100 (they add up to ", sum, ")"));
                   }
                   state["weight"] = weights[canary].get<int>();
                   state["phase"] = kRolloutPaused;
                   state["message"] = StrCat("weights set by hand: revision ", canary, " takes ",
                                             state["weight"].get<int>(),
                                             "%; berth rollout promote or abort ends it");
                   return absl::OkStatus();
                 });
           });
}

}  // namespace berth::control
