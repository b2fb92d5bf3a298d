// The control plane's durable state: API keys, console sessions, models, services, revisions,
// replicas and events, as records, and the Store interface that keeps them. Every acknowledged
// change is durable before the call returns. SQLite (sqlite_store.h) is the implementation a
// single machine uses; every implementation passes tests/control/store_contract_test.cc.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "nlohmann/json.hpp"

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

struct SessionRecord {
  std::string hash;  // SHA-256 hex of the cookie value; the value itself is never stored
  std::string key_id;
  TimeMs expires_at = 0;
};

struct ModelRecord {
  std::string name;
  int version = 0;  // 1, 2, ...: each upload under a name is the next version
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
  // The state of its canary rollout (control/canary_rollout.h); {} when none. Written by
  // UpdateRollout only (UpdateService leaves it), so that an API write of the spec and the
  // controller's write of the rollout never undo each other.
  nlohmann::json rollout = nlohmann::json::object();
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
// Counts one failed database operation (for implementations).
void CountStoreError();

// Thread-safe in every implementation. Lookups answer nullopt for what does not exist; a
// write that breaks uniqueness (a second service or key of one name) is AlreadyExists.
class Store {
 public:
  virtual ~Store() = default;

  // Keys and sessions.
  virtual absl::Status InsertKey(const ApiKeyRecord& key) = 0;
  virtual absl::StatusOr<std::vector<ApiKeyRecord>> ListKeys() = 0;
  virtual absl::StatusOr<std::optional<ApiKeyRecord>> FindKeyById(const std::string& id) = 0;
  virtual absl::Status RevokeKey(const std::string& id, TimeMs now) = 0;
  virtual absl::Status TouchKey(const std::string& id, TimeMs now) = 0;
  virtual absl::StatusOr<int> CountKeys() = 0;
  virtual absl::Status InsertSession(const std::string& hash, const std::string& key_id, TimeMs expires_at) = 0;
  // Sessions that have not expired at `now`.
  virtual absl::StatusOr<std::vector<SessionRecord>> ListSessions(TimeMs now) = 0;
  virtual absl::Status DeleteSession(const std::string& hash) = 0;

  // Models, in versions. InsertModelVersion stores `model` as the name's next version (one more
  // than any version the name has had since it was first added, deleted ones included) and
  // returns that number; model.version is ignored.
  virtual absl::StatusOr<int> InsertModelVersion(const ModelRecord& model) = 0;
  // Version 0: the latest.
  virtual absl::StatusOr<std::optional<ModelRecord>> FindModel(const std::string& name,
                                                               int version = 0) = 0;
  // Every version of `name`, oldest first; every version of every model for "", by name and
  // then version.
  virtual absl::StatusOr<std::vector<ModelRecord>> ListModelVersions(const std::string& name) = 0;
  // Every version; the next upload under the name is version 1 again.
  virtual absl::Status DeleteModel(const std::string& name) = 0;
  // NotFound when there is no such version.
  virtual absl::Status DeleteModelVersion(const std::string& name, int version) = 0;

  // Services and revisions. CreateRevision inserts revision latest+1 and bumps the service's
  // latest_revision in one transaction; it returns the new number.
  virtual absl::Status InsertService(const ServiceRecord& service) = 0;
  virtual absl::Status UpdateService(const ServiceRecord& service) = 0;
  // Replaces the service's rollout state if its "generation" (0 when it has none) is still
  // `expected_generation`; Aborted when another write came first, NotFound with no such
  // service. The caller sets the new state's generation (expected + 1).
  virtual absl::Status UpdateRollout(const std::string& service, const nlohmann::json& rollout,
                                     int64_t expected_generation) = 0;
  virtual absl::StatusOr<std::optional<ServiceRecord>> FindService(const std::string& name) = 0;
  virtual absl::StatusOr<std::vector<ServiceRecord>> ListServices() = 0;
  // With its revisions and replicas.
  virtual absl::Status DeleteService(const std::string& name) = 0;
  virtual absl::StatusOr<int> CreateRevision(const std::string& service, const nlohmann::json& spec,
                                     TimeMs now) = 0;
  virtual absl::Status UpdateRevision(const RevisionRecord& revision) = 0;
  virtual absl::StatusOr<std::vector<RevisionRecord>> ListRevisions(const std::string& service) = 0;
  virtual absl::StatusOr<std::optional<RevisionRecord>> FindRevision(const std::string& service,
                                                             int number) = 0;
  // Services that use the model (version 0: any version of it) in their spec or in a revision
  // that is not Retired or Failed.
  virtual absl::StatusOr<std::vector<std::string>> ServicesUsingModel(const std::string& model,
                                                                      int version = 0) = 0;

  // Replicas.
  virtual absl::Status UpsertReplica(const ReplicaRecord& replica) = 0;
  virtual absl::StatusOr<std::vector<ReplicaRecord>> ListReplicas(const std::string& service = "") = 0;
  virtual absl::Status DeleteReplica(const std::string& id) = 0;

  // Events (append-only; the oldest are trimmed past `kMaxEvents`).
  virtual absl::Status AppendEvent(const EventRecord& event) = 0;
  virtual absl::StatusOr<std::vector<EventRecord>> ListEvents(const std::string& service, int64_t after,
                                                      int limit) = 0;

  static constexpr int64_t kMaxEvents = 100000;
};

}  // namespace berth::control
