// The server's one HTTP port: the console's static files, the control API (/api/v1, handed
// to a blocking pool), model uploads streamed to disk, and the data plane, proxied to ready
// replicas over keep-alive connections (V2 REST under /v2/models/{service}/..., image
// classification under /services/{service}/v1/classify). Event loops run C++20 coroutines and
// never block. Thread-safe.
#pragma once

#include <algorithm>
#include <thread>
#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "control/api.h"
#include "control/auth.h"
#include "gateway/dispatcher.h"
#include "routing/routing.h"

namespace prometheus {
class Registry;
}

namespace berth::gateway {

struct HttpFrontOptions {
  std::string address = "127.0.0.1";
  int port = 8080;
  // Event-loop threads: half the cores (the workers need the rest), at least one.
  int threads = static_cast<int>(std::max(1u, std::thread::hardware_concurrency() / 2));
  int api_threads = 4;
  size_t max_request_bytes = 64u << 20;  // data-plane and API bodies (uploads: max_model_bytes)
  uint64_t max_model_bytes = 4ull << 30;
  int64_t request_timeout_ms = 60000;
  std::string console_dir;  // the built web console (web/dist); empty: none
  bool public_health = true;
  bool public_metrics = true;
  // Open client connections past which new ones get a 503 with Retry-After at once. Capped at
  // start by the process's descriptor limit, less a reserve for replicas, probes and the store.
  int max_connections = 8192;
};

class HttpFront {
 public:
  static absl::StatusOr<std::unique_ptr<HttpFront>> Create(
      const HttpFrontOptions& options, control::ControlApi* api, control::Authenticator* auth,
      routing::Router* router, Dispatcher* dispatcher,
      std::shared_ptr<prometheus::Registry> registry);
  ~HttpFront();

  int port() const;
  // The connection limit in force (max_connections, capped by the descriptor limit).
  int max_connections() const;
  void Start();
  void Stop();

 private:
  struct Impl;
  explicit HttpFront(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace berth::gateway
