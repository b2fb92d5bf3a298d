#include "tests/runtime/fake_driver.h"

#include "common/strings.h"

namespace berth::runtime {
namespace {

class FakeHandle final : public ReplicaHandle {
 public:
  explicit FakeHandle(std::shared_ptr<FakeReplica> replica) : replica_(std::move(replica)) {}
  bool Exited() override { return replica_->exited; }
  void Stop() override {
    ++replica_->stops;
    if (!replica_->ignore_signals) replica_->exited = true;
  }
  void Kill() override {
    ++replica_->kills;
    if (!replica_->ignore_signals) replica_->exited = true;
  }
  ProbeResult Probe(ProbeKind kind) override {
    ++replica_->probes;
    if (replica_->exited || !replica_->address) return ProbeResult::kUnhealthy;
    const bool healthy = kind == ProbeKind::kReady ? replica_->ready : replica_->live;
    return healthy ? ProbeResult::kHealthy : ProbeResult::kUnhealthy;
  }
  std::optional<ReplicaAddress> Address() override { return replica_->address; }
  std::string recovery_key() const override { return replica_->recovery_key; }
  std::optional<double> CpuSeconds() override { return replica_->cpu_seconds; }

 private:
  std::shared_ptr<FakeReplica> replica_;
};

}  // namespace

absl::StatusOr<std::unique_ptr<ReplicaHandle>> FakeDriver::Launch(const LaunchSpec& spec) {
  std::lock_guard lock(mu_);
  ++launches_;
  if (!fail_launches.empty()) return absl::InternalError(fail_launches);
  auto replica = std::make_shared<FakeReplica>();
  replica->id = spec.replica_id;
  replica->spec = spec;
  replica->recovery_key = StrCat("fake-", next_key_++);
  replicas_.push_back(replica);
  return std::make_unique<FakeHandle>(replica);
}

std::unique_ptr<ReplicaHandle> FakeDriver::Adopt(const OwnedReplica& owned) {
  std::lock_guard lock(mu_);
  for (const auto& replica : replicas_) {
    if (replica->id == owned.replica_id && replica->recovery_key == owned.recovery_key &&
        !replica->exited) {
      return std::make_unique<FakeHandle>(replica);
    }
  }
  return nullptr;
}

std::vector<OwnedReplica> FakeDriver::ListOwned() {
  std::lock_guard lock(mu_);
  std::vector<OwnedReplica> owned;
  for (const auto& replica : replicas_) {
    if (!replica->exited) owned.push_back({replica->id, replica->recovery_key});
  }
  return owned;
}

void FakeDriver::Release(const std::string& replica_id) {
  if (auto replica = Get(replica_id)) replica->released = true;
}

void FakeDriver::Forget(const std::string& replica_id) {
  std::lock_guard lock(mu_);
  for (const auto& replica : replicas_) {
    if (replica->id == replica_id) replica->forgotten = true;
  }
}

std::string FakeDriver::LogTail(const std::string& replica_id, size_t max_bytes) {
  auto replica = Get(replica_id);
  if (!replica) return "";
  const std::string& log = replica->log;
  return log.size() > max_bytes ? log.substr(log.size() - max_bytes) : log;
}

std::shared_ptr<FakeReplica> FakeDriver::AddRunning(const std::string& replica_id) {
  std::lock_guard lock(mu_);
  auto replica = std::make_shared<FakeReplica>();
  replica->id = replica_id;
  replica->recovery_key = StrCat("fake-", next_key_++);
  replicas_.push_back(replica);
  return replica;
}

std::shared_ptr<FakeReplica> FakeDriver::Get(const std::string& replica_id) {
  std::lock_guard lock(mu_);
  for (auto it = replicas_.rbegin(); it != replicas_.rend(); ++it) {
    if ((*it)->id == replica_id) return *it;
  }
  return nullptr;
}

std::vector<std::shared_ptr<FakeReplica>> FakeDriver::All() {
  std::lock_guard lock(mu_);
  return replicas_;
}

}  // namespace berth::runtime
