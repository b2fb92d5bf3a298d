// The V2 REST front end (HTTP/1.1 keep-alive, Boost.Beast) with Triton's extensions and
// /metrics. Event-loop threads only parse, validate and queue; responses are written when the
// batcher calls back. Thread-safe.
#pragma once

#include <memory>
#include <thread>
#include <vector>

#include "absl/status/statusor.h"
#include "worker/worker.h"

namespace berth::worker {

class HttpServer {
 public:
  static absl::StatusOr<std::unique_ptr<HttpServer>> Create(Worker* worker);
  ~HttpServer();

  int port() const { return port_; }
  void Start();
  void Stop();

 private:
  struct Impl;
  explicit HttpServer(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
  int port_ = 0;
  std::vector<std::thread> threads_;
};

}  // namespace berth::worker
