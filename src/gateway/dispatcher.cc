#include "gateway/dispatcher.h"

#include <algorithm>
#include <atomic>
#include <unordered_map>

#include "absl/status/status.h"
#include "common/error_mapping.h"
#include "common/strings.h"
#include "prometheus/counter.h"
#include "prometheus/histogram.h"
#include "prometheus/registry.h"

namespace berth::gateway {
namespace {

std::string_view TransportName(Transport transport) {
  return transport == Transport::kHttp ? "http" : "grpc";
}

// gRPC's status codes by name, as Prometheus labels give them. absl's codes are gRPC's, number
// for number.
std::string GrpcCodeName(int code) {
  const std::string name = absl::StatusCodeToString(static_cast<absl::StatusCode>(code));
  return name.empty() ? "UNKNOWN" : name;
}

uint64_t NextInstance() {
  static std::atomic<uint64_t> next{1};
  return next.fetch_add(1);
}

}  // namespace

AttemptOutcome ClassifyHttpAttempt(const HttpAttempt& attempt) {
  if (!attempt.failed) return AttemptOutcome::kAnswered;
  if (attempt.local_resources) return AttemptOutcome::kLocalResources;
  if (!attempt.connected) return AttemptOutcome::kUnreachable;
  if (attempt.timed_out) return AttemptOutcome::kTimedOut;
  // A pooled connection that fails at once was closed by the worker while it sat idle.
  if (attempt.reused) return AttemptOutcome::kStaleConnection;
  return AttemptOutcome::kUnreachable;
}

AttemptOutcome ClassifyGrpcStatus(int code) {
  constexpr int kUnavailable = 14;
  return code == kUnavailable ? AttemptOutcome::kUnreachable : AttemptOutcome::kAnswered;
}

struct Dispatcher::Metrics {
  prometheus::Counter* requests = nullptr;
  prometheus::Histogram* latency = nullptr;
};

Dispatcher::Dispatcher(const DispatcherOptions& options)
    : options_(options), instance_(NextInstance()) {
  if (options_.registry == nullptr) return;
  requests_ = &prometheus::BuildCounter()
                   .Name("berth_gateway_requests_total")
                   .Help("Data-plane requests through the gateway, by service, protocol (http, "
                         "grpc) and status (the HTTP status, or the gRPC code's name)")
                   .Register(*options_.registry);
  latency_ = &prometheus::BuildHistogram()
                  .Name("berth_gateway_request_duration_seconds")
                  .Help("Data-plane request latency through the gateway, retries included")
                  .Register(*options_.registry);
  retries_ = &prometheus::BuildCounter()
                  .Name("berth_gateway_retries_total")
                  .Help("Requests sent again to another replica after the first did not answer")
                  .Register(*options_.registry)
                  .Add({});
  retries_refused_ = &prometheus::BuildCounter()
                          .Name("berth_gateway_retries_refused_total")
                          .Help("Retries the retry budget refused (retries in flight at their "
                                "share of the active requests)")
                          .Register(*options_.registry)
                          .Add({});
  ejections_ = &prometheus::BuildCounter()
                    .Name("berth_gateway_ejections_total")
                    .Help("Replicas ejected from balancing after failures in a row")
                    .Register(*options_.registry)
                    .Add({});
  shed_ = &prometheus::BuildCounter()
               .Name("berth_gateway_shed_total")
               .Help("Requests refused before their body was read because every replica that "
                     "could take them was at its in-flight limit")
               .Register(*options_.registry)
               .Add({});
  auto& shadows = prometheus::BuildCounter()
                      .Name("berth_gateway_shadow_requests_total")
                      .Help("Shadow copies of requests by outcome: sent to the shadow revision, "
                            "or dropped because it had no replica with room")
                      .Register(*options_.registry);
  shadows_sent_ = &shadows.Add({{"outcome", "sent"}});
  shadows_dropped_ = &shadows.Add({{"outcome", "dropped"}});
}

absl::Status Dispatcher::CheckCapacity(const Admission& admission) const {
  const int limit = options_.max_in_flight_per_replica;
  if (limit <= 0) return absl::OkStatus();
  size_t replicas = 0;
  for (const routing::RevisionRoute& revision : admission.route->revisions) {
    if (revision.weight <= 0 && revision.revision != admission.pinned_revision) continue;
    for (const auto& e : revision.endpoints) {
      if (e->in_flight.load(std::memory_order_relaxed) < limit) return absl::OkStatus();
      ++replicas;
    }
  }
  if (replicas == 0) return absl::OkStatus();
  if (shed_ != nullptr) shed_->Increment();
  return absl::UnavailableError(StrCat(
      "service '", admission.service(), "' is at capacity: its ", replicas, " replica(s) hold ",
      limit, " requests each; retry shortly"));
}

std::shared_ptr<routing::Endpoint> Dispatcher::PickShadow(const Admission& admission,
                                                          const routing::Endpoint& served) const {
  const routing::ServiceRoute& route = *admission.route;
  if (route.shadow_percent <= 0 || route.shadow_revision <= 0 ||
      served.revision() == route.shadow_revision) {
    return nullptr;
  }
  thread_local uint64_t sampled = 0;
  // Every request counts; one in (100 / percent) is copied, evenly spread.
  const uint64_t n = ++sampled;
  if ((n * static_cast<uint64_t>(route.shadow_percent)) / 100 ==
      ((n - 1) * static_cast<uint64_t>(route.shadow_percent)) / 100) {
    return nullptr;
  }
  std::shared_ptr<routing::Endpoint> best;
  for (const routing::RevisionRoute& revision : route.revisions) {
    if (revision.revision != route.shadow_revision) continue;
    for (const auto& e : revision.endpoints) {
      if (e->Ejected(options_.clock->MonotonicMs())) continue;
      if (!best || e->in_flight.load() < best->in_flight.load()) best = e;
    }
  }
  if (!best || best->in_flight.load(std::memory_order_relaxed) >= kMaxShadowInFlight) {
    if (shadows_dropped_ != nullptr) shadows_dropped_->Increment();
    return nullptr;
  }
  best->in_flight.fetch_add(1, std::memory_order_relaxed);
  best->attempts.fetch_add(1, std::memory_order_relaxed);
  if (shadows_sent_ != nullptr) shadows_sent_->Increment();
  return best;
}

void Dispatcher::EndShadow(const Admission& admission, routing::Endpoint& replica, int code,
                           double latency_ms) const {
  replica.in_flight.fetch_sub(1, std::memory_order_relaxed);
  replica.busy_us.fetch_add(static_cast<uint64_t>(std::max(latency_ms, 0.0) * 1000),
                            std::memory_order_relaxed);
  if (options_.traffic != nullptr) {
    options_.traffic->RecordShadow(admission.service(), options_.clock->WallMs(), latency_ms,
                                   ResultOf(admission.transport, code), replica.revision());
  }
}

namespace {

// A count held while the token lives.
std::shared_ptr<void> CountWhileHeld(const std::shared_ptr<std::atomic<int64_t>>& count) {
  count->fetch_add(1, std::memory_order_relaxed);
  return std::shared_ptr<void>(nullptr, [count](void*) {
    count->fetch_sub(1, std::memory_order_relaxed);
  });
}

}  // namespace

bool Dispatcher::MayEject(const Admission& admission, const routing::Endpoint& endpoint,
                          int64_t now_ms) const {
  for (const routing::RevisionRoute& revision : admission.route->revisions) {
    if (revision.revision != endpoint.revision()) continue;
    size_t ejected = 0;
    for (const auto& e : revision.endpoints) ejected += e->Ejected(now_ms) ? 1 : 0;
    const auto allowed = std::max<size_t>(
        1, static_cast<size_t>(options_.max_ejected_share *
                               static_cast<double>(revision.endpoints.size())));
    return ejected + 1 <= allowed;
  }
  return true;  // not in the table it was admitted under: nothing to protect
}

absl::StatusOr<control::Principal> Dispatcher::Authenticate(std::string_view authorization) const {
  return options_.auth->FromAuthorization(authorization);
}

absl::StatusOr<Admission> Dispatcher::Admit(Transport transport, std::string_view authorization,
                                            std::string_view service,
                                            const RequestDetails& request) const {
  absl::StatusOr<control::Principal> principal = Authenticate(authorization);
  if (!principal.ok()) return principal.status();
  return Admit(transport, *std::move(principal), service, request);
}

absl::StatusOr<Admission> Dispatcher::Admit(Transport transport, control::Principal principal,
                                            std::string_view service,
                                            const RequestDetails& request) const {
  Admission admission;
  admission.transport = transport;
  admission.start = std::chrono::steady_clock::now();
  admission.table = options_.router->Snapshot();
  // A V2 model name stands for its service; the key's scope names the service. A key that
  // may not call it learns nothing of whether it exists.
  admission.route = admission.table->Find(service);
  const std::string_view name =
      admission.route != nullptr ? std::string_view(admission.route->name) : service;
  admission.principal = std::move(principal);
  if (!control::Allows(admission.principal, StrCat("invoke:", name))) {
    absl::Status denied = absl::PermissionDeniedError(
        StrCat("the API key '", admission.principal.key_name, "' may not call service '", name,
               "' (it needs the invoke, invoke:", name, ", deploy or admin scope)"));
    if (admission.route != nullptr) {
      Finish(admission,
             transport == Transport::kGrpc ? static_cast<int>(denied.code())
                                           : common::HttpStatusFromStatus(denied),
             request);
    }
    return denied;
  }
  if (admission.route == nullptr) {
    return absl::NotFoundError(
        StrCat("no service named '", service, "'; `berth services` lists them"));
  }
  return admission;
}

std::string Dispatcher::ServiceNameOf(std::string_view name) const {
  const auto table = options_.router->Snapshot();
  const routing::ServiceRoute* route = table->Find(name);
  return route != nullptr ? route->name : std::string(name);
}

std::vector<IndexEntry> Dispatcher::Index(const control::Principal& principal,
                                          bool ready_only) const {
  const auto table = options_.router->Snapshot();
  std::vector<IndexEntry> out;
  for (const auto& [name, route] : table->services) {
    if (!control::Allows(principal, StrCat("invoke:", name))) continue;
    const bool ready = route.ReadyReplicas() > 0;
    if (ready_only && !ready) continue;
    // Triton's clients call a model by the name the index gives.
    out.push_back({route.model_name.empty() ? name : route.model_name,
                   ready ? "READY" : "UNAVAILABLE",
                   ready                             ? ""
                   : route.cold_start_timeout_ms > 0 ? "scaled to zero: a request starts a replica"
                                                     : StrCat("no replica is ready; berth "
                                                              "describe ", name, " shows why")});
  }
  std::sort(out.begin(), out.end(),
            [](const IndexEntry& a, const IndexEntry& b) { return a.name < b.name; });
  return out;
}

absl::StatusOr<std::shared_ptr<routing::Endpoint>> Dispatcher::Pick(Admission& admission) const {
  std::shared_ptr<routing::Endpoint> endpoint =
      routing::Router::Pick(*admission.route, admission.endpoint.get(),
                            options_.clock->MonotonicMs(), nullptr, admission.pinned_revision);
  // A retry with no other replica goes to the same one again.
  if (!endpoint && admission.attempts > 0) endpoint = admission.endpoint;
  if (!endpoint) {
    return absl::UnavailableError(StrCat("service '", admission.service(),
                                         "' has no ready replica yet; retry shortly (berth "
                                         "describe ",
                                         admission.service(), ")"));
  }
  admission.endpoint = endpoint;
  ++admission.attempts;
  admission.in_flight = true;
  admission.attempt_start = std::chrono::steady_clock::now();
  if (!admission.active_token) admission.active_token = CountWhileHeld(active_);
  endpoint->in_flight.fetch_add(1, std::memory_order_relaxed);
  endpoint->attempts.fetch_add(1, std::memory_order_relaxed);
  return endpoint;
}

bool Dispatcher::ShouldHold(const Admission& admission) const {
  return options_.activator != nullptr && !admission.held && admission.attempts == 0 &&
         admission.route->cold_start_timeout_ms > 0 && admission.route->ReadyReplicas() == 0;
}

void Dispatcher::Hold(Admission& admission, std::function<void(absl::Status)> done) const {
  admission.held = true;
  const routing::ServiceRoute& route = *admission.route;
  const std::string service = route.name;
  const int64_t timeout_ms = route.cold_start_timeout_ms;
  // Looks the service up again in the latest table: the one it was admitted under has no
  // replica for it.
  auto refresh = [this, &admission, service]() -> absl::Status {
    admission.table = options_.router->Snapshot();
    admission.route = admission.table->Find(service);
    if (admission.route != nullptr) return absl::OkStatus();
    return absl::NotFoundError(StrCat("service '", service, "' was deleted while it started"));
  };
  const routing::Activator::HoldResult result = options_.activator->Hold(
      service, route.hold_limit, options_.clock->MonotonicMs() + timeout_ms,
      [refresh, done, service, timeout_ms](routing::Activator::Outcome outcome) {
        switch (outcome) {
          case routing::Activator::Outcome::kReleased:
            done(refresh());
            return;
          case routing::Activator::Outcome::kTimedOut:
            done(absl::UnavailableError(StrCat(
                "service '", service, "' is starting a replica and none was ready within its "
                "cold-start timeout of ", timeout_ms / 1000.0, " s; retry shortly (berth "
                "describe ", service, " shows why)")));
            return;
          case routing::Activator::Outcome::kStopped:
            done(absl::UnavailableError("the server is shutting down; retry shortly"));
            return;
        }
      });
  switch (result) {
    case routing::Activator::HoldResult::kHeld:
      return;
    case routing::Activator::HoldResult::kReadyNow:
      done(refresh());
      return;
    case routing::Activator::HoldResult::kFull:
      done(absl::UnavailableError(StrCat(
          "service '", service, "' is starting a replica and already holds ", route.hold_limit,
          " requests waiting for it; retry shortly")));
      return;
  }
}

bool Dispatcher::Complete(Admission& admission, AttemptOutcome outcome) const {
  if (!admission.endpoint) return false;  // no attempt was made
  routing::Endpoint& endpoint = *admission.endpoint;
  if (admission.in_flight) {
    endpoint.in_flight.fetch_sub(1, std::memory_order_relaxed);
    const auto took = std::chrono::duration_cast<std::chrono::microseconds>(
        std::chrono::steady_clock::now() - admission.attempt_start);
    endpoint.busy_us.fetch_add(static_cast<uint64_t>(std::max<int64_t>(took.count(), 0)),
                               std::memory_order_relaxed);
    admission.in_flight = false;
  }
  admission.retry_token.reset();  // this attempt, if it was a retry, is over
  bool retry = false;
  const auto failure = [&] {
    const int64_t now = options_.clock->MonotonicMs();
    if (endpoint.RecordFailure(now, MayEject(admission, endpoint, now)) && ejections_) {
      ejections_->Increment();
    }
  };
  switch (outcome) {
    case AttemptOutcome::kAnswered:
      endpoint.RecordSuccess();
      break;
    case AttemptOutcome::kUnreachable:
      failure();
      retry = true;
      break;
    case AttemptOutcome::kStaleConnection:
      retry = true;
      break;
    case AttemptOutcome::kTimedOut:
      // It may still be working on it: sending it again elsewhere would double the work.
      failure();
      break;
    case AttemptOutcome::kLocalResources:
      break;
  }
  retry = retry && admission.retryable && admission.attempts < options_.max_attempts;
  if (!retry) return false;
  // A stale pooled connection never reached the replica: its retry is the first real attempt
  // and costs no budget. Neither does a retry away from a replica its failures have ejected:
  // the trouble is that replica's (killed, stopped), not the revision's, and the requests it
  // held fail together when it goes.
  const bool replica_out = endpoint.Ejected(options_.clock->MonotonicMs());
  if (outcome != AttemptOutcome::kStaleConnection && !replica_out) {
    const double budget = std::max<double>(
        options_.retry_budget_min,
        options_.retry_budget * static_cast<double>(active_->load(std::memory_order_relaxed)));
    if (static_cast<double>(retrying_->load(std::memory_order_relaxed)) + 1 > budget) {
      if (retries_refused_ != nullptr) retries_refused_->Increment();
      return false;
    }
    admission.retry_token = CountWhileHeld(retrying_);
  }
  if (retries_ != nullptr) retries_->Increment();
  return true;
}

bool Dispatcher::IsServerError(Transport transport, int code) {
  if (transport == Transport::kHttp) return code >= 500;
  // UNKNOWN, DEADLINE_EXCEEDED, UNIMPLEMENTED, INTERNAL, UNAVAILABLE, DATA_LOSS.
  return code == 2 || code == 4 || code == 12 || code == 13 || code == 14 || code == 15;
}

routing::RequestResult Dispatcher::ResultOf(Transport transport, int code) {
  if (IsServerError(transport, code)) return routing::RequestResult::kServerError;
  const bool ok = transport == Transport::kHttp ? code < 400 : code == 0;
  return ok ? routing::RequestResult::kSuccess : routing::RequestResult::kClientError;
}

Dispatcher::Metrics& Dispatcher::MetricsFor(const Admission& admission, int code) const {
  // Looking a labelled metric up in its family builds a label map and takes the family's lock;
  // each thread keeps the ones it has used (they live as long as the registry). Only services
  // that exist are ever labels: a caller cannot grow the set by naming others.
  thread_local std::unordered_map<std::string, Metrics> cache;
  thread_local uint64_t cache_owner = 0;
  if (cache_owner != instance_) {
    cache.clear();
    cache_owner = instance_;
  }
  const std::string_view protocol = TransportName(admission.transport);
  const std::string code_label = admission.transport == Transport::kHttp
                                     ? std::to_string(code)
                                     : GrpcCodeName(code);
  std::string key = StrCat(admission.service(), "/", protocol, "/", code_label);
  auto it = cache.find(key);
  if (it == cache.end()) {
    Metrics m;
    m.requests = &requests_->Add({{"service", admission.service()},
                                  {"protocol", std::string(protocol)},
                                  {"code", code_label}});
    m.latency = &latency_->Add(
        {{"service", admission.service()}, {"protocol", std::string(protocol)}},
        prometheus::Histogram::BucketBoundaries{0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05,
                                                0.1, 0.25, 0.5, 1, 2.5, 5, 10});
    if (cache.size() > 4096) cache.clear();
    it = cache.emplace(std::move(key), m).first;
  }
  return it->second;
}

void Dispatcher::Finish(const Admission& admission, int code,
                        const RequestDetails& details) const {
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - admission.start).count();
  const int64_t revision = admission.endpoint ? admission.endpoint->revision() : 0;
  if (options_.traffic != nullptr) {
    const int64_t now_ms = options_.clock->WallMs();
    routing::RequestEntry entry;
    entry.time_ms = now_ms;
    const bool grpc = admission.transport == Transport::kGrpc;
    entry.protocol = grpc ? "grpc" : "http";
    entry.method = grpc ? std::string("gRPC") : std::string(details.method);
    // A path is the caller's: only so much of it is kept.
    entry.route = std::string(details.route.substr(0, kMaxLoggedRoute));
    entry.status =
        grpc ? common::HttpStatusFromStatus(absl::Status(static_cast<absl::StatusCode>(code), ""))
             : code;
    entry.grpc_code = grpc ? code : -1;
    entry.latency_ms = seconds * 1000;
    entry.revision = revision;
    if (admission.endpoint) entry.replica = admission.endpoint->replica_id();
    entry.key = admission.principal.key_name;
    entry.bytes_in = details.bytes_in;
    entry.bytes_out = details.bytes_out;
    // One lookup and one lock for the statistics and the log.
    options_.traffic->Record(admission.service(), now_ms, seconds * 1000,
                             ResultOf(admission.transport, code), details.batch_rows, revision,
                             &entry);
  }
  if (requests_ != nullptr) {
    Metrics& m = MetricsFor(admission, code);
    m.requests->Increment();
    m.latency->Observe(seconds);
  }
}

}  // namespace berth::gateway
