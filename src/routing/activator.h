// Holds requests for a service that has no ready replica but is starting one (it scaled to
// zero, or its only replica is on its way), instead of refusing them: each waits in its
// service's bounded queue until a routing table is published in which the service has a ready
// replica (a replica is Ready once its V2 ready endpoint answers: model loaded and warmed up),
// or until its own deadline passes. The controller reads how many requests each service holds
// (they count as load for its autoscaler, which is how a service at zero learns it is wanted)
// and tells the activator about every table it publishes. Shared by the controller and the
// gateway; depends on neither. Thread-safe.
#pragma once

#include <condition_variable>
#include <cstdint>
#include <functional>
#include <map>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "common/clock.h"

namespace prometheus {
class Histogram;
class Registry;
template <typename T>
class Family;
}  // namespace prometheus

namespace berth::routing {

struct RoutingTable;
class Router;

class Activator {
 public:
  enum class Outcome {
    kReleased,  // the service has a ready replica now, or is gone: look it up again
    kTimedOut,  // the request's deadline passed first
    kStopped,   // the server is shutting down
  };
  // Called exactly once per held request, on the thread that publishes tables or on the
  // activator's own; it must not block.
  using Done = std::function<void(Outcome)>;

  struct Options {
    const Clock* clock = &RealClock();
    prometheus::Registry* registry = nullptr;  // berth_cold_start_seconds; may be null
    // Called (outside the activator's lock) when a service that held nothing holds a request,
    // so that the controller looks at it now rather than at its next pass.
    std::function<void()> wake;
    // The table a request was refused a replica under may be stale by the time it is held:
    // Hold looks at the latest one.
    const Router* router = nullptr;
  };

  explicit Activator(const Options& options);
  ~Activator();
  Activator(const Activator&) = delete;
  Activator& operator=(const Activator&) = delete;

  // Starts the thread that times held requests out. Tests call ExpireDue() instead.
  void Start();
  // Answers every held request with kStopped and stops the thread; later Holds are refused.
  void Stop();

  enum class HoldResult {
    kHeld,      // `done` will be called
    kReadyNow,  // the latest table has a ready replica (or no such service): look again
    kFull,      // the service already holds its limit, or the activator has stopped
  };
  // Holds a request for `service` until `deadline_ms` (monotonic). `done` is called only when
  // the result is kHeld.
  HoldResult Hold(const std::string& service, size_t limit, int64_t deadline_ms, Done done);

  // How many requests `service` holds now, and how many it has been asked to hold in all.
  size_t Held(const std::string& service) const;
  uint64_t Arrivals(const std::string& service) const;

  // After `table` was published: releases the requests of every service that has a ready
  // replica in it, or that it no longer has.
  void Published(const RoutingTable& table);

  // Times out the held requests whose deadline has passed; returns how many.
  size_t ExpireDue();

 private:
  struct Waiter {
    uint64_t id = 0;
    int64_t deadline_ms = 0;
    Done done;
  };
  struct Queue {
    std::vector<Waiter> waiters;
    uint64_t arrivals = 0;
    int64_t cold_since_ms = -1;  // when it began holding (for the cold-start histogram)
  };
  void Run();
  prometheus::Histogram* ColdStartFor(const std::string& service)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  const Options options_;
  prometheus::Family<prometheus::Histogram>* cold_start_ = nullptr;
  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::map<std::string, Queue> queues_ ABSL_GUARDED_BY(mu_);
  std::map<std::string, prometheus::Histogram*> histograms_ ABSL_GUARDED_BY(mu_);
  uint64_t next_id_ ABSL_GUARDED_BY(mu_) = 1;
  bool stopped_ ABSL_GUARDED_BY(mu_) = false;
  std::thread thread_;
};

}  // namespace berth::routing
