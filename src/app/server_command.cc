#include "app/server_command.h"

#include <ifaddrs.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <csignal>
#include <filesystem>
#include <fstream>
#include <set>

#include "app/data_dir.h"
#include "common/logging.h"
#include "common/strings.h"
#include "control/api.h"
#include "control/auth.h"
#include "control/controller.h"
#include "control/sqlite_store.h"
#include "gateway/grpc_front.h"
#include "gateway/http_front.h"
#include "models/model_fetch.h"
#include "net/descriptor_limit.h"
#include "net/destination_policy.h"
#include "prometheus/registry.h"
#include "routing/activator.h"
#include "runtime/local/local_driver.h"
#include "spdlog/spdlog.h"

namespace berth::app {
namespace {

namespace fs = std::filesystem;

struct ServerFlags {
  std::string data_dir;
  gateway::HttpFrontOptions http;
  std::string grpc_address = "127.0.0.1";
  int grpc_port = 8081;
  std::string public_url;
  std::string demo_dir;
  std::string s3_endpoint, s3_region = "us-east-1";
  int engine_threads = 0;
  int max_in_flight_per_replica = 64;
  std::string log_format = "text";
  std::string log_level = "info";
  bool stop_replicas_on_exit = true;
  std::string fetch_allow;
  std::vector<std::string> file_roots;
};

// Where the install keeps something next to the executable (build/<preset>/berth -> repo).
std::string BesideExecutable(const std::string& relative) {
  std::error_code ec;
  const fs::path exe = fs::read_symlink("/proc/self/exe", ec);
  for (const fs::path& base : {exe.parent_path() / "../..", exe.parent_path() / "../share/berth"}) {
    const fs::path candidate = base / relative;
    if (fs::exists(candidate, ec)) return fs::weakly_canonical(candidate, ec).string();
  }
  return "";
}

// Registers the built-in demo model (`digits`) once.
void RegisterDemoModel(control::ControlApi& api, control::Store& store, const std::string& dir) {
  if (dir.empty()) return;
  auto existing = store.FindModel("digits");
  if (existing.ok() && *existing) return;
  const fs::path model = fs::path(dir) / "1" / "model.onnx";
  std::error_code ec;
  if (!fs::exists(model, ec)) {
    spdlog::warn("no demo model at {}", model.string());
    return;
  }
  const std::string temp = api.TempPath();
  fs::copy_file(model, temp, ec);
  std::ifstream in(temp, std::ios::binary);
  models::Sha256Stream sha;
  std::vector<char> buffer(1 << 16);
  uint64_t size = 0;
  while (in.read(buffer.data(), buffer.size()) || in.gcount() > 0) {
    sha.Update(std::string_view(buffer.data(), static_cast<size_t>(in.gcount())));
    size += static_cast<uint64_t>(in.gcount());
  }
  nlohmann::json labels = nlohmann::json::array();
  std::ifstream label_file(fs::path(dir) / "labels.txt");
  for (std::string line; std::getline(label_file, line);) {
    if (!line.empty()) labels.push_back(line);
  }
  nlohmann::json extra = {{"labels", labels}, {"image_invert", "auto"}};
  auto registered =
      api.RegisterModel("digits", temp, size, sha.FinishHex(), "built-in demo", extra);
  if (!registered.ok()) {
    spdlog::warn("could not register the demo model: {}", Msg(registered.status()));
  } else {
    spdlog::info("built-in demo model 'digits' is ready to deploy (berth deploy --demo)");
  }
}

// Names and addresses under which callers may reach this server: loopback, the host name, and
// the bound address (every interface's address when bound to all), IPv6 ones in brackets.
std::vector<std::string> OwnHostNames(const std::string& bound) {
  std::set<std::string> names = {"127.0.0.1", "localhost", "[::1]"};
  char host[256] = "";
  if (gethostname(host, sizeof(host) - 1) == 0 && host[0]) names.insert(host);
  auto add = [&](const std::string& address) {
    names.insert(address.find(':') == std::string::npos ? address : StrCat("[", address, "]"));
  };
  if (bound != "0.0.0.0" && bound != "::") {
    add(bound);
  } else if (ifaddrs* list = nullptr; getifaddrs(&list) == 0) {
    for (ifaddrs* it = list; it != nullptr; it = it->ifa_next) {
      if (it->ifa_addr == nullptr) continue;
      const int family = it->ifa_addr->sa_family;
      if (family != AF_INET && (family != AF_INET6 || bound != "::")) continue;
      const std::string text = net::AddressText(it->ifa_addr);
      if (!text.starts_with("fe80")) add(text);  // link-local needs a zone; not in URLs
    }
    freeifaddrs(list);
  }
  return {names.begin(), names.end()};
}

int RunServer(ServerFlags& flags) {
  const auto format =
      flags.log_format == "json" ? common::LogFormat::kJson : common::LogFormat::kText;
  if (auto status = common::InitLogging(format, flags.log_level); !status.ok()) {
    fprintf(stderr, "berth server: %s\n", std::string(status.message()).c_str());
    return 2;
  }
  net::RaiseDescriptorLimit();
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGINT);
  sigaddset(&signals, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);
  std::signal(SIGPIPE, SIG_IGN);

  if (flags.data_dir.empty()) flags.data_dir = DefaultDataDir();
  std::error_code ec;
  fs::create_directories(flags.data_dir, ec);
  if (ec) {
    spdlog::critical("cannot create the data directory {}: {}", flags.data_dir, ec.message());
    return 1;
  }
  flags.data_dir = fs::canonical(flags.data_dir, ec).string();
  chmod(flags.data_dir.c_str(), 0700);
  // One server per data directory, held until this function returns (or the process ends).
  auto lock = DataDirLock::Acquire(flags.data_dir);
  if (!lock.ok()) {
    spdlog::critical("{}; stop it first, or give this one another --data-dir",
                     Msg(lock.status()));
    return 1;
  }

  auto store = control::SqliteStore::Open(flags.data_dir + "/berth.db");
  if (!store.ok()) {
    spdlog::critical("{}", Msg(store.status()));
    return 1;
  }
  routing::Router router;
  routing::TrafficStats traffic;
  auto registry = std::make_shared<prometheus::Registry>();
  auto fetch_policy = net::DestinationPolicy::Parse(flags.fetch_allow);
  if (!fetch_policy.ok()) {
    spdlog::critical("--fetch-allow: {}", Msg(fetch_policy.status()));
    return 2;
  }
  runtime::LocalDriver driver(flags.data_dir);
  // Requests for a service at zero wait here while it starts a replica; the first one wakes
  // the controller.
  control::Controller* woken = nullptr;
  routing::Activator activator({.registry = registry.get(),
                                .wake = [&woken] { if (woken != nullptr) woken->Wake(); },
                                .router = &router});
  control::ControllerOptions controller_options;
  controller_options.data_dir = flags.data_dir;
  controller_options.engine_threads = flags.engine_threads;
  controller_options.store = store->get();
  controller_options.driver = &driver;
  controller_options.router = &router;
  controller_options.traffic = &traffic;
  controller_options.activator = &activator;
  control::Controller controller(controller_options);
  woken = &controller;
  auto auth = control::Authenticator::Create({.store = store->get()});
  if (!auth.ok()) {
    spdlog::critical("cannot read the API keys: {}", Msg(auth.status()));
    return 1;
  }

  control::ApiOptions api_options;
  api_options.data_dir = flags.data_dir;
  api_options.public_url = flags.public_url;
  api_options.grpc_port = flags.grpc_port;
  api_options.max_model_bytes = flags.http.max_model_bytes;
  api_options.fetch.s3.endpoint = flags.s3_endpoint;
  api_options.fetch.s3.region = flags.s3_region;
  if (const char* key = getenv("BERTH_S3_ACCESS_KEY")) api_options.fetch.s3.access_key = key;
  if (const char* secret = getenv("BERTH_S3_SECRET_KEY")) api_options.fetch.s3.secret_key = secret;
  api_options.fetch.policy = &*fetch_policy;
  api_options.fetch.file_roots.emplace(flags.file_roots.begin(), flags.file_roots.end());
  control::ControlApi api(api_options, store->get(), &controller, auth->get(), &traffic);
  api.RemoveCrashDebris();

  auto admin = api.BootstrapAdminKey();
  if (!admin.ok()) {
    spdlog::critical("cannot create the admin key: {}", Msg(admin.status()));
    return 1;
  }

  gateway::Dispatcher dispatcher(
      {.auth = auth->get(), .router = &router, .traffic = &traffic, .activator = &activator,
       .registry = registry.get(), .max_in_flight_per_replica = flags.max_in_flight_per_replica});
  auto http =
      gateway::HttpFront::Create(flags.http, &api, auth->get(), &router, &dispatcher, registry);
  if (!http.ok()) {
    spdlog::critical("cannot start: {}", Msg(http.status()));
    return 1;
  }
  auto grpc =
      gateway::GrpcFront::Create(flags.grpc_address, flags.grpc_port, flags.http.max_request_bytes,
                                 &dispatcher, flags.http.public_health);
  if (!grpc.ok()) {
    spdlog::critical("cannot start: {}", Msg(grpc.status()));
    return 1;
  }
  // Workers fetch image_url inputs under the server's policy, and the server's own sample
  // image (on loopback) without it.
  std::vector<std::string> worker_args;
  if (!flags.fetch_allow.empty()) worker_args = {"--fetch-allow", fetch_policy->ToString()};
  api.SetPorts((*http)->port(), (*grpc)->port());
  // Sample requests name the sample image under whatever address the caller used; the server's
  // own addresses are internal ones, so its workers get each such URL as trusted.
  std::vector<std::string> sample_urls;
  for (const std::string& host : OwnHostNames(flags.http.address)) {
    sample_urls.push_back(StrCat("http://", host, ":", (*http)->port(), control::kSampleImagePath));
  }
  if (!flags.public_url.empty()) {
    std::string base = flags.public_url;
    while (base.ends_with('/')) base.pop_back();
    sample_urls.push_back(StrCat(base, control::kSampleImagePath));
  }
  for (const std::string& url : sample_urls) {
    worker_args.push_back("--fetch-trust-url");
    worker_args.push_back(url);
  }
  // Replicas take the bodies the gateway lets through: the same limit on both.
  worker_args.push_back("--max-request-bytes");
  worker_args.push_back(std::to_string(flags.http.max_request_bytes));
  controller.SetWorkerArgs(std::move(worker_args));
  controller.Start();
  activator.Start();
  (*http)->Start();
  RegisterDemoModel(api, **store, flags.demo_dir);
  const std::string url = StrCat("http://", flags.http.address == "0.0.0.0" ? "127.0.0.1"
                                                                            : flags.http.address,
                                 ":", (*http)->port());
  spdlog::info("berth server: HTTP (console, /api/v1, /v2) on {}:{}, gRPC on {}:{}, data in {}",
               flags.http.address, (*http)->port(), flags.grpc_address, (*grpc)->port(),
               flags.data_dir);
  if (!admin->empty()) {
    // Printed once, on the first start; only its SHA-256 is stored.
    printf("\nAn admin API key was created. It is shown this once; keep it safe:\n\n  %s\n\n"
           "Sign in with:  berth login --server %s --key %s\n"
           "or open %s in a browser.\n\n",
           admin->c_str(), url.c_str(), admin->c_str(), url.c_str());
    fflush(stdout);
  }
  int received = 0;
  sigwait(&signals, &received);
  spdlog::info("received signal {}, shutting down", received);
  activator.Stop();  // held requests are answered while the fronts still run
  (*http)->Stop();
  (*grpc)->Stop();
  controller.Stop();
  if (flags.stop_replicas_on_exit) controller.StopAllReplicas();
  return 0;
}

}  // namespace

void AddServerCommand(CLI::App& app, int* exit_code) {
  auto flags = std::make_shared<ServerFlags>();
  auto& f = *flags;
  CLI::App* cmd = app.add_subcommand(
      "server", "Run the control plane, gateway and web console (one process, SQLite state)");
  cmd->add_option("--data-dir", f.data_dir,
                  "Where state, models and replica logs live (default $XDG_DATA_HOME/berth or "
                  "~/.local/share/berth)");
  cmd->add_option("--http-address", f.http.address, "Address for HTTP (0.0.0.0 for all)")
      ->capture_default_str();
  cmd->add_option("--http-port", f.http.port, "HTTP port: console, /api/v1 and the data plane")
      ->capture_default_str()
      ->check(CLI::Range(0, 65535));
  cmd->add_option("--grpc-address", f.grpc_address, "Address for V2 gRPC")->capture_default_str();
  cmd->add_option("--grpc-port", f.grpc_port, "V2 gRPC port")
      ->capture_default_str()
      ->check(CLI::Range(0, 65535));
  cmd->add_option("--http-threads", f.http.threads, "HTTP event-loop threads")
      ->capture_default_str()
      ->check(CLI::Range(1, 64));
  cmd->add_option("--max-request-bytes", f.http.max_request_bytes,
                  "Largest data-plane request body (413 above)")
      ->capture_default_str();
  cmd->add_option("--max-model-bytes", f.http.max_model_bytes, "Largest model upload or download")
      ->capture_default_str();
  cmd->add_option("--max-connections", f.http.max_connections,
                  "Open HTTP client connections past which new ones are answered 503 (capped by "
                  "the open-file limit, less a reserve for replicas)")
      ->capture_default_str()
      ->check(CLI::Range(1, 1 << 20));
  cmd->add_option("--api-threads", f.http.api_threads,
                  "Threads for control API requests; 8 per thread may be in progress before "
                  "new ones are answered 429")
      ->capture_default_str()
      ->check(CLI::Range(1, 256));
  cmd->add_option("--request-timeout-ms", f.http.request_timeout_ms,
                  "Deadline for a data-plane request through the gateway")
      ->capture_default_str()
      ->check(CLI::Range(int64_t{1}, int64_t{3600000}));
  cmd->add_option("--max-in-flight-per-replica", f.max_in_flight_per_replica,
                  "Overload: refuse a request (503, before reading its body) when every replica "
                  "that could take it has this many in flight; 0: no limit")
      ->capture_default_str()
      ->check(CLI::Range(0, 100000));
  cmd->add_option("--public-url", f.public_url,
                  "Base URL that endpoints and sample commands use (default: the Host header)");
  cmd->add_option("--console-dir", f.http.console_dir,
                  "The built web console (default: web/dist of the install)");
  cmd->add_option("--demo-model-dir", f.demo_dir,
                  "The built-in demo model (default: models/demo/digits of the install)");
  cmd->add_option("--public-health", f.http.public_health,
                  "Serve /healthz, /readyz and /v2/health/* without a key")
      ->capture_default_str();
  cmd->add_option("--public-metrics", f.http.public_metrics, "Serve /metrics without a key")
      ->capture_default_str();
  cmd->add_option("--s3-endpoint", f.s3_endpoint,
                  "S3 API endpoint for s3:// models (keys from BERTH_S3_ACCESS_KEY and "
                  "BERTH_S3_SECRET_KEY)");
  cmd->add_option("--s3-region", f.s3_region, "S3 region")->capture_default_str();
  cmd->add_option("--fetch-allow", f.fetch_allow,
                  "Internal addresses that http(s) model URIs and image_url inputs may reach, as "
                  "comma-separated IPs or CIDRs (loopback, private and link-local addresses "
                  "are refused otherwise)");
  cmd->add_option("--allow-file-uris", f.file_roots,
                  "A directory whose files may be registered as file:// model URIs (repeatable; "
                  "none by default, uploads always work)");
  cmd->add_option("--engine-threads", f.engine_threads,
                  "Engine threads per replica without a CPU limit (0: engine default)")
      ->capture_default_str();
  cmd->add_option("--stop-replicas-on-exit", f.stop_replicas_on_exit,
                  "Stop replicas on a clean shutdown (after a crash they are always adopted)")
      ->capture_default_str();
  cmd->add_option("--log-format", f.log_format, "text or json")
      ->capture_default_str()
      ->check(CLI::IsMember({"text", "json"}));
  cmd->add_option("--log-level", f.log_level, "trace, debug, info, warn or error")
      ->capture_default_str();
  cmd->callback([flags, exit_code] {
    if (flags->http.console_dir.empty()) flags->http.console_dir = BesideExecutable("web/dist");
    if (flags->demo_dir.empty()) flags->demo_dir = BesideExecutable("models/demo/digits");
    *exit_code = RunServer(*flags);
  });
}

}  // namespace berth::app
