#include "control/sqlite_store.h"

#include <sqlite3.h>

#include <variant>

#include "common/status_macros.h"
#include "common/strings.h"

namespace berth::control {
namespace {

using Value = std::variant<int64_t, std::string>;

absl::Status SqlError(sqlite3* db, std::string_view what) {
  CountStoreError();
  return absl::InternalError(StrCat("database error (", what, "): ", sqlite3_errmsg(db)));
}

// One prepared statement; finalised on destruction.
class Statement {
 public:
  Statement(sqlite3* db, const char* sql) : db_(db) {
    if (sqlite3_prepare_v2(db, sql, -1, &stmt_, nullptr) != SQLITE_OK) stmt_ = nullptr;
  }
  ~Statement() { sqlite3_finalize(stmt_); }
  Statement(const Statement&) = delete;
  Statement& operator=(const Statement&) = delete;

  absl::Status Bind(std::initializer_list<Value> values) {
    if (stmt_ == nullptr) return SqlError(db_, "prepare");
    int i = 1;
    for (const Value& v : values) {
      int rc;
      if (const auto* n = std::get_if<int64_t>(&v)) {
        rc = sqlite3_bind_int64(stmt_, i, *n);
      } else {
        const auto& s = std::get<std::string>(v);
        rc = sqlite3_bind_text(stmt_, i, s.data(), static_cast<int>(s.size()), SQLITE_TRANSIENT);
      }
      if (rc != SQLITE_OK) return SqlError(db_, "bind");
      ++i;
    }
    return absl::OkStatus();
  }
  // True while there is a row; false when done.
  absl::StatusOr<bool> Step() {
    if (stmt_ == nullptr) return SqlError(db_, "prepare");
    const int rc = sqlite3_step(stmt_);
    if (rc == SQLITE_ROW) return true;
    if (rc == SQLITE_DONE) return false;
    if (rc == SQLITE_CONSTRAINT) {
      return absl::AlreadyExistsError(StrCat("already exists: ", sqlite3_errmsg(db_)));
    }
    return SqlError(db_, "step");
  }
  absl::Status Run(std::initializer_list<Value> values) {
    RETURN_IF_ERROR(Bind(values));
    auto r = Step();
    return r.ok() ? absl::OkStatus() : r.status();
  }
  int64_t Int(int col) const { return sqlite3_column_int64(stmt_, col); }
  std::string Text(int col) const {
    const auto* p = sqlite3_column_text(stmt_, col);
    return p == nullptr ? std::string()
                        : std::string(reinterpret_cast<const char*>(p),
                                      static_cast<size_t>(sqlite3_column_bytes(stmt_, col)));
  }
  nlohmann::json Json(int col) const {
    auto parsed = nlohmann::json::parse(Text(col), nullptr, /*allow_exceptions=*/false);
    return parsed.is_discarded() ? nlohmann::json() : parsed;
  }

 private:
  sqlite3* db_;
  sqlite3_stmt* stmt_ = nullptr;
};

absl::Status Exec(sqlite3* db, const char* sql) {
  char* error = nullptr;
  if (sqlite3_exec(db, sql, nullptr, nullptr, &error) != SQLITE_OK) {
    std::string message = error ? error : "unknown";
    sqlite3_free(error);
    CountStoreError();
    return absl::InternalError(StrCat("database error: ", message));
  }
  return absl::OkStatus();
}

// Runs `body` (returning a Status or a StatusOr) in one transaction: committed when it
// succeeds, rolled back when it fails.
template <typename Body>
auto InTransaction(sqlite3* db, Body body) -> decltype(body()) {
  RETURN_IF_ERROR(Exec(db, "BEGIN IMMEDIATE"));
  auto result = body();
  if (!result.ok()) {
    (void)Exec(db, "ROLLBACK");
    return result;
  }
  RETURN_IF_ERROR(Exec(db, "COMMIT"));
  return result;
}

// Schema migrations, applied in order; the database's user_version counts those applied.
constexpr const char* kMigrations[] = {
    R"sql(
CREATE TABLE api_keys(id TEXT PRIMARY KEY, name TEXT NOT NULL, hash TEXT NOT NULL UNIQUE,
  prefix TEXT NOT NULL, scopes TEXT NOT NULL, created_at INTEGER NOT NULL,
  expires_at INTEGER NOT NULL, last_used_at INTEGER NOT NULL, revoked_at INTEGER NOT NULL);
CREATE TABLE sessions(hash TEXT PRIMARY KEY, key_id TEXT NOT NULL, expires_at INTEGER NOT NULL);
CREATE TABLE models(name TEXT PRIMARY KEY, format TEXT NOT NULL, size_bytes INTEGER NOT NULL,
  sha256 TEXT NOT NULL, source TEXT NOT NULL, path TEXT NOT NULL, metadata TEXT NOT NULL,
  created_at INTEGER NOT NULL);
CREATE TABLE services(name TEXT PRIMARY KEY, spec TEXT NOT NULL, current_revision INTEGER NOT NULL,
  latest_revision INTEGER NOT NULL, deleting INTEGER NOT NULL, created_at INTEGER NOT NULL,
  updated_at INTEGER NOT NULL);
CREATE TABLE revisions(service TEXT NOT NULL, number INTEGER NOT NULL, spec TEXT NOT NULL,
  status TEXT NOT NULL, reason TEXT NOT NULL, created_at INTEGER NOT NULL,
  PRIMARY KEY(service, number));
CREATE TABLE replicas(id TEXT PRIMARY KEY, service TEXT NOT NULL, revision INTEGER NOT NULL,
  state TEXT NOT NULL, pid INTEGER NOT NULL, pid_start INTEGER NOT NULL,
  http_port INTEGER NOT NULL, grpc_port INTEGER NOT NULL, restarts INTEGER NOT NULL,
  reason TEXT NOT NULL, created_at INTEGER NOT NULL, ready_at INTEGER NOT NULL);
CREATE TABLE events(id INTEGER PRIMARY KEY AUTOINCREMENT, time INTEGER NOT NULL,
  service TEXT NOT NULL, object TEXT NOT NULL, reason TEXT NOT NULL, message TEXT NOT NULL);
CREATE INDEX events_service ON events(service, id);
)sql",
    // Model versions: what was one model per name becomes version 1 of it, and the services
    // and revisions that served it name that version.
    R"sql(
CREATE TABLE model_versions(name TEXT NOT NULL, version INTEGER NOT NULL, format TEXT NOT NULL,
  size_bytes INTEGER NOT NULL, sha256 TEXT NOT NULL, source TEXT NOT NULL, path TEXT NOT NULL,
  metadata TEXT NOT NULL, created_at INTEGER NOT NULL, PRIMARY KEY(name, version));
CREATE TABLE model_names(name TEXT PRIMARY KEY, last_version INTEGER NOT NULL);
INSERT INTO model_versions SELECT name, 1, format, size_bytes, sha256, source, path, metadata,
  created_at FROM models;
INSERT INTO model_names SELECT name, 1 FROM models;
UPDATE services SET spec = json_set(spec, '$.model_version', 1)
  WHERE json_extract(spec, '$.model') IN (SELECT name FROM models);
UPDATE revisions SET spec = json_set(spec, '$.model_version', 1)
  WHERE json_extract(spec, '$.model') IN (SELECT name FROM models);
DROP TABLE models;
)sql",
    // Canary rollouts: each service's rollout state.
    R"sql(
ALTER TABLE services ADD COLUMN rollout TEXT NOT NULL DEFAULT '{}';
)sql",
};

ApiKeyRecord ReadKey(const Statement& s) {
  ApiKeyRecord k;
  k.id = s.Text(0);
  k.name = s.Text(1);
  k.hash = s.Text(2);
  k.prefix = s.Text(3);
  k.scopes = s.Json(4).get<std::vector<std::string>>();
  k.created_at = s.Int(5);
  k.expires_at = s.Int(6);
  k.last_used_at = s.Int(7);
  k.revoked_at = s.Int(8);
  return k;
}
constexpr char kKeyColumns[] =
    "SELECT id, name, hash, prefix, scopes, created_at, expires_at, last_used_at, revoked_at "
    "FROM api_keys";

ModelRecord ReadModel(const Statement& s) {
  ModelRecord m;
  m.name = s.Text(0);
  m.version = static_cast<int>(s.Int(1));
  m.format = s.Text(2);
  m.size_bytes = static_cast<uint64_t>(s.Int(3));
  m.sha256 = s.Text(4);
  m.source = s.Text(5);
  m.path = s.Text(6);
  m.metadata = s.Json(7);
  m.created_at = s.Int(8);
  return m;
}
constexpr char kModelColumns[] =
    "SELECT name, version, format, size_bytes, sha256, source, path, metadata, created_at FROM "
    "model_versions";

ServiceRecord ReadService(const Statement& s) {
  ServiceRecord r;
  r.name = s.Text(0);
  r.spec = s.Json(1);
  r.current_revision = static_cast<int>(s.Int(2));
  r.latest_revision = static_cast<int>(s.Int(3));
  r.deleting = s.Int(4) != 0;
  r.created_at = s.Int(5);
  r.updated_at = s.Int(6);
  r.rollout = s.Json(7);
  if (!r.rollout.is_object()) r.rollout = nlohmann::json::object();
  return r;
}
constexpr char kServiceColumns[] =
    "SELECT name, spec, current_revision, latest_revision, deleting, created_at, updated_at, "
    "rollout FROM services";

RevisionRecord ReadRevision(const Statement& s) {
  RevisionRecord r;
  r.service = s.Text(0);
  r.number = static_cast<int>(s.Int(1));
  r.spec = s.Json(2);
  r.status = s.Text(3);
  r.reason = s.Text(4);
  r.created_at = s.Int(5);
  return r;
}
constexpr char kRevisionColumns[] =
    "SELECT service, number, spec, status, reason, created_at FROM revisions";

ReplicaRecord ReadReplica(const Statement& s) {
  ReplicaRecord r;
  r.id = s.Text(0);
  r.service = s.Text(1);
  r.revision = static_cast<int>(s.Int(2));
  r.state = s.Text(3);
  r.pid = static_cast<int>(s.Int(4));
  r.pid_start = static_cast<uint64_t>(s.Int(5));
  r.http_port = static_cast<int>(s.Int(6));
  r.grpc_port = static_cast<int>(s.Int(7));
  r.restarts = static_cast<int>(s.Int(8));
  r.reason = s.Text(9);
  r.created_at = s.Int(10);
  r.ready_at = s.Int(11);
  return r;
}
constexpr char kReplicaColumns[] =
    "SELECT id, service, revision, state, pid, pid_start, http_port, grpc_port, restarts, "
    "reason, created_at, ready_at FROM replicas";

template <typename T, typename Reader>
absl::StatusOr<std::vector<T>> Collect(Statement& s, Reader read) {
  std::vector<T> out;
  while (true) {
    ASSIGN_OR_RETURN(bool row, s.Step());
    if (!row) break;
    out.push_back(read(s));
  }
  return out;
}

template <typename T, typename Reader>
absl::StatusOr<std::optional<T>> First(Statement& s, Reader read) {
  ASSIGN_OR_RETURN(bool row, s.Step());
  if (!row) return std::optional<T>();
  return std::optional<T>(read(s));
}

}  // namespace

absl::StatusOr<std::unique_ptr<Store>> SqliteStore::Open(const std::string& path) {
  sqlite3* db = nullptr;
  if (sqlite3_open_v2(path.c_str(), &db,
                      SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_FULLMUTEX,
                      nullptr) != SQLITE_OK) {
    std::string message = db ? sqlite3_errmsg(db) : "out of memory";
    sqlite3_close(db);
    return absl::FailedPreconditionError(StrCat("cannot open the database ", path, ": ", message));
  }
  std::unique_ptr<SqliteStore> store(new SqliteStore(db));
  sqlite3_busy_timeout(db, 5000);
  RETURN_IF_ERROR(Exec(db, "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL; "
                           "PRAGMA foreign_keys=ON;"));
  RETURN_IF_ERROR(store->Migrate());
  return std::unique_ptr<Store>(std::move(store));
}

SqliteStore::~SqliteStore() { sqlite3_close(db_); }

absl::Status SqliteStore::Migrate() {
  std::lock_guard lock(mu_);
  int64_t version = 0;
  {
    Statement s(db_, "PRAGMA user_version");
    ASSIGN_OR_RETURN(bool row, s.Step());
    if (row) version = s.Int(0);
  }
  const int64_t known = static_cast<int64_t>(std::size(kMigrations));
  if (version > known) {
    return absl::FailedPreconditionError(StrCat(
        "the database has schema version ", version, " but this berth knows only up to ", known,
        ": it was written by a newer berth"));
  }
  for (int64_t v = version; v < known; ++v) {
    RETURN_IF_ERROR(InTransaction(db_, [&] {
      absl::Status status = Exec(db_, kMigrations[v]);
      if (status.ok()) status = Exec(db_, StrCat("PRAGMA user_version = ", v + 1).c_str());
      return status;
    }));
  }
  return absl::OkStatus();
}

absl::Status SqliteStore::InsertKey(const ApiKeyRecord& k) {
  std::lock_guard lock(mu_);
  Statement s(db_,
              "INSERT INTO api_keys(id, name, hash, prefix, scopes, created_at, expires_at, "
              "last_used_at, revoked_at) VALUES(?,?,?,?,?,?,?,?,?)");
  return s.Run({k.id, k.name, k.hash, k.prefix, nlohmann::json(k.scopes).dump(), k.created_at,
                k.expires_at, k.last_used_at, k.revoked_at});
}

absl::StatusOr<std::vector<ApiKeyRecord>> SqliteStore::ListKeys() {
  std::lock_guard lock(mu_);
  Statement s(db_, StrCat(kKeyColumns, " WHERE revoked_at = 0 ORDER BY created_at").c_str());
  return Collect<ApiKeyRecord>(s, ReadKey);
}

absl::StatusOr<std::optional<ApiKeyRecord>> SqliteStore::FindKeyById(const std::string& id) {
  std::lock_guard lock(mu_);
  Statement s(db_, StrCat(kKeyColumns, " WHERE id = ?").c_str());
  RETURN_IF_ERROR(s.Bind({id}));
  return First<ApiKeyRecord>(s, ReadKey);
}

absl::Status SqliteStore::RevokeKey(const std::string& id, TimeMs now) {
  std::lock_guard lock(mu_);
  Statement s(db_, "UPDATE api_keys SET revoked_at = ? WHERE id = ? AND revoked_at = 0");
  RETURN_IF_ERROR(s.Run({now, id}));
  if (sqlite3_changes(db_) == 0) return absl::NotFoundError(StrCat("no API key with id ", id));
  Statement sessions(db_, "DELETE FROM sessions WHERE key_id = ?");
  return sessions.Run({id});
}

absl::Status SqliteStore::TouchKey(const std::string& id, TimeMs now) {
  std::lock_guard lock(mu_);
  Statement s(db_, "UPDATE api_keys SET last_used_at = ? WHERE id = ?");
  return s.Run({now, id});
}

absl::StatusOr<int> SqliteStore::CountKeys() {
  std::lock_guard lock(mu_);
  Statement s(db_, "SELECT COUNT(*) FROM api_keys");
  ASSIGN_OR_RETURN(bool row, s.Step());
  return row ? static_cast<int>(s.Int(0)) : 0;
}

absl::Status SqliteStore::InsertSession(const std::string& hash, const std::string& key_id,
                                  TimeMs expires_at) {
  std::lock_guard lock(mu_);
  Statement s(db_, "INSERT INTO sessions(hash, key_id, expires_at) VALUES(?,?,?)");
  return s.Run({hash, key_id, expires_at});
}

absl::StatusOr<std::vector<SessionRecord>> SqliteStore::ListSessions(TimeMs now) {
  std::lock_guard lock(mu_);
  Statement s(db_, "SELECT hash, key_id, expires_at FROM sessions WHERE expires_at > ?");
  RETURN_IF_ERROR(s.Bind({now}));
  return Collect<SessionRecord>(s, [](const Statement& st) {
    return SessionRecord{st.Text(0), st.Text(1), st.Int(2)};
  });
}

absl::Status SqliteStore::DeleteSession(const std::string& hash) {
  std::lock_guard lock(mu_);
  Statement s(db_, "DELETE FROM sessions WHERE hash = ?");
  return s.Run({hash});
}

absl::StatusOr<int> SqliteStore::InsertModelVersion(const ModelRecord& m) {
  std::lock_guard lock(mu_);
  return InTransaction(db_, [&]() -> absl::StatusOr<int> {
    Statement get(db_, "SELECT last_version FROM model_names WHERE name = ?");
    RETURN_IF_ERROR(get.Bind({m.name}));
    ASSIGN_OR_RETURN(bool row, get.Step());
    const int version = row ? static_cast<int>(get.Int(0)) + 1 : 1;
    Statement count(db_,
                    "INSERT INTO model_names(name, last_version) VALUES(?, ?) "
                    "ON CONFLICT(name) DO UPDATE SET last_version = excluded.last_version");
    RETURN_IF_ERROR(count.Run({m.name, int64_t{version}}));
    Statement insert(db_,
                     "INSERT INTO model_versions(name, version, format, size_bytes, sha256, "
                     "source, path, metadata, created_at) VALUES(?,?,?,?,?,?,?,?,?)");
    RETURN_IF_ERROR(insert.Run({m.name, int64_t{version}, m.format,
                                static_cast<int64_t>(m.size_bytes), m.sha256, m.source, m.path,
                                m.metadata.dump(), m.created_at}));
    return version;
  });
}

absl::StatusOr<std::optional<ModelRecord>> SqliteStore::FindModel(const std::string& name,
                                                                  int version) {
  std::lock_guard lock(mu_);
  if (version > 0) {
    Statement s(db_, StrCat(kModelColumns, " WHERE name = ? AND version = ?").c_str());
    RETURN_IF_ERROR(s.Bind({name, int64_t{version}}));
    return First<ModelRecord>(s, ReadModel);
  }
  Statement s(db_, StrCat(kModelColumns, " WHERE name = ? ORDER BY version DESC LIMIT 1").c_str());
  RETURN_IF_ERROR(s.Bind({name}));
  return First<ModelRecord>(s, ReadModel);
}

absl::StatusOr<std::vector<ModelRecord>> SqliteStore::ListModelVersions(const std::string& name) {
  std::lock_guard lock(mu_);
  Statement s(db_, StrCat(kModelColumns, " WHERE ? = '' OR name = ? ORDER BY name, version").c_str());
  RETURN_IF_ERROR(s.Bind({name, name}));
  return Collect<ModelRecord>(s, ReadModel);
}

absl::Status SqliteStore::DeleteModel(const std::string& name) {
  std::lock_guard lock(mu_);
  return InTransaction(db_, [&] {
    Statement versions(db_, "DELETE FROM model_versions WHERE name = ?");
    Statement names(db_, "DELETE FROM model_names WHERE name = ?");
    absl::Status status = versions.Run({name});
    if (status.ok()) status = names.Run({name});
    return status;
  });
}

absl::Status SqliteStore::DeleteModelVersion(const std::string& name, int version) {
  std::lock_guard lock(mu_);
  Statement s(db_, "DELETE FROM model_versions WHERE name = ? AND version = ?");
  RETURN_IF_ERROR(s.Run({name, int64_t{version}}));
  if (sqlite3_changes(db_) == 0) {
    return absl::NotFoundError(StrCat("model '", name, "' has no version ", version));
  }
  return absl::OkStatus();
}

absl::Status SqliteStore::InsertService(const ServiceRecord& r) {
  std::lock_guard lock(mu_);
  Statement s(db_,
              "INSERT INTO services(name, spec, current_revision, latest_revision, deleting, "
              "created_at, updated_at) VALUES(?,?,?,?,?,?,?)");
  return s.Run({r.name, r.spec.dump(), int64_t{r.current_revision}, int64_t{r.latest_revision},
                int64_t{r.deleting}, r.created_at, r.updated_at});
}

absl::Status SqliteStore::UpdateService(const ServiceRecord& r) {
  std::lock_guard lock(mu_);
  Statement s(db_,
              "UPDATE services SET spec = ?, current_revision = ?, latest_revision = ?, "
              "deleting = ?, updated_at = ? WHERE name = ?");
  return s.Run({r.spec.dump(), int64_t{r.current_revision}, int64_t{r.latest_revision},
                int64_t{r.deleting}, r.updated_at, r.name});
}

absl::Status SqliteStore::UpdateRollout(const std::string& service, const nlohmann::json& rollout,
                                        int64_t expected_generation) {
  std::lock_guard lock(mu_);
  Statement s(db_,
              "UPDATE services SET rollout = ? WHERE name = ? AND "
              "coalesce(json_extract(rollout, '$.generation'), 0) = ?");
  RETURN_IF_ERROR(s.Run({rollout.dump(), service, expected_generation}));
  if (sqlite3_changes(db_) == 1) return absl::OkStatus();
  Statement exists(db_, "SELECT 1 FROM services WHERE name = ?");
  RETURN_IF_ERROR(exists.Bind({service}));
  ASSIGN_OR_RETURN(const bool found, exists.Step());
  if (!found) return absl::NotFoundError(StrCat("no service named '", service, "'"));
  return absl::AbortedError(
      StrCat("the rollout of service '", service, "' changed meanwhile; read it again"));
}

absl::StatusOr<std::optional<ServiceRecord>> SqliteStore::FindService(const std::string& name) {
  std::lock_guard lock(mu_);
  Statement s(db_, StrCat(kServiceColumns, " WHERE name = ?").c_str());
  RETURN_IF_ERROR(s.Bind({name}));
  return First<ServiceRecord>(s, ReadService);
}

absl::StatusOr<std::vector<ServiceRecord>> SqliteStore::ListServices() {
  std::lock_guard lock(mu_);
  Statement s(db_, StrCat(kServiceColumns, " ORDER BY name").c_str());
  return Collect<ServiceRecord>(s, ReadService);
}

absl::Status SqliteStore::DeleteService(const std::string& name) {
  std::lock_guard lock(mu_);
  return InTransaction(db_, [&] {
    for (const char* sql : {"DELETE FROM replicas WHERE service = ?",
                            "DELETE FROM revisions WHERE service = ?",
                            "DELETE FROM services WHERE name = ?"}) {
      Statement s(db_, sql);
      RETURN_IF_ERROR(s.Run({name}));
    }
    return absl::OkStatus();
  });
}

absl::StatusOr<int> SqliteStore::CreateRevision(const std::string& service, const nlohmann::json& spec,
                                          TimeMs now) {
  std::lock_guard lock(mu_);
  return InTransaction(db_, [&]() -> absl::StatusOr<int> {
    Statement get(db_, "SELECT latest_revision FROM services WHERE name = ?");
    RETURN_IF_ERROR(get.Bind({service}));
    ASSIGN_OR_RETURN(bool row, get.Step());
    if (!row) return absl::NotFoundError(StrCat("no service named ", service));
    const int number = static_cast<int>(get.Int(0)) + 1;
    Statement insert(db_,
                     "INSERT INTO revisions(service, number, spec, status, reason, created_at) "
                     "VALUES(?,?,?,'Deploying','',?)");
    RETURN_IF_ERROR(insert.Run({service, int64_t{number}, spec.dump(), now}));
    Statement bump(db_, "UPDATE services SET latest_revision = ?, updated_at = ? WHERE name = ?");
    RETURN_IF_ERROR(bump.Run({int64_t{number}, now, service}));
    return number;
  });
}

absl::Status SqliteStore::UpdateRevision(const RevisionRecord& r) {
  std::lock_guard lock(mu_);
  Statement s(db_, "UPDATE revisions SET status = ?, reason = ? WHERE service = ? AND number = ?");
  return s.Run({r.status, r.reason, r.service, int64_t{r.number}});
}

absl::StatusOr<std::vector<RevisionRecord>> SqliteStore::ListRevisions(const std::string& service) {
  std::lock_guard lock(mu_);
  Statement s(db_, StrCat(kRevisionColumns, " WHERE service = ? ORDER BY number").c_str());
  RETURN_IF_ERROR(s.Bind({service}));
  return Collect<RevisionRecord>(s, ReadRevision);
}

absl::StatusOr<std::optional<RevisionRecord>> SqliteStore::FindRevision(const std::string& service,
                                                                  int number) {
  std::lock_guard lock(mu_);
  Statement s(db_, StrCat(kRevisionColumns, " WHERE service = ? AND number = ?").c_str());
  RETURN_IF_ERROR(s.Bind({service, int64_t{number}}));
  return First<RevisionRecord>(s, ReadRevision);
}

absl::StatusOr<std::vector<std::string>> SqliteStore::ServicesUsingModel(const std::string& model,
                                                                        int version) {
  std::lock_guard lock(mu_);
  Statement s(db_,
              "SELECT service FROM revisions WHERE json_extract(spec, '$.model') = ?1 "
              "AND (?2 = 0 OR json_extract(spec, '$.model_version') = ?2) "
              "AND status NOT IN ('Retired', 'Failed') "
              "UNION SELECT name FROM services WHERE json_extract(spec, '$.model') = ?1 "
              "AND (?2 = 0 OR json_extract(spec, '$.model_version') = ?2) ORDER BY 1");
  RETURN_IF_ERROR(s.Bind({model, int64_t{version}}));
  return Collect<std::string>(s, [](const Statement& st) { return st.Text(0); });
}

absl::Status SqliteStore::UpsertReplica(const ReplicaRecord& r) {
  std::lock_guard lock(mu_);
  Statement s(db_,
              "INSERT OR REPLACE INTO replicas(id, service, revision, state, pid, pid_start, "
              "http_port, grpc_port, restarts, reason, created_at, ready_at) "
              "VALUES(?,?,?,?,?,?,?,?,?,?,?,?)");
  return s.Run({r.id, r.service, int64_t{r.revision}, r.state, int64_t{r.pid},
                static_cast<int64_t>(r.pid_start), int64_t{r.http_port}, int64_t{r.grpc_port},
                int64_t{r.restarts}, r.reason, r.created_at, r.ready_at});
}

absl::StatusOr<std::vector<ReplicaRecord>> SqliteStore::ListReplicas(const std::string& service) {
  std::lock_guard lock(mu_);
  if (service.empty()) {
    Statement s(db_, StrCat(kReplicaColumns, " ORDER BY created_at").c_str());
    return Collect<ReplicaRecord>(s, ReadReplica);
  }
  Statement s(db_, StrCat(kReplicaColumns, " WHERE service = ? ORDER BY created_at").c_str());
  RETURN_IF_ERROR(s.Bind({service}));
  return Collect<ReplicaRecord>(s, ReadReplica);
}

absl::Status SqliteStore::DeleteReplica(const std::string& id) {
  std::lock_guard lock(mu_);
  Statement s(db_, "DELETE FROM replicas WHERE id = ?");
  return s.Run({id});
}

absl::Status SqliteStore::AppendEvent(const EventRecord& e) {
  std::lock_guard lock(mu_);
  Statement s(db_,
              "INSERT INTO events(time, service, object, reason, message) VALUES(?,?,?,?,?)");
  RETURN_IF_ERROR(s.Run({e.time, e.service, e.object, e.reason, e.message}));
  const int64_t id = sqlite3_last_insert_rowid(db_);
  if (id % 1000 == 0 && id > kMaxEvents) {
    Statement trim(db_, "DELETE FROM events WHERE id <= ?");
    RETURN_IF_ERROR(trim.Run({id - kMaxEvents}));
  }
  return absl::OkStatus();
}

absl::StatusOr<std::vector<EventRecord>> SqliteStore::ListEvents(const std::string& service,
                                                           int64_t after, int limit) {
  std::lock_guard lock(mu_);
  Statement s(db_,
              "SELECT id, time, service, object, reason, message FROM events "
              "WHERE (? = '' OR service = ?) AND id > ? ORDER BY id LIMIT ?");
  RETURN_IF_ERROR(s.Bind({service, service, after, int64_t{limit}}));
  return Collect<EventRecord>(s, [](const Statement& st) {
    EventRecord e;
    e.id = st.Int(0);
    e.time = st.Int(1);
    e.service = st.Text(2);
    e.object = st.Text(3);
    e.reason = st.Text(4);
    e.message = st.Text(5);
    return e;
  });
}

}  // namespace berth::control
