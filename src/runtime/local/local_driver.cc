#include "runtime/local/local_driver.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <spawn.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>

#include "common/strings.h"
#include "net/descriptor_limit.h"
#include "nlohmann/json.hpp"
#include "runtime/local/process.h"
#include "spdlog/spdlog.h"

extern char** environ;

namespace berth::runtime {
namespace {

namespace fs = std::filesystem;

bool WriteFile(const fs::path& path, const std::string& value) {
  std::ofstream out(path);
  out << value;
  out.flush();
  return static_cast<bool>(out);
}

std::string ReadFile(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

constexpr char kCgroupV1Cpu[] = "/sys/fs/cgroup/cpu";
constexpr char kCgroupV1Memory[] = "/sys/fs/cgroup/memory";
constexpr char kCgroupRoot[] = "/sys/fs/cgroup";

bool CanMakeDir(const fs::path& parent) {
  std::error_code ec;
  const fs::path probe = parent / "berth";
  fs::create_directories(probe, ec);
  return !ec && access(probe.c_str(), W_OK) == 0;
}

// Reads {"http_port": H, "grpc_port": G}, written by the worker once it listens.
std::optional<ReplicaAddress> ReadPortFile(const std::string& path) {
  std::ifstream in(path);
  if (!in) return std::nullopt;
  std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  auto doc = nlohmann::json::parse(text, nullptr, false);
  if (doc.is_discarded() || !doc.is_object()) return std::nullopt;
  const auto http = doc.find("http_port"), grpc = doc.find("grpc_port");
  if (http == doc.end() || !http->is_number_integer() || http->get<int64_t>() <= 0 ||
      http->get<int64_t>() > 65535) {
    return std::nullopt;
  }
  ReplicaAddress address{"127.0.0.1", http->get<int>(), 0};
  if (grpc != doc.end() && grpc->is_number_integer() && grpc->get<int64_t>() > 0 &&
      grpc->get<int64_t>() <= 65535) {
    address.grpc_port = grpc->get<int>();
  }
  return address;
}

// A worker process and its directory.
class LocalReplica final : public ReplicaHandle {
 public:
  LocalReplica(Process process, std::string dir)
      : process_(std::move(process)), dir_(std::move(dir)) {}

  bool Exited() override { return process_.Exited(); }
  void Stop() override { process_.Signal(SIGTERM); }
  void Kill() override { process_.Signal(SIGKILL); }
  ProbeResult Probe(ProbeKind kind) override {
    const std::optional<ReplicaAddress> address = Address();
    if (!address) return ProbeResult::kUnhealthy;
    return ProbeLoopback(address->http_port,
                         kind == ProbeKind::kReady ? "/v2/health/ready" : "/v2/health/live");
  }
  std::optional<ReplicaAddress> Address() override {
    // Until the port file appears, each call is one failed open.
    if (!address_) address_ = ReadPortFile(dir_ + "/ports.json");
    return address_;
  }
  std::string recovery_key() const override {
    return StrCat(process_.pid(), ":", process_.start_time());
  }
  int pid() const override { return process_.pid(); }
  std::optional<double> CpuSeconds() override {
    return ProcessCpuSeconds(process_.pid(), process_.start_time());
  }

 private:
  Process process_;
  const std::string dir_;
  std::optional<ReplicaAddress> address_;
};

// "PID:START" as recovery_key() writes it.
bool ParseRecoveryKey(const std::string& key, int* pid, uint64_t* start_time) {
  const size_t colon = key.find(':');
  if (colon == std::string::npos) return false;
  char* end = nullptr;
  const long long p = std::strtoll(key.c_str(), &end, 10);
  if (end != key.c_str() + colon || p <= 0 || p > (1LL << 31)) return false;
  const char* start = key.c_str() + colon + 1;
  const unsigned long long t = std::strtoull(start, &end, 10);
  if (end == start || *end != '\0' || t == 0) return false;
  *pid = static_cast<int>(p);
  *start_time = t;
  return true;
}

}  // namespace

ProbeResult ProbeLoopback(int port, const char* path) {
  if (port <= 0) return ProbeResult::kUnhealthy;
  const int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) {
    const boost::system::error_code ec(errno, boost::system::system_category());
    return net::IsOutOfDescriptorsOrMemory(ec) ? ProbeResult::kUnknown : ProbeResult::kUnhealthy;
  }
  timeval timeout{0, 500000};
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof(timeout));
  setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &timeout, sizeof(timeout));
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<uint16_t>(port));
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  bool ok = false;
  if (connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) == 0) {
    const std::string request =
        StrCat("GET ", path, " HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n");
    if (send(fd, request.data(), request.size(), MSG_NOSIGNAL) ==
        static_cast<ssize_t>(request.size())) {
      char buffer[64];
      const ssize_t n = recv(fd, buffer, sizeof(buffer), 0);
      ok = n >= 12 && std::string_view(buffer, static_cast<size_t>(n)).substr(8, 4) == " 200";
    }
  }
  close(fd);
  return ok ? ProbeResult::kHealthy : ProbeResult::kUnhealthy;
}

LocalDriver::LocalDriver(std::string data_dir) : data_dir_(std::move(data_dir)) {
  std::error_code ec;
  executable_ = fs::read_symlink("/proc/self/exe", ec).string();
  if (fs::exists(fs::path(kCgroupRoot) / "cgroup.controllers")) {
    const std::string controllers = ReadFile(fs::path(kCgroupRoot) / "cgroup.subtree_control");
    if (CanMakeDir(kCgroupRoot) && controllers.find("cpu") != std::string::npos &&
        controllers.find("memory") != std::string::npos) {
      WriteFile(fs::path(kCgroupRoot) / "berth" / "cgroup.subtree_control", "+cpu +memory");
      cgroup_version_ = 2;
      cgroup_support_ = "cgroup v2";
    } else {
      cgroup_support_ = "cgroup v2 is not writable (or lacks the cpu/memory controllers) here";
    }
  } else if (fs::exists(fs::path(kCgroupV1Cpu) / "cpu.cfs_quota_us") &&
             fs::exists(fs::path(kCgroupV1Memory) / "memory.limit_in_bytes")) {
    if (CanMakeDir(kCgroupV1Cpu) && CanMakeDir(kCgroupV1Memory)) {
      cgroup_version_ = 1;
      cgroup_support_ = "cgroup v1";
    } else {
      cgroup_support_ = "cgroup v1 is not writable here";
    }
  } else {
    cgroup_support_ = "no cgroup file system with cpu and memory controllers";
  }
  if (cgroup_version_ == 0) {
    spdlog::warn("replica CPU and memory limits are not enforced: {}", cgroup_support_);
  }
}

absl::StatusOr<std::unique_ptr<ReplicaHandle>> LocalDriver::Launch(const LaunchSpec& spec) {
  const std::string dir = ReplicaDir(spec.replica_id);
  std::error_code ec;
  fs::create_directories(dir, ec);
  if (ec) return absl::InternalError(StrCat("cannot create ", dir, ": ", ec.message()));
  fs::remove(dir + "/ports.json", ec);
  const std::string log_path = dir + "/worker.log";
  std::vector<std::string> args;
  args.push_back(executable_);
  args.insert(args.end(), spec.args.begin(), spec.args.end());
  // How it listens (ports of its own choosing, written to the port file) and how a later run
  // of the server recognises it (its command line).
  for (const char* arg : {"--http-port", "0", "--grpc-port", "0", "--port-file"}) {
    args.emplace_back(arg);
  }
  args.push_back(dir + "/ports.json");
  args.insert(args.end(), {"--replica-id", spec.replica_id, "--data-dir-owner", data_dir_});
  std::vector<char*> argv;
  for (auto& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);

  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0);
  posix_spawn_file_actions_addopen(&actions, 1, log_path.c_str(),
                                   O_WRONLY | O_CREAT | O_APPEND, 0640);
  posix_spawn_file_actions_adddup2(&actions, 1, 2);
  // Nothing else of the server's (listening sockets, the database) leaks into the worker.
  posix_spawn_file_actions_addclosefrom_np(&actions, 3);
  posix_spawnattr_t attr;
  posix_spawnattr_init(&attr);
  // Its own process group, so a terminal's Ctrl-C to the server does not reach replicas,
  // and default signal handling (the server blocks SIGTERM/SIGINT for sigwait).
  sigset_t none, all;
  sigemptyset(&none);
  sigfillset(&all);
  posix_spawnattr_setsigmask(&attr, &none);
  posix_spawnattr_setsigdefault(&attr, &all);
  posix_spawnattr_setpgroup(&attr, 0);
  posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF |
                                      POSIX_SPAWN_SETPGROUP);
  pid_t pid = 0;
  const int rc = posix_spawn(&pid, executable_.c_str(), &actions, &attr, argv.data(), environ);
  posix_spawn_file_actions_destroy(&actions);
  posix_spawnattr_destroy(&attr);
  if (rc != 0) {
    return absl::InternalError(StrCat("cannot start a worker process: ", strerror(rc)));
  }
  std::optional<Process> process = OwnChild(pid);
  if (!process) return absl::InternalError("cannot watch the worker process (pidfd_open failed)");
  // The process file is how a later run of the server finds it even when its command line
  // cannot be read at that moment (a worker in the middle of exiting, or under memory pressure).
  const std::string key = StrCat(pid, ":", ProcessStartTime(pid));
  if (!WriteFile(dir + "/process.tmp", key) ||
      std::rename((dir + "/process.tmp").c_str(), (dir + "/process").c_str()) != 0) {
    spdlog::warn("replica {}: cannot write its process file", spec.replica_id);
  }
  ApplyLimits(spec, pid);
  return std::make_unique<LocalReplica>(std::move(*process), dir);
}

void LocalDriver::ApplyLimits(const LaunchSpec& spec, int pid) const {
  if (cgroup_version_ == 0 || (spec.cpus <= 0 && spec.memory_bytes == 0)) return;
  std::error_code ec;
  const std::string name = StrCat("replica-", spec.replica_id);
  const std::string quota = std::to_string(static_cast<int64_t>(spec.cpus * 100000));
  bool ok = true;
  if (cgroup_version_ == 2) {
    const fs::path dir = fs::path(kCgroupRoot) / "berth" / name;
    fs::create_directories(dir, ec);
    if (spec.cpus > 0) ok &= WriteFile(dir / "cpu.max", quota + " 100000");
    if (spec.memory_bytes > 0) ok &= WriteFile(dir / "memory.max", std::to_string(spec.memory_bytes));
    ok &= WriteFile(dir / "cgroup.procs", std::to_string(pid));
  } else {
    const fs::path cpu = fs::path(kCgroupV1Cpu) / "berth" / name;
    const fs::path memory = fs::path(kCgroupV1Memory) / "berth" / name;
    if (spec.cpus > 0) {
      fs::create_directories(cpu, ec);
      ok &= WriteFile(cpu / "cpu.cfs_period_us", "100000");
      ok &= WriteFile(cpu / "cpu.cfs_quota_us", quota);
      ok &= WriteFile(cpu / "cgroup.procs", std::to_string(pid));
    }
    if (spec.memory_bytes > 0) {
      fs::create_directories(memory, ec);
      ok &= WriteFile(memory / "memory.limit_in_bytes", std::to_string(spec.memory_bytes));
      ok &= WriteFile(memory / "cgroup.procs", std::to_string(pid));
    }
  }
  if (!ok) spdlog::warn("replica {}: could not apply all cgroup limits", spec.replica_id);
}

void LocalDriver::Release(const std::string& replica_id) {
  const std::string name = StrCat("replica-", replica_id);
  // cgroup directories are removed with rmdir (their files are not real files).
  for (const fs::path& dir : {fs::path(kCgroupRoot) / "berth" / name,
                             fs::path(kCgroupV1Cpu) / "berth" / name,
                             fs::path(kCgroupV1Memory) / "berth" / name}) {
    rmdir(dir.c_str());
  }
}

std::unique_ptr<ReplicaHandle> LocalDriver::Adopt(const OwnedReplica& owned) {
  int pid = 0;
  uint64_t start_time = 0;
  if (!ParseRecoveryKey(owned.recovery_key, &pid, &start_time)) return nullptr;
  std::optional<Process> process = OpenProcess(pid, start_time);
  if (!process) return nullptr;
  return std::make_unique<LocalReplica>(std::move(*process), ReplicaDir(owned.replica_id));
}

std::vector<OwnedReplica> LocalDriver::ListOwned() {
  std::map<std::string, std::string> found;  // replica id -> recovery key
  // The process files of the replica directories: a process counts when it still runs with the
  // start time the file recorded (a pid reused by something else has another).
  std::error_code ec;
  for (const auto& entry : fs::directory_iterator(data_dir_ + "/replicas", ec)) {
    const std::string key = ReadFile(entry.path() / "process");
    int pid = 0;
    uint64_t start_time = 0;
    if (ParseRecoveryKey(key, &pid, &start_time) && ProcessStartTime(pid) == start_time) {
      found.emplace(entry.path().filename().string(), key);
    }
  }
  // And the command lines, for a worker started by a server that died before writing its file.
  for (const int pid : ListProcesses()) {
    const std::vector<std::string> args = ProcessCommandLine(pid);
    if (args.size() < 2 || args[1] != "worker") continue;
    std::string replica, data_dir;
    for (size_t i = 2; i + 1 < args.size(); ++i) {
      if (args[i] == "--replica-id") replica = args[i + 1];
      if (args[i] == "--data-dir-owner") data_dir = args[i + 1];
    }
    if (replica.empty() || data_dir != data_dir_ || found.contains(replica)) continue;
    const uint64_t start_time = ProcessStartTime(pid);
    if (start_time != 0) found.emplace(replica, StrCat(pid, ":", start_time));
  }
  std::vector<OwnedReplica> owned;
  for (auto& [replica, key] : found) owned.push_back({replica, std::move(key)});
  return owned;
}

void LocalDriver::Forget(const std::string& replica_id) {
  std::error_code ec;
  fs::remove_all(ReplicaDir(replica_id), ec);
}

std::string LocalDriver::LogTail(const std::string& replica_id, size_t max_bytes) {
  std::ifstream in(ReplicaDir(replica_id) + "/worker.log", std::ios::binary);
  if (!in) return "";
  in.seekg(0, std::ios::end);
  const auto size = static_cast<int64_t>(in.tellg());
  in.seekg(std::max<int64_t>(0, size - static_cast<int64_t>(max_bytes)));
  return std::string((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
}

DriverCapabilities LocalDriver::capabilities() const {
  return {cgroup_version_ != 0, cgroup_support_};
}

std::string LocalDriver::ReplicaDir(const std::string& replica_id) const {
  return StrCat(data_dir_, "/replicas/", replica_id);
}

}  // namespace berth::runtime
