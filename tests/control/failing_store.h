// A Store that forwards to another one, counts the calls, and fails the operations a test
// names, the way a full disk or a lost database connection would.
#pragma once

#include <mutex>
#include <set>
#include <string>

#include "control/store.h"

namespace berth::control {

class FailingStore final : public Store {
 public:
  explicit FailingStore(Store* inner) : inner_(inner) {}

  // From now on, calls of the named method fail ("UpsertReplica", "DeleteService", ...).
  void Fail(const std::string& method) {
    std::lock_guard lock(mu_);
    failing_.insert(method);
  }
  void Heal() {
    std::lock_guard lock(mu_);
    failing_.clear();
  }
  int failures() {
    std::lock_guard lock(mu_);
    return failures_;
  }
  // Every call so far, failed or not.
  int calls() {
    std::lock_guard lock(mu_);
    return calls_;
  }

  absl::Status InsertKey(const ApiKeyRecord& key) override {
    if (Fails("InsertKey")) return Failure("InsertKey");
    return inner_->InsertKey(key);
  }
  absl::StatusOr<std::vector<ApiKeyRecord>> ListKeys() override {
    if (Fails("ListKeys")) return Failure("ListKeys");
    return inner_->ListKeys();
  }
  absl::StatusOr<std::optional<ApiKeyRecord>> FindKeyById(const std::string& id) override {
    if (Fails("FindKeyById")) return Failure("FindKeyById");
    return inner_->FindKeyById(id);
  }
  absl::Status RevokeKey(const std::string& id, TimeMs now) override {
    if (Fails("RevokeKey")) return Failure("RevokeKey");
    return inner_->RevokeKey(id, now);
  }
  absl::Status TouchKey(const std::string& id, TimeMs now) override {
    if (Fails("TouchKey")) return Failure("TouchKey");
    return inner_->TouchKey(id, now);
  }
  absl::StatusOr<int> CountKeys() override {
    if (Fails("CountKeys")) return Failure("CountKeys");
    return inner_->CountKeys();
  }
  absl::Status InsertSession(const std::string& hash, const std::string& key_id, TimeMs expires_at) override {
    if (Fails("InsertSession")) return Failure("InsertSession");
    return inner_->InsertSession(hash, key_id, expires_at);
  }
  absl::StatusOr<std::vector<SessionRecord>> ListSessions(TimeMs now) override {
    if (Fails("ListSessions")) return Failure("ListSessions");
    return inner_->ListSessions(now);
  }
  absl::Status DeleteSession(const std::string& hash) override {
    if (Fails("DeleteSession")) return Failure("DeleteSession");
    return inner_->DeleteSession(hash);
  }
  absl::StatusOr<int> InsertModelVersion(const ModelRecord& model) override {
    if (Fails("InsertModelVersion")) return Failure("InsertModelVersion");
    return inner_->InsertModelVersion(model);
  }
  absl::StatusOr<std::optional<ModelRecord>> FindModel(const std::string& name,
                                                       int version) override {
    if (Fails("FindModel")) return Failure("FindModel");
    return inner_->FindModel(name, version);
  }
  absl::StatusOr<std::vector<ModelRecord>> ListModelVersions(const std::string& name) override {
    if (Fails("ListModelVersions")) return Failure("ListModelVersions");
    return inner_->ListModelVersions(name);
  }
  absl::Status DeleteModel(const std::string& name) override {
    if (Fails("DeleteModel")) return Failure("DeleteModel");
    return inner_->DeleteModel(name);
  }
  absl::Status DeleteModelVersion(const std::string& name, int version) override {
    if (Fails("DeleteModelVersion")) return Failure("DeleteModelVersion");
    return inner_->DeleteModelVersion(name, version);
  }
  absl::Status InsertService(const ServiceRecord& service) override {
    if (Fails("InsertService")) return Failure("InsertService");
    return inner_->InsertService(service);
  }
  absl::Status UpdateService(const ServiceRecord& service) override {
    if (Fails("UpdateService")) return Failure("UpdateService");
    return inner_->UpdateService(service);
  }
  absl::Status UpdateRollout(const std::string& service, const nlohmann::json& rollout,
                             int64_t expected_generation) override {
    if (Fails("UpdateRollout")) return Failure("UpdateRollout");
    return inner_->UpdateRollout(service, rollout, expected_generation);
  }
  absl::StatusOr<std::optional<ServiceRecord>> FindService(const std::string& name) override {
    if (Fails("FindService")) return Failure("FindService");
    return inner_->FindService(name);
  }
  absl::StatusOr<std::vector<ServiceRecord>> ListServices() override {
    if (Fails("ListServices")) return Failure("ListServices");
    return inner_->ListServices();
  }
  absl::Status DeleteService(const std::string& name) override {
    if (Fails("DeleteService")) return Failure("DeleteService");
    return inner_->DeleteService(name);
  }
  absl::StatusOr<int> CreateRevision(const std::string& service, const nlohmann::json& spec, TimeMs now) override {
    if (Fails("CreateRevision")) return Failure("CreateRevision");
    return inner_->CreateRevision(service, spec, now);
  }
  absl::Status UpdateRevision(const RevisionRecord& revision) override {
    if (Fails("UpdateRevision")) return Failure("UpdateRevision");
    return inner_->UpdateRevision(revision);
  }
  absl::StatusOr<std::vector<RevisionRecord>> ListRevisions(const std::string& service) override {
    if (Fails("ListRevisions")) return Failure("ListRevisions");
    return inner_->ListRevisions(service);
  }
  absl::StatusOr<std::optional<RevisionRecord>> FindRevision(const std::string& service, int number) override {
    if (Fails("FindRevision")) return Failure("FindRevision");
    return inner_->FindRevision(service, number);
  }
  absl::StatusOr<std::vector<std::string>> ServicesUsingModel(const std::string& model,
                                                              int version) override {
    if (Fails("ServicesUsingModel")) return Failure("ServicesUsingModel");
    return inner_->ServicesUsingModel(model, version);
  }
  absl::Status UpsertReplica(const ReplicaRecord& replica) override {
    if (Fails("UpsertReplica")) return Failure("UpsertReplica");
    return inner_->UpsertReplica(replica);
  }
  absl::StatusOr<std::vector<ReplicaRecord>> ListReplicas(const std::string& service) override {
    if (Fails("ListReplicas")) return Failure("ListReplicas");
    return inner_->ListReplicas(service);
  }
  absl::Status DeleteReplica(const std::string& id) override {
    if (Fails("DeleteReplica")) return Failure("DeleteReplica");
    return inner_->DeleteReplica(id);
  }
  absl::Status AppendEvent(const EventRecord& event) override {
    if (Fails("AppendEvent")) return Failure("AppendEvent");
    return inner_->AppendEvent(event);
  }
  absl::StatusOr<std::vector<EventRecord>> ListEvents(const std::string& service, int64_t after, int limit) override {
    if (Fails("ListEvents")) return Failure("ListEvents");
    return inner_->ListEvents(service, after, limit);
  }

 private:
  bool Fails(const char* method) {
    std::lock_guard lock(mu_);
    ++calls_;
    if (!failing_.count(method)) return false;
    ++failures_;
    return true;
  }
  static absl::Status Failure(const char* method) {
    return absl::UnavailableError(std::string("injected failure of ") + method);
  }

  Store* const inner_;
  std::mutex mu_;
  std::set<std::string> failing_;
  int failures_ = 0;
  int calls_ = 0;
};

}  // namespace berth::control
