// The server's V2 gRPC port: inference.GRPCInferenceService, authenticated by the
// `authorization: Bearer KEY` metadata, with model-scoped calls (ModelInfer, ModelReady,
// ModelMetadata, ModelConfig, ModelStatistics, ModelStreamInfer) admitted and routed by the
// Dispatcher to a ready replica of the service the model name names. Thread-safe.
#pragma once

#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "gateway/dispatcher.h"

namespace grpc {
class Server;
}

namespace berth::gateway {

class GrpcFront {
 public:
  static absl::StatusOr<std::unique_ptr<GrpcFront>> Create(const std::string& address, int port,
                                                           size_t max_message_bytes,
                                                           Dispatcher* dispatcher,
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
