// What every Store implementation must do, written once against the interface. A new store
// (PostgreSQL) adds its factory to kStores and passes the same tests.
#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <functional>

#include "common/strings.h"
#include "control/sqlite_store.h"
#include "control/store.h"
#include "sqlite3.h"

namespace berth::control {
namespace {

namespace fs = std::filesystem;

struct StoreFactory {
  std::string name;
  // Opens the store kept under `dir`; opening it again must find what was written.
  std::function<absl::StatusOr<std::unique_ptr<Store>>(const fs::path& dir)> open;
};

// gtest prints a parameter when a test fails; the name is all that says which store it was.
void PrintTo(const StoreFactory& factory, std::ostream* out) { *out << factory.name; }

const StoreFactory kStores[] = {
    {"sqlite", [](const fs::path& dir) { return SqliteStore::Open((dir / "berth.db").string()); }},
};

class StoreContractTest : public ::testing::TestWithParam<StoreFactory> {
 protected:
  void SetUp() override {
    dir_ = fs::path(::testing::TempDir()) /
           StrCat("store_contract_", GetParam().name, "_", getpid(), "_",
                  ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(dir_);
    fs::create_directories(dir_);
    Reopen();
  }
  void TearDown() override {
    store_.reset();
    std::error_code ec;
    fs::remove_all(dir_, ec);
  }
  void Reopen() {
    store_.reset();
    auto store = GetParam().open(dir_);
    ASSERT_TRUE(store.ok()) << store.status();
    store_ = *std::move(store);
  }
  ServiceRecord Service(const std::string& name) {
    ServiceRecord s;
    s.name = name;
    s.spec = {{"model", "m"}, {"replicas", 2}};
    s.created_at = s.updated_at = 1000;
    return s;
  }

  fs::path dir_;
  std::unique_ptr<Store> store_;
};

TEST_P(StoreContractTest, KeysAreFoundByIdListedRevokedAndTouched) {
  ApiKeyRecord key{"k1", "ci", "hash1", "brth_abc", {"read", "deploy"}, 10, 0, 0, 0};
  ASSERT_TRUE(store_->InsertKey(key).ok());
  EXPECT_EQ(store_->InsertKey(key).code(), absl::StatusCode::kAlreadyExists);
  EXPECT_EQ(*store_->CountKeys(), 1);
  auto listed = store_->ListKeys();
  ASSERT_TRUE(listed.ok());
  ASSERT_EQ(listed->size(), 1u);
  EXPECT_EQ((*listed)[0].hash, "hash1");
  EXPECT_EQ((*listed)[0].scopes, (std::vector<std::string>{"read", "deploy"}));
  EXPECT_FALSE(store_->FindKeyById("nope")->has_value());
  ASSERT_TRUE(store_->TouchKey("k1", 50).ok());
  ASSERT_TRUE(store_->RevokeKey("k1", 60).ok());
  EXPECT_EQ(store_->RevokeKey("k1", 70).code(), absl::StatusCode::kNotFound) << "revoked once";
  Reopen();
  auto by_id = store_->FindKeyById("k1");
  ASSERT_TRUE(by_id.ok() && *by_id);
  EXPECT_EQ((*by_id)->last_used_at, 50);
  EXPECT_EQ((*by_id)->revoked_at, 60);
  EXPECT_TRUE(store_->ListKeys()->empty()) << "revoked keys are not listed";
}

TEST_P(StoreContractTest, SessionsExpireAndCanBeDeleted) {
  ASSERT_TRUE(store_->InsertSession("s1", "k1", 100).ok());
  ASSERT_TRUE(store_->InsertSession("s2", "k1", 200).ok());
  auto live = store_->ListSessions(99);
  ASSERT_TRUE(live.ok());
  ASSERT_EQ(live->size(), 2u);
  auto later = store_->ListSessions(100);
  ASSERT_EQ(later->size(), 1u) << "expired at its expiry time";
  EXPECT_EQ((*later)[0].hash, "s2");
  EXPECT_EQ((*later)[0].key_id, "k1");
  EXPECT_EQ((*later)[0].expires_at, 200);
  ASSERT_TRUE(store_->DeleteSession("s2").ok());
  EXPECT_TRUE(store_->ListSessions(0)->size() == 1u);
}

TEST_P(StoreContractTest, ModelsKeepEveryVersionAndTheirMetadata) {
  ModelRecord m{"m", 0, "onnx", 42, "sha1", "upload", "/x/1/m.onnx", {{"max_batch_size", 8}}, 5};
  EXPECT_EQ(*store_->InsertModelVersion(m), 1);
  m.size_bytes = 43;
  m.sha256 = "sha2";
  EXPECT_EQ(*store_->InsertModelVersion(m), 2);
  ASSERT_TRUE(store_->InsertModelVersion({"other", 0, "onnx", 1, "x", "upload", "/o", {}, 6}).ok());
  Reopen();
  auto latest = store_->FindModel("m");
  ASSERT_TRUE(latest.ok() && *latest);
  EXPECT_EQ((*latest)->version, 2);
  EXPECT_EQ((*latest)->size_bytes, 43u);
  EXPECT_EQ((*latest)->metadata["max_batch_size"], 8);
  auto first = store_->FindModel("m", 1);
  ASSERT_TRUE(first.ok() && *first);
  EXPECT_EQ((*first)->sha256, "sha1");
  EXPECT_FALSE(store_->FindModel("m", 3)->has_value());
  // Every version, by name and then version (the model list takes each name's last).
  EXPECT_EQ(store_->ListModelVersions("m")->size(), 2u);
  auto all = store_->ListModelVersions("");
  ASSERT_TRUE(all.ok());
  std::vector<std::pair<std::string, int>> order;
  for (const ModelRecord& v : *all) order.emplace_back(v.name, v.version);
  EXPECT_EQ(order, (std::vector<std::pair<std::string, int>>{{"m", 1}, {"m", 2}, {"other", 1}}));
  // A deleted version's number is not given out again; deleting the model starts over.
  ASSERT_TRUE(store_->DeleteModelVersion("m", 2).ok());
  EXPECT_EQ(store_->DeleteModelVersion("m", 2).code(), absl::StatusCode::kNotFound);
  EXPECT_EQ((*store_->FindModel("m"))->version, 1);
  EXPECT_EQ(*store_->InsertModelVersion(m), 3);
  ASSERT_TRUE(store_->DeleteModel("m").ok());
  EXPECT_FALSE(store_->FindModel("m")->has_value());
  EXPECT_EQ(*store_->InsertModelVersion(m), 1);
}

TEST_P(StoreContractTest, RevisionsAreNumberedPerServiceFromOne) {
  ASSERT_TRUE(store_->InsertService(Service("a")).ok());
  EXPECT_EQ(store_->InsertService(Service("a")).code(), absl::StatusCode::kAlreadyExists);
  ASSERT_TRUE(store_->InsertService(Service("b")).ok());
  EXPECT_EQ(*store_->CreateRevision("a", {{"model", "m"}}, 1), 1);
  EXPECT_EQ(*store_->CreateRevision("a", {{"model", "m2"}}, 2), 2);
  EXPECT_EQ(*store_->CreateRevision("b", {{"model", "m"}}, 3), 1);
  EXPECT_EQ(store_->CreateRevision("nope", {}, 4).status().code(), absl::StatusCode::kNotFound);
  Reopen();
  EXPECT_EQ((*store_->FindService("a"))->latest_revision, 2);
  auto revision = store_->FindRevision("a", 2);
  ASSERT_TRUE(revision.ok() && *revision);
  EXPECT_EQ((*revision)->status, "Deploying");
  EXPECT_EQ((*revision)->spec["model"], "m2");
  (*revision)->status = "Failed";
  (*revision)->reason = "crashed";
  ASSERT_TRUE(store_->UpdateRevision(**revision).ok());
  auto list = store_->ListRevisions("a");
  ASSERT_TRUE(list.ok());
  ASSERT_EQ(list->size(), 2u);
  const auto failed = std::find_if(list->begin(), list->end(),
                                   [](const RevisionRecord& r) { return r.number == 2; });
  ASSERT_NE(failed, list->end());
  EXPECT_EQ(failed->status, "Failed");
  EXPECT_EQ(failed->reason, "crashed");
  EXPECT_FALSE(store_->FindRevision("a", 3)->has_value());
}

TEST_P(StoreContractTest, AServiceUpdateKeepsItsSpecAndFlags) {
  ServiceRecord s = Service("a");
  ASSERT_TRUE(store_->InsertService(s).ok());
  s.spec["replicas"] = 5;
  s.current_revision = 1;
  s.deleting = true;
  s.updated_at = 2000;
  ASSERT_TRUE(store_->UpdateService(s).ok());
  Reopen();
  auto found = store_->FindService("a");
  ASSERT_TRUE(found.ok() && *found);
  EXPECT_EQ((*found)->spec["replicas"], 5);
  EXPECT_EQ((*found)->current_revision, 1);
  EXPECT_TRUE((*found)->deleting);
  EXPECT_EQ((*found)->updated_at, 2000);
  EXPECT_EQ(store_->ListServices()->size(), 1u);
}

TEST_P(StoreContractTest, ARolloutIsReplacedOnlyFromTheGenerationItWasReadAt) {
  ServiceRecord s = Service("a");
  ASSERT_TRUE(store_->InsertService(s).ok());
  EXPECT_EQ((*store_->FindService("a"))->rollout, nlohmann::json::object());
  ASSERT_TRUE(store_->UpdateRollout("a", {{"generation", 1}, {"weight", 10}}, 0).ok());
  // A writer that read it before that write is refused, and changes nothing.
  EXPECT_TRUE(absl::IsAborted(store_->UpdateRollout("a", {{"generation", 1}, {"weight", 50}}, 0)));
  EXPECT_TRUE(absl::IsNotFound(store_->UpdateRollout("nosuch", {{"generation", 1}}, 0)));
  // A spec update leaves the rollout as it was.
  s.spec["replicas"] = 3;
  ASSERT_TRUE(store_->UpdateService(s).ok());
  Reopen();
  auto found = store_->FindService("a");
  ASSERT_TRUE(found.ok() && *found);
  EXPECT_EQ((*found)->rollout, (nlohmann::json{{"generation", 1}, {"weight", 10}}));
  EXPECT_EQ((*found)->spec["replicas"], 3);
  ASSERT_TRUE(store_->UpdateRollout("a", {{"generation", 2}, {"weight", 25}}, 1).ok());
  EXPECT_EQ((*store_->FindService("a"))->rollout["weight"], 25);
}

TEST_P(StoreContractTest, ModelsInUseAreThoseOfServiceSpecsAndLiveRevisions) {
  ServiceRecord a = Service("a"), b = Service("b"), c = Service("c");
  a.spec = {{"model", "n"}, {"model_version", 1}};  // moved on from m
  b.spec = {{"model", "n"}, {"model_version", 1}};
  c.spec = {{"model", "m"}, {"model_version", 2}};
  for (const auto& s : {a, b, c}) ASSERT_TRUE(store_->InsertService(s).ok());
  ASSERT_TRUE(store_->CreateRevision("a", {{"model", "m"}, {"model_version", 1}}, 1).ok());
  ASSERT_TRUE(store_->CreateRevision("b", {{"model", "m"}, {"model_version", 1}}, 1).ok());
  RevisionRecord retired = **store_->FindRevision("b", 1);
  retired.status = "Retired";
  ASSERT_TRUE(store_->UpdateRevision(retired).ok());
  EXPECT_EQ(*store_->ServicesUsingModel("m"), (std::vector<std::string>{"a", "c"}));
  EXPECT_EQ(*store_->ServicesUsingModel("m", 1), std::vector<std::string>{"a"});
  EXPECT_EQ(*store_->ServicesUsingModel("m", 2), std::vector<std::string>{"c"});
  EXPECT_TRUE(store_->ServicesUsingModel("m", 3)->empty());
  EXPECT_EQ(*store_->ServicesUsingModel("n"), (std::vector<std::string>{"a", "b"}));
  EXPECT_TRUE(store_->ServicesUsingModel("other")->empty());
}

TEST_P(StoreContractTest, DeletingAServiceDeletesItsRevisionsAndReplicas) {
  ASSERT_TRUE(store_->InsertService(Service("a")).ok());
  ASSERT_TRUE(store_->InsertService(Service("b")).ok());
  ASSERT_TRUE(store_->CreateRevision("a", {{"model", "m"}}, 1).ok());
  ReplicaRecord r{"a-1-x", "a", 1, "Ready", 123, 456, 8000, 8001, 2, "", 10, 20};
  ASSERT_TRUE(store_->UpsertReplica(r).ok());
  r.id = "b-1-x";
  r.service = "b";
  ASSERT_TRUE(store_->UpsertReplica(r).ok());
  ASSERT_TRUE(store_->DeleteService("a").ok());
  EXPECT_FALSE(store_->FindService("a")->has_value());
  EXPECT_TRUE(store_->ListRevisions("a")->empty());
  EXPECT_TRUE(store_->ListReplicas("a")->empty());
  EXPECT_EQ(store_->ListReplicas("b")->size(), 1u) << "another service's replicas stay";
}

TEST_P(StoreContractTest, ReplicasAreReplacedByIdAndListedPerService) {
  ReplicaRecord r{"a-1-x", "a", 1, "Starting", 123, 456, 0, 0, 0, "", 10, 0};
  ASSERT_TRUE(store_->UpsertReplica(r).ok());
  r.state = "Ready";
  r.http_port = 8000;
  r.grpc_port = 8001;
  r.ready_at = 30;
  ASSERT_TRUE(store_->UpsertReplica(r).ok());
  ReplicaRecord other{"b-1-y", "b", 1, "Pending", 0, 0, 0, 0, 0, "", 11, 0};
  ASSERT_TRUE(store_->UpsertReplica(other).ok());
  Reopen();
  auto a = store_->ListReplicas("a");
  ASSERT_TRUE(a.ok());
  ASSERT_EQ(a->size(), 1u);
  EXPECT_EQ((*a)[0].state, "Ready");
  EXPECT_EQ((*a)[0].http_port, 8000);
  EXPECT_EQ((*a)[0].grpc_port, 8001);
  EXPECT_EQ((*a)[0].pid, 123);
  EXPECT_EQ((*a)[0].pid_start, 456u);
  EXPECT_EQ((*a)[0].ready_at, 30);
  EXPECT_EQ(store_->ListReplicas()->size(), 2u) << "no service: all of them";
  ASSERT_TRUE(store_->DeleteReplica("a-1-x").ok());
  EXPECT_TRUE(store_->ListReplicas("a")->empty());
}

TEST_P(StoreContractTest, EventsAreListedInOrderAfterACursorAndUpToALimit) {
  for (int i = 0; i < 5; ++i) {
    ASSERT_TRUE(
        store_->AppendEvent({0, 100 + i, i % 2 ? "b" : "a", "service/x", "R", StrCat(i)}).ok());
  }
  auto all = store_->ListEvents("", 0, 100);
  ASSERT_TRUE(all.ok());
  ASSERT_EQ(all->size(), 5u);
  for (size_t i = 1; i < all->size(); ++i) EXPECT_LT((*all)[i - 1].id, (*all)[i].id);
  auto a = store_->ListEvents("a", 0, 100);
  ASSERT_EQ(a->size(), 3u);
  EXPECT_EQ((*a)[0].message, "0");
  auto after = store_->ListEvents("", (*all)[2].id, 100);
  ASSERT_EQ(after->size(), 2u);
  EXPECT_EQ((*after)[0].message, "3");
  EXPECT_EQ(store_->ListEvents("", 0, 2)->size(), 2u);
}

INSTANTIATE_TEST_SUITE_P(AllStores, StoreContractTest, ::testing::ValuesIn(kStores),
                         [](const auto& info) { return info.param.name; });

// A database written before models had versions (schema 1): each model becomes version 1 of
// itself, and the services and revisions that serve it pin that version.
TEST(SqliteStoreMigrationTest, ModelsOfTheFirstSchemaBecomeVersionOne) {
  const fs::path dir = fs::path(::testing::TempDir()) / StrCat("store_migration_", getpid());
  fs::remove_all(dir);
  fs::create_directories(dir);
  const std::string path = (dir / "berth.db").string();
  sqlite3* db = nullptr;
  ASSERT_EQ(sqlite3_open(path.c_str(), &db), SQLITE_OK);
  const char* schema1 = R"sql(
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
INSERT INTO models VALUES('digits', 'onnx', 100, 'abc', 'upload', '/d/model.onnx', '{"max_batch_size":8}', 7);
INSERT INTO services VALUES('demo', '{"model":"digits","replicas":2}', 1, 1, 0, 1, 1);
INSERT INTO revisions VALUES('demo', 1, '{"model":"digits","model_sha256":"abc"}', 'Ready', '', 1);
PRAGMA user_version = 1;
)sql";
  ASSERT_EQ(sqlite3_exec(db, schema1, nullptr, nullptr, nullptr), SQLITE_OK) << sqlite3_errmsg(db);
  sqlite3_close(db);

  auto store = SqliteStore::Open(path);
  ASSERT_TRUE(store.ok()) << store.status();
  auto model = (*store)->FindModel("digits", 1);
  ASSERT_TRUE(model.ok() && *model);
  EXPECT_EQ((*model)->sha256, "abc");
  EXPECT_EQ((*model)->metadata["max_batch_size"], 8);
  EXPECT_EQ((**(*store)->FindService("demo")).spec["model_version"], 1);
  EXPECT_EQ((**(*store)->FindService("demo")).rollout, nlohmann::json::object());
  EXPECT_EQ((**(*store)->FindRevision("demo", 1)).spec["model_version"], 1);
  EXPECT_EQ(*(*store)->ServicesUsingModel("digits", 1), std::vector<std::string>{"demo"});
  // The next upload is version 2.
  EXPECT_EQ(*(*store)->InsertModelVersion(**model), 2);
  store->reset();
  fs::remove_all(dir);
}

}  // namespace
}  // namespace berth::control
