// The local runtime driver: one `berth worker` process per replica, started with posix_spawn
// and watched through a pidfd, with CPU and memory limits through cgroups (v1 or v2) where the
// kernel lets the server write them. Processes survive a server restart and are adopted again
// by pid and start time. Thread-safe (it keeps no mutable state besides the cgroup probe).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"

namespace berth::runtime {

struct LaunchSpec {
  std::string replica_id;
  std::vector<std::string> args;  // after argv[0] (the server's own executable)
  std::string log_path;           // stdout and stderr are appended here
  double cpus = 0;                // 0: no limit
  uint64_t memory_bytes = 0;      // 0: no limit
};

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

// What a scan of /proc found: a worker process started for a replica of this data directory.
struct FoundWorker {
  int pid;
  uint64_t start_time;
  std::string replica_id;
};

class LocalDriver {
 public:
  // `data_dir` marks the processes this server owns (their command lines name it).
  explicit LocalDriver(std::string data_dir);

  absl::StatusOr<Process> Launch(const LaunchSpec& spec) const;
  // Takes hold of a process started by an earlier server run, if it is still the same one.
  std::optional<Process> Adopt(int pid, uint64_t start_time) const;
  // Every live worker process started for this data directory.
  std::vector<FoundWorker> FindWorkers() const;
  // Removes the replica's cgroups (after its process is gone).
  void Cleanup(const std::string& replica_id) const;
  // "cgroup v2", "cgroup v1" or why limits are not applied.
  const std::string& cgroup_support() const { return cgroup_support_; }

 private:
  void ApplyLimits(const LaunchSpec& spec, int pid) const;

  std::string data_dir_;
  std::string executable_;
  int cgroup_version_ = 0;  // 0: none usable
  std::string cgroup_support_;
};

// The start time of a process in clock ticks since boot (field 22 of /proc/PID/stat); 0 when
// the process does not exist.
uint64_t ProcessStartTime(int pid);

}  // namespace berth::runtime

namespace berth::runtime {

struct CommandResult {
  int exit_code = -1;  // -1: killed by a signal or the timeout
  std::string output;  // stdout
  std::string errors;  // stderr (the last 64 KiB)
};

// Runs the server's own executable with `args` and waits for it, at most `timeout_ms`
// (killed after that). Standard output is kept up to `max_output` bytes.
absl::StatusOr<CommandResult> RunSelf(const std::vector<std::string>& args, int64_t timeout_ms,
                                      size_t max_output = 1 << 20);

}  // namespace berth::runtime
