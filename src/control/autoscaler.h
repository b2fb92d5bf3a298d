// The autoscaler's decision for one revision, as a pure state machine over the samples it is
// given: no clock, no threads, no store. Knative's KPA is the baseline semantics, so that users
// who know it are not surprised:
//
//   desired = ceil(observed / target), observed averaged over a stable window (60 s) and over
//   a panic window (10 % of it); panic starts when the panic window's desire reaches twice the
//   ready replicas and ends once it has stayed below for a whole stable window; no scale-down
//   while panicking; each decision moves at most 1000× up and 2× down from the ready count.
//
// On top of it: a scale-down delay (the highest desire of the last delay wins, so that a dip
// does not release a replica that is needed a moment later), scale to zero only after the
// revision has been idle for a grace period, and min/max bounds. Every decision carries its
// inputs, so that the controller can record them as an event and `berth describe` can show
// the recommendation.
#pragma once

#include <cstdint>
#include <deque>
#include <string>

namespace berth::control {

struct AutoscalerConfig {
  enum class Metric { kConcurrency, kRps, kCpu };
  Metric metric = Metric::kConcurrency;
  // Per replica: requests in flight, requests per second, or CPU percent of its limit.
  double target = 1;
  int min_replicas = 1;  // 0: scale to zero
  int max_replicas = 10;
  int64_t stable_window_ms = 60'000;
  double panic_window_fraction = 0.1;
  double panic_threshold = 2.0;      // panic desire / ready replicas
  // Per decision: at most rate × the ready replicas up, at least ready / rate down.
  double max_scale_up_rate = 1000;
  double max_scale_down_rate = 2;
  int64_t scale_down_delay_ms = 0;
  // With min_replicas 0: how long the revision must have had no request before its last
  // replica goes (a new revision starts with one, so that the deploy proves it serves).
  int64_t scale_to_zero_after_ms = 60'000;
  // Replicas a new revision starts with and keeps for its first stable window, whatever the
  // load says (Knative's initial scale); 0: the minimum (at least one).
  int initial_replicas = 0;
};

// What one decision came to, and why.
struct AutoscalerDecision {
  int desired = 0;
  bool panicking = false;
  double stable_observed = 0;  // the metric averaged over the stable window (all replicas)
  double panic_observed = 0;   // over the panic window
  int stable_desired = 0;
  int panic_desired = 0;
  std::string reason;  // for people: "concurrency 7.5 over 60 s / target 2 -> 4 replicas"
};

// Names for events and flags: "concurrency", "rps", "cpu".
const char* MetricName(AutoscalerConfig::Metric metric);

class Autoscaler {
 public:
  explicit Autoscaler(const AutoscalerConfig& config);

  // One reading of the revision's metric at `now_ms`, summed over its replicas (requests in
  // flight, requests per second, CPU percent). Readings are expected about once a second; the
  // windows average whatever readings fall inside them.
  void Record(int64_t now_ms, double total) { Record(now_ms, total, total > 0); }
  // With whether the revision had any request in it (for scale to zero: a CPU reading is never
  // quite zero).
  void Record(int64_t now_ms, double total, bool active);

  // The replica count for the revision at `now_ms`, given how many are ready.
  AutoscalerDecision Decide(int64_t now_ms, int ready_replicas);

  const AutoscalerConfig& config() const { return config_; }

 private:
  struct Reading {
    int64_t time_ms;
    double total;
  };
  // The mean of the readings in (now - window, now]; 0 with none.
  double Average(int64_t now_ms, int64_t window_ms) const;

  const AutoscalerConfig config_;
  std::deque<Reading> readings_;  // oldest first, at most a stable window's worth
  bool panicking_ = false;
  int64_t over_threshold_ms_ = 0;  // while panicking: the last decision over the threshold
  int panic_floor_ = 0;            // the most replicas desired in this panic
  int64_t last_active_ms_ = -1;    // the last reading above zero (or the first one)
  int64_t first_decision_ms_ = -1;
  bool at_zero_ = false;           // it scaled to zero and no request has come since
  std::deque<std::pair<int64_t, int>> recent_desires_;  // within the scale-down delay
};

}  // namespace berth::control
