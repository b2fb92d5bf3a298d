// The server's V2 gRPC port: inference.GRPCInferenceService, authenticated by the
// `authorization: Bearer KEY` metadata, with model-scoped calls (ModelInfer, ModelReady,
// ModelMetadata, ModelConfig, ModelStatistics) forwarded to a ready replica of the service the
// model name names, one retry on another replica when the first is unreachable. Thread-safe.
#pragma once

#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "control/auth.h"
#include "gateway/routing.h"
#include "gateway/traffic_stats.h"

namespace grpc {
class Server;
}

namespace berth::gateway {

class GrpcFront {
 public:
  static absl::StatusOr<std::unique_ptr<GrpcFront>> Create(const std::string& address, int port,
                                                           size_t max_message_bytes,
                                                           control::Authenticator* auth,
                                                           Router* router, TrafficStats* traffic,
                                                           bool public_health = true);
  ~GrpcFront();
  int port() const { return port_; }
  void Stop();

 private:
  class Service;
  GrpcFront() = default;
  std::unique_ptr<Service> service_;
  std::unique_ptr<grpc::Server> server_;
  int port_ = 0;
};

}  // namespace berth::gateway
