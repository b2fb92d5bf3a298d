// The Store in SQLite: one database file in WAL mode, schema migrations counted in its
// user_version, every change committed before the call returns. Thread-safe: one connection
// behind a mutex.
#pragma once

#include <memory>
#include <mutex>
#include <string>

#include "absl/base/thread_annotations.h"
#include "control/store.h"

struct sqlite3;

namespace berth::control {

class SqliteStore final : public Store {
 public:
  // Opens (creating if needed) the database at `path` and migrates it to the current schema.
  static absl::StatusOr<std::unique_ptr<Store>> Open(const std::string& path);
  ~SqliteStore() override;

  // Keys and sessions.
  absl::Status InsertKey(const ApiKeyRecord& key) override;
  absl::StatusOr<std::vector<ApiKeyRecord>> ListKeys() override;
  absl::StatusOr<std::optional<ApiKeyRecord>> FindKeyById(const std::string& id) override;
  absl::Status RevokeKey(const std::string& id, TimeMs now) override;
  absl::Status TouchKey(const std::string& id, TimeMs now) override;
  absl::StatusOr<int> CountKeys() override;
  absl::Status InsertSession(const std::string& hash, const std::string& key_id, TimeMs expires_at) override;
  absl::StatusOr<std::vector<SessionRecord>> ListSessions(TimeMs now) override;
  absl::Status DeleteSession(const std::string& hash) override;

  // Models.
  absl::StatusOr<int> InsertModelVersion(const ModelRecord& model) override;
  absl::StatusOr<std::optional<ModelRecord>> FindModel(const std::string& name,
                                                       int version) override;
  absl::StatusOr<std::vector<ModelRecord>> ListModelVersions(const std::string& name) override;
  absl::Status DeleteModel(const std::string& name) override;
  absl::Status DeleteModelVersion(const std::string& name, int version) override;

  // Services and revisions. CreateRevision inserts revision latest+1 and bumps the service's
  // latest_revision in one transaction; it returns the new number.
  absl::Status InsertService(const ServiceRecord& service) override;
  absl::Status UpdateService(const ServiceRecord& service) override;
  absl::Status UpdateRollout(const std::string& service, const nlohmann::json& rollout,
                             int64_t expected_generation) override;
  absl::StatusOr<std::optional<ServiceRecord>> FindService(const std::string& name) override;
  absl::StatusOr<std::vector<ServiceRecord>> ListServices() override;
  // With its revisions and replicas.
  absl::Status DeleteService(const std::string& name) override;
  absl::StatusOr<int> CreateRevision(const std::string& service, const nlohmann::json& spec,
                                     TimeMs now) override;
  absl::Status UpdateRevision(const RevisionRecord& revision) override;
  absl::StatusOr<std::vector<RevisionRecord>> ListRevisions(const std::string& service) override;
  absl::StatusOr<std::optional<RevisionRecord>> FindRevision(const std::string& service,
                                                             int number) override;
  // Services that use the model in any revision that is not Retired or Failed.
  absl::StatusOr<std::vector<std::string>> ServicesUsingModel(const std::string& model,
                                                              int version) override;

  // Replicas.
  absl::Status UpsertReplica(const ReplicaRecord& replica) override;
  absl::StatusOr<std::vector<ReplicaRecord>> ListReplicas(const std::string& service) override;
  absl::Status DeleteReplica(const std::string& id) override;

  // Events (append-only; the oldest are trimmed past `kMaxEvents`).
  absl::Status AppendEvent(const EventRecord& event) override;
  absl::StatusOr<std::vector<EventRecord>> ListEvents(const std::string& service, int64_t after,
                                                      int limit) override;

 private:
  explicit SqliteStore(sqlite3* db) : db_(db) {}
  absl::Status Migrate();

  std::mutex mu_;
  sqlite3* db_;  // owned; used under mu_
};

}  // namespace berth::control
