#include "runtime/local_driver.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "common/strings.h"
#include "spdlog/spdlog.h"

extern char** environ;

namespace berth::runtime {
namespace {

namespace fs = std::filesystem;

int PidfdOpen(int pid) { return static_cast<int>(syscall(SYS_pidfd_open, pid, 0)); }

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

// Arguments of a process, split at NULs.
std::vector<std::string> CommandLine(int pid) {
  const std::string raw = ReadFile(StrCat("/proc/", pid, "/cmdline"));
  std::vector<std::string> args;
  size_t start = 0;
  while (start < raw.size()) {
    size_t end = raw.find('\0', start);
    if (end == std::string::npos) end = raw.size();
    args.push_back(raw.substr(start, end - start));
    start = end + 1;
  }
  return args;
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

}  // namespace

uint64_t ProcessStartTime(int pid) {
  const std::string stat = ReadFile(StrCat("/proc/", pid, "/stat"));
  // The command name (field 2) is in parentheses and may hold spaces; count from the last ')'.
  const size_t close = stat.rfind(')');
  if (close == std::string::npos) return 0;
  std::istringstream rest(stat.substr(close + 2));
  std::string field;
  for (int i = 3; i <= 22; ++i) {
    if (!(rest >> field)) return 0;
  }
  return std::strtoull(field.c_str(), nullptr, 10);
}

Process& Process::operator=(Process&& other) noexcept {
  if (this != &other) {
    if (pidfd_ >= 0) close(pidfd_);
    pid_ = other.pid_;
    pidfd_ = std::exchange(other.pidfd_, -1);
    start_time_ = other.start_time_;
    child_ = other.child_;
  }
  return *this;
}

Process::~Process() {
  if (pidfd_ >= 0) close(pidfd_);
}

bool Process::Exited() {
  if (pidfd_ < 0) return true;
  if (child_) {
    siginfo_t info{};
    if (waitid(P_PIDFD, static_cast<id_t>(pidfd_), &info, WEXITED | WNOHANG) == 0) {
      return info.si_pid != 0;
    }
    return errno == ECHILD;
  }
  // Not our child (adopted after a server restart): the pidfd turns readable on exit.
  struct pollfd p = {pidfd_, POLLIN, 0};
  return poll(&p, 1, 0) > 0;
}

void Process::Signal(int signal) const {
  if (pidfd_ >= 0) syscall(SYS_pidfd_send_signal, pidfd_, signal, nullptr, 0);
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

absl::StatusOr<Process> LocalDriver::Launch(const LaunchSpec& spec) const {
  std::vector<std::string> args;
  args.push_back(executable_);
  args.insert(args.end(), spec.args.begin(), spec.args.end());
  std::vector<char*> argv;
  for (auto& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);

  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0);
  posix_spawn_file_actions_addopen(&actions, 1, spec.log_path.c_str(),
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
  const int pidfd = PidfdOpen(pid);
  if (pidfd < 0) {
    kill(pid, SIGKILL);
    waitpid(pid, nullptr, 0);
    return absl::InternalError(StrCat("pidfd_open failed: ", strerror(errno)));
  }
  ApplyLimits(spec, pid);
  return Process(pid, pidfd, ProcessStartTime(pid), /*child=*/true);
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

void LocalDriver::Cleanup(const std::string& replica_id) const {
  const std::string name = StrCat("replica-", replica_id);
  std::error_code ec;
  // cgroup directories are removed with rmdir (their files are not real files).
  for (const fs::path& dir : {fs::path(kCgroupRoot) / "berth" / name,
                             fs::path(kCgroupV1Cpu) / "berth" / name,
                             fs::path(kCgroupV1Memory) / "berth" / name}) {
    rmdir(dir.c_str());
  }
}

std::optional<Process> LocalDriver::Adopt(int pid, uint64_t start_time) const {
  if (pid <= 0 || start_time == 0 || ProcessStartTime(pid) != start_time) return std::nullopt;
  const int pidfd = PidfdOpen(pid);
  if (pidfd < 0) return std::nullopt;
  // Check again: the pid could have been recycled between the two reads.
  if (ProcessStartTime(pid) != start_time) {
    close(pidfd);
    return std::nullopt;
  }
  return Process(pid, pidfd, start_time, /*child=*/false);
}

std::vector<FoundWorker> LocalDriver::FindWorkers() const {
  std::vector<FoundWorker> found;
  std::error_code ec;
  for (const auto& entry : fs::directory_iterator("/proc", ec)) {
    const std::string name = entry.path().filename().string();
    if (name.empty() || name.find_first_not_of("0123456789") != std::string::npos) continue;
    const int pid = std::atoi(name.c_str());
    if (pid == getpid()) continue;
    const std::vector<std::string> args = CommandLine(pid);
    if (args.size() < 2 || args[1] != "worker") continue;
    std::string replica, data_dir;
    for (size_t i = 2; i + 1 < args.size(); ++i) {
      if (args[i] == "--replica-id") replica = args[i + 1];
      if (args[i] == "--data-dir-owner") data_dir = args[i + 1];
    }
    if (replica.empty() || data_dir != data_dir_) continue;
    found.push_back({pid, ProcessStartTime(pid), replica});
  }
  return found;
}

}  // namespace berth::runtime

namespace berth::runtime {

absl::StatusOr<CommandResult> RunSelf(const std::vector<std::string>& args, int64_t timeout_ms,
                                      size_t max_output) {
  std::error_code ec;
  std::string exe = std::filesystem::read_symlink("/proc/self/exe", ec).string();
  std::vector<std::string> all{exe};
  all.insert(all.end(), args.begin(), args.end());
  std::vector<char*> argv;
  for (auto& a : all) argv.push_back(a.data());
  argv.push_back(nullptr);
  int out[2], err[2];
  if (pipe2(out, O_CLOEXEC) != 0) return absl::InternalError("pipe failed");
  if (pipe2(err, O_CLOEXEC) != 0) {
    close(out[0]);
    close(out[1]);
    return absl::InternalError("pipe failed");
  }
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0);
  posix_spawn_file_actions_adddup2(&actions, out[1], 1);
  posix_spawn_file_actions_adddup2(&actions, err[1], 2);
  posix_spawn_file_actions_addclosefrom_np(&actions, 3);
  posix_spawnattr_t attr;
  posix_spawnattr_init(&attr);
  sigset_t none, all_signals;
  sigemptyset(&none);
  sigfillset(&all_signals);
  posix_spawnattr_setsigmask(&attr, &none);
  posix_spawnattr_setsigdefault(&attr, &all_signals);
  posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF);
  pid_t pid = 0;
  const int rc = posix_spawn(&pid, exe.c_str(), &actions, &attr, argv.data(), environ);
  posix_spawn_file_actions_destroy(&actions);
  posix_spawnattr_destroy(&attr);
  close(out[1]);
  close(err[1]);
  if (rc != 0) {
    close(out[0]);
    close(err[0]);
    return absl::InternalError(StrCat("cannot start ", exe, ": ", strerror(rc)));
  }
  CommandResult result;
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
  struct pollfd fds[2] = {{out[0], POLLIN, 0}, {err[0], POLLIN, 0}};
  int open_fds = 2;
  bool timed_out = false;
  char buffer[65536];
  while (open_fds > 0) {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
                          deadline - std::chrono::steady_clock::now())
                          .count();
    if (left <= 0) {
      timed_out = true;
      break;
    }
    if (poll(fds, 2, static_cast<int>(left)) < 0 && errno != EINTR) break;
    for (int i = 0; i < 2; ++i) {
      if (fds[i].fd < 0 || fds[i].revents == 0) continue;
      const ssize_t n = read(fds[i].fd, buffer, sizeof(buffer));
      if (n <= 0) {
        close(fds[i].fd);
        fds[i].fd = -1;
        --open_fds;
        continue;
      }
      std::string& sink = i == 0 ? result.output : result.errors;
      sink.append(buffer, static_cast<size_t>(n));
      if (i == 0 && sink.size() > max_output) {
        timed_out = true;  // treated like a runaway child
        open_fds = 0;
      }
      if (i == 1 && sink.size() > 65536) sink.erase(0, sink.size() - 65536);
    }
  }
  for (auto& f : fds) {
    if (f.fd >= 0) close(f.fd);
  }
  if (timed_out) kill(pid, SIGKILL);
  int status = 0;
  while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  result.exit_code = !timed_out && WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  if (timed_out) result.errors += "\n(stopped: it ran past its time limit)";
  return result;
}

}  // namespace berth::runtime
