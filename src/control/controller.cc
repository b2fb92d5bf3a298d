#include "control/controller.h"

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <map>
#include <random>
#include <set>

#include "common/strings.h"
#include "control/canary_rollout.h"
#include "spdlog/spdlog.h"

namespace berth::control {
namespace {

// The reason of a replica the server stopped at its shutdown (StopAllReplicas), waiting for
// the next start.
constexpr std::string_view kStoppedWithServer = "stopped with the server; it starts again with it";

namespace fs = std::filesystem;

bool Terminal(const std::string& state) {
  const auto parsed = ReplicaStateFromName(state);
  return parsed && IsTerminal(*parsed);
}

// Moves a revision through the status table (control/states.h); a move it does not have is
// made all the same (the store must follow the controller) but logged and counted.
void Move(RevisionRecord& revision, RevisionStatus to) {
  const auto from = RevisionStatusFromName(revision.status);
  if (!from || !Allowed(*from, to)) {
    CountUnexpectedTransition();
    spdlog::error("revision {} of {}: unexpected move from {} to {}", revision.number,
                  revision.service, revision.status, Name(to));
  }
  revision.status = std::string(Name(to));
}

uint64_t MemoryBytes(const nlohmann::json& spec) {
  const auto& resources = spec.value("resources", nlohmann::json::object());
  return resources.value("memory_bytes", uint64_t{0});
}

double Cpus(const nlohmann::json& spec) {
  const auto& resources = spec.value("resources", nlohmann::json::object());
  return resources.value("cpu", 0.0);
}

// What a replica of a revision with `spec` reserves on its machine.
Resources ReservationOf(const nlohmann::json& spec) {
  return {.cpus = Cpus(spec), .memory_bytes = MemoryBytes(spec)};
}

std::shared_ptr<routing::Endpoint> MakeEndpoint(const ReplicaRecord& replica,
                                                const runtime::ReplicaAddress& address,
                                                Store& store) {
  // The name its revision serves the model under (a V2 model name where the spec gives one).
  std::string model_name;
  if (auto revision = store.FindRevision(replica.service, replica.revision);
      revision.ok() && *revision) {
    model_name = (*revision)->spec.value("model_name", "");
  }
  return std::make_shared<routing::Endpoint>(replica.id, replica.revision,
                                             address.host.empty() ? "127.0.0.1" : address.host,
                                             address.http_port, address.grpc_port,
                                             std::move(model_name));
}

}  // namespace

TimeMs NowMs() { return RealClock().WallMs(); }

std::string RandomName(size_t length) {
  static constexpr char kAlphabet[] = "abcdefghijklmnopqrstuvwxyz0123456789";
  thread_local std::mt19937_64 rng{std::random_device{}()};
  std::string s(length, 'a');
  for (char& c : s) c = kAlphabet[rng() % 36];
  return s;
}

std::string RevisionDirectory(const std::string& data_dir, const std::string& service,
                              int revision) {
  return StrCat(data_dir, "/services/", service, "/revisions/", revision);
}

Controller::Controller(const ControllerOptions& options)
    : options_(options),
      store_(options.store),
      driver_(options.driver),
      router_(options.router),
      traffic_(options.traffic),
      clock_(*options.clock),
      default_rollout_(options.crashes_to_fail_revision),
      default_placer_(LocalPlacer::OfThisMachine()),
      placer_(options.placer ? options.placer : &default_placer_),
      rollout_(options.rollout ? options.rollout : &default_rollout_),
      scale_(options.scale ? options.scale : &default_scale_) {}

Controller::~Controller() { Stop(); }

void Controller::Start() {
  Recover();
  PublishRoutes();
  if (options_.reconcile_period_ms > 0) thread_ = std::thread([this] { Run(); });
}

void Controller::Stop() {
  {
    std::lock_guard lock(wake_mu_);
    stopping_ = true;
  }
  wake_cv_.notify_all();
  if (thread_.joinable()) thread_.join();
}

void Controller::StopAllReplicas() {
  std::lock_guard lock(replicas_mu_);
  for (auto& [id, r] : replicas_) {
    if (r.handle) r.handle->Stop();
  }
  // Real time, whatever clock the controller runs on: this waits for processes.
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
  for (auto& [id, r] : replicas_) {
    while (r.handle && !r.handle->Exited() && std::chrono::steady_clock::now() < deadline) {
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    if (r.handle && !r.handle->Exited()) r.handle->Kill();
    driver_->Release(id);
    // Recorded as stopped with the server, so that its next start starts the replica again
    // without calling it lost.
    if (!r.handle || Terminal(r.record.state)) continue;
    r.handle.reset();
    r.record.pid = 0;
    if (r.stop_requested || r.record.state == Name(ReplicaState::kDraining)) {
      SetState(r, ReplicaState::kTerminated, "stopped with the server");
    } else if (r.record.state == Name(ReplicaState::kStarting) ||
               r.record.state == Name(ReplicaState::kReady)) {
      SetState(r, ReplicaState::kPending, std::string(kStoppedWithServer));
    }
  }
}

void Controller::Wake() {
  {
    std::lock_guard lock(wake_mu_);
    woken_ = true;
  }
  wake_cv_.notify_all();
}

std::map<int, int> Controller::TrafficShares(const std::string& service) const {
  std::map<int, int> shares;
  const auto table = router_->Snapshot();
  const auto it = table->services.find(service);
  if (it == table->services.end()) return shares;
  int total = 0;
  for (const routing::RevisionRoute& r : it->second.revisions) {
    if (!r.endpoints.empty()) total += r.weight;
  }
  if (total <= 0) return shares;
  for (const routing::RevisionRoute& r : it->second.revisions) {
    if (!r.endpoints.empty() && r.weight > 0) {
      shares[static_cast<int>(r.revision)] = (r.weight * 100 + total / 2) / total;
    }
  }
  return shares;
}

int Controller::RunningReplicas() {
  std::lock_guard lock(replicas_mu_);
  int n = 0;
  for (const auto& [id, r] : replicas_) n += r.handle ? 1 : 0;
  return n;
}

void Controller::Event(const std::string& service, const std::string& object,
                       const std::string& reason, const std::string& message) {
  spdlog::info("{} {}: {}", object, reason, message);
  EventRecord e{0, clock_.WallMs(), service, object, reason, message};
  if (auto status = store_->AppendEvent(e); !status.ok()) {
    spdlog::error("cannot record an event: {}", Msg(status));
  }
}

std::string Controller::RevisionRepository(const std::string& service, int revision) const {
  return StrCat(RevisionDirectory(options_.data_dir, service, revision), "/repo");
}

std::string Controller::LastLogLine(const std::string& id) const {
  return TellingLogLine(driver_->LogTail(id, 4096));
}

std::string TellingLogLine(std::string_view tail) {
  // A line as a person reads it, and whether it is an error: the text format's
  // "2026-12-04T19:15:07.555 C message" loses its time and level letter, the JSON format's
  // {"time", "level", "pid", "msg"} keeps its msg.
  const auto parse = [](std::string_view line) -> std::pair<std::string, bool> {
    if (line.starts_with("{")) {
      const nlohmann::json doc = nlohmann::json::parse(line, nullptr, false);
      if (doc.is_object() && doc.contains("msg") && doc["msg"].is_string()) {
        const std::string level = doc.value("level", "");
        return {doc["msg"].get<std::string>(), level == "critical" || level == "error"};
      }
      return {std::string(line), false};
    }
    // YYYY-MM-DDTHH:MM:SS.mmm L message
    if (line.size() > 26 && line[4] == '-' && line[10] == 'T' && line[23] == ' ' &&
        line[25] == ' ') {
      const char level = line[24];
      return {std::string(line.substr(26)), level == 'C' || level == 'E'};
    }
    const bool error = line.find("critical") != std::string_view::npos ||
                       line.find("error") != std::string_view::npos ||
                       line.find("terminate") != std::string_view::npos;
    return {std::string(line), error};
  };
  // The last error is the most telling; failing one, the last line.
  std::string last, error;
  size_t pos = 0;
  while (pos < tail.size()) {
    size_t end = tail.find('\n', pos);
    if (end == std::string_view::npos) end = tail.size();
    const std::string_view line = tail.substr(pos, end - pos);
    if (!line.empty()) {
      auto [text, is_error] = parse(line);
      if (is_error) error = text;
      last = std::move(text);
    }
    pos = end + 1;
  }
  std::string chosen = error.empty() ? last : error;
  if (chosen.size() > 500) chosen = chosen.substr(0, 500) + "...";
  return chosen;
}

void Controller::Recover() {
  auto rows = store_->ListReplicas();
  if (!rows.ok()) {
    spdlog::error("cannot read replicas: {}", Msg(rows.status()));
    return;
  }
  std::map<std::string, runtime::OwnedReplica> found;
  for (runtime::OwnedReplica& owned : driver_->ListOwned()) {
    std::string id = owned.replica_id;
    found.emplace(std::move(id), std::move(owned));
  }
  std::lock_guard lock(replicas_mu_);
  const int64_t now = Now();
  for (ReplicaRecord& rec : *rows) {
    Replica r;
    r.record = rec;
    r.state_since_ms = now;
    auto it = found.find(rec.id);
    if (it != found.end()) {
      r.handle = driver_->Adopt(it->second);
      found.erase(it);
    }
    if (r.handle) {
      r.record.pid = r.handle->pid();
      const std::optional<runtime::ReplicaAddress> address = r.handle->Address();
      r.record.http_port = address ? address->http_port : 0;
      r.record.grpc_port = address ? address->grpc_port : 0;
      if (rec.state == Name(ReplicaState::kDraining)) {
        r.stop_requested = true;
      } else if (address && r.handle->Probe(runtime::ProbeKind::kReady) ==
                                runtime::ProbeResult::kHealthy) {
        r.record.state = Name(ReplicaState::kReady);
        r.ready_since_ms = now;
        r.endpoint = MakeEndpoint(r.record, *address, *store_);
      } else {
        r.record.state = Name(ReplicaState::kStarting);
      }
      Event(rec.service, "replica/" + rec.id, "Adopted",
            StrCat("worker process ", r.record.pid, " kept running across a server restart"));
    } else if (rec.state == Name(ReplicaState::kDraining)) {
      // It was being stopped and it has: nothing to start again.
      r.record.state = Name(ReplicaState::kTerminated);
      r.record.pid = 0;
      Event(rec.service, "replica/" + rec.id, "Terminated",
            "its worker process ended while the server was down, as it was draining");
    } else if (rec.state == Name(ReplicaState::kPending) && rec.reason == kStoppedWithServer) {
      r.next_start_ms = now;
      Event(rec.service, "replica/" + rec.id, "Restarting",
            "it stopped with the server at its last shutdown; starting it again");
    } else if (!Terminal(rec.state)) {
      r.record.state = Name(ReplicaState::kPending);
      r.record.pid = 0;
      r.next_start_ms = now;
      Event(rec.service, "replica/" + rec.id, "Lost",
            "its worker process ended while the server was down; starting a new one");
    }
    Stored(store_->UpsertReplica(r.record), "record replica " + rec.id);
    replicas_.emplace(rec.id, std::move(r));
  }
  // Replicas of this data directory that no row owns (the server died between starting them
  // and recording them, or they were deleted meanwhile) would be duplicates: stop them.
  for (const auto& [id, owned] : found) {
    if (std::unique_ptr<runtime::ReplicaHandle> handle = driver_->Adopt(owned)) {
      spdlog::warn("stopping worker {} (replica {}): no replica owns it", handle->pid(), id);
      handle->Kill();
    }
  }
}

void Controller::Run() {
  while (true) {
    {
      std::unique_lock lock(wake_mu_);
      // A replica that is starting is checked every 10 ms, so that its traffic starts as soon
      // as it can serve (a check is a stat of its port file until the file appears).
      const auto period = starting_.load()
                              ? std::chrono::milliseconds(10)
                              : std::chrono::milliseconds(options_.reconcile_period_ms);
      wake_cv_.wait_for(lock, period, [&] { return woken_ || stopping_; });
      if (stopping_) return;
      woken_ = false;
    }
    Reconcile();
  }
}

bool Controller::Stored(const absl::Status& status, std::string_view what) {
  if (status.ok()) return true;
  spdlog::error("reconcile: cannot {}: {}; retrying on the next pass", what, Msg(status));
  return false;
}

void Controller::SetState(Replica& r, ReplicaState to, const std::string& reason) {
  const std::string state(Name(to));
  if (r.record.state == state && r.record.reason == reason) return;
  if (const auto from = ReplicaStateFromName(r.record.state); !from || !Allowed(*from, to)) {
    CountUnexpectedTransition();
    spdlog::error("replica {}: unexpected move from {} to {}", r.record.id, r.record.state, state);
  }
  r.record.state = state;
  r.record.reason = reason;
  r.state_since_ms = Now();
  if (to == ReplicaState::kReady) {
    r.record.ready_at = clock_.WallMs();
    r.ready_since_ms = r.state_since_ms;
  }
  if (to != ReplicaState::kReady && r.endpoint) {
    r.endpoint->CloseIdle();
    if (to != ReplicaState::kDraining) r.endpoint.reset();
  }
  if (auto status = store_->UpsertReplica(r.record); !status.ok()) {
    spdlog::error("cannot record replica {}: {}", r.record.id, Msg(status));
  }
}

void Controller::LaunchReplica(Replica& r, int64_t now) {
  auto revision = store_->FindRevision(r.record.service, r.record.revision);
  if (!revision.ok() || !*revision) return;
  const nlohmann::json& spec = (*revision)->spec;
  runtime::LaunchSpec launch;
  launch.replica_id = r.record.id;
  launch.cpus = Cpus(spec);
  launch.memory_bytes = MemoryBytes(spec);
  // A CPU limit sets both the engine's threads and the decoding pool's (0: the worker's own
  // defaults, with the server's --engine-threads).
  const int cpu_threads = launch.cpus > 0 ? std::max(1, static_cast<int>(std::ceil(launch.cpus)))
                                          : 0;
  const int threads = cpu_threads > 0 ? cpu_threads : options_.engine_threads;
  launch.args = {"worker",
                 "--model-repository", RevisionRepository(r.record.service, r.record.revision),
                 "--engine-threads", std::to_string(threads),
                 "--preprocess-threads", std::to_string(cpu_threads),
                 "--exit-on-error", "true",
                 "--trust-caller-header", "true",
                 "--shared-memory", "false"};
  launch.args.insert(launch.args.end(), worker_args_.begin(), worker_args_.end());
  auto handle = driver_->Launch(launch);
  if (!handle.ok()) {
    SetState(r, ReplicaState::kFailed, std::string(Msg(handle.status())));
    Event(r.record.service, "replica/" + r.record.id, "StartFailed",
          std::string(Msg(handle.status())));
    return;
  }
  r.handle = *std::move(handle);
  r.record.pid = r.handle->pid();
  r.record.http_port = 0;
  r.record.grpc_port = 0;
  r.last_probe_ms = now;
  r.term_sent = false;
  SetState(r, ReplicaState::kStarting, "");
  Event(r.record.service, "replica/" + r.record.id, "Started",
        StrCat("worker process ", r.record.pid, " for revision ", r.record.revision));
}

void Controller::BeginDrain(Replica& r, const std::string& why) {
  if (r.stop_requested) return;
  r.stop_requested = true;
  if (!r.handle) {
    SetState(r, ReplicaState::kTerminated, why);
    return;
  }
  SetState(r, ReplicaState::kDraining, why);
  Event(r.record.service, "replica/" + r.record.id, "Draining", why);
}

void Controller::OnExit(Replica& r, int64_t now) {
  const std::string log_line = LastLogLine(r.record.id);
  r.handle.reset();
  driver_->Release(r.record.id);
  if (r.stop_requested) {
    SetState(r, ReplicaState::kTerminated, r.record.reason);
    return;
  }
  ++r.record.restarts;
  ++r.crashes_in_a_row;
  const std::string reason =
      log_line.empty() ? "the worker process exited" : StrCat("the worker exited: ", log_line);
  Event(r.record.service, "replica/" + r.record.id, "ReplicaCrashed", reason);
  const int shift = std::min(r.crashes_in_a_row - 1, 16);
  const int64_t backoff =
      std::min(options_.restart_backoff_first_ms << shift, options_.restart_backoff_max_ms);
  r.next_start_ms = now + backoff;
  SetState(r, r.crashes_in_a_row >= 2 ? ReplicaState::kCrashLoopBackOff : ReplicaState::kPending,
           reason);
}

void Controller::SuperviseReplica(Replica& r, int64_t now) {
  const std::string& state = r.record.state;
  if (r.handle && r.handle->Exited()) return OnExit(r, now);
  if ((state == Name(ReplicaState::kPending) || state == Name(ReplicaState::kCrashLoopBackOff)) &&
      now >= r.next_start_ms) {
    return LaunchReplica(r, now);
  }
  if (!r.handle) return;
  if (state == Name(ReplicaState::kStarting)) {
    const std::optional<runtime::ReplicaAddress> address = r.handle->Address();
    if (address && r.handle->Probe(runtime::ProbeKind::kReady) == runtime::ProbeResult::kHealthy) {
      r.record.http_port = address->http_port;
      r.record.grpc_port = address->grpc_port;
      r.endpoint = MakeEndpoint(r.record, *address, *store_);
      const int64_t took = now - r.state_since_ms;
      SetState(r, ReplicaState::kReady, "");
      Event(r.record.service, "replica/" + r.record.id, "ReplicaReady",
            StrCat("serving on port ", r.record.http_port, " after ", took, " ms"));
    } else if (now - r.state_since_ms > options_.startup_timeout_ms) {
      Event(r.record.service, "replica/" + r.record.id, "StartupTimeout",
            "not ready in time; restarting it");
      r.handle->Kill();
    }
    return;
  }
  if (state == Name(ReplicaState::kReady)) {
    if (now - r.ready_since_ms > 30000) r.crashes_in_a_row = 0;
    if (now - r.last_probe_ms >= options_.liveness_period_ms) {
      r.last_probe_ms = now;
      const runtime::ProbeResult live = r.handle->Probe(runtime::ProbeKind::kLive);
      if (live == runtime::ProbeResult::kHealthy) {
        r.liveness_failures = 0;
      } else if (live == runtime::ProbeResult::kUnknown) {
        spdlog::warn("cannot probe replica {}: the server is out of descriptors or memory",
                     r.record.id);
      } else if (++r.liveness_failures >= options_.liveness_failures_to_restart) {
        Event(r.record.service, "replica/" + r.record.id, "LivenessFailed",
              StrCat(r.liveness_failures, " liveness probes failed; restarting it"));
        r.handle->Kill();
      }
    }
    return;
  }
  if (state == Name(ReplicaState::kDraining)) {
    const bool idle = !r.endpoint || r.endpoint->in_flight.load() == 0;
    const int64_t waited = now - r.state_since_ms;
    if (!r.term_sent && (idle || waited > options_.drain_timeout_ms)) {
      r.term_sent = true;
      r.handle->Stop();
    } else if (r.term_sent && waited > 2 * options_.drain_timeout_ms) {
      r.handle->Kill();
    }
  }
}

Controller::Replica* Controller::AddReplica(const std::string& service, int revision,
                                            int64_t now, const std::string& why) {
  Replica r;
  r.record.id = StrCat(service, "-", revision, "-", RandomName(6));
  r.record.service = service;
  r.record.revision = revision;
  r.record.created_at = clock_.WallMs();
  r.record.state = Name(ReplicaState::kPending);
  r.next_start_ms = now;
  r.state_since_ms = now;
  // A replica the store does not know would be lost on a restart: none until it can be recorded.
  if (!Stored(store_->UpsertReplica(r.record), "record a new replica of " + service)) {
    return nullptr;
  }
  const std::string id = r.record.id;
  auto [it, inserted] = replicas_.emplace(id, std::move(r));
  Event(service, "replica/" + id, "Created", why);
  return &it->second;
}

void Controller::ReconcileService(ServiceRecord& service, int64_t now) {
  ServiceView view;
  view.name = service.name;
  view.deleting = service.deleting;
  view.serving_revision = service.current_revision;
  view.spec_replicas = service.spec.value("replicas", 1);
  std::optional<RevisionRecord> latest;
  if (!service.deleting) {
    auto found = store_->FindRevision(service.name, service.latest_revision);
    if (!found.ok() || !*found) return;
    latest = **std::move(found);
    const std::optional<RevisionStatus> status = RevisionStatusFromName(latest->status);
    if (!status) {
      spdlog::error("revision {} of {} has an unknown status '{}'", latest->number, service.name,
                    latest->status);
      return;
    }
    view.latest_revision = latest->number;
    view.latest_status = *status;
  }
  for (auto& [id, r] : replicas_) {
    if (r.record.service != service.name) continue;
    const std::optional<ReplicaState> state = ReplicaStateFromName(r.record.state);
    if (!state || IsTerminal(*state)) continue;
    view.replicas.push_back({.id = id,
                             .revision = r.record.revision,
                             .state = *state,
                             .stopping = r.stop_requested,
                             .crashes_in_a_row = r.crashes_in_a_row,
                             .reason = r.record.reason,
                             .created_at_ms = r.record.created_at});
  }
  view.rollout_spec = service.spec.value("rollout", nlohmann::json());
  view.rollout_state = service.rollout;
  view.wall_ms = clock_.WallMs();
  if (traffic_ != nullptr && RolloutActive(service.rollout.value("phase", ""))) {
    // The figures the gates judge: both revisions' requests since the step began.
    const int64_t since = service.rollout.value("step_started_ms", int64_t{0});
    const auto figures = [&](int revision) {
      const routing::WindowFigures f = traffic_->Window(service.name, revision, since,
                                                        view.wall_ms);
      return RevisionFigures{.requests = f.requests, .errors = f.errors, .p99_ms = f.p99_ms};
    };
    if (since > 0) {
      view.canary_figures = figures(service.rollout.value("revision", 0));
      view.stable_figures = figures(service.rollout.value("stable_revision", 0));
    }
  }
  if (!service.deleting) {
    view.autoscaled_replicas = Autoscale(service, view, now);
  } else {
    autoscaled_.erase(service.name);
  }
  const Plan plan = PlanService(view, *rollout_, *scale_, now);
  for (const Action& action : plan.actions) {
    if (!Execute(service, latest, action, now)) {
      // The plan stopped half-way: route by what the store says until the next pass.
      weights_.erase(service.name);
      return;
    }
  }
  if (service.deleting) {
    weights_.erase(service.name);
  } else {
    weights_[service.name] = plan.weights;
  }
}

std::optional<int> Controller::Autoscale(const ServiceRecord& service, const ServiceView& view,
                                         int64_t now) {
  const auto found = service.spec.find("autoscaling");
  if (found == service.spec.end() || !found->is_object()) {
    autoscaled_.erase(service.name);
    return std::nullopt;
  }
  const nlohmann::json& settings = *found;
  Autoscaled& a = autoscaled_[service.name];
  if (!a.autoscaler || a.revision != view.latest_revision || a.settings != settings) {
    // The API wrote every field (ControlApi::NormalizeSpec); the config's own defaults stand
    // in for a field a spec of an older server lacks.
    AutoscalerConfig config;
    const std::string metric = settings.value("metric", "concurrency");
    config.metric = metric == "rps"   ? AutoscalerConfig::Metric::kRps
                    : metric == "cpu" ? AutoscalerConfig::Metric::kCpu
                                      : AutoscalerConfig::Metric::kConcurrency;
    config.target = settings.value("target", config.target);
    config.min_replicas = settings.value("min_replicas", config.min_replicas);
    config.max_replicas = settings.value("max_replicas", config.max_replicas);
    config.stable_window_ms =
        settings.value("window_s", config.stable_window_ms / 1000) * 1000;
    config.scale_down_delay_ms =
        settings.value("scale_down_delay_s", config.scale_down_delay_ms / 1000) * 1000;
    config.scale_to_zero_after_ms =
        settings.value("scale_to_zero_after_s", config.scale_to_zero_after_ms / 1000) * 1000;
    config.initial_replicas = settings.value("initial_replicas", config.initial_replicas);
    const uint64_t arrivals =
        options_.activator ? options_.activator->Arrivals(service.name) : 0;
    a = Autoscaled{.revision = view.latest_revision,
                   .settings = settings,
                   .autoscaler = std::make_unique<Autoscaler>(config),
                   .held_arrivals = arrivals};
  }
  const size_t held = options_.activator ? options_.activator->Held(service.name) : 0;
  // A service at zero that holds a request is read at once: that request waits for it.
  const bool woken_at_zero = held > 0 && a.last && a.last->desired == 0;
  if (a.last && now - a.last_reading_ms < 1000 && !woken_at_zero) return a.last->desired;
  const int64_t elapsed_ms = a.last_reading_ms < 0 ? 1000 : std::max<int64_t>(
                                                                 now - a.last_reading_ms, 1);
  // The service's load over all its replicas; the ready replicas of the revision the count
  // applies to (the serving one while a canary rolls out beside it, else the latest).
  const int scaled_revision = view.latest_status == RevisionStatus::kDeploying &&
                                      view.serving_revision > 0
                                  ? view.serving_revision
                                  : view.latest_revision;
  double in_flight = 0;
  uint64_t attempts = 0, busy_us = 0;
  double cpu_percent = 0;
  const double cpu_limit = Cpus(service.spec);
  int ready = 0;
  for (auto& [id, r] : replicas_) {
    if (r.record.service != service.name) continue;
    if (r.endpoint) {
      if (r.counted != r.endpoint.get()) {
        r.counted = r.endpoint.get();
        r.counted_attempts = r.counted_busy_us = 0;
      }
      const uint64_t now_attempts = r.endpoint->attempts.load(std::memory_order_relaxed);
      const uint64_t now_busy = r.endpoint->busy_us.load(std::memory_order_relaxed);
      attempts += now_attempts - r.counted_attempts;
      busy_us += now_busy - r.counted_busy_us;
      r.counted_attempts = now_attempts;
      r.counted_busy_us = now_busy;
      in_flight += r.endpoint->in_flight.load(std::memory_order_relaxed);
    }
    if (r.handle && cpu_limit > 0 &&
        a.autoscaler->config().metric == AutoscalerConfig::Metric::kCpu) {
      const std::optional<double> cpu = r.handle->CpuSeconds();
      if (cpu && r.counted_cpu_seconds >= 0 && r.record.state == Name(ReplicaState::kReady)) {
        const double cores = std::max(0.0, *cpu - r.counted_cpu_seconds) /
                             (static_cast<double>(elapsed_ms) / 1000);
        cpu_percent += 100 * cores / cpu_limit;
      }
      r.counted_cpu_seconds = cpu.value_or(-1);
    }
    ready += r.record.revision == scaled_revision &&
                     r.record.state == Name(ReplicaState::kReady) && !r.stop_requested
                 ? 1
                 : 0;
  }
  const uint64_t arrivals = options_.activator ? options_.activator->Arrivals(service.name) : 0;
  const uint64_t new_held = arrivals - std::min(arrivals, a.held_arrivals);
  a.held_arrivals = arrivals;
  const double seconds = static_cast<double>(elapsed_ms) / 1000;
  double reading = 0;
  switch (a.autoscaler->config().metric) {
    case AutoscalerConfig::Metric::kRps:
      reading = static_cast<double>(attempts + new_held) / seconds;
      break;
    case AutoscalerConfig::Metric::kCpu:
      // A held request wants a replica whatever the CPU says.
      reading = cpu_percent + static_cast<double>(held) * a.autoscaler->config().target;
      break;
    case AutoscalerConfig::Metric::kConcurrency:
      reading = std::max(in_flight, static_cast<double>(busy_us) / 1e6 / seconds) +
                static_cast<double>(held);
      break;
  }
  const bool active = attempts > 0 || held > 0 || in_flight > 0 || new_held > 0;
  a.autoscaler->Record(now, reading, active);
  a.last_reading_ms = now;
  AutoscalerDecision decision = a.autoscaler->Decide(now, ready);
  if (decision.desired == 0) {
    // A replica that is still loading is never stopped for want of traffic: it may be the
    // one a request was held for.
    for (const ReplicaView& r : view.replicas) {
      if (r.revision == view.latest_revision && !r.stopping &&
          r.state == ReplicaState::kStarting) {
        decision.desired = 1;
        StrAppend(&decision.reason, "; kept at 1 while replica ", r.id, " starts");
        break;
      }
    }
  }
  const int before = a.last ? a.last->desired : view.spec_replicas;
  if (decision.desired != before) {
    Event(service.name, "service/" + service.name, "Autoscaled",
          StrCat(before, " -> ", decision.desired, " replicas: ", decision.reason));
  }
  a.last = decision;
  return decision.desired;
}

Resources Controller::Reserved() {
  Resources reserved;
  std::map<std::pair<std::string, int>, Resources> per_revision;
  for (const auto& [id, r] : replicas_) {
    const std::optional<ReplicaState> state = ReplicaStateFromName(r.record.state);
    if (!state || IsTerminal(*state)) continue;
    const auto key = std::make_pair(r.record.service, r.record.revision);
    auto it = per_revision.find(key);
    if (it == per_revision.end()) {
      Resources each;
      if (auto revision = store_->FindRevision(key.first, key.second); revision.ok() && *revision) {
        each = ReservationOf((*revision)->spec);
      }
      it = per_revision.emplace(key, each).first;
    }
    reserved += it->second;
  }
  return reserved;
}

std::optional<AutoscalerDecision> Controller::Recommendation(const std::string& service) {
  std::lock_guard lock(replicas_mu_);
  const auto it = autoscaled_.find(service);
  if (it == autoscaled_.end()) return std::nullopt;
  return it->second.last;
}

bool Controller::Execute(ServiceRecord& service, std::optional<RevisionRecord>& latest,
                         const Action& action, int64_t now) {
  switch (action.kind) {
    case Action::Kind::kCreateReplica: {
      auto revision = store_->FindRevision(service.name, action.revision);
      if (!revision.ok() || !*revision) return false;
      const Resources ask = ReservationOf((*revision)->spec);
      if (absl::Status fits = placer_->Fits(Reserved(), ask); !fits.ok()) {
        // It waits: the next pass asks again (a replica elsewhere may have gone meanwhile).
        const std::string why = StrCat(Msg(fits), "; replica for revision ", action.revision,
                                       " waits for room");
        if (capacity_refusals_[service.name] != why) {
          capacity_refusals_[service.name] = why;
          Event(service.name, StrCat("revision/", service.name, "-", action.revision),
                "NoCapacity", why);
        }
        return true;
      }
      capacity_refusals_.erase(service.name);
      Replica* r = AddReplica(service.name, action.revision, now, action.reason);
      if (r == nullptr) return false;
      LaunchReplica(*r, now);
      return true;
    }
    case Action::Kind::kDrain: {
      auto it = replicas_.find(action.replica_id);
      if (it != replicas_.end()) BeginDrain(it->second, action.reason);
      return true;
    }
    case Action::Kind::kFailRevision: {
      RevisionRecord& target = *latest;
      Move(target, RevisionStatus::kFailed);
      target.reason = action.reason;
      if (!Stored(store_->UpdateRevision(target), "record the failed revision")) return false;
      Event(service.name, StrCat("revision/", service.name, "-", target.number), "RevisionFailed",
            StrCat(target.reason,
                   service.current_revision > 0
                       ? StrCat("; revision ", service.current_revision, " keeps serving")
                       : std::string()));
      for (auto& [id, r] : replicas_) {
        if (r.record.service != service.name || r.record.revision != target.number ||
            r.stop_requested || Terminal(r.record.state)) {
          continue;
        }
        if (r.record.state == Name(ReplicaState::kReady)) {
          // A canary's replica takes traffic until the table without it is published: it
          // drains, so that what it holds is answered.
          BeginDrain(r, target.reason);
          continue;
        }
        r.stop_requested = true;
        if (r.handle) r.handle->Kill();
        SetState(r, ReplicaState::kFailed, target.reason);
      }
      return true;
    }
    case Action::Kind::kSetRollout: {
      const int64_t generation = service.rollout.value("generation", int64_t{0});
      nlohmann::json state = action.rollout;
      state["generation"] = generation + 1;
      const absl::Status status = store_->UpdateRollout(service.name, state, generation);
      if (absl::IsAborted(status)) return false;  // someone's command came first: plan again
      if (!Stored(status, "record the rollout of " + service.name)) return false;
      service.rollout = std::move(state);
      if (!action.reason.empty()) {
        Event(service.name, "service/" + service.name, "Rollout", action.reason);
      }
      return true;
    }
    case Action::Kind::kPromote: {
      RevisionRecord& target = *latest;
      // The service first: should the revision's row then fail, the next pass finds it still
      // Deploying with its replicas ready and finishes the promotion.
      const int previous = service.current_revision;
      service.current_revision = target.number;
      service.updated_at = clock_.WallMs();
      if (!Stored(store_->UpdateService(service), "promote revision of " + service.name)) {
        return false;
      }
      Move(target, RevisionStatus::kReady);
      target.reason = "";
      if (!Stored(store_->UpdateRevision(target), "record the ready revision")) return false;
      Event(service.name, StrCat("revision/", service.name, "-", target.number), "RevisionReady",
            StrCat(action.reason, "; it now takes the traffic"));
      if (previous > 0 && previous != target.number) {
        if (auto old = store_->FindRevision(service.name, previous); old.ok() && *old) {
          Move(**old, RevisionStatus::kRetired);
          Stored(store_->UpdateRevision(**old), "retire the previous revision");
        }
      }
      return true;
    }
    case Action::Kind::kDeleteService: {
      if (!Stored(store_->DeleteService(service.name), "delete service " + service.name)) {
        return false;
      }
      for (auto it = replicas_.begin(); it != replicas_.end();) {
        it = it->second.record.service == service.name ? replicas_.erase(it) : std::next(it);
      }
      std::error_code ec;
      fs::remove_all(StrCat(options_.data_dir, "/services/", service.name), ec);
      Event(service.name, "service/" + service.name, "Deleted", "all replicas stopped");
      return true;
    }
  }
  return true;
}

void Controller::Reconcile() {
  const int64_t now = Now();
  auto services = store_->ListServices();
  if (!services.ok()) {
    spdlog::error("reconcile: {}", Msg(services.status()));
    return;
  }
  {
    std::lock_guard lock(replicas_mu_);
    for (auto& [id, r] : replicas_) {
      if (!Terminal(r.record.state)) SuperviseReplica(r, now);
    }
    std::set<std::string> known;
    for (ServiceRecord& s : *services) {
      known.insert(s.name);
      ReconcileService(s, now);
    }
    // Forget terminated replicas (and their rows and directories).
    for (auto it = replicas_.begin(); it != replicas_.end();) {
      Replica& r = it->second;
      const bool orphan = !known.count(r.record.service);
      if (orphan && r.handle) {
        r.stop_requested = true;
        r.handle->Kill();
      }
      if ((r.record.state == Name(ReplicaState::kTerminated) || orphan) && !r.handle &&
          Stored(store_->DeleteReplica(r.record.id), "delete replica " + r.record.id)) {
        driver_->Forget(r.record.id);
        it = replicas_.erase(it);
      } else {
        ++it;
      }
    }
    ForgetOldFailedReplicas();
    bool starting = false;
    for (const auto& [id, r] : replicas_)
      starting = starting || r.record.state == Name(ReplicaState::kStarting);
    starting_.store(starting);
  }
  PublishRoutes();
}

void Controller::ForgetOldFailedReplicas() {
  // Per service, the failed replicas that have no process left, newest first.
  std::map<std::string, std::vector<std::pair<int64_t, std::string>>> failed;
  for (const auto& [id, r] : replicas_) {
    if (r.record.state == Name(ReplicaState::kFailed) && !r.handle) {
      failed[r.record.service].emplace_back(r.state_since_ms, id);
    }
  }
  for (auto& [service, list] : failed) {
    if (list.size() <= kKeptFailedReplicas) continue;
    std::sort(list.begin(), list.end(), std::greater<>());
    for (size_t i = kKeptFailedReplicas; i < list.size(); ++i) {
      const std::string& id = list[i].second;
      if (absl::Status status = store_->DeleteReplica(id); !status.ok()) {
        spdlog::warn("cannot forget failed replica {}: {}; retrying on the next pass", id,
                     Msg(status));
        continue;
      }
      driver_->Forget(id);
      replicas_.erase(id);
    }
  }
}

void Controller::PublishRoutes() {
  auto services = store_->ListServices();
  if (!services.ok()) return;
  auto table = std::make_shared<routing::RoutingTable>();
  std::lock_guard lock(replicas_mu_);
  for (const ServiceRecord& s : *services) {
    if (s.deleting) continue;
    routing::ServiceRoute route;
    route.name = s.name;
    route.model_name = s.spec.value("model_name", "");
    if (!route.model_name.empty()) table->model_names.emplace(route.model_name, s.name);
    route.image = s.spec.value("image", nlohmann::json::object()).value("enabled", false);
    // The last plan's weights; the serving revision alone before there is one.
    auto planned = weights_.find(s.name);
    const std::vector<TrafficWeight> weights =
        planned != weights_.end() ? planned->second
        : s.current_revision > 0  ? std::vector<TrafficWeight>{{s.current_revision, 100}}
                                  : std::vector<TrafficWeight>{};
    for (const TrafficWeight& w : weights) {
      routing::RevisionRoute& revision = route.revisions.emplace_back();
      revision.revision = w.revision;
      revision.weight = w.weight;
      for (const auto& [id, r] : replicas_) {
        if (r.record.service == s.name && r.record.revision == w.revision &&
            r.record.state == Name(ReplicaState::kReady) && r.endpoint) {
          revision.endpoints.push_back(r.endpoint);
        }
      }
    }
    if (traffic_) {
      traffic_->SetReplicas(s.name, clock_.WallMs(), static_cast<int>(route.ReadyReplicas()));
    }
    // A/B by header, while a canary rolls out.
    const nlohmann::json pin =
        s.spec.value("rollout", nlohmann::json::object()).value("route_header", nlohmann::json());
    if (pin.is_object() && RolloutActive(s.rollout.value("phase", ""))) {
      route.pin_header = pin.value("name", "");
      route.pin_value = pin.value("value", "");
      route.pin_revision = s.rollout.value("revision", 0);
    }
    // Shadow traffic to the canary, while its rollout runs.
    const int shadow =
        s.spec.value("rollout", nlohmann::json::object()).value("shadow_percent", 0);
    if (shadow > 0 && RolloutActive(s.rollout.value("phase", ""))) {
      route.shadow_percent = shadow;
      route.shadow_revision = s.rollout.value("revision", 0);
    }
    // A service that can be at zero holds requests while it has no ready replica.
    const nlohmann::json autoscaling = s.spec.value("autoscaling", nlohmann::json());
    if (autoscaling.is_object() && autoscaling.value("min_replicas", 1) == 0) {
      route.cold_start_timeout_ms = autoscaling.value("cold_start_timeout_s", 60) * 1000;
      const double target = autoscaling.value("target", 1.0);
      route.hold_limit = static_cast<size_t>(std::max(10.0, std::ceil(10 * target)));
    }
    table->services.emplace(s.name, std::move(route));
  }
  router_->Publish(table);
  if (options_.activator != nullptr) options_.activator->Published(*table);
}

}  // namespace berth::control
