#include "runtime/local/process.h"

#include <poll.h>
#include <signal.h>
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

namespace berth::runtime {
namespace {

namespace fs = std::filesystem;

int PidfdOpen(int pid) { return static_cast<int>(syscall(SYS_pidfd_open, pid, 0)); }

std::string ReadFile(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

}  // namespace

std::vector<std::string> ProcessCommandLine(int pid) {
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

std::optional<double> ProcessCpuSeconds(int pid, uint64_t start_time) {
  const std::string stat = ReadFile(StrCat("/proc/", pid, "/stat"));
  const size_t close = stat.rfind(')');
  if (close == std::string::npos) return std::nullopt;
  std::istringstream rest(stat.substr(close + 2));
  std::string field;
  uint64_t utime = 0, stime = 0, started = 0;
  for (int i = 3; i <= 22; ++i) {
    if (!(rest >> field)) return std::nullopt;
    if (i == 14) utime = std::strtoull(field.c_str(), nullptr, 10);
    if (i == 15) stime = std::strtoull(field.c_str(), nullptr, 10);
    if (i == 22) started = std::strtoull(field.c_str(), nullptr, 10);
  }
  if (started != start_time) return std::nullopt;
  static const long ticks = sysconf(_SC_CLK_TCK);
  return static_cast<double>(utime + stime) / static_cast<double>(ticks > 0 ? ticks : 100);
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

std::optional<Process> OpenProcess(int pid, uint64_t start_time) {
  if (pid <= 0 || start_time == 0 || ProcessStartTime(pid) != start_time) return std::nullopt;
  const int pidfd = PidfdOpen(pid);
  if (pidfd < 0) return std::nullopt;
  // Check again: the pid could have been recycled between the two reads.
  if (ProcessStartTime(pid) != start_time) {
    close(pidfd);
    return std::nullopt;
  }
  // One that has ended already (a zombie whose parent has not reaped it yet: the worker of a
  // server that was killed, stopped since) is not adopted: its pidfd is readable.
  struct pollfd p = {pidfd, POLLIN, 0};
  if (poll(&p, 1, 0) > 0) {
    close(pidfd);
    return std::nullopt;
  }
  return Process(pid, pidfd, start_time, /*child=*/false);
}

std::optional<Process> OwnChild(int pid) {
  const int pidfd = PidfdOpen(pid);
  if (pidfd < 0) {
    spdlog::error("pidfd_open failed: {}", strerror(errno));
    kill(pid, SIGKILL);
    waitpid(pid, nullptr, 0);
    return std::nullopt;
  }
  return Process(pid, pidfd, ProcessStartTime(pid), /*child=*/true);
}

std::vector<int> ListProcesses() {
  std::vector<int> pids;
  std::error_code ec;
  for (const auto& entry : fs::directory_iterator("/proc", ec)) {
    const std::string name = entry.path().filename().string();
    if (name.empty() || name.find_first_not_of("0123456789") != std::string::npos) continue;
    const int pid = std::atoi(name.c_str());
    if (pid != getpid()) pids.push_back(pid);
  }
  return pids;
}

}  // namespace berth::runtime
