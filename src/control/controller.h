// The control plane's core: services, revisions and replicas converge from what the store
// says is wanted to what runs, one reconcile pass at a time on the controller's own thread
// (service -> revision -> replica set). It supervises replicas through a runtime driver
// (readiness, liveness, restart with backoff, crash loops, draining), adopts them again after
// a server restart, records every state change as an event, and publishes the gateway's
// routing table. Time comes from a Clock, so tests drive it with a fake clock and a fake
// driver, one ReconcileOnce() at a time. Thread-safe.
#pragma once

#include <atomic>
#include <condition_variable>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>

#include "absl/base/thread_annotations.h"
#include "control/autoscaler.h"
#include "control/canary_rollout.h"
#include "control/placer.h"
#include "control/planner.h"
#include "control/states.h"
#include "control/store.h"
#include "routing/activator.h"
#include "routing/routing.h"
#include "routing/traffic_stats.h"
#include "common/clock.h"
#include "runtime/driver.h"

namespace berth::control {

TimeMs NowMs();
// Lowercase letters and digits, for ids and file names (not secrets).
std::string RandomName(size_t length);

// The line of a worker's log tail that says most about how it ended: its last error (critical
// or error level), else its last line, without the time and level prefix of berth's text and
// JSON log formats; at most 500 characters.
std::string TellingLogLine(std::string_view tail);

struct ControllerOptions {
  std::string data_dir;
  // What the controller uses; it owns none of them. The traffic statistics are optional
  // (ready-replica counts for the console's charts).
  Store* store = nullptr;
  runtime::RuntimeDriver* driver = nullptr;
  routing::Router* router = nullptr;
  routing::TrafficStats* traffic = nullptr;
  // Requests held for services at zero (optional): they count as load, and every published
  // table goes to it so that it can release them.
  routing::Activator* activator = nullptr;
  // Whether a new replica fits beside the live ones' reservations; null: a LocalPlacer of
  // this machine.
  const Placer* placer = nullptr;
  const Clock* clock = &RealClock();
  // Between reconcile passes (10 ms while a replica is starting). 0: Start() runs no thread
  // and the caller drives passes with ReconcileOnce().
  int64_t reconcile_period_ms = 100;
  // Backoff between restarts of a crashing replica: doubles from the first up to the cap.
  int64_t restart_backoff_first_ms = 1000;
  int64_t restart_backoff_max_ms = 60000;
  // How revisions replace each other and how many replicas they get; null: ImmediateRollout
  // (with crashes_to_fail_revision) and FixedScale.
  const RolloutPolicy* rollout = nullptr;
  const ScalePolicy* scale = nullptr;
  // Crashes before a replica of a revision that never became ready fails the revision.
  int crashes_to_fail_revision = 3;
  int64_t startup_timeout_ms = 300000;
  int64_t drain_timeout_ms = 10000;
  int64_t liveness_period_ms = 1000;
  int liveness_failures_to_restart = 3;
  int engine_threads = 0;  // per replica when the spec sets no CPU limit (0: engine default)
};

class Controller {
 public:
  explicit Controller(const ControllerOptions& options);
  ~Controller();

  // Adopts or cleans up the replicas of an earlier run, then starts the reconcile thread.
  void Start();
  // One reconcile pass, on the caller's thread (tests; the thread runs these otherwise).
  void ReconcileOnce() { Reconcile(); }
  // Extra arguments for every worker started from now on (before Start()).
  void SetWorkerArgs(std::vector<std::string> args) { worker_args_ = std::move(args); }
  void Stop();
  // Asks for a reconcile pass now (after an API change).
  void Wake();

  // Appends an event (and logs it).
  void Event(const std::string& service, const std::string& object, const std::string& reason,
             const std::string& message);

  // Stops every replica's process (SIGTERM, then SIGKILL after a grace period); their rows
  // stay, so the next start brings them back. Call after Stop().
  void StopAllReplicas();

  runtime::RuntimeDriver& driver() const { return *driver_; }
  int RunningReplicas();
  // The autoscaler's last decision for `service`; nullopt when it has no autoscaling.
  std::optional<AutoscalerDecision> Recommendation(const std::string& service);
  // The share of `service`'s traffic each revision takes now, in percent, as the gateway routes
  // it (a revision without a ready replica takes none). Revisions that take none are absent.
  std::map<int, int> TrafficShares(const std::string& service) const;

 private:
  std::vector<std::string> worker_args_;
  std::atomic<bool> starting_{false};  // some replica is starting: reconcile more often
  struct Replica {
    ReplicaRecord record;
    std::unique_ptr<runtime::ReplicaHandle> handle;  // while it runs
    std::shared_ptr<routing::Endpoint> endpoint;  // while Ready
    // Monotonic times (the record's times are wall-clock ones, for people).
    int64_t next_start_ms = 0;
    int64_t state_since_ms = 0;
    int64_t ready_since_ms = 0;
    int64_t last_probe_ms = 0;
    int crashes_in_a_row = 0;
    int liveness_failures = 0;
    bool stop_requested = false;  // draining or failed: its exit is not a crash
    bool term_sent = false;
    // The endpoint's counters at the autoscaler's last reading.
    const routing::Endpoint* counted = nullptr;
    uint64_t counted_attempts = 0;
    uint64_t counted_busy_us = 0;
    double counted_cpu_seconds = -1;  // its CPU time at the last reading (-1: none yet)
  };

  void Run();
  void Recover();
  void Reconcile();
  void SuperviseReplica(Replica& r, int64_t now);
  // Plans the service (control/planner.h) and executes the plan, stopping at the first action
  // the store cannot record.
  void ReconcileService(ServiceRecord& service, int64_t now)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(replicas_mu_);
  // False when the store could not record it (the rest of the plan waits for the next pass).
  bool Execute(ServiceRecord& service, std::optional<RevisionRecord>& latest, const Action& action,
               int64_t now) ABSL_EXCLUSIVE_LOCKS_REQUIRED(replicas_mu_);
  // A new Pending replica of `revision`, recorded in the store and the event log.
  // Null when the store cannot record it (the pass for that service ends; the next retries).
  Replica* AddReplica(const std::string& service, int revision, int64_t now,
                      const std::string& why) ABSL_EXCLUSIVE_LOCKS_REQUIRED(replicas_mu_);
  // Logs a failed store write (every failure is counted in berth_store_errors_total by the
  // store); false when it failed, so that the caller does not act on what was not recorded.
  static bool Stored(const absl::Status& status, std::string_view what);
  void LaunchReplica(Replica& r, int64_t now);
  // Through the transition table (control/states.h).
  void SetState(Replica& r, ReplicaState to, const std::string& reason);
  void BeginDrain(Replica& r, const std::string& why);
  void OnExit(Replica& r, int64_t now);
  void PublishRoutes();
  // Keeps the newest kKeptFailedReplicas failed replicas of each service (their rows say why
  // they failed) and forgets older ones, so that a crash loop cannot grow the store.
  void ForgetOldFailedReplicas() ABSL_EXCLUSIVE_LOCKS_REQUIRED(replicas_mu_);
  static constexpr size_t kKeptFailedReplicas = 5;
  std::string RevisionRepository(const std::string& service, int revision) const;
  // The most telling line at the end of the replica's log (why it exited).
  std::string LastLogLine(const std::string& id) const;
  int64_t Now() const { return clock_.MonotonicMs(); }

  const ControllerOptions options_;
  Store* const store_;
  runtime::RuntimeDriver* const driver_;
  routing::Router* const router_;
  routing::TrafficStats* const traffic_;
  const Clock& clock_;
  const CanaryRollout default_rollout_;
  const SpecScale default_scale_;
  const LocalPlacer default_placer_;
  const Placer* const placer_;
  // What the live replicas have reserved (their revisions' resources).
  Resources Reserved() ABSL_EXCLUSIVE_LOCKS_REQUIRED(replicas_mu_);
  // The last capacity refusal told per service, so that a wait is one event, not one a pass.
  std::map<std::string, std::string> capacity_refusals_ ABSL_GUARDED_BY(replicas_mu_);
  const RolloutPolicy* const rollout_;
  const ScalePolicy* const scale_;

  std::mutex wake_mu_;
  std::condition_variable wake_cv_;
  bool woken_ ABSL_GUARDED_BY(wake_mu_) = false;
  bool stopping_ ABSL_GUARDED_BY(wake_mu_) = false;
  std::thread thread_;

  std::mutex replicas_mu_;  // the reconcile thread writes; RunningReplicas reads
  std::map<std::string, Replica> replicas_ ABSL_GUARDED_BY(replicas_mu_);
  // Each service's traffic weights from its last plan that was executed whole.
  std::map<std::string, std::vector<TrafficWeight>> weights_ ABSL_GUARDED_BY(replicas_mu_);

  // The autoscaler of each service whose spec asks for one, for its latest revision.
  struct Autoscaled {
    int revision = 0;
    nlohmann::json settings;  // the spec's "autoscaling" it was made from
    std::unique_ptr<Autoscaler> autoscaler;
    int64_t last_reading_ms = -1;
    uint64_t held_arrivals = 0;  // the activator's count at the last reading
    std::optional<AutoscalerDecision> last;
  };
  std::map<std::string, Autoscaled> autoscaled_ ABSL_GUARDED_BY(replicas_mu_);
  // Feeds the service's load (at most one reading a second, at once when a service at zero
  // holds a request) to its autoscaler and returns the recommendation; nullopt for a service
  // without autoscaling. Concurrency is the mean over the interval (the busy time its
  // replicas' requests added, divided by the interval; the requests in flight when that is
  // more), requests per second the attempts sent, CPU the percent of each replica's CPU limit
  // it used over the interval (summed); requests the activator holds count in each.
  std::optional<int> Autoscale(const ServiceRecord& service, const ServiceView& view,
                               int64_t now) ABSL_EXCLUSIVE_LOCKS_REQUIRED(replicas_mu_);
};

// Directory layout of a data directory.
std::string RevisionDirectory(const std::string& data_dir, const std::string& service,
                              int revision);

}  // namespace berth::control
