// The gateway's one request path on its real collaborators (an Authenticator on a real SQLite
// store wrapped to count calls, a Router, TrafficStats, a Prometheus registry) and a fake
// clock: who is let in, which replica gets an attempt, when a request is sent again, when a
// replica is ejected, and what is counted, for both transports.
#include "gateway/dispatcher.h"

#include <gtest/gtest.h>

#include "control/sqlite_store.h"
#include "prometheus/registry.h"
#include "tests/control/failing_store.h"
#include "tests/control/test_env.h"

namespace berth::gateway {
namespace {

using routing::Endpoint;

constexpr int kGrpcOk = 0, kGrpcInvalidArgument = 3, kGrpcUnavailable = 14;

class DispatcherTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto sqlite = control::SqliteStore::Open(dir_ / "berth.db");
    ASSERT_TRUE(sqlite.ok()) << sqlite.status();
    sqlite_ = *std::move(sqlite);
    store_ = std::make_unique<control::FailingStore>(sqlite_.get());
    auto auth = control::Authenticator::Create(
        {.store = store_.get(), .clock = &clock_, .flush_period_ms = 0});
    ASSERT_TRUE(auth.ok()) << auth.status();
    auth_ = *std::move(auth);
    invoker_ = Bearer(AddKey("invoker", {"invoke:svc"}));
    reader_ = Bearer(AddKey("reader", {"read"}));
    admin_ = Bearer(AddKey("admin", {"admin"}));
    a_ = std::make_shared<Endpoint>("r-a", 3, "127.0.0.1", 9000, 9001);
    b_ = std::make_shared<Endpoint>("r-b", 3, "127.0.0.1", 9002, 9003);
    Publish({a_, b_});
    dispatcher_ = std::make_unique<Dispatcher>(DispatcherOptions{.auth = auth_.get(),
                                                                 .router = &router_,
                                                                 .traffic = &traffic_,
                                                                 .registry = &registry_,
                                                                 .clock = &clock_});
  }
  void TearDown() override { auth_.reset(); }

  std::string AddKey(const std::string& id, std::vector<std::string> scopes) {
    return control::AddTestKey(*auth_, clock_, id, std::move(scopes));
  }
  static std::string Bearer(const std::string& key) { return "Bearer " + key; }

  // Service "svc" on `endpoints` (revision 3), "empty" with none.
  void Publish(std::vector<std::shared_ptr<Endpoint>> endpoints) {
    auto table = std::make_shared<routing::RoutingTable>();
    routing::ServiceRoute& svc = table->services["svc"];
    svc.name = "svc";
    svc.revisions.push_back({.revision = 3, .weight = 100, .endpoints = std::move(endpoints)});
    routing::ServiceRoute& empty = table->services["empty"];
    empty.name = "empty";
    empty.revisions.push_back({.revision = 1, .weight = 100, .endpoints = {}});
    router_.Publish(std::move(table));
  }

  Admission Admitted(Transport transport = Transport::kHttp) {
    auto admission = dispatcher_->Admit(transport, invoker_, "svc");
    EXPECT_TRUE(admission.ok()) << admission.status();
    return *std::move(admission);
  }

  double Counter(const std::string& name, const std::map<std::string, std::string>& labels) {
    for (const auto& family : registry_.Collect()) {
      if (family.name != name) continue;
      for (const auto& metric : family.metric) {
        std::map<std::string, std::string> have;
        for (const auto& l : metric.label) have[l.name] = l.value;
        if (have == labels) return metric.counter.value;
      }
    }
    return -1;
  }

  control::ScratchDir dir_{"dispatcher"};
  std::unique_ptr<control::Store> sqlite_;
  std::unique_ptr<control::FailingStore> store_;
  FakeClock clock_;
  std::unique_ptr<control::Authenticator> auth_;
  routing::Router router_;
  routing::TrafficStats traffic_;
  prometheus::Registry registry_;
  std::unique_ptr<Dispatcher> dispatcher_;
  std::shared_ptr<Endpoint> a_, b_;
  std::string invoker_, reader_, admin_;
};

TEST_F(DispatcherTest, AdmitsOnlyAKeyThatMayCallAServiceThatExists) {
  EXPECT_TRUE(absl::IsUnauthenticated(
      dispatcher_->Admit(Transport::kHttp, "", "svc").status()));
  EXPECT_TRUE(absl::IsUnauthenticated(
      dispatcher_->Admit(Transport::kGrpc, "Bearer brth_not_a_key", "svc").status()));
  auto denied = dispatcher_->Admit(Transport::kHttp, reader_, "svc");
  EXPECT_TRUE(absl::IsPermissionDenied(denied.status()));
  EXPECT_NE(denied.status().message().find("reader-name"), std::string_view::npos);
  // invoke:svc is for svc alone, and a key that may call any service gets a 404 for a
  // service that does not exist (one that may not call it learns nothing).
  EXPECT_TRUE(absl::IsPermissionDenied(
      dispatcher_->Admit(Transport::kHttp, invoker_, "nope").status()));
  auto missing = dispatcher_->Admit(Transport::kHttp, admin_, "nope");
  EXPECT_TRUE(absl::IsNotFound(missing.status()));
  EXPECT_NE(missing.status().message().find("'nope'"), std::string_view::npos);
  Admission admission = Admitted(Transport::kGrpc);
  EXPECT_EQ(admission.service(), "svc");
  EXPECT_EQ(admission.principal.key_id, "invoker");
  EXPECT_EQ(admission.transport, Transport::kGrpc);
}

TEST_F(DispatcherTest, AV2ModelNameStandsForItsService) {
  auto table = std::make_shared<routing::RoutingTable>(*router_.Snapshot());
  table->services["svc"].model_name = "svc_model.v1";
  table->model_names["svc_model.v1"] = "svc";
  router_.Publish(table);
  EXPECT_EQ(dispatcher_->ServiceNameOf("svc_model.v1"), "svc");
  EXPECT_EQ(dispatcher_->ServiceNameOf("svc"), "svc");
  EXPECT_EQ(dispatcher_->ServiceNameOf("nope"), "nope");
  // invoke:svc covers the service under its other name; the index lists that name.
  auto admission = dispatcher_->Admit(Transport::kGrpc, invoker_, "svc_model.v1");
  ASSERT_TRUE(admission.ok()) << admission.status();
  EXPECT_EQ(admission->service(), "svc");
  auto principal = dispatcher_->Authenticate(invoker_);
  ASSERT_TRUE(principal.ok());
  const auto index = dispatcher_->Index(*principal, /*ready_only=*/false);
  ASSERT_EQ(index.size(), 1u);
  EXPECT_EQ(index[0].name, "svc_model.v1");
  EXPECT_EQ(index[0].state, "READY");
}

TEST_F(DispatcherTest, AKeyTurnedAwayIsCountedInTheServicesLogAndStatistics) {
  ASSERT_TRUE(absl::IsPermissionDenied(
      dispatcher_->Admit(Transport::kHttp, reader_, "svc",
                         {.method = "POST", .route = "/v2/models/svc/infer"})
          .status()));
  ASSERT_TRUE(absl::IsPermissionDenied(
      dispatcher_->Admit(Transport::kGrpc, reader_, "svc", {.route = "ModelInfer"}).status()));
  // A service that does not exist has no log to count it in.
  ASSERT_FALSE(dispatcher_->Admit(Transport::kHttp, invoker_, "nope").ok());
  const auto log = traffic_.RecentRequests("svc", 10);
  ASSERT_EQ(log.size(), 2u);
  EXPECT_EQ(log[0].route, "ModelInfer");
  EXPECT_EQ(log[0].status, 403);
  EXPECT_EQ(log[0].grpc_code, 7);
  EXPECT_EQ(log[1].route, "/v2/models/svc/infer");
  EXPECT_EQ(log[1].method, "POST");
  EXPECT_EQ(log[1].status, 403);
  EXPECT_EQ(log[1].key, "reader-name");
  EXPECT_EQ(log[1].revision, 0);
  EXPECT_EQ(Counter("berth_gateway_requests_total",
                    {{"service", "svc"}, {"protocol", "http"}, {"code", "403"}}),
            1);
  const nlohmann::json series = traffic_.Series("svc", clock_.WallMs());
  uint64_t client_errors = 0;
  for (const auto& point : series["points"]) client_errors += point.value("client_errors", 0u);
  EXPECT_EQ(client_errors, 2u);
}

TEST_F(DispatcherTest, TenThousandRequestsMakeNoStoreCall) {
  const int before = store_->calls();
  for (int i = 0; i < 10'000; ++i) {
    Admission admission = Admitted(i % 2 ? Transport::kGrpc : Transport::kHttp);
    ASSERT_TRUE(dispatcher_->Pick(admission).ok());
    EXPECT_FALSE(dispatcher_->Complete(admission, AttemptOutcome::kAnswered));
    dispatcher_->Finish(admission, admission.transport == Transport::kHttp ? 200 : kGrpcOk);
  }
  EXPECT_EQ(store_->calls(), before);
  EXPECT_EQ(Counter("berth_gateway_requests_total",
                    {{"service", "svc"}, {"protocol", "http"}, {"code", "200"}}),
            5000);
  EXPECT_EQ(Counter("berth_gateway_requests_total",
                    {{"service", "svc"}, {"protocol", "grpc"}, {"code", "OK"}}),
            5000);
  EXPECT_EQ(a_->in_flight + b_->in_flight, 0);
}

TEST_F(DispatcherTest, AnUnreachableReplicaIsRetriedOnceOnTheOther) {
  Admission admission = Admitted();
  auto first = dispatcher_->Pick(admission);
  ASSERT_TRUE(first.ok());
  EXPECT_EQ((*first)->in_flight, 1);
  EXPECT_TRUE(dispatcher_->Complete(admission, AttemptOutcome::kUnreachable));
  EXPECT_EQ((*first)->in_flight, 0);
  auto second = dispatcher_->Pick(admission);
  ASSERT_TRUE(second.ok());
  EXPECT_NE(*second, *first);
  // Two attempts are the limit.
  EXPECT_FALSE(dispatcher_->Complete(admission, AttemptOutcome::kUnreachable));
  EXPECT_EQ(Counter("berth_gateway_retries_total", {}), 1);
}

TEST_F(DispatcherTest, RetryDecisionsByOutcome) {
  struct Case {
    AttemptOutcome outcome;
    bool retried;
    bool counts_against_replica;
  };
  const Case cases[] = {
      {AttemptOutcome::kAnswered, false, false},
      {AttemptOutcome::kUnreachable, true, true},
      {AttemptOutcome::kStaleConnection, true, false},
      {AttemptOutcome::kTimedOut, false, true},  // it may still be working on it
      {AttemptOutcome::kLocalResources, false, false},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(static_cast<int>(c.outcome));
    auto fresh = std::make_shared<Endpoint>("fresh", 3, "127.0.0.1", 9100, 9101);
    Publish({fresh});
    // Enough times that counted failures eject the replica (the retry budget's minimum
    // allows each one retry, none being in flight).
    for (int i = 0; i < Endpoint::kFailuresToEject; ++i) {
      Admission admission = Admitted();
      ASSERT_EQ(*dispatcher_->Pick(admission), fresh);
      EXPECT_EQ(dispatcher_->Complete(admission, c.outcome), c.retried);
      EXPECT_EQ(fresh->in_flight, 0);
    }
    EXPECT_EQ(fresh->Ejected(clock_.MonotonicMs()),
              c.counts_against_replica);
  }
}

TEST_F(DispatcherTest, AnEjectedReplicaGetsNoTrafficUntilItsTimeIsUp) {
  Publish({a_});
  for (int i = 0; i < Endpoint::kFailuresToEject; ++i) {
    Admission admission = Admitted();
    ASSERT_EQ(*dispatcher_->Pick(admission), a_);
    dispatcher_->Complete(admission, AttemptOutcome::kUnreachable);
  }
  Publish({a_, b_});  // what a replica has been through outlives the table
  for (int i = 0; i < 100; ++i) {
    Admission admission = Admitted();
    EXPECT_EQ(*dispatcher_->Pick(admission), b_);
    dispatcher_->Complete(admission, AttemptOutcome::kAnswered);
  }
  clock_.Advance(Endpoint::kEjectMs);
  bool a_again = false;
  for (int i = 0; i < 100 && !a_again; ++i) {
    Admission admission = Admitted();
    a_again = *dispatcher_->Pick(admission) == a_;
    dispatcher_->Complete(admission, AttemptOutcome::kAnswered);
  }
  EXPECT_TRUE(a_again);
}

TEST_F(DispatcherTest, AtMostHalfOfARevisionsReplicasAreEjected) {
  const auto fail = [&](const std::shared_ptr<Endpoint>& target) {
    for (int i = 0; i < Endpoint::kFailuresToEject; ++i) {
      Publish({target});  // so that Pick takes it
      Admission admission = Admitted();
      ASSERT_EQ(*dispatcher_->Pick(admission), target);
      Publish({a_, b_});
      admission.route = &router_.Snapshot()->services.at("svc");
      admission.table = router_.Snapshot();
      dispatcher_->Complete(admission, AttemptOutcome::kUnreachable);
    }
  };
  fail(a_);
  EXPECT_TRUE(a_->Ejected(clock_.MonotonicMs()));
  fail(b_);
  EXPECT_FALSE(b_->Ejected(clock_.MonotonicMs())) << "the other half stays in";
  EXPECT_EQ(Counter("berth_gateway_ejections_total", {}), 1);
}

TEST_F(DispatcherTest, TheRetryBudgetCapsRetriesInFlight) {
  // Ten requests in flight on ten replicas (one failure each: none is ejected), every first
  // attempt unreachable: max(3, 20% of 10) retries go.
  std::vector<std::shared_ptr<Endpoint>> replicas;
  for (int i = 0; i < 10; ++i) {
    replicas.push_back(std::make_shared<Endpoint>("r" + std::to_string(i), 3, "127.0.0.1",
                                                  9300 + 2 * i, 9301 + 2 * i));
  }
  std::vector<Admission> admissions;
  for (int i = 0; i < 10; ++i) {
    Publish({replicas[static_cast<size_t>(i)]});
    admissions.push_back(Admitted());
    ASSERT_TRUE(dispatcher_->Pick(admissions.back()).ok());
  }
  Publish(replicas);
  int retried = 0;
  for (Admission& admission : admissions) {
    retried += dispatcher_->Complete(admission, AttemptOutcome::kUnreachable) ? 1 : 0;
  }
  EXPECT_EQ(retried, 3);
  EXPECT_EQ(Counter("berth_gateway_retries_refused_total", {}), 7);
  // A retry that ends gives its place back; a stale pooled connection costs none.
  Admission& first = admissions.front();
  ASSERT_TRUE(dispatcher_->Pick(first).ok());
  EXPECT_FALSE(dispatcher_->Complete(first, AttemptOutcome::kAnswered));
  Admission fresh = Admitted();
  ASSERT_TRUE(dispatcher_->Pick(fresh).ok());
  EXPECT_TRUE(dispatcher_->Complete(fresh, AttemptOutcome::kUnreachable));
  Admission stale = Admitted();
  ASSERT_TRUE(dispatcher_->Pick(stale).ok());
  EXPECT_TRUE(dispatcher_->Complete(stale, AttemptOutcome::kStaleConnection));
}

TEST_F(DispatcherTest, RequestsAnEjectedReplicaHeldAreRetriedOutsideTheBudget) {
  // A replica that dies with many requests on it (killed, or stopped and then killed): once
  // its failures have ejected it, every request it held goes elsewhere, however many.
  std::vector<Admission> admissions;
  for (int i = 0; i < 40; ++i) {
    admissions.push_back(Admitted());
    Publish({a_});
    admissions.back().table = router_.Snapshot();
    admissions.back().route = &admissions.back().table->services.at("svc");
    ASSERT_EQ(*dispatcher_->Pick(admissions.back()), a_);
  }
  Publish({a_, b_});
  int retried = 0;
  for (Admission& admission : admissions) {
    admission.table = router_.Snapshot();
    admission.route = &admission.table->services.at("svc");
    retried += dispatcher_->Complete(admission, AttemptOutcome::kUnreachable) ? 1 : 0;
  }
  EXPECT_TRUE(a_->Ejected(clock_.MonotonicMs()));
  // All 40 go again: the first few within the budget (20% of 40 active: 8), the rest because
  // their replica was ejected; the budget alone would have refused 32.
  EXPECT_EQ(retried, 40);
  EXPECT_EQ(Counter("berth_gateway_retries_refused_total", {}), 0);
}

TEST_F(DispatcherTest, ShadowCopiesAreSampledAndDroppedWhenTheShadowIsBusy) {
  auto canary = std::make_shared<Endpoint>("r-c", 4, "127.0.0.1", 9200, 9201);
  auto table = std::make_shared<routing::RoutingTable>();
  routing::ServiceRoute& svc = table->services["svc"];
  svc.name = "svc";
  svc.shadow_percent = 25;
  svc.shadow_revision = 4;
  svc.revisions.push_back({.revision = 3, .weight = 100, .endpoints = {a_}});
  svc.revisions.push_back({.revision = 4, .weight = 0, .endpoints = {canary}});
  router_.Publish(table);
  int copied = 0;
  for (int i = 0; i < 100; ++i) {
    Admission admission = Admitted();
    ASSERT_EQ(*dispatcher_->Pick(admission), a_);
    if (auto shadow = dispatcher_->PickShadow(admission, *a_)) {
      EXPECT_EQ(shadow, canary);
      ++copied;
      dispatcher_->EndShadow(admission, *shadow, 200, 1.5);
    }
    dispatcher_->Complete(admission, AttemptOutcome::kAnswered);
  }
  EXPECT_EQ(copied, 25);
  EXPECT_EQ(canary->in_flight, 0);
  // Counted in the canary's figures only: the service's count is what callers got.
  const routing::WindowFigures shadowed =
      traffic_.Window("svc", 4, clock_.WallMs() - 5000, clock_.WallMs());
  EXPECT_EQ(shadowed.requests, 25u);
  // Busy: dropped, not queued.
  canary->in_flight = Dispatcher::kMaxShadowInFlight;
  int dropped_copies = 0;
  for (int i = 0; i < 8; ++i) {
    Admission admission = Admitted();
    ASSERT_TRUE(dispatcher_->Pick(admission).ok());
    dropped_copies += dispatcher_->PickShadow(admission, *a_) == nullptr ? 1 : 0;
  }
  EXPECT_EQ(dropped_copies, 8);
  EXPECT_EQ(Counter("berth_gateway_shadow_requests_total", {{"outcome", "dropped"}}), 2);
  // A request the shadow revision served itself is not copied to it.
  canary->in_flight = 0;
  for (int i = 0; i < 8; ++i) {
    Admission admission = Admitted();
    EXPECT_EQ(dispatcher_->PickShadow(admission, *canary), nullptr);
  }
}

TEST_F(DispatcherTest, ARequestIsShedWhenEveryReplicaIsAtItsInFlightLimit) {
  Admission admission = Admitted();
  EXPECT_TRUE(dispatcher_->CheckCapacity(admission).ok());
  a_->in_flight = 64;
  EXPECT_TRUE(dispatcher_->CheckCapacity(admission).ok()) << "b_ has room";
  b_->in_flight = 64;
  const absl::Status full = dispatcher_->CheckCapacity(admission);
  EXPECT_TRUE(absl::IsUnavailable(full));
  EXPECT_NE(full.message().find("at capacity: its 2 replica(s) hold 64 requests each"),
            std::string_view::npos)
      << full;
  EXPECT_EQ(Counter("berth_gateway_shed_total", {}), 1);
  // No replica at all is not overload: holding or refusing is Pick's and Hold's to decide.
  auto empty = dispatcher_->Admit(Transport::kHttp, admin_, "empty");
  ASSERT_TRUE(empty.ok());
  EXPECT_TRUE(dispatcher_->CheckCapacity(*empty).ok());
  a_->in_flight = b_->in_flight = 0;
}

TEST_F(DispatcherTest, TheOnlyReplicaGetsTheRetryItself) {
  Publish({a_});
  Admission admission = Admitted();
  ASSERT_EQ(*dispatcher_->Pick(admission), a_);
  EXPECT_TRUE(dispatcher_->Complete(admission, AttemptOutcome::kStaleConnection));
  EXPECT_EQ(*dispatcher_->Pick(admission), a_);
  EXPECT_FALSE(dispatcher_->Complete(admission, AttemptOutcome::kAnswered));
}

TEST_F(DispatcherTest, AStreamIsNeverSentAgain) {
  Admission admission = Admitted(Transport::kGrpc);
  admission.retryable = false;
  ASSERT_TRUE(dispatcher_->Pick(admission).ok());
  EXPECT_FALSE(dispatcher_->Complete(admission, AttemptOutcome::kUnreachable));
}

TEST_F(DispatcherTest, NoReadyReplicaIsUnavailableNamingTheService) {
  auto admission = dispatcher_->Admit(Transport::kHttp, admin_, "empty");
  ASSERT_TRUE(admission.ok());
  auto picked = dispatcher_->Pick(*admission);
  EXPECT_TRUE(absl::IsUnavailable(picked.status()));
  EXPECT_NE(picked.status().message().find("'empty'"), std::string_view::npos);
  dispatcher_->Finish(*admission, 503);
  EXPECT_EQ(Counter("berth_gateway_requests_total",
                    {{"service", "empty"}, {"protocol", "http"}, {"code", "503"}}),
            1);
}

TEST_F(DispatcherTest, AServiceAtZeroHoldsARequestUntilAReplicaIsReady) {
  routing::Activator activator({.clock = &clock_, .router = &router_});
  Dispatcher dispatcher(DispatcherOptions{
      .auth = auth_.get(), .router = &router_, .activator = &activator, .clock = &clock_});
  // A service that does not scale to zero is never held, replicas or not.
  for (const char* name : {"svc", "empty"}) {
    auto admission = dispatcher.Admit(Transport::kHttp, admin_, name);
    ASSERT_TRUE(admission.ok());
    EXPECT_FALSE(dispatcher.ShouldHold(*admission)) << name;
  }
  const auto publish = [&](std::vector<std::shared_ptr<Endpoint>> endpoints) {
    auto table = std::make_shared<routing::RoutingTable>();
    routing::ServiceRoute& zero = table->services["zero"];
    zero.name = "zero";
    zero.cold_start_timeout_ms = 5000;
    zero.hold_limit = 1;
    zero.revisions.push_back({.revision = 2, .weight = 100, .endpoints = std::move(endpoints)});
    router_.Publish(table);
    activator.Published(*table);
  };
  publish({});
  auto admission = dispatcher.Admit(Transport::kHttp, admin_, "zero");
  ASSERT_TRUE(admission.ok());
  ASSERT_FALSE(dispatcher.Pick(*admission).ok());
  ASSERT_TRUE(dispatcher.ShouldHold(*admission));
  std::vector<absl::Status> answers;
  dispatcher.Hold(*admission, [&](absl::Status s) { answers.push_back(std::move(s)); });
  EXPECT_TRUE(answers.empty());
  EXPECT_EQ(activator.Held("zero"), 1u);
  // A second one finds the queue (of one) full: 503 with the reason.
  auto second = dispatcher.Admit(Transport::kHttp, admin_, "zero");
  ASSERT_TRUE(second.ok());
  std::vector<absl::Status> refused;
  dispatcher.Hold(*second, [&](absl::Status s) { refused.push_back(std::move(s)); });
  ASSERT_EQ(refused.size(), 1u);
  EXPECT_TRUE(absl::IsUnavailable(refused[0]));
  EXPECT_NE(refused[0].message().find("already holds 1"), std::string_view::npos) << refused[0];
  // The replica is ready: the held request routes by the new table and is never held again.
  publish({a_});
  ASSERT_EQ(answers.size(), 1u);
  EXPECT_TRUE(answers[0].ok()) << answers[0];
  auto picked = dispatcher.Pick(*admission);
  ASSERT_TRUE(picked.ok()) << picked.status();
  EXPECT_EQ(*picked, a_);
  dispatcher.Complete(*admission, AttemptOutcome::kAnswered);
  EXPECT_FALSE(dispatcher.ShouldHold(*admission));
  EXPECT_EQ(a_->attempts.load(), 1u);
  // Back at zero, a request that waits past the cold-start timeout is told so.
  publish({});
  auto late = dispatcher.Admit(Transport::kGrpc, admin_, "zero");
  ASSERT_TRUE(late.ok());
  std::vector<absl::Status> timed_out;
  dispatcher.Hold(*late, [&](absl::Status s) { timed_out.push_back(std::move(s)); });
  clock_.Advance(5000);
  activator.ExpireDue();
  ASSERT_EQ(timed_out.size(), 1u);
  EXPECT_TRUE(absl::IsUnavailable(timed_out[0]));
  EXPECT_NE(timed_out[0].message().find("cold-start timeout of 5 s"), std::string_view::npos)
      << timed_out[0];
}

TEST_F(DispatcherTest, TheRouteOfAnAdmittedRequestOutlivesANewTable) {
  Admission admission = Admitted();
  Publish({});
  router_.Publish(std::make_shared<routing::RoutingTable>());
  EXPECT_EQ(admission.service(), "svc");
  EXPECT_TRUE(dispatcher_->Pick(admission).ok());  // the table it was admitted under
}

TEST_F(DispatcherTest, StatisticsPerServiceAndRevisionWithServerErrorsByTransport) {
  const struct {
    Transport transport;
    int code;
  } requests[] = {{Transport::kHttp, 200}, {Transport::kHttp, 404}, {Transport::kHttp, 503},
                  {Transport::kGrpc, kGrpcOk}, {Transport::kGrpc, kGrpcInvalidArgument},
                  {Transport::kGrpc, kGrpcUnavailable}};
  for (const auto& r : requests) {
    Admission admission = Admitted(r.transport);
    ASSERT_TRUE(dispatcher_->Pick(admission).ok());
    dispatcher_->Complete(admission, AttemptOutcome::kAnswered);
    dispatcher_->Finish(admission, r.code,
                        {.batch_rows = 4, .method = "POST", .route = "/v2/models/svc/infer",
                         .bytes_in = 10, .bytes_out = 20});
  }
  for (int64_t revision : {int64_t{0}, int64_t{3}}) {
    SCOPED_TRACE(revision);
    const auto last = traffic_.Series("svc", clock_.WallMs(), revision)["points"].back();
    EXPECT_EQ(last["requests"], 6);
    EXPECT_EQ(last["errors"], 2);         // 503 and UNAVAILABLE
    EXPECT_EQ(last["client_errors"], 2);  // 404 and INVALID_ARGUMENT: the callers'
    EXPECT_EQ(last["avg_batch_size"], 4.0);
  }
  EXPECT_EQ(traffic_.Series("svc", clock_.WallMs(), 2)["points"].back()["requests"], 0);
  EXPECT_EQ(Counter("berth_gateway_requests_total",
                    {{"service", "svc"}, {"protocol", "grpc"}, {"code", "UNAVAILABLE"}}),
            1);
  // The request log has each, newest first, with gRPC codes as their HTTP statuses too.
  const auto log = traffic_.RecentRequests("svc", 10);
  ASSERT_EQ(log.size(), 6u);
  EXPECT_EQ((log[0].protocol + " " + log[0].method), "grpc gRPC");
  EXPECT_EQ((std::pair{log[0].grpc_code, log[0].status}), (std::pair{kGrpcUnavailable, 503}));
  EXPECT_EQ((std::pair{log[1].grpc_code, log[1].status}), (std::pair{kGrpcInvalidArgument, 400}));
  EXPECT_EQ(log[5].status, 200);
  EXPECT_EQ(log[5].grpc_code, -1);
  EXPECT_EQ(log[5].method, "POST");
  EXPECT_EQ(log[5].route, "/v2/models/svc/infer");
  EXPECT_EQ((std::pair{log[5].bytes_in, log[5].bytes_out}), (std::pair{uint64_t{10}, uint64_t{20}}));
  EXPECT_EQ(log[5].revision, 3);
  EXPECT_FALSE(log[5].replica.empty());
  EXPECT_FALSE(log[5].key.empty());
}

TEST(ClassifyTest, HttpAttempts) {
  EXPECT_EQ(ClassifyHttpAttempt({}), AttemptOutcome::kAnswered);
  EXPECT_EQ(ClassifyHttpAttempt({.failed = true}), AttemptOutcome::kUnreachable);
  EXPECT_EQ(ClassifyHttpAttempt({.failed = true, .timed_out = true}),
            AttemptOutcome::kUnreachable);  // the connect timed out: nothing was sent
  EXPECT_EQ(ClassifyHttpAttempt({.failed = true, .connected = true, .timed_out = true}),
            AttemptOutcome::kTimedOut);
  EXPECT_EQ(ClassifyHttpAttempt({.failed = true, .connected = true}),
            AttemptOutcome::kUnreachable);
  EXPECT_EQ(ClassifyHttpAttempt({.failed = true, .connected = true, .reused = true}),
            AttemptOutcome::kStaleConnection);
  EXPECT_EQ(ClassifyHttpAttempt({.failed = true, .local_resources = true}),
            AttemptOutcome::kLocalResources);
}

TEST(ClassifyTest, GrpcStatuses) {
  EXPECT_EQ(ClassifyGrpcStatus(kGrpcUnavailable), AttemptOutcome::kUnreachable);
  for (int code = 0; code <= 16; ++code) {
    if (code != kGrpcUnavailable) {
      EXPECT_EQ(ClassifyGrpcStatus(code), AttemptOutcome::kAnswered);
    }
  }
  EXPECT_TRUE(Dispatcher::IsServerError(Transport::kGrpc, 13));
  EXPECT_FALSE(Dispatcher::IsServerError(Transport::kGrpc, 5));
  EXPECT_TRUE(Dispatcher::IsServerError(Transport::kHttp, 500));
  EXPECT_FALSE(Dispatcher::IsServerError(Transport::kHttp, 429));
}

}  // namespace
}  // namespace berth::gateway
