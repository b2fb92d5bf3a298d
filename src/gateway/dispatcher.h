// The one path every data-plane request takes through the gateway, whatever its transport:
//
//   Admit     authenticate, authorize (invoke:SERVICE), find the service's route
//   Pick      choose a replica (revision by weight, then the less busy of two)
//   Complete  passive health of that replica and the retry decision, from the transport's
//             outcome (did it answer, was the connection stale, did it time out), never from
//             the text of an error
//   Finish    traffic statistics (per service and per revision) and Prometheus metrics
//
// The HTTP and gRPC fronts only move bytes between these steps. Authentication reads the
// Authenticator's snapshot: no lock, no store call. Thread-safe.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>

#include "absl/status/statusor.h"
#include "common/clock.h"
#include "control/auth.h"
#include "routing/activator.h"
#include "routing/routing.h"
#include "routing/traffic_stats.h"

namespace prometheus {
class Counter;
class Histogram;
class Registry;
template <typename T>
class Family;
}  // namespace prometheus

namespace berth::gateway {

enum class Transport { kHttp, kGrpc };

// Which revision served an answer: an HTTP response header, and gRPC trailing metadata.
inline constexpr char kRevisionHeader[] = "Berth-Revision";
inline constexpr char kRevisionMetadata[] = "berth-revision";

// What one attempt on a replica came to, as its transport saw it.
enum class AttemptOutcome {
  kAnswered,         // the replica answered, whatever it said
  kUnreachable,      // no connection, or it broke before the answer was complete
  kStaleConnection,  // a pooled keep-alive connection the replica had already closed
  kTimedOut,         // the gateway's own timeout passed while waiting for the answer
  kLocalResources,   // the gateway itself ran out of descriptors or memory
};

// How an HTTP attempt ended, as the proxy saw its connection.
struct HttpAttempt {
  bool failed = false;           // an error before the whole answer was read
  bool local_resources = false;  // the error was the gateway's own (EMFILE, ENOMEM)
  bool connected = false;        // a connection to the replica was open
  bool reused = false;           // it was a pooled keep-alive connection
  bool timed_out = false;        // the gateway's timeout passed
};
AttemptOutcome ClassifyHttpAttempt(const HttpAttempt& attempt);

// UNAVAILABLE is what gRPC reports when it could not reach the replica or lost it mid-call
// (and what a worker says when its queue is full or its model is unloading): another replica
// may serve it. Any other code is the replica's answer. `code` is a grpc::StatusCode.
AttemptOutcome ClassifyGrpcStatus(int code);

// A request the dispatcher has let in, from Admit to Finish. Holds the routing snapshot it
// was admitted under, so that its route stays valid however the table changes.
struct Admission {
  Transport transport = Transport::kHttp;
  control::Principal principal;
  std::shared_ptr<const routing::RoutingTable> table;
  const routing::ServiceRoute* route = nullptr;
  std::shared_ptr<routing::Endpoint> endpoint;  // the replica of the current or last attempt
  int attempts = 0;
  bool in_flight = false;  // between Pick and Complete
  // False once the request cannot be sent again (a stream whose messages went up).
  bool retryable = true;
  std::chrono::steady_clock::time_point start;
  std::chrono::steady_clock::time_point attempt_start;  // of the attempt in flight
  bool held = false;             // it waited for a replica to start (once at most)
  int64_t pinned_revision = 0;   // the revision its header asks for (PinByHeader)
  // The retry budget's counts (Dispatcher): held while the request is active, and while a
  // retry of it is in flight. Shared, so that copies count once and the count ends with the
  // last of them.
  std::shared_ptr<void> active_token;
  std::shared_ptr<void> retry_token;

  const std::string& service() const { return route->name; }
  // The name `replica` (one of this service's) serves the model under: its revision's V2
  // model name where it has one, else the service's.
  const std::string& ModelNameAt(const routing::Endpoint& replica) const {
    return replica.model_name().empty() ? service() : replica.model_name();
  }
};

// What the request log keeps of a request besides its outcome.
struct RequestDetails {
  int64_t batch_rows = 0;   // the size of the batch it ran in, when the worker said (0: unknown)
  std::string_view method;  // "POST"; empty for gRPC
  std::string_view route;   // the path without its query, or the RPC's name
  uint64_t bytes_in = 0;
  uint64_t bytes_out = 0;
};

// One service in the gateway's repository index (Triton's RepositoryIndex): READY while a
// replica takes its traffic, UNAVAILABLE otherwise.
struct IndexEntry {
  std::string name;
  std::string state;
  std::string reason;
};

// The V2 extensions the gateway carries (its /v2 and ServerMetadata list them). Shared memory,
// repository load and unload, trace and log settings are the worker's own; the gateway
// answers them with the reason.
inline constexpr std::string_view kGatewayExtensions[] = {
    "binary_tensor_data", "classification", "model_configuration", "statistics",
    "schedule_policy",    "parameters"};

struct DispatcherOptions {
  control::Authenticator* auth = nullptr;
  routing::Router* router = nullptr;
  routing::TrafficStats* traffic = nullptr;  // may be null
  // Holds requests for services that scale from zero; null: they are refused while at zero.
  routing::Activator* activator = nullptr;
  prometheus::Registry* registry = nullptr;  // may be null
  const Clock* clock = &RealClock();
  // Attempts per request, the first included; retries go to another replica when there is
  // one.
  int max_attempts = 2;
  // The retry budget: retries in flight at most this share of the requests active, or
  // retry_budget_min when that is more, so that a failing revision never makes a retry storm.
  double retry_budget = 0.2;
  int retry_budget_min = 3;
  // At most this share of a revision's replicas is ejected at once (at least one may be).
  double max_ejected_share = 0.5;
  // Overload: a request is refused (503, before its body is read) when every replica that
  // could take it already has this many requests in flight; 0: no limit.
  int max_in_flight_per_replica = 64;
};

class Dispatcher {
 public:
  explicit Dispatcher(const DispatcherOptions& options);

  // For calls that need a valid key but name no service (server metadata, private health).
  absl::StatusOr<control::Principal> Authenticate(std::string_view authorization) const;

  // Unauthenticated (no or bad key), PermissionDenied (the key may not call `service`) or
  // NotFound (no such service). A refused key is counted in the service's statistics and
  // request log (with `request`'s method and route), so that a service's owner sees the
  // callers it turns away.
  absl::StatusOr<Admission> Admit(Transport transport, std::string_view authorization,
                                  std::string_view service,
                                  const RequestDetails& request = {}) const;
  // The same for a caller authenticated by other means (a console session).
  absl::StatusOr<Admission> Admit(Transport transport, control::Principal principal,
                                  std::string_view service,
                                  const RequestDetails& request = {}) const;

  // The service `name` stands for now (itself, or the service whose V2 model name it is); the
  // name as given when none.
  std::string ServiceNameOf(std::string_view name) const;

  // The services `principal` may call, by name; only the ready ones when `ready_only`.
  std::vector<IndexEntry> Index(const control::Principal& principal, bool ready_only) const;

  // The replica for the next attempt, counted in flight until Complete: another one than the
  // last attempt's while there is one (the only replica gets the retry itself). Unavailable
  // when the service has no ready replica.
  absl::StatusOr<std::shared_ptr<routing::Endpoint>> Pick(Admission& admission) const;

  // A/B by header: `header_value` is the request's value of its route's pin_header (empty
  // when absent); a match sends its attempts to the route's pin_revision.
  static void PinByHeader(Admission& admission, std::string_view header_value) {
    const routing::ServiceRoute& route = *admission.route;
    if (!route.pin_header.empty() && header_value == route.pin_value) {
      admission.pinned_revision = route.pin_revision;
    }
  }

  // Shadow traffic: a replica of the route's shadow revision to copy this request to, or null
  // (not sampled, the shadow revision is the one that served it, or it has no replica with
  // room: a shadow copy is dropped, never queued, when the shadow revision is busy). The
  // replica is counted in flight until EndShadow.
  std::shared_ptr<routing::Endpoint> PickShadow(const Admission& admission,
                                                const routing::Endpoint& served) const;
  // Ends a shadow attempt: its figures go to the shadow revision's statistics only.
  void EndShadow(const Admission& admission, routing::Endpoint& replica, int code,
                 double latency_ms) const;
  // A shadow copy is dropped when every replica of the shadow revision has this many
  // requests in flight.
  static constexpr int kMaxShadowInFlight = 4;

  // Unavailable when every ready replica the request could go to has max_in_flight_per_replica
  // requests in flight (the fronts answer it before reading its body, so that a refusal costs
  // next to nothing); OK otherwise, and when there is no replica (Pick or Hold decides then).
  absl::Status CheckCapacity(const Admission& admission) const;

  // Whether the request should wait for a replica rather than be refused: Pick found none,
  // its service holds requests while it starts one (it scales to zero) and it has not waited
  // already.
  bool ShouldHold(const Admission& admission) const;
  // Holds the request until its service has a ready replica. `done` is called once (possibly
  // before Hold returns, on any thread) with OK when the request should be picked again (the
  // admission then routes by the latest table), NotFound when the service is gone, or
  // Unavailable when its queue is full or the service's cold-start timeout passed first.
  void Hold(Admission& admission, std::function<void(absl::Status)> done) const;

  // Ends the attempt Pick began. Returns true when the request should be tried again (Pick
  // again, then send): the replica did not answer, or a stale pooled connection was used,
  // attempts remain and the retry budget allows it (retries away from an ejected replica are
  // outside the budget). A replica that did not answer (or timed
  // out) counts a failure toward its ejection; stale connections and the gateway's own
  // shortages never count against it.
  bool Complete(Admission& admission, AttemptOutcome outcome) const;

  // Ends the request: `code` is the HTTP status (HTTP) or the gRPC status code (gRPC). Counts
  // it and adds it to the service's request log.
  void Finish(const Admission& admission, int code, const RequestDetails& details = {}) const;

  const Clock& clock() const { return *options_.clock; }

  // How much of a request's path the request log keeps.
  static constexpr size_t kMaxLoggedRoute = 256;

  // Whether `code` of `transport` is the server's fault (counted as an error in statistics).
  static bool IsServerError(Transport transport, int code);
  // Success, the caller's error or the server's, for `code` of `transport`.
  static routing::RequestResult ResultOf(Transport transport, int code);

 private:
  struct Metrics;
  Metrics& MetricsFor(const Admission& admission, int code) const;

  const DispatcherOptions options_;
  prometheus::Family<prometheus::Counter>* requests_ = nullptr;
  prometheus::Family<prometheus::Histogram>* latency_ = nullptr;
  prometheus::Counter* retries_ = nullptr;
  prometheus::Counter* retries_refused_ = nullptr;
  prometheus::Counter* ejections_ = nullptr;
  prometheus::Counter* shed_ = nullptr;
  prometheus::Counter* shadows_sent_ = nullptr;
  prometheus::Counter* shadows_dropped_ = nullptr;
  // Whether `endpoint` may be ejected now: the share of its revision's replicas ejected stays
  // within max_ejected_share.
  bool MayEject(const Admission& admission, const routing::Endpoint& endpoint,
                int64_t now_ms) const;
  // For the retry budget.
  std::shared_ptr<std::atomic<int64_t>> active_ = std::make_shared<std::atomic<int64_t>>(0);
  std::shared_ptr<std::atomic<int64_t>> retrying_ = std::make_shared<std::atomic<int64_t>>(0);
  // Tells apart dispatchers in one process for the per-thread metric caches.
  const uint64_t instance_;
};

}  // namespace berth::gateway
