#include "app/worker_command.h"

#include <unistd.h>

#include <cerrno>
#include <csignal>
#include <cstring>
#include <thread>

#include "backends/onnx/onnx_backend.h"
#include "common/logging.h"
#include "common/strings.h"
#include "net/descriptor_limit.h"
#include "spdlog/spdlog.h"
#include "worker/grpc_server.h"
#include "worker/http_server.h"
#include "worker/worker.h"

namespace berth::app {
namespace {

struct WorkerFlags {
  worker::WorkerOptions options;
  std::string model_control_mode = "none";
  std::string log_format = "text";
  std::string log_level = "info";
  std::string port_file;   // where to write the bound ports once serving (for supervisors)
  std::string replica_id;  // set by berth server's local driver; names the process
  std::string owner;       // the data directory of that server
  std::string fetch_allow;
};

// Writes {"http_port": H, "grpc_port": G} to `path` atomically (write, then rename).
bool WritePortFile(const std::string& path, int http_port, int grpc_port) {
  const std::string tmp = path + ".tmp";
  FILE* f = fopen(tmp.c_str(), "w");
  if (f == nullptr) return false;
  fprintf(f, "{\"http_port\": %d, \"grpc_port\": %d, \"pid\": %d}\n", http_port, grpc_port,
          static_cast<int>(getpid()));
  const bool ok = fclose(f) == 0;
  return ok && rename(tmp.c_str(), path.c_str()) == 0;
}

int RunWorker(WorkerFlags& flags) {
  const auto format =
      flags.log_format == "json" ? common::LogFormat::kJson : common::LogFormat::kText;
  if (auto status = common::InitLogging(format, flags.log_level); !status.ok()) {
    fprintf(stderr, "berth worker: %s\n", std::string(status.message()).c_str());
    return 2;
  }
  net::RaiseDescriptorLimit();
  flags.options.load_all = flags.model_control_mode != "explicit";
  auto policy = net::DestinationPolicy::Parse(flags.fetch_allow);
  if (!policy.ok()) {
    fprintf(stderr, "berth worker: --fetch-allow: %s\n", std::string(policy.status().message()).c_str());
    return 2;
  }
  flags.options.fetch_policy = *std::move(policy);
  // Block the shutdown signals in every thread; the main thread waits for them below.
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGINT);
  sigaddset(&signals, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);
  std::signal(SIGPIPE, SIG_IGN);

  spdlog::info("berth worker {} (ONNX Runtime {}), model repository {}",
               worker::ServerVersion(), backends::OnnxRuntimeVersion(),
               flags.options.model_repository);
  auto created = worker::Worker::Create(flags.options);
  if (!created.ok()) {
    spdlog::critical("cannot start: {}", Msg(created.status()));
    return 1;
  }
  std::unique_ptr<worker::Worker> worker = *std::move(created);
  auto http = worker::HttpServer::Create(worker.get());
  if (!http.ok()) {
    spdlog::critical("cannot start: {}", Msg(http.status()));
    return 1;
  }
  auto grpc = worker::GrpcServer::Create(worker.get());
  if (!grpc.ok()) {
    spdlog::critical("cannot start: {}", Msg(grpc.status()));
    return 1;
  }
  (*http)->Start();
  spdlog::info("serving HTTP on {}:{} and gRPC on {}:{}", flags.options.http_address,
               (*http)->port(), flags.options.grpc_address, (*grpc)->port());
  if (!flags.port_file.empty() &&
      !WritePortFile(flags.port_file, (*http)->port(), (*grpc)->port())) {
    spdlog::critical("cannot write the port file {}: {}", flags.port_file, strerror(errno));
    return 1;
  }
  int received = 0;
  sigwait(&signals, &received);
  spdlog::info("received signal {}, shutting down", received);
  (*grpc)->Stop();
  (*http)->Stop();
  worker->repository().UnloadAll();
  return 0;
}

}  // namespace

void AddWorkerCommand(CLI::App& app, int* exit_code) {
  auto flags = std::make_shared<WorkerFlags>();
  auto& o = flags->options;
  CLI::App* cmd = app.add_subcommand(
      "worker", "Serve a model repository over the Open Inference Protocol (REST + gRPC)");
  cmd->add_option("--model-repository", o.model_repository,
                  "Directory laid out as <model>/<version>/model.onnx|model.pt")
      ->required()
      ->check(CLI::ExistingDirectory);
  cmd->add_option("--http-address", o.http_address, "Address for HTTP (0.0.0.0 for all)")
      ->capture_default_str();
  cmd->add_option("--http-port", o.http_port, "HTTP port (0: any free port)")
      ->capture_default_str()
      ->check(CLI::Range(0, 65535));
  cmd->add_option("--grpc-address", o.grpc_address, "Address for gRPC (0.0.0.0 for all)")
      ->capture_default_str();
  cmd->add_option("--grpc-port", o.grpc_port, "gRPC port (0: any free port)")
      ->capture_default_str()
      ->check(CLI::Range(0, 65535));
  cmd->add_option("--http-threads", o.http_threads, "HTTP event-loop threads")
      ->capture_default_str()
      ->check(CLI::Range(1, 64));
  cmd->add_option("--trust-caller-header", o.trust_caller_header,
                  "Take the gateway's Berth-Caller header as a request's caller for per-caller "
                  "download shares (replicas behind berth's gateway); otherwise the peer address")
      ->capture_default_str();
  cmd->add_option("--shared-memory", o.shared_memory,
                  "Serve Triton's system shared-memory extension to clients on this host "
                  "(true for a standalone worker; the server starts its replicas without it)")
      ->capture_default_str();
  cmd->add_option("--preprocess-threads", o.preprocess_threads,
                  "Threads that decode images and parse large bodies (0: one per CPU this "
                  "process may use, at most 16)")
      ->capture_default_str()
      ->check(CLI::Range(0, 256));
  cmd->add_option("--max-connections", o.max_connections,
                  "Open HTTP connections before new ones are answered 503")
      ->capture_default_str()
      ->check(CLI::Range(1, 1 << 20));
  cmd->add_option("--engine-threads", o.backend.intra_op_threads,
                  "Threads each model instance's engine uses (0: engine default)")
      ->capture_default_str()
      ->check(CLI::Range(0, 256));
  cmd->add_option("--engine-spin-wait", o.backend.spin_wait,
                  "Let engine threads spin between parallel sections (faster with spare "
                  "cores; turn off when the engine has every core)")
      ->capture_default_str();
  cmd->add_option("--default-max-batch-size", o.backend.default_max_batch_size,
                  "max_batch_size for models without a config whose first dim is dynamic "
                  "(0: no batching)")
      ->capture_default_str()
      ->check(CLI::Range(0, 4096));
  cmd->add_option("--max-request-bytes", o.max_request_bytes,
                  "Largest request body accepted (413 above)")
      ->capture_default_str()
      ->check(CLI::Range(size_t{1024}, size_t{2} << 30));
  cmd->add_option("--max-queue-size", o.max_queue_size,
                  "Queued requests per model before 503 (unless the config sets one)")
      ->capture_default_str()
      ->check(CLI::Range(size_t{1}, size_t{1} << 20));
  cmd->add_option("--model-control-mode", flags->model_control_mode,
                  "none: load every model at start; explicit: load only --load-model")
      ->capture_default_str()
      ->check(CLI::IsMember({"none", "explicit"}));
  cmd->add_option("--load-model", o.load_models, "Model to load at start (explicit mode)");
  cmd->add_option("--log-format", flags->log_format, "text or json")
      ->capture_default_str()
      ->check(CLI::IsMember({"text", "json"}));
  cmd->add_option("--log-level", flags->log_level, "trace, debug, info, warn or error")
      ->capture_default_str();
  cmd->add_option("--exit-on-error", o.exit_on_error,
                  "Exit at start when any model fails to load")
      ->capture_default_str();
  cmd->add_option("--port-file", flags->port_file,
                  "Write the bound HTTP and gRPC ports to this file (JSON) once serving");
  cmd->add_option("--fetch-allow", flags->fetch_allow,
                  "Internal addresses that image_url may fetch from, as comma-separated IPs or "
                  "CIDRs (loopback, private and link-local ones are refused otherwise)");
  cmd->add_option("--fetch-trust-url", o.fetch_trusted_prefixes,
                  "URL prefix fetched without the address check and without redirects (the "
                  "server's own sample images)")
      ->group("");
  cmd->add_option("--max-image-bytes", o.max_image_bytes, "Largest image an image_url may return")
      ->capture_default_str();
  cmd->add_option("--image-fetch-timeout-ms", o.image_fetch_timeout_ms,
                  "Time limit for fetching a request's image_urls")
      ->capture_default_str()
      ->check(CLI::Range(int64_t{100}, int64_t{600000}));
  cmd->add_option("--fetch-max-running", o.fetch_limits.max_running,
                  "image_url downloads running at once, in all")
      ->capture_default_str()
      ->check(CLI::Range(1, 4096));
  cmd->add_option("--fetch-per-host", o.fetch_limits.max_per_host,
                  "image_url downloads running at once from one host")
      ->capture_default_str()
      ->check(CLI::Range(1, 4096));
  cmd->add_option("--fetch-per-caller", o.fetch_limits.max_per_caller,
                  "image_url downloads running at once for one caller (the others wait their "
                  "turn, at most the fetch timeout)")
      ->capture_default_str()
      ->check(CLI::Range(1, 4096));
  cmd->add_option("--replica-id", flags->replica_id, "Replica this worker serves (berth server)")
      ->group("");
  cmd->add_option("--data-dir-owner", flags->owner, "Data directory of the server that started it")
      ->group("");
  cmd->callback([flags, exit_code] { *exit_code = RunWorker(*flags); });
}

}  // namespace berth::app
