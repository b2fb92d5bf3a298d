// The local runtime driver: one `berth worker` process per replica, started with posix_spawn
// and watched through a pidfd, with CPU and memory limits through cgroups (v1 or v2) where the
// kernel lets the server write them. Each replica has a directory under DATA_DIR/replicas/ID
// with its log and the port file its worker writes once it listens. Processes survive a server
// restart and are adopted again by pid and start time (their command lines name the replica
// and the data directory). Thread-safe (it keeps no mutable state besides the cgroup probe).
#pragma once

#include <string>

#include "runtime/driver.h"

namespace berth::runtime {

class LocalDriver final : public RuntimeDriver {
 public:
  // `data_dir` marks the processes this server owns (their command lines name it).
  explicit LocalDriver(std::string data_dir);

  absl::StatusOr<std::unique_ptr<ReplicaHandle>> Launch(const LaunchSpec& spec) override;
  std::unique_ptr<ReplicaHandle> Adopt(const OwnedReplica& owned) override;
  std::vector<OwnedReplica> ListOwned() override;
  void Release(const std::string& replica_id) override;
  void Forget(const std::string& replica_id) override;
  std::string LogTail(const std::string& replica_id, size_t max_bytes) override;
  DriverCapabilities capabilities() const override;

 private:
  void ApplyLimits(const LaunchSpec& spec, int pid) const;
  std::string ReplicaDir(const std::string& replica_id) const;

  std::string data_dir_;
  std::string executable_;
  int cgroup_version_ = 0;  // 0: none usable
  std::string cgroup_support_;
};

// GET http://127.0.0.1:PORT/PATH with a half-second timeout; kHealthy on a 200 answer.
ProbeResult ProbeLoopback(int port, const char* path);

}  // namespace berth::runtime
