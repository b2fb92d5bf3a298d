// The seam between the controller and whatever runs replicas. A RuntimeDriver starts a replica
// from a LaunchSpec, finds the replicas it started in an earlier run of the server (ListOwned)
// and takes hold of them again (Adopt); a ReplicaHandle is the controller's grip on one of
// them. The local driver (runtime/local/) runs worker processes on this machine; a Kubernetes
// driver would run pods. The controller knows nothing of processes, ports files or pods.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"

namespace berth::runtime {

struct LaunchSpec {
  std::string replica_id;
  // `berth worker` arguments that choose what it serves and how (the model repository, threads,
  // limits); the driver adds how the replica listens and how it is found again.
  std::vector<std::string> args;
  double cpus = 0;            // 0: no limit
  uint64_t memory_bytes = 0;  // 0: no limit
};

enum class ProbeKind { kReady, kLive };

// kUnknown: the probe itself could not run (the server is out of descriptors or memory),
// which never counts against the replica.
enum class ProbeResult { kHealthy, kUnhealthy, kUnknown };

// Where a replica serves.
struct ReplicaAddress {
  std::string host;
  int http_port = 0;
  int grpc_port = 0;
};

// A replica found by ListOwned: its id and what the driver needs to be sure it is the same one
// (locally the process id and its start time; on Kubernetes the pod's UID).
struct OwnedReplica {
  std::string replica_id;
  std::string recovery_key;
};

struct DriverCapabilities {
  bool resource_limits = false;  // CPU and memory limits are enforced
  std::string resource_limits_detail;  // how, or why not
};

// One replica, started or adopted. Not thread-safe: the controller's thread owns it.
class ReplicaHandle {
 public:
  virtual ~ReplicaHandle() = default;
  // True once the replica has stopped running. Never blocks.
  virtual bool Exited() = 0;
  // Asks the replica to finish what it is doing and stop.
  virtual void Stop() = 0;
  // Stops it at once.
  virtual void Kill() = 0;
  // One health probe; blocks for at most about half a second.
  virtual ProbeResult Probe(ProbeKind kind) = 0;
  // Where it serves, once it has said so; nullopt until then.
  virtual std::optional<ReplicaAddress> Address() = 0;
  virtual std::string recovery_key() const = 0;
  // The operating system's process id, where the replica is a local process (0 otherwise).
  virtual int pid() const { return 0; }
  // The CPU time (user and system) the replica has used so far, in seconds, where the driver
  // can tell; nullopt otherwise.
  virtual std::optional<double> CpuSeconds() { return std::nullopt; }
};

// Thread-safe.
class RuntimeDriver {
 public:
  virtual ~RuntimeDriver() = default;
  virtual absl::StatusOr<std::unique_ptr<ReplicaHandle>> Launch(const LaunchSpec& spec) = 0;
  // Null when the replica is no longer the one that was found (it ended, or was replaced).
  virtual std::unique_ptr<ReplicaHandle> Adopt(const OwnedReplica& owned) = 0;
  // Every replica this server's data started that is still running.
  virtual std::vector<OwnedReplica> ListOwned() = 0;
  // Frees what was held for a replica that has stopped (its resource limits); its logs stay.
  virtual void Release(const std::string& replica_id) = 0;
  // Removes all that is left of a replica that is forgotten (its logs).
  virtual void Forget(const std::string& replica_id) = 0;
  // The last `max_bytes` (or fewer) of the replica's log, whole lines.
  virtual std::string LogTail(const std::string& replica_id, size_t max_bytes) = 0;
  virtual DriverCapabilities capabilities() const = 0;
};

}  // namespace berth::runtime
