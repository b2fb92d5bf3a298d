// The V2 gRPC front end: inference.GRPCInferenceService with Triton's ModelConfig,
// ModelStatistics and repository RPCs, on gRPC's callback API so no thread blocks waiting for
// the batcher. Thread-safe.
#pragma once

#include <memory>

#include "absl/status/statusor.h"
#include "worker/worker.h"

namespace grpc {
class Server;
}

namespace berth::worker {

class GrpcServer {
 public:
  static absl::StatusOr<std::unique_ptr<GrpcServer>> Create(Worker* worker);
  ~GrpcServer();

  int port() const { return port_; }
  void Stop();

 private:
  class Service;
  GrpcServer() = default;
  std::unique_ptr<Service> service_;
  std::unique_ptr<grpc::Server> server_;
  int port_ = 0;
};

}  // namespace berth::worker
