// The gateway's view of where a service's traffic can go: an immutable snapshot of the ready
// replicas of each service, published by the controller and read lock-free on every request,
// plus per-replica balancing state that survives snapshots (in-flight count, ejection, idle
// upstream connections). Thread-safe.
#pragma once

#include <atomic>
#include <chrono>
#include <memory>
#include <mutex>
#include <string>
#include <unordered_map>
#include <vector>

#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/tcp_stream.hpp>

#include "absl/base/thread_annotations.h"

namespace berth::gateway {

int64_t NowMs();

// A keep-alive connection to a worker, with the buffer that belongs to it.
struct UpstreamConnection {
  explicit UpstreamConnection(boost::asio::any_io_executor executor) : stream(executor) {}
  boost::beast::tcp_stream stream;
  boost::beast::flat_buffer buffer;
  bool reused = false;
};

// One ready replica as the gateway sees it.
class Endpoint {
 public:
  Endpoint(std::string replica_id, int http_port, int grpc_port)
      : replica_id_(std::move(replica_id)), http_port_(http_port), grpc_port_(grpc_port) {}

  const std::string& replica_id() const { return replica_id_; }
  int http_port() const { return http_port_; }
  int grpc_port() const { return grpc_port_; }

  std::atomic<int> in_flight{0};

  bool Ejected(int64_t now_ms) const { return ejected_until_ms_.load() > now_ms; }
  // Passive health: two connection failures in a row eject the replica for a few seconds.
  void RecordFailure(int64_t now_ms);
  void RecordSuccess() { consecutive_failures_.store(0, std::memory_order_relaxed); }

  std::unique_ptr<UpstreamConnection> TakeIdle();
  void ReturnIdle(std::unique_ptr<UpstreamConnection> connection);
  void CloseIdle();

 private:
  const std::string replica_id_;
  const int http_port_;
  const int grpc_port_;
  std::atomic<int> consecutive_failures_{0};
  std::atomic<int64_t> ejected_until_ms_{0};
  std::mutex mu_;
  std::vector<std::unique_ptr<UpstreamConnection>> idle_ ABSL_GUARDED_BY(mu_);
};

struct ServiceRoute {
  std::string name;
  bool image = false;  // the classification stage is on
  std::vector<std::shared_ptr<Endpoint>> endpoints;  // ready replicas of the serving revision
};

struct RoutingTable {
  std::unordered_map<std::string, ServiceRoute> services;
};

class Router {
 public:
  Router() : table_(std::make_shared<const RoutingTable>()) {}
  std::shared_ptr<const RoutingTable> Snapshot() const { return table_.load(); }
  void Publish(std::shared_ptr<const RoutingTable> table) { table_.store(std::move(table)); }

  // Power of two choices on outstanding requests among replicas that are not ejected
  // (ejected ones only when nothing else is left), never `exclude`. Null when none.
  static std::shared_ptr<Endpoint> Pick(const ServiceRoute& route, const Endpoint* exclude);

 private:
  std::atomic<std::shared_ptr<const RoutingTable>> table_;
};

}  // namespace berth::gateway
