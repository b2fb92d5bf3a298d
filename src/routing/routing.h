// Where a service's traffic can go: an immutable snapshot of the revisions that take traffic,
// each with its weight and its ready replicas, published by the controller and read lock-free
// on every request, plus per-replica balancing state that survives snapshots (in-flight count,
// ejection, idle upstream connections). Shared by the controller (which publishes) and the
// gateway (which reads); depends on neither. Thread-safe.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <unordered_map>
#include <vector>

#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/tcp_stream.hpp>

#include "absl/base/thread_annotations.h"

namespace berth::routing {

// A keep-alive connection to a worker, with the buffer that belongs to it.
struct UpstreamConnection {
  explicit UpstreamConnection(boost::asio::any_io_executor executor) : stream(executor) {}
  boost::beast::tcp_stream stream;
  boost::beast::flat_buffer buffer;
  bool reused = false;
  int64_t idle_since_ms = 0;  // monotonic, when it went back to the pool
};

// One ready replica as the gateway sees it. Times are monotonic milliseconds (Clock).
class Endpoint {
 public:
  // Passive health (circuit breaking): this many failures in a row eject the replica for
  // kEjectMs times the ejections it has had in a row (at most kMaxEjectMs); a replica back
  // for kMaxEjectMs starts again from one. The dispatcher keeps at most half of a revision's
  // replicas ejected.
  static constexpr int kFailuresToEject = 5;
  static constexpr int64_t kEjectMs = 30'000;
  static constexpr int64_t kMaxEjectMs = 300'000;
  // A pooled connection is dropped after this long idle: well before a worker closes its idle
  // connections (120 s), so that the gateway does not find them closed.
  static constexpr int64_t kMaxIdleMs = 50'000;
  static constexpr size_t kMaxIdleConnections = 256;

  Endpoint(std::string replica_id, int64_t revision, std::string host, int http_port,
           int grpc_port, std::string model_name = "")
      : replica_id_(std::move(replica_id)),
        revision_(revision),
        host_(std::move(host)),
        url_host_(host_.find(':') == std::string::npos ? host_ : "[" + host_ + "]"),
        http_port_(http_port),
        grpc_port_(grpc_port),
        model_name_(std::move(model_name)) {}

  const std::string& replica_id() const { return replica_id_; }
  int64_t revision() const { return revision_; }
  // An address literal (IPv4 or IPv6), never a name to resolve.
  const std::string& host() const { return host_; }
  // The host as a URL, a Host header or a gRPC target writes it (an IPv6 literal bracketed).
  const std::string& url_host() const { return url_host_; }
  int http_port() const { return http_port_; }
  int grpc_port() const { return grpc_port_; }
  // The name the replica serves its model under: the service's V2 model name where its
  // revision gives one (a Triton-style name such as densenet_onnx), else empty (the service's
  // own name).
  const std::string& model_name() const { return model_name_; }

  std::atomic<int> in_flight{0};
  // For the autoscaler: attempts sent to it, and the time they took in all (microseconds,
  // added when each ends), so that its mean concurrency over a second is the busy time added
  // in it. Relaxed counters.
  std::atomic<uint64_t> attempts{0};
  std::atomic<uint64_t> busy_us{0};

  bool Ejected(int64_t now_ms) const { return ejected_until_ms_.load() > now_ms; }
  // A failure toward its ejection (which `may_eject` allows); its idle connections are closed
  // on every failure. True when this one ejected it.
  bool RecordFailure(int64_t now_ms, bool may_eject = true);
  // How many times in a row it has been ejected (the multiplier of the next ejection).
  int ejections() const { return ejections_.load(std::memory_order_relaxed); }
  void RecordSuccess() { consecutive_failures_.store(0, std::memory_order_relaxed); }

  // The most recently used pooled connection that is still open and was idle under
  // kMaxIdleMs at `now_ms`; null when none (expired or closed ones are dropped on the way).
  // A connection the worker has closed, or one with unexpected bytes waiting, is never given.
  std::unique_ptr<UpstreamConnection> TakeIdle(int64_t now_ms);
  void ReturnIdle(std::unique_ptr<UpstreamConnection> connection, int64_t now_ms);
  void CloseIdle();

 private:
  const std::string replica_id_;
  const int64_t revision_;
  const std::string host_;
  const std::string url_host_;
  const int http_port_;
  const int grpc_port_;
  const std::string model_name_;
  std::atomic<int> consecutive_failures_{0};
  std::atomic<int64_t> ejected_until_ms_{0};
  std::atomic<int> ejections_{0};
  std::mutex mu_;
  std::vector<std::unique_ptr<UpstreamConnection>> idle_ ABSL_GUARDED_BY(mu_);
};

// A revision that takes part of its service's traffic.
struct RevisionRoute {
  int64_t revision = 0;
  // Its share relative to the service's other revisions; 0 takes none. A revision without a
  // ready replica gives its share to the others.
  int weight = 100;
  std::vector<std::shared_ptr<Endpoint>> endpoints;  // its ready replicas
};

struct ServiceRoute {
  std::string name;
  std::string model_name;  // the V2 model name it answers to as well; empty when none
  bool image = false;  // the classification stage is on
  std::vector<RevisionRoute> revisions;
  // A service that can be at zero replicas (it scales to zero) holds requests while it has no
  // ready replica, at most `hold_limit` of them, each for at most this long; 0: refused.
  int64_t cold_start_timeout_ms = 0;
  size_t hold_limit = 0;
  // A/B by header: requests whose `pin_header` (lowercase) is `pin_value` go to
  // `pin_revision` while it has a ready replica; empty: none.
  std::string pin_header;
  std::string pin_value;
  int64_t pin_revision = 0;
  // Shadow traffic: this percent of the requests the other revisions serve is copied to
  // `shadow_revision`, whose answers are measured and discarded; 0: none.
  int shadow_percent = 0;
  int64_t shadow_revision = 0;

  size_t ReadyReplicas() const;
};

struct RoutingTable {
  std::unordered_map<std::string, ServiceRoute> services;
  // V2 model names (Triton-style, which service names cannot be) -> the service answering to
  // each.
  std::unordered_map<std::string, std::string> model_names;

  // The service `name` names, directly or by its V2 model name; null when none.
  const ServiceRoute* Find(std::string_view name) const;
};

class Router {
 public:
  Router() : table_(std::make_shared<const RoutingTable>()) {}
  std::shared_ptr<const RoutingTable> Snapshot() const { return table_.load(); }
  void Publish(std::shared_ptr<const RoutingTable> table) { table_.store(std::move(table)); }

  // A revision chosen by weight among those with a replica other than `exclude`, then the power
  // of two choices on outstanding requests among its replicas that are not ejected at `now_ms`
  // (ejected ones only when it has nothing else), never `exclude`. Null when none. `random`
  // draws the choices (tests pass their own).
  // With `only_revision`, that revision whenever it has a replica to offer.
  static std::shared_ptr<Endpoint> Pick(const ServiceRoute& route, const Endpoint* exclude,
                                        int64_t now_ms, uint64_t (*random)() = nullptr,
                                        int64_t only_revision = 0);

  // Closes every idle upstream connection of the published table's replicas.
  void CloseIdle() const;

 private:
  std::atomic<std::shared_ptr<const RoutingTable>> table_;
};

}  // namespace berth::routing
