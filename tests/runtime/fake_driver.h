// A runtime driver for tests: replicas are records a test drives by hand. A launched replica
// neither listens nor is ready until the test says so; it exits when the test crashes it, or
// when it is stopped or killed (unless the test makes it hang).
#pragma once

#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "runtime/driver.h"

namespace berth::runtime {

struct FakeReplica {
  std::string id;
  LaunchSpec spec;
  std::string recovery_key;
  std::optional<ReplicaAddress> address;  // set: it listens
  bool ready = false;
  bool live = true;
  bool exited = false;
  bool ignore_signals = false;  // Stop and Kill do not end it (a hung replica)
  int stops = 0;
  int kills = 0;
  int probes = 0;
  std::optional<double> cpu_seconds;  // what CpuSeconds() says (a test sets it)
  bool released = false;
  bool forgotten = false;
  std::string log;

  // Starts listening and answers ready.
  void BecomeReady(int http_port = 8000) {
    address = ReplicaAddress{"127.0.0.1", http_port, http_port + 1};
    ready = true;
  }
  void Crash(const std::string& last_words = "") {
    log += last_words;
    exited = true;
  }
};

class FakeDriver final : public RuntimeDriver {
 public:
  absl::StatusOr<std::unique_ptr<ReplicaHandle>> Launch(const LaunchSpec& spec) override;
  std::unique_ptr<ReplicaHandle> Adopt(const OwnedReplica& owned) override;
  std::vector<OwnedReplica> ListOwned() override;
  void Release(const std::string& replica_id) override;
  void Forget(const std::string& replica_id) override;
  std::string LogTail(const std::string& replica_id, size_t max_bytes) override;
  DriverCapabilities capabilities() const override { return {false, "fake driver"}; }

  // A replica still running from an earlier server run (found by ListOwned).
  std::shared_ptr<FakeReplica> AddRunning(const std::string& replica_id);
  // The newest replica started or added under this id; null when none.
  std::shared_ptr<FakeReplica> Get(const std::string& replica_id);
  // Every replica started or added, oldest first (restarts of one id appear again).
  std::vector<std::shared_ptr<FakeReplica>> All();
  int launches() const { return launches_; }

  // The next launches fail with this message (empty: they succeed).
  std::string fail_launches;

 private:
  std::mutex mu_;
  std::vector<std::shared_ptr<FakeReplica>> replicas_;
  int launches_ = 0;
  int next_key_ = 1;
};

}  // namespace berth::runtime
