// The controller's supervision and rollout on a fake runtime driver and a fake clock, with the
// real SQLite store in a temporary directory: one ReconcileOnce() at a time, no threads, no
// waiting.
#include "control/controller.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

#include "common/strings.h"
#include "control/sqlite_store.h"
#include "tests/control/failing_store.h"
#include "tests/control/test_env.h"
#include "tests/runtime/fake_driver.h"

namespace berth::control {
namespace {

namespace fs = std::filesystem;
using runtime::FakeReplica;

class ControllerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto store = SqliteStore::Open(dir_ / "berth.db");
    ASSERT_TRUE(store.ok()) << store.status();
    store_ = *std::move(store);
    failing_ = std::make_unique<FailingStore>(store_.get());
    controller_ = MakeController();
  }

  void TearDown() override {
    // Every move the controller made in the test is one the state machine has.
    EXPECT_EQ(UnexpectedTransitionCount(), 0);
    controller_.reset();
    failing_.reset();
  }

  std::unique_ptr<Controller> MakeController() {
    ControllerOptions options;
    options.data_dir = dir_.path().string();
    options.store = failing_.get();
    options.driver = &driver_;
    options.router = &router_;
    options.activator = &activator_;
    options.placer = &placer_;
    options.clock = &clock_;
    options.reconcile_period_ms = 0;
    auto controller = std::make_unique<Controller>(options);
    controller->Start();
    return controller;
  }

  void Deploy(const std::string& name, int replicas) {
    ServiceRecord service;
    service.name = name;
    service.spec = {{"model", "m"}, {"replicas", replicas}};
    service.created_at = service.updated_at = clock_.WallMs();
    ASSERT_TRUE(store_->InsertService(service).ok());
    ASSERT_TRUE(store_->CreateRevision(name, service.spec, clock_.WallMs()).ok());
  }

  // A new revision of an existing service.
  void Redeploy(const std::string& name) {
    auto service = store_->FindService(name);
    ASSERT_TRUE(service.ok() && *service);
    ASSERT_TRUE(store_->CreateRevision(name, (*service)->spec, clock_.WallMs()).ok());
  }

  void Scale(const std::string& name, int replicas) {
    auto service = store_->FindService(name);
    ASSERT_TRUE(service.ok() && *service);
    (*service)->spec["replicas"] = replicas;
    ASSERT_TRUE(store_->UpdateService(**service).ok());
  }

  void Reconcile() { controller_->ReconcileOnce(); }

  ServiceRecord Service(const std::string& name) {
    auto service = store_->FindService(name);
    EXPECT_TRUE(service.ok() && *service);
    return service.ok() && *service ? **service : ServiceRecord{};
  }

  std::string RevisionStatus(const std::string& name, int number) {
    auto revision = store_->FindRevision(name, number);
    EXPECT_TRUE(revision.ok() && *revision);
    return revision.ok() && *revision ? (*revision)->status : "";
  }

  std::vector<ReplicaRecord> Rows(const std::string& service) {
    auto rows = store_->ListReplicas(service);
    EXPECT_TRUE(rows.ok());
    return rows.ok() ? *rows : std::vector<ReplicaRecord>{};
  }

  ReplicaRecord Row(const std::string& id) {
    for (const ReplicaRecord& row : Rows("")) {
      if (row.id == id) return row;
    }
    ADD_FAILURE() << "no row for replica " << id;
    return {};
  }

  // Replica ids the gateway routes the service to.
  std::vector<std::string> Routed(const std::string& service) {
    std::vector<std::string> ids;
    auto table = router_.Snapshot();
    auto it = table->services.find(service);
    if (it == table->services.end()) return ids;
    for (const auto& revision : it->second.revisions) {
      for (const auto& endpoint : revision.endpoints) ids.push_back(endpoint->replica_id());
    }
    return ids;
  }

  int Events(const std::string& service, const std::string& reason) {
    auto events = store_->ListEvents(service, 0, 1000);
    EXPECT_TRUE(events.ok());
    int n = 0;
    for (const EventRecord& e : events.ok() ? *events : std::vector<EventRecord>{}) {
      n += e.reason == reason ? 1 : 0;
    }
    return n;
  }

  // Deploys `replicas` replicas and brings them all to Ready.
  std::vector<std::shared_ptr<FakeReplica>> DeployReady(const std::string& name, int replicas) {
    Deploy(name, replicas);
    Reconcile();
    auto all = driver_.All();
    for (const auto& replica : all) replica->BecomeReady();
    Reconcile();
    return all;
  }

  ScratchDir dir_{"controller"};
  std::unique_ptr<Store> store_;
  std::unique_ptr<FailingStore> failing_;  // what the controller uses: store_, failing on demand
  runtime::FakeDriver driver_;
  routing::Router router_;
  FakeClock clock_;
  routing::Activator activator_{{.clock = &clock_, .router = &router_}};
  LocalPlacer placer_{{.cpus = 2, .memory_bytes = 8ull << 30}};
  std::unique_ptr<Controller> controller_;
};

TEST_F(ControllerTest, ARevisionIsPromotedWhenAllItsReplicasAreReady) {
  Deploy("web", 2);
  Reconcile();
  ASSERT_EQ(driver_.launches(), 2);
  auto replicas = driver_.All();
  for (const ReplicaRecord& row : Rows("web")) EXPECT_EQ(row.state, "Starting");
  const std::vector<std::string>& args = replicas[0]->spec.args;
  const auto repository = std::find(args.begin(), args.end(), "--model-repository");
  ASSERT_NE(repository, args.end());
  EXPECT_EQ(*(repository + 1), dir_ / "services/web/revisions/1/repo");

  replicas[0]->BecomeReady();
  Reconcile();
  EXPECT_EQ(Row(replicas[0]->id).state, "Ready");
  EXPECT_EQ(RevisionStatus("web", 1), "Deploying") << "one of two replicas is not ready";
  EXPECT_TRUE(Routed("web").empty()) << "no revision serves yet";

  replicas[1]->BecomeReady();
  Reconcile();
  EXPECT_EQ(RevisionStatus("web", 1), "Ready");
  EXPECT_EQ(Service("web").current_revision, 1);
  EXPECT_EQ(Routed("web").size(), 2u);
  EXPECT_EQ(Events("web", "RevisionReady"), 1);
}

TEST_F(ControllerTest, ACrashedReplicaRestartsWithGrowingBackoffAndEntersCrashLoopBackOff) {
  auto replicas = DeployReady("web", 1);
  const std::string id = replicas[0]->id;
  ASSERT_EQ(Routed("web"), std::vector<std::string>{id});

  replicas[0]->Crash("[critical] out of memory\n");
  Reconcile();
  ReplicaRecord row = Row(id);
  EXPECT_EQ(row.state, "Pending");
  EXPECT_EQ(row.restarts, 1);
  EXPECT_NE(row.reason.find("out of memory"), std::string::npos) << row.reason;
  EXPECT_TRUE(replicas[0]->released);
  EXPECT_TRUE(Routed("web").empty()) << "a crashed replica takes no traffic";
  EXPECT_EQ(Events("web", "ReplicaCrashed"), 1);

  clock_.Advance(999);
  Reconcile();
  EXPECT_EQ(driver_.launches(), 1) << "restarted before its first backoff (1 s) ended";
  clock_.Advance(1);
  Reconcile();
  EXPECT_EQ(driver_.launches(), 2);
  EXPECT_EQ(Row(id).state, "Starting");

  driver_.Get(id)->Crash();
  Reconcile();
  EXPECT_EQ(Row(id).state, "CrashLoopBackOff");
  EXPECT_EQ(Row(id).restarts, 2);
  clock_.Advance(1999);
  Reconcile();
  EXPECT_EQ(driver_.launches(), 2) << "the second backoff is 2 s";
  clock_.Advance(1);
  Reconcile();
  EXPECT_EQ(driver_.launches(), 3);

  driver_.Get(id)->BecomeReady();
  Reconcile();
  EXPECT_EQ(Row(id).state, "Ready");
  EXPECT_EQ(Routed("web"), std::vector<std::string>{id});
  EXPECT_EQ(RevisionStatus("web", 1), "Ready") << "a serving revision never fails for crashes";
}

TEST_F(ControllerTest, AReplicaThatIsNotReadyInTimeIsKilledAndRestarted) {
  Deploy("web", 1);
  Reconcile();
  auto replica = driver_.All().at(0);
  clock_.Advance(300000);
  Reconcile();
  EXPECT_EQ(replica->kills, 0);
  clock_.Advance(1);
  Reconcile();
  EXPECT_EQ(replica->kills, 1);
  EXPECT_EQ(Events("web", "StartupTimeout"), 1);
  Reconcile();
  EXPECT_EQ(Row(replica->id).state, "Pending");
  EXPECT_EQ(Row(replica->id).restarts, 1);
}

TEST_F(ControllerTest, AFailedRevisionLeavesTheServingOneUntouched) {
  auto first = DeployReady("web", 1);
  const std::string serving = first[0]->id;
  Redeploy("web");
  Reconcile();
  ASSERT_EQ(driver_.launches(), 2);
  const std::string id = driver_.All().back()->id;
  EXPECT_NE(id, serving);
  // Three crashes in a row of a revision that never became ready fail it.
  const int64_t backoffs[] = {1000, 2000};
  for (int crash = 0; crash < 3; ++crash) {
    driver_.Get(id)->Crash("[error] cannot load the model\n");
    Reconcile();
    EXPECT_EQ(Routed("web"), std::vector<std::string>{serving}) << "after crash " << crash + 1;
    if (crash < 2) {
      clock_.Advance(backoffs[crash]);
      Reconcile();
      EXPECT_EQ(driver_.launches(), 3 + crash);
    }
  }
  EXPECT_EQ(RevisionStatus("web", 2), "Failed");
  EXPECT_EQ(Row(id).state, "Failed");
  EXPECT_EQ(Events("web", "RevisionFailed"), 1);
  const ServiceRecord service = Service("web");
  EXPECT_EQ(service.current_revision, 1);
  EXPECT_EQ(service.latest_revision, 2);
  EXPECT_EQ(RevisionStatus("web", 1), "Ready");
  EXPECT_EQ(Row(serving).state, "Ready");
  EXPECT_EQ(first[0]->stops + first[0]->kills, 0);
  clock_.Advance(60000);
  Reconcile();
  EXPECT_EQ(driver_.launches(), 4) << "a failed revision is not retried";
}

TEST_F(ControllerTest, ANewRevisionTakesOverAndTheOldOneDrains) {
  auto first = DeployReady("web", 1);
  Redeploy("web");
  Reconcile();
  auto second = driver_.All().back();
  EXPECT_EQ(Routed("web"), std::vector<std::string>{first[0]->id});
  second->BecomeReady();
  Reconcile();
  EXPECT_EQ(Service("web").current_revision, 2);
  EXPECT_EQ(RevisionStatus("web", 1), "Retired");
  EXPECT_EQ(Routed("web"), std::vector<std::string>{second->id});
  EXPECT_EQ(Row(first[0]->id).state, "Draining");
  Reconcile();  // idle: it is asked to stop
  EXPECT_EQ(first[0]->stops, 1);
  EXPECT_EQ(first[0]->kills, 0);
  Reconcile();  // it exited: terminated and forgotten
  EXPECT_TRUE(first[0]->forgotten);
  ASSERT_EQ(Rows("web").size(), 1u);
  EXPECT_EQ(Rows("web")[0].id, second->id);
}

TEST_F(ControllerTest, ADrainingReplicaThatIgnoresItsStopIsKilled) {
  auto first = DeployReady("web", 1);
  first[0]->ignore_signals = true;
  Scale("web", 0);
  Reconcile();
  EXPECT_EQ(Row(first[0]->id).state, "Draining");
  Reconcile();
  EXPECT_EQ(first[0]->stops, 1);
  clock_.Advance(20001);
  Reconcile();
  EXPECT_EQ(first[0]->kills, 1);
}

TEST_F(ControllerTest, ScalingDownDrainsNotReadyReplicasFirstThenTheYoungest) {
  auto first = DeployReady("web", 1);
  const std::string oldest = first[0]->id;
  clock_.Advance(10);
  Scale("web", 2);
  Reconcile();  // records a second replica
  clock_.Advance(10);
  Scale("web", 3);
  Reconcile();  // launches the second, records a third
  Reconcile();  // launches the third
  ASSERT_EQ(driver_.launches(), 3);
  auto all = driver_.All();
  const std::string middle = all[1]->id, youngest = all[2]->id;
  all[1]->BecomeReady();
  all[2]->BecomeReady();
  Reconcile();
  ASSERT_EQ(Routed("web").size(), 3u);

  // The youngest ready one goes before older ones.
  Scale("web", 2);
  Reconcile();
  EXPECT_EQ(Row(youngest).state, "Draining");
  EXPECT_EQ(Row(middle).state, "Ready");
  EXPECT_EQ(Row(oldest).state, "Ready");

  // A replica that is not ready goes before a ready one, however old.
  Reconcile();
  Reconcile();  // the drained one is gone
  driver_.Get(middle)->Crash();
  Reconcile();
  ASSERT_EQ(Row(middle).state, "Pending");
  Scale("web", 1);
  Reconcile();  // it has no process: terminated and forgotten at once
  ASSERT_EQ(Rows("web").size(), 1u);
  EXPECT_EQ(Rows("web")[0].id, oldest);
  EXPECT_EQ(Rows("web")[0].state, "Ready");
  EXPECT_EQ(Routed("web"), std::vector<std::string>{oldest});
  EXPECT_EQ(driver_.launches(), 3);
}

TEST_F(ControllerTest, ARestartAdoptsRunningReplicasRestartsLostOnesAndStopsOrphans) {
  auto replicas = DeployReady("web", 1);
  const std::string adopted = replicas[0]->id;
  // A row whose process ended while the server was down, and a process no row owns.
  ReplicaRecord lost = Row(adopted);
  lost.id = "web-1-lost00";
  ASSERT_TRUE(store_->UpsertReplica(lost).ok());
  auto orphan = driver_.AddRunning("web-1-orphan");

  controller_.reset();  // the server stops; its replicas keep running
  EXPECT_EQ(replicas[0]->stops + replicas[0]->kills, 0);
  controller_ = MakeController();

  EXPECT_EQ(Row(adopted).state, "Ready");
  EXPECT_EQ(Events("web", "Adopted"), 1);
  EXPECT_EQ(Routed("web"), std::vector<std::string>{adopted})
      << "an adopted ready replica serves from the first routing table";
  EXPECT_EQ(Row("web-1-lost00").state, "Pending");
  EXPECT_EQ(Events("web", "Lost"), 1);
  EXPECT_EQ(orphan->kills, 1);
  EXPECT_EQ(driver_.launches(), 1);

  // The service wants one replica: the extra one (restarted, not ready yet) drains away.
  Reconcile();
  EXPECT_EQ(driver_.launches(), 2);
  EXPECT_EQ(Row("web-1-lost00").state, "Draining");
  Reconcile();  // asked to stop
  Reconcile();  // exited: forgotten
  ASSERT_EQ(Rows("web").size(), 1u);
  EXPECT_EQ(Rows("web")[0].id, adopted);
  EXPECT_EQ(Rows("web")[0].state, "Ready");
}

TEST_F(ControllerTest, AnAutoscaledServiceFollowsItsRequestsInFlight) {
  ServiceRecord service;
  service.name = "web";
  service.spec = {{"model", "m"},
                  {"replicas", 1},
                  {"autoscaling",
                   {{"metric", "concurrency"}, {"target", 2.0}, {"min_replicas", 1},
                    {"max_replicas", 4}, {"window_s", 6}, {"scale_down_delay_s", 0}}}};
  service.created_at = service.updated_at = clock_.WallMs();
  ASSERT_TRUE(store_->InsertService(service).ok());
  ASSERT_TRUE(store_->CreateRevision("web", {{"model", "m"}}, clock_.WallMs()).ok());
  Reconcile();
  for (const auto& replica : driver_.All()) replica->BecomeReady();
  Reconcile();
  ASSERT_EQ(Routed("web").size(), 1u);
  // 7 requests in flight at the gateway, target 2 a replica: 4 (the maximum), one reading a
  // second.
  auto table = router_.Snapshot();
  const auto& endpoint = table->services.at("web").revisions.at(0).endpoints.at(0);
  endpoint->in_flight = 7;
  for (int s = 0; s < 5; ++s) {
    clock_.Advance(1000);
    Reconcile();
    for (const auto& replica : driver_.All()) replica->BecomeReady();
  }
  EXPECT_EQ(driver_.launches(), 4);
  EXPECT_GE(Events("web", "Autoscaled"), 1);
  auto decision = controller_->Recommendation("web");
  ASSERT_TRUE(decision.has_value());
  EXPECT_EQ(decision->desired, 4);
  EXPECT_NE(decision->reason.find("concurrency"), std::string::npos) << decision->reason;
  // Quiet again: after the window (and the panic's), back to the minimum, no faster than
  // halving per decision.
  endpoint->in_flight = 0;
  for (int s = 0; s < 30; ++s) {
    clock_.Advance(1000);
    Reconcile();
    Reconcile();  // the drained replicas exit and are forgotten
  }
  decision = controller_->Recommendation("web");
  ASSERT_TRUE(decision.has_value());
  EXPECT_EQ(decision->desired, 1) << decision->reason;
  int live = 0;
  for (const ReplicaRecord& row : Rows("web")) live += row.state == "Ready" ? 1 : 0;
  EXPECT_EQ(live, 1);
  // A service without autoscaling has no recommendation.
  DeployReady("fixed", 2);
  EXPECT_FALSE(controller_->Recommendation("fixed").has_value());
}

TEST_F(ControllerTest, AServiceScalesToZeroWhenIdleAndAHeldRequestBringsAReplicaBack) {
  ServiceRecord service;
  service.name = "web";
  service.spec = {{"model", "m"},
                  {"replicas", 1},
                  {"autoscaling",
                   {{"metric", "concurrency"}, {"target", 1.0}, {"min_replicas", 0},
                    {"max_replicas", 2}, {"window_s", 6}, {"scale_down_delay_s", 0},
                    {"scale_to_zero_after_s", 2}, {"cold_start_timeout_s", 30}}}};
  service.created_at = service.updated_at = clock_.WallMs();
  ASSERT_TRUE(store_->InsertService(service).ok());
  ASSERT_TRUE(store_->CreateRevision("web", {{"model", "m"}}, clock_.WallMs()).ok());
  Reconcile();
  ASSERT_EQ(driver_.launches(), 1);
  // The first replica loads for longer than the idle grace: it is never stopped meanwhile.
  for (int s = 0; s < 20; ++s) {
    clock_.Advance(1000);
    Reconcile();
  }
  auto first = driver_.All().at(0);
  EXPECT_EQ(first->stops + first->kills, 0);
  first->BecomeReady();
  Reconcile();
  ASSERT_EQ(Routed("web").size(), 1u);
  {
    auto table = router_.Snapshot();
    const routing::ServiceRoute& route = table->services.at("web");
    EXPECT_EQ(route.cold_start_timeout_ms, 30'000);
    EXPECT_EQ(route.hold_limit, 10u);
  }
  // One request came and went: the grace counts from it.
  auto table = router_.Snapshot();
  const auto endpoint = table->services.at("web").revisions.at(0).endpoints.at(0);
  endpoint->attempts = 1;
  endpoint->busy_us = 2000;
  clock_.Advance(1000);
  Reconcile();
  // No request since: once the window has no load and the grace has passed, it goes.
  for (int s = 0; s < 12 && Routed("web").size() == 1; ++s) {
    clock_.Advance(1000);
    Reconcile();
  }
  EXPECT_TRUE(Routed("web").empty());
  Reconcile();  // asked to stop
  Reconcile();  // exited: forgotten
  EXPECT_TRUE(Rows("web").empty());
  auto decision = controller_->Recommendation("web");
  ASSERT_TRUE(decision.has_value());
  EXPECT_EQ(decision->desired, 0);
  EXPECT_NE(decision->reason.find("scaled to zero"), std::string::npos) << decision->reason;
  // It stays at zero with no request.
  for (int s = 0; s < 10; ++s) {
    clock_.Advance(1000);
    Reconcile();
  }
  EXPECT_EQ(driver_.launches(), 1);
  // A held request is load at once (no waiting for the next second's reading) and is
  // released by the table in which the new replica is ready.
  std::vector<routing::Activator::Outcome> outcomes;
  ASSERT_EQ(activator_.Hold("web", 10, clock_.MonotonicMs() + 30'000,
                            [&](routing::Activator::Outcome o) { outcomes.push_back(o); }),
            routing::Activator::HoldResult::kHeld);
  clock_.Advance(10);
  Reconcile();
  ASSERT_EQ(driver_.launches(), 2);
  EXPECT_TRUE(outcomes.empty());
  driver_.All().back()->BecomeReady();
  Reconcile();
  EXPECT_EQ(outcomes, std::vector<routing::Activator::Outcome>{
                          routing::Activator::Outcome::kReleased});
  EXPECT_EQ(Routed("web").size(), 1u);
}

TEST_F(ControllerTest, TheCpuMetricIsThePercentOfEachReplicasLimitItUsed) {
  ServiceRecord service;
  service.name = "web";
  service.spec = {{"model", "m"},
                  {"replicas", 1},
                  {"resources", {{"cpu", 0.5}}},
                  {"autoscaling",
                   {{"metric", "cpu"}, {"target", 80.0}, {"min_replicas", 1},
                    {"max_replicas", 4}, {"window_s", 6}, {"scale_down_delay_s", 0}}}};
  service.created_at = service.updated_at = clock_.WallMs();
  ASSERT_TRUE(store_->InsertService(service).ok());
  ASSERT_TRUE(store_->CreateRevision("web", {{"model", "m"}, {"resources", {{"cpu", 0.5}}}},
                                     clock_.WallMs())
                  .ok());
  Reconcile();
  auto first = driver_.All().at(0);
  first->BecomeReady();
  first->cpu_seconds = 10.0;
  Reconcile();
  // 0.45 of a core a second against a 0.5 limit: 90% > 80%, two replicas (the seed's rule:
  // scale out when CPU is over 80%).
  for (int s = 1; s <= 8; ++s) {
    clock_.Advance(1000);
    first->cpu_seconds = 10.0 + 0.45 * s;
    Reconcile();
    for (const auto& replica : driver_.All()) replica->BecomeReady();
  }
  auto decision = controller_->Recommendation("web");
  ASSERT_TRUE(decision.has_value());
  EXPECT_EQ(decision->desired, 2) << decision->reason;
  EXPECT_NE(decision->reason.find("cpu 90.0"), std::string::npos) << decision->reason;
  EXPECT_EQ(driver_.launches(), 2);
}

TEST_F(ControllerTest, AReplicaThatDoesNotFitWaitsWithAnEventInsteadOfOvercommitting) {
  // Three replicas of 0.75 CPU on a machine of 2: two start, the third waits.
  ServiceRecord service;
  service.name = "web";
  service.spec = {{"model", "m"}, {"replicas", 3}};
  service.created_at = service.updated_at = clock_.WallMs();
  ASSERT_TRUE(store_->InsertService(service).ok());
  ASSERT_TRUE(store_->CreateRevision("web", {{"model", "m"}, {"resources", {{"cpu", 0.75}}}},
                                     clock_.WallMs())
                  .ok());
  Reconcile();
  Reconcile();
  EXPECT_EQ(driver_.launches(), 2);
  EXPECT_EQ(Events("web", "NoCapacity"), 1);  // once, not once a pass
  auto events = store_->ListEvents("web", 0, 1000);
  ASSERT_TRUE(events.ok());
  bool told = false;
  for (const EventRecord& e : *events) {
    told = told || (e.reason == "NoCapacity" &&
                    e.message.starts_with("no capacity: 1.5 of 2 CPUs reserved, 0.75 more asked"));
  }
  EXPECT_TRUE(told);
  // Room again (the service asks for two): nothing waits, nothing more is told.
  Scale("web", 2);
  Reconcile();
  EXPECT_EQ(driver_.launches(), 2);
  EXPECT_EQ(Events("web", "NoCapacity"), 1);
}

TEST(TellingLogLineTest, TheLastErrorWithoutTimeOrLevel) {
  EXPECT_EQ(TellingLogLine("2026-12-04T19:15:07.100 I loading model 'm'\n"
                           "2026-12-04T19:15:07.555 C cannot start: model 'm' did not load\n"
                           "2026-12-04T19:15:07.556 I bye\n"),
            "cannot start: model 'm' did not load");
  EXPECT_EQ(TellingLogLine("2026-12-04T19:15:07.100 I serving HTTP on 127.0.0.1:1\n"),
            "serving HTTP on 127.0.0.1:1");
  EXPECT_EQ(TellingLogLine(R"({"time":"t","level":"info","pid":1,"msg":"up"})"
                           "\n"
                           R"({"time":"t","level":"error","pid":1,"msg":"engine failed"})"
                           "\n"
                           R"({"time":"t","level":"info","pid":1,"msg":"exiting"})"),
            "engine failed");
  // What another program wrote (an engine's own message, a sanitizer report).
  EXPECT_EQ(TellingLogLine("plain line\nterminate called after throwing\nlast\n"),
            "terminate called after throwing");
  EXPECT_EQ(TellingLogLine(""), "");
  EXPECT_EQ(TellingLogLine(std::string(600, 'x')).size(), 503u);
}

TEST_F(ControllerTest, ReplicasStoppedWithTheServerStartAgainWithoutBeingCalledLost) {
  auto replicas = DeployReady("web", 2);
  controller_->Stop();
  controller_->StopAllReplicas();  // a clean shutdown
  for (const auto& replica : replicas) EXPECT_EQ(replica->stops, 1);
  for (const ReplicaRecord& row : Rows("web")) {
    EXPECT_EQ(row.state, "Pending") << row.id;
    EXPECT_EQ(row.pid, 0) << row.id;
  }
  controller_.reset();
  controller_ = MakeController();
  EXPECT_EQ(Events("web", "Lost"), 0);
  EXPECT_EQ(Events("web", "Restarting"), 2);
  Reconcile();
  EXPECT_EQ(driver_.launches(), 4) << "both started again, under their own ids";
  ASSERT_EQ(Rows("web").size(), 2u);
  for (const ReplicaRecord& row : Rows("web")) EXPECT_EQ(row.state, "Starting") << row.id;
}

TEST_F(ControllerTest, ADrainingReplicaThatEndedWhileTheServerWasDownIsNotStartedAgain) {
  DeployReady("web", 1);
  ReplicaRecord draining = Row(driver_.All().at(0)->id);
  draining.id = "web-1-drain0";
  draining.state = "Draining";
  ASSERT_TRUE(store_->UpsertReplica(draining).ok());
  controller_.reset();
  controller_ = MakeController();
  EXPECT_EQ(Row("web-1-drain0").state, "Terminated");
  EXPECT_EQ(Events("web", "Lost"), 0);
  Reconcile();
  EXPECT_EQ(driver_.launches(), 1) << "only the first replica was ever started";
}

TEST_F(ControllerTest, AReplicaFailingItsLivenessProbesIsRestarted) {
  auto replicas = DeployReady("web", 1);
  replicas[0]->live = false;
  for (int i = 0; i < 2; ++i) {
    clock_.Advance(1000);
    Reconcile();
  }
  EXPECT_EQ(replicas[0]->kills, 0) << "two failed probes are not enough";
  clock_.Advance(1000);
  Reconcile();
  EXPECT_EQ(replicas[0]->kills, 1);
  EXPECT_EQ(Events("web", "LivenessFailed"), 1);
}

TEST_F(ControllerTest, ALaunchThatFailsFailsTheReplicaWithTheReason) {
  driver_.fail_launches = "cannot start a worker process: no such file";
  Deploy("web", 1);
  Reconcile();
  ASSERT_EQ(Rows("web").size(), 1u);
  EXPECT_EQ(Rows("web")[0].state, "Failed");
  EXPECT_EQ(Rows("web")[0].reason, driver_.fail_launches);
  EXPECT_EQ(Events("web", "StartFailed"), 1);
}

TEST_F(ControllerTest, DeletingAServiceDrainsItsReplicasThenRemovesIt) {
  auto replicas = DeployReady("web", 2);
  ServiceRecord service = Service("web");
  service.deleting = true;
  ASSERT_TRUE(store_->UpdateService(service).ok());
  Reconcile();
  EXPECT_TRUE(Routed("web").empty());
  for (const ReplicaRecord& row : Rows("web")) EXPECT_EQ(row.state, "Draining");
  auto found = store_->FindService("web");
  ASSERT_TRUE(found.ok() && *found) << "not removed while replicas run";
  Reconcile();  // asked to stop
  Reconcile();  // exited: none left, the service goes
  found = store_->FindService("web");
  ASSERT_TRUE(found.ok());
  EXPECT_FALSE(*found);
  EXPECT_EQ(Events("web", "Deleted"), 1);
  for (const auto& replica : replicas) EXPECT_EQ(replica->stops, 1);
}

TEST_F(ControllerTest, NoReplicaStartsUntilTheStoreCanRecordIt) {
  failing_->Fail("UpsertReplica");
  Deploy("web", 1);
  Reconcile();
  Reconcile();
  EXPECT_EQ(driver_.launches(), 0) << "a replica the store does not know would be lost";
  EXPECT_GT(failing_->failures(), 0);
  failing_->Heal();
  Reconcile();
  EXPECT_EQ(driver_.launches(), 1);
  EXPECT_EQ(Rows("web").size(), 1u);
}

TEST_F(ControllerTest, AFailedServiceDeleteKeepsItsFilesAndIsRetried) {
  DeployReady("web", 1);
  const fs::path marker = dir_ / "services/web/revisions/1/repo/marker";
  fs::create_directories(marker.parent_path());
  { std::ofstream(marker) << "x"; }
  ServiceRecord service = Service("web");
  service.deleting = true;
  ASSERT_TRUE(store_->UpdateService(service).ok());
  failing_->Fail("DeleteService");
  for (int i = 0; i < 4; ++i) Reconcile();
  for (const ReplicaRecord& row : Rows("web")) EXPECT_EQ(row.state, "Terminated") << row.id;
  EXPECT_TRUE(store_->FindService("web")->has_value());
  EXPECT_TRUE(fs::exists(marker)) << "files are not removed before the row is";
  EXPECT_EQ(Events("web", "Deleted"), 0);
  failing_->Heal();
  Reconcile();
  EXPECT_FALSE(store_->FindService("web")->has_value());
  EXPECT_FALSE(fs::exists(dir_ / "services/web"));
  EXPECT_EQ(Events("web", "Deleted"), 1);
}

TEST_F(ControllerTest, AFailedPromotionWriteIsFinishedOnTheNextPass) {
  Deploy("web", 1);
  Reconcile();
  driver_.All().at(0)->BecomeReady();
  failing_->Fail("UpdateService");
  Reconcile();
  EXPECT_EQ(Service("web").current_revision, 0);
  EXPECT_EQ(RevisionStatus("web", 1), "Deploying");
  EXPECT_TRUE(Routed("web").empty());
  failing_->Heal();
  Reconcile();
  EXPECT_EQ(Service("web").current_revision, 1);
  EXPECT_EQ(RevisionStatus("web", 1), "Ready");
  EXPECT_EQ(Routed("web").size(), 1u);
}

}  // namespace
}  // namespace berth::control
