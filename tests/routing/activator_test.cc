// The activator on a fake clock: requests held until a published table has a ready replica
// for their service, timed out at their deadline, refused beyond the queue's limit or after
// Stop, and the cold start measured from the first held request to the release.
#include "routing/activator.h"

#include <gtest/gtest.h>

#include <condition_variable>
#include <memory>
#include <mutex>
#include <optional>
#include <vector>

#include "prometheus/registry.h"
#include "prometheus/text_serializer.h"
#include "routing/routing.h"

namespace berth::routing {
namespace {

using Outcome = Activator::Outcome;
using HoldResult = Activator::HoldResult;

std::shared_ptr<RoutingTable> Table(const std::string& service, int ready) {
  auto table = std::make_shared<RoutingTable>();
  ServiceRoute& route = table->services[service];
  route.name = service;
  route.cold_start_timeout_ms = 60'000;
  route.hold_limit = 10;
  RevisionRoute& revision = route.revisions.emplace_back();
  revision.revision = 1;
  for (int i = 0; i < ready; ++i) {
    revision.endpoints.push_back(
        std::make_shared<Endpoint>("r" + std::to_string(i), 1, "127.0.0.1", 9000, 9001));
  }
  return table;
}

struct Fixture {
  FakeClock clock;
  Router router;
  prometheus::Registry registry;
  int wakes = 0;
  std::vector<Outcome> outcomes;  // before the activator, which answers into it when it goes
  std::unique_ptr<Activator> activator;

  Fixture() {
    router.Publish(Table("svc", 0));
    activator = std::make_unique<Activator>(Activator::Options{
        .clock = &clock, .registry = &registry, .wake = [this] { ++wakes; }, .router = &router});
  }
  HoldResult Hold(int64_t timeout_ms, size_t limit = 10, const std::string& service = "svc") {
    return activator->Hold(service, limit, clock.MonotonicMs() + timeout_ms,
                           [this](Outcome o) { outcomes.push_back(o); });
  }
  void Publish(int ready) {
    auto table = Table("svc", ready);
    router.Publish(table);
    activator->Published(*table);
  }
  std::string Metrics() {
    return prometheus::TextSerializer().Serialize(registry.Collect());
  }
};

TEST(ActivatorTest, HeldUntilAReplicaIsReadyThenReleasedTogether) {
  Fixture f;
  EXPECT_EQ(f.Hold(60'000), HoldResult::kHeld);
  EXPECT_EQ(f.Hold(60'000), HoldResult::kHeld);
  EXPECT_EQ(f.activator->Held("svc"), 2u);
  EXPECT_EQ(f.activator->Arrivals("svc"), 2u);
  EXPECT_EQ(f.wakes, 1);  // the first one wakes the controller; the second finds it awake
  // A table in which the service still has no ready replica releases nothing.
  f.clock.Advance(700);
  f.Publish(0);
  EXPECT_TRUE(f.outcomes.empty());
  f.clock.Advance(800);
  f.Publish(1);
  EXPECT_EQ(f.outcomes, (std::vector<Outcome>{Outcome::kReleased, Outcome::kReleased}));
  EXPECT_EQ(f.activator->Held("svc"), 0u);
  EXPECT_EQ(f.activator->Arrivals("svc"), 2u);
  // One cold start, of 1.5 s.
  const std::string metrics = f.Metrics();
  EXPECT_NE(metrics.find("berth_cold_start_seconds_count{service=\"svc\"} 1"), std::string::npos)
      << metrics;
  EXPECT_NE(metrics.find("berth_cold_start_seconds_sum{service=\"svc\"} 1.5"), std::string::npos)
      << metrics;
}

TEST(ActivatorTest, AServiceThatIsReadyAlreadyOrGoneIsNotHeld) {
  Fixture f;
  f.router.Publish(Table("svc", 1));
  EXPECT_EQ(f.Hold(60'000), HoldResult::kReadyNow);
  EXPECT_EQ(f.Hold(60'000, 10, "deleted"), HoldResult::kReadyNow);
  EXPECT_EQ(f.activator->Held("svc"), 0u);
  EXPECT_EQ(f.wakes, 0);
  EXPECT_TRUE(f.outcomes.empty());
}

TEST(ActivatorTest, EachRequestTimesOutAtItsOwnDeadline) {
  Fixture f;
  ASSERT_EQ(f.Hold(1000), HoldResult::kHeld);
  ASSERT_EQ(f.Hold(5000), HoldResult::kHeld);
  EXPECT_EQ(f.activator->ExpireDue(), 0u);
  f.clock.Advance(1000);
  EXPECT_EQ(f.activator->ExpireDue(), 1u);
  EXPECT_EQ(f.outcomes, std::vector<Outcome>{Outcome::kTimedOut});
  EXPECT_EQ(f.activator->Held("svc"), 1u);
  f.clock.Advance(4000);
  EXPECT_EQ(f.activator->ExpireDue(), 1u);
  EXPECT_EQ(f.activator->Held("svc"), 0u);
  // Everyone gave up: a replica ready later measures no cold start.
  f.Publish(1);
  EXPECT_EQ(f.outcomes.size(), 2u);
  EXPECT_EQ(f.Metrics().find("berth_cold_start_seconds_count{service=\"svc\"}"),
            std::string::npos);
}

TEST(ActivatorTest, TheQueueIsBoundedPerService) {
  Fixture f;
  f.router.Publish([] {
    auto table = Table("svc", 0);
    table->services["other"] = table->services["svc"];
    table->services["other"].name = "other";
    return table;
  }());
  EXPECT_EQ(f.Hold(60'000, 2), HoldResult::kHeld);
  EXPECT_EQ(f.Hold(60'000, 2), HoldResult::kHeld);
  EXPECT_EQ(f.Hold(60'000, 2), HoldResult::kFull);
  EXPECT_EQ(f.Hold(60'000, 2, "other"), HoldResult::kHeld);
  EXPECT_EQ(f.activator->Held("svc"), 2u);
  EXPECT_EQ(f.activator->Arrivals("svc"), 2u);  // a refused request was never held
}

TEST(ActivatorTest, StopAnswersEveryHeldRequestAndRefusesNewOnes) {
  Fixture f;
  ASSERT_EQ(f.Hold(60'000), HoldResult::kHeld);
  f.activator->Stop();
  EXPECT_EQ(f.outcomes, std::vector<Outcome>{Outcome::kStopped});
  EXPECT_EQ(f.Hold(60'000), HoldResult::kFull);
}

TEST(ActivatorTest, TheThreadTimesRequestsOutOnTheRealClock) {
  Router router;
  router.Publish(Table("svc", 0));
  Activator activator({.router = &router});
  activator.Start();
  std::mutex mu;
  std::condition_variable cv;
  std::optional<Outcome> outcome;
  ASSERT_EQ(activator.Hold("svc", 10, RealClock().MonotonicMs() + 20,
                           [&](Outcome o) {
                             std::lock_guard lock(mu);
                             outcome = o;
                             cv.notify_all();
                           }),
            HoldResult::kHeld);
  std::unique_lock lock(mu);
  // A deadline to give up by, not a wait for the state: the thread answers well before it.
  ASSERT_TRUE(cv.wait_for(lock, std::chrono::seconds(10), [&] { return outcome.has_value(); }));
  EXPECT_EQ(*outcome, Outcome::kTimedOut);
}

}  // namespace
}  // namespace berth::routing
