// Local processes as the local runtime driver sees them: a pidfd owner that never signals a
// recycled pid, and the /proc readings that recognise a process again after a server restart.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace berth::runtime {

// A running (or exited, not yet noticed) process. Move-only owner of its pidfd.
class Process {
 public:
  Process() = default;
  Process(int pid, int pidfd, uint64_t start_time, bool child)
      : pid_(pid), pidfd_(pidfd), start_time_(start_time), child_(child) {}
  Process(Process&& other) noexcept { *this = std::move(other); }
  Process& operator=(Process&& other) noexcept;
  ~Process();

  int pid() const { return pid_; }
  uint64_t start_time() const { return start_time_; }
  bool valid() const { return pidfd_ >= 0; }
  // True once the process has exited (reaps it when it is our child). Never blocks.
  bool Exited();
  // Sends a signal through the pidfd (never to a recycled pid).
  void Signal(int signal) const;

 private:
  int pid_ = 0;
  int pidfd_ = -1;
  uint64_t start_time_ = 0;
  bool child_ = false;
};

// Takes hold of a process that is not our child (started by an earlier server run), if `pid`
// is still the process that started at `start_time`.
std::optional<Process> OpenProcess(int pid, uint64_t start_time);

// The CPU time (utime + stime, /proc/PID/stat) the process has used, in seconds; nullopt when
// it cannot be read (gone, or another process under that pid: `start_time` tells).
std::optional<double> ProcessCpuSeconds(int pid, uint64_t start_time);

// Opens a pidfd on our own child `pid` (just spawned); kills and reaps it when that fails.
std::optional<Process> OwnChild(int pid);

// The start time of a process in clock ticks since boot (field 22 of /proc/PID/stat); 0 when
// the process does not exist.
uint64_t ProcessStartTime(int pid);

// The arguments of a process (from /proc/PID/cmdline); empty when it does not exist.
std::vector<std::string> ProcessCommandLine(int pid);

// Ids of the processes visible in /proc, without our own.
std::vector<int> ListProcesses();

}  // namespace berth::runtime
