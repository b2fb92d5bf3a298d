// The control plane's durable state in SQLite (WAL mode, schema migrations): API keys, console
// sessions, models, services, revisions, replicas and events. Every acknowledged change is
// committed before the caller answers. Thread-safe: one connection behind a mutex.
#pragma once

#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "nlohmann/json.hpp"

struct sqlite3;

namespace berth::control {

// Milliseconds since the Unix epoch.
using TimeMs = int64_t;

struct ApiKeyRecord {
  std::string id;
  std::string name;
  std::string hash;  // SHA-256 hex of the key; the key itself is never stored
  std::string prefix;
  std::vector<std::string> scopes;
  TimeMs created_at = 0;
  TimeMs expires_at = 0;  // 0: never
  TimeMs last_used_at = 0;
  TimeMs revoked_at = 0;  // 0: active
};

struct ModelRecord {
  std::string name;
  std::string format;  // "onnx" | "torchscript"
  uint64_t size_bytes = 0;
  std::string sha256;
  std::string source;  // "upload" or the URI it came from
  std::string path;    // the servable file under the data directory
  nlohmann::json metadata;  // {"inputs", "outputs", "max_batch_size", ...} from the probe
  TimeMs created_at = 0;
};

struct ServiceRecord {
  std::string name;
  nlohmann::json spec;
  int current_revision = 0;  // 0: none serving yet
  int latest_revision = 0;
  bool deleting = false;
  TimeMs created_at = 0;
  TimeMs updated_at = 0;
};

struct RevisionRecord {
  std::string service;
  int number = 0;
  nlohmann::json spec;  // the service spec, plus the model's path/sha/format pinned
  std::string status;   // Deploying | Ready | Failed | Retired
  std::string reason;
  TimeMs created_at = 0;
};

struct ReplicaRecord {
  std::string id;
  std::string service;
  int revision = 0;
  std::string state;  // Pending | Starting | Ready | Draining | Terminated | Failed | CrashLoopBackOff
  int pid = 0;
  uint64_t pid_start = 0;  // the process's start time (/proc/PID/stat), to recognise it again
  int http_port = 0;
  int grpc_port = 0;
  int restarts = 0;
  std::string reason;
  TimeMs created_at = 0;
  TimeMs ready_at = 0;
};

struct EventRecord {
  int64_t id = 0;
  TimeMs time = 0;
  std::string service;
  std::string object;  // "service/demo", "revision/demo-3", "replica/r-..."
  std::string reason;
  std::string message;
};

// Failed database operations in this process (every Store), for berth_store_errors_total.
uint64_t StoreErrorCount();

class Store {
 public:
  // Opens (creating if needed) the database at `path` and migrates it to the current schema.
  static absl::StatusOr<std::unique_ptr<Store>> Open(const std::string& path);
  ~Store();

  // Keys and sessions.
  absl::Status InsertKey(const ApiKeyRecord& key);
  absl::StatusOr<std::vector<ApiKeyRecord>> ListKeys();
  absl::StatusOr<std::optional<ApiKeyRecord>> FindKeyByHash(const std::string& hash);
  absl::StatusOr<std::optional<ApiKeyRecord>> FindKeyById(const std::string& id);
  absl::Status RevokeKey(const std::string& id, TimeMs now);
  absl::Status TouchKey(const std::string& id, TimeMs now);
  absl::StatusOr<int> CountKeys();
  absl::Status InsertSession(const std::string& hash, const std::string& key_id, TimeMs expires_at);
  absl::StatusOr<std::optional<std::string>> FindSession(const std::string& hash, TimeMs now);
  absl::Status DeleteSession(const std::string& hash);

  // Models.
  absl::Status UpsertModel(const ModelRecord& model);
  absl::StatusOr<std::optional<ModelRecord>> FindModel(const std::string& name);
  absl::StatusOr<std::vector<ModelRecord>> ListModels();
  absl::Status DeleteModel(const std::string& name);

  // Services and revisions. CreateRevision inserts revision latest+1 and bumps the service's
  // latest_revision in one transaction; it returns the new number.
  absl::Status InsertService(const ServiceRecord& service);
  absl::Status UpdateService(const ServiceRecord& service);
  absl::StatusOr<std::optional<ServiceRecord>> FindService(const std::string& name);
  absl::StatusOr<std::vector<ServiceRecord>> ListServices();
  absl::Status DeleteService(const std::string& name);  // with its revisions and replicas
  absl::StatusOr<int> CreateRevision(const std::string& service, const nlohmann::json& spec,
                                     TimeMs now);
  absl::Status UpdateRevision(const RevisionRecord& revision);
  absl::StatusOr<std::vector<RevisionRecord>> ListRevisions(const std::string& service);
  absl::StatusOr<std::optional<RevisionRecord>> FindRevision(const std::string& service,
                                                             int number);
  // Services that use the model in any revision that is not Retired or Failed.
  absl::StatusOr<std::vector<std::string>> ServicesUsingModel(const std::string& model);

  // Replicas.
  absl::Status UpsertReplica(const ReplicaRecord& replica);
  absl::StatusOr<std::vector<ReplicaRecord>> ListReplicas(const std::string& service = "");
  absl::Status DeleteReplica(const std::string& id);

  // Events (append-only; the oldest are trimmed past `kMaxEvents`).
  absl::Status AppendEvent(const EventRecord& event);
  absl::StatusOr<std::vector<EventRecord>> ListEvents(const std::string& service, int64_t after,
                                                      int limit);

  static constexpr int64_t kMaxEvents = 100000;

 private:
  explicit Store(sqlite3* db) : db_(db) {}
  absl::Status Migrate();

  std::mutex mu_;
  sqlite3* db_;  // owned; used under mu_
};

}  // namespace berth::control
