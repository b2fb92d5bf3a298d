#include "control/autoscaler.h"

#include <algorithm>
#include <cmath>

#include "common/strings.h"

namespace berth::control {
namespace {

std::string Seconds(int64_t ms) { return StrCat(Fixed(static_cast<double>(ms) / 1000), " s"); }

}  // namespace

const char* MetricName(AutoscalerConfig::Metric metric) {
  switch (metric) {
    case AutoscalerConfig::Metric::kConcurrency:
      return "concurrency";
    case AutoscalerConfig::Metric::kRps:
      return "rps";
    case AutoscalerConfig::Metric::kCpu:
      return "cpu";
  }
  return "unknown";
}

Autoscaler::Autoscaler(const AutoscalerConfig& config) : config_(config) {}

void Autoscaler::Record(int64_t now_ms, double total, bool active) {
  if (!(total >= 0)) total = 0;  // a negative or NaN reading counts as none
  readings_.push_back({now_ms, total});
  while (!readings_.empty() && readings_.front().time_ms <= now_ms - config_.stable_window_ms) {
    readings_.pop_front();
  }
  if (active || last_active_ms_ < 0) last_active_ms_ = now_ms;
}

double Autoscaler::Average(int64_t now_ms, int64_t window_ms) const {
  double sum = 0;
  int n = 0;
  for (auto it = readings_.rbegin(); it != readings_.rend() && it->time_ms > now_ms - window_ms;
       ++it) {
    if (it->time_ms > now_ms) continue;
    sum += it->total;
    ++n;
  }
  return n > 0 ? sum / n : 0;
}

AutoscalerDecision Autoscaler::Decide(int64_t now_ms, int ready_replicas) {
  AutoscalerDecision d;
  const AutoscalerConfig& c = config_;
  const double target = c.target > 0 ? c.target : 1;
  const int64_t panic_window_ms = std::max<int64_t>(
      1000, static_cast<int64_t>(static_cast<double>(c.stable_window_ms) * c.panic_window_fraction));
  d.stable_observed = Average(now_ms, c.stable_window_ms);
  d.panic_observed = Average(now_ms, panic_window_ms);
  // A whisker below an exact multiple stays on it (7.9999999 / 2 is 4 replicas, not 5).
  const auto desire = [&](double observed) {
    return observed <= 0 ? 0 : static_cast<int>(std::ceil(observed / target - 1e-9));
  };
  d.stable_desired = desire(d.stable_observed);
  d.panic_desired = desire(d.panic_observed);
  if (last_active_ms_ < 0) last_active_ms_ = now_ms;
  if (first_decision_ms_ < 0) first_decision_ms_ = now_ms;

  // Panic: entered when the short window asks for the threshold's multiple of what is ready,
  // left once it has not for a whole stable window; no scale-down meanwhile.
  const int ready = std::max(ready_replicas, 0);
  const int base = std::max(ready, 1);
  const bool over = d.panic_desired >= c.panic_threshold * base;
  if (over) {
    if (!panicking_) panic_floor_ = 0;
    panicking_ = true;
    over_threshold_ms_ = now_ms;
  } else if (panicking_ && now_ms - over_threshold_ms_ >= c.stable_window_ms) {
    panicking_ = false;
  }
  int desired;
  const std::string metric = MetricName(c.metric);
  if (panicking_) {
    desired = std::max(d.panic_desired, panic_floor_);
    panic_floor_ = desired;
    d.reason = StrCat("panic: ", metric, " ", Fixed(d.panic_observed), " over ",
                      Seconds(panic_window_ms), " / target ", Fixed(target), " -> ", desired,
                      " replicas (no scale-down until ", Seconds(c.stable_window_ms),
                      " below ", Fixed(c.panic_threshold), "x the ready replicas)");
  } else {
    desired = d.stable_desired;
    d.reason = StrCat(metric, " ", Fixed(d.stable_observed), " over ",
                      Seconds(c.stable_window_ms), " / target ", Fixed(target), " -> ", desired,
                      " replicas");
  }

  // Rate limits, from what is ready.
  const int max_up = static_cast<int>(std::ceil(c.max_scale_up_rate * base));
  const int max_down =
      c.max_scale_down_rate > 0 ? static_cast<int>(std::floor(ready / c.max_scale_down_rate)) : 0;
  if (desired > max_up) {
    desired = max_up;
    StrAppend(&d.reason, "; held to ", desired, " by the scale-up rate");
  } else if (desired < max_down) {
    desired = max_down;
    StrAppend(&d.reason, "; held to ", desired, " by the scale-down rate");
  }

  // The scale-down delay: the highest desire within it.
  if (c.scale_down_delay_ms > 0) {
    recent_desires_.emplace_back(now_ms, desired);
    while (recent_desires_.front().first <= now_ms - c.scale_down_delay_ms) {
      recent_desires_.pop_front();
    }
    int highest = desired;
    for (const auto& [time, value] : recent_desires_) highest = std::max(highest, value);
    if (highest > desired) {
      desired = highest;
      StrAppend(&d.reason, "; held at ", desired, " for the scale-down delay of ",
                Seconds(c.scale_down_delay_ms));
    }
  }

  // Zero only for a revision allowed to go there, after a whole idle grace with no request;
  // once there, it stays until a request comes (then any reading above zero wants one).
  if (desired == 0) {
    const int64_t idle_ms = now_ms - last_active_ms_;
    if (c.min_replicas > 0) {
      desired = c.min_replicas;
    } else if (at_zero_) {
      StrAppend(&d.reason, "; no request: at zero");
    } else if (idle_ms < c.scale_to_zero_after_ms) {
      desired = 1;
      StrAppend(&d.reason, "; idle for ", Seconds(idle_ms), " of the ",
                Seconds(c.scale_to_zero_after_ms), " before scaling to zero");
    } else {
      at_zero_ = true;
      StrAppend(&d.reason, "; idle for ", Seconds(idle_ms), ": scaled to zero");
    }
  } else {
    at_zero_ = false;
  }
  if (c.initial_replicas > 0 && desired < c.initial_replicas &&
      now_ms - first_decision_ms_ < c.stable_window_ms) {
    desired = c.initial_replicas;
    at_zero_ = false;
    StrAppend(&d.reason, "; held at the initial ", desired, " for the first ",
              Seconds(c.stable_window_ms));
  }
  const int bounded = std::clamp(desired, std::max(c.min_replicas, 0),
                                 std::max(c.max_replicas, std::max(c.min_replicas, 0)));
  if (bounded != desired) {
    StrAppend(&d.reason, "; bounded to ", bounded, " (min ", c.min_replicas, ", max ",
              c.max_replicas, ")");
  }
  d.desired = bounded;
  d.panicking = panicking_;
  return d;
}

}  // namespace berth::control
