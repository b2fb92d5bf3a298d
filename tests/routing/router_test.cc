// Router::Pick: revisions by weight, the less busy of two replicas, ejected replicas avoided
// while others are left, the excluded one never. Draws come from a test sequence.
#include "routing/routing.h"

#include <gtest/gtest.h>

#include <map>

namespace berth::routing {
namespace {

uint64_t g_next = 0;
uint64_t Sequence() { return g_next++; }

std::shared_ptr<Endpoint> MakeEndpoint(const std::string& id, int64_t revision = 1) {
  return std::make_shared<Endpoint>(id, revision, "127.0.0.1", 9000, 9001);
}

ServiceRoute OneRevision(std::vector<std::shared_ptr<Endpoint>> endpoints) {
  ServiceRoute route;
  route.name = "svc";
  route.revisions.push_back({.revision = 1, .weight = 100, .endpoints = std::move(endpoints)});
  return route;
}

TEST(RouterTest, NoReplicaNoPick) {
  EXPECT_EQ(Router::Pick(ServiceRoute{}, nullptr, 0), nullptr);
  EXPECT_EQ(Router::Pick(OneRevision({}), nullptr, 0), nullptr);
}

TEST(RouterTest, NeverTheExcludedReplica) {
  auto a = MakeEndpoint("a"), b = MakeEndpoint("b");
  const ServiceRoute route = OneRevision({a, b});
  for (int i = 0; i < 50; ++i) EXPECT_EQ(Router::Pick(route, a.get(), 0), b);
  EXPECT_EQ(Router::Pick(OneRevision({a}), a.get(), 0), nullptr);
}

TEST(RouterTest, TheLessBusyOfTwo) {
  auto a = MakeEndpoint("a"), b = MakeEndpoint("b");
  a->in_flight = 5;
  const ServiceRoute route = OneRevision({a, b});
  g_next = 0;  // draws 0 and 1: a and b compared
  EXPECT_EQ(Router::Pick(route, nullptr, 0, Sequence), b);
  b->in_flight = 9;
  g_next = 0;
  EXPECT_EQ(Router::Pick(route, nullptr, 0, Sequence), a);
}

TEST(RouterTest, EjectedReplicasOnlyWhenNothingElseIsLeft) {
  auto a = MakeEndpoint("a"), b = MakeEndpoint("b");
  const int64_t now = 1'000'000;
  for (int i = 0; i < Endpoint::kFailuresToEject; ++i) a->RecordFailure(now);
  ASSERT_TRUE(a->Ejected(now));
  const ServiceRoute route = OneRevision({a, b});
  for (int i = 0; i < 50; ++i) EXPECT_EQ(Router::Pick(route, nullptr, now), b);
  // All ejected: still served, rather than refused.
  EXPECT_EQ(Router::Pick(route, b.get(), now), a);
  // The ejection ends.
  EXPECT_FALSE(a->Ejected(now + Endpoint::kEjectMs));
}

TEST(RouterTest, OneFailureDoesNotEjectAndASuccessResetsTheCount) {
  auto a = MakeEndpoint("a");
  a->RecordFailure(0);
  EXPECT_FALSE(a->Ejected(0));
  a->RecordSuccess();
  a->RecordFailure(0);
  EXPECT_FALSE(a->Ejected(0));
  a->RecordFailure(0);
  EXPECT_TRUE(a->Ejected(0));
}

TEST(RouterTest, RevisionsShareTrafficByWeight) {
  ServiceRoute route;
  route.name = "svc";
  route.revisions.push_back({.revision = 1, .weight = 90, .endpoints = {MakeEndpoint("a", 1)}});
  route.revisions.push_back({.revision = 2, .weight = 10, .endpoints = {MakeEndpoint("b", 2)}});
  std::map<int64_t, int> picks;
  for (int i = 0; i < 1000; ++i) {
    g_next = static_cast<uint64_t>(i);  // the revision draw walks every point of the total
    ++picks[Router::Pick(route, nullptr, 0, Sequence)->revision()];
  }
  EXPECT_EQ(picks[1], 900);
  EXPECT_EQ(picks[2], 100);
}

TEST(RouterTest, ARevisionWithoutReplicasOrWeightTakesNothing) {
  ServiceRoute route;
  route.name = "svc";
  route.revisions.push_back({.revision = 1, .weight = 50, .endpoints = {MakeEndpoint("a", 1)}});
  route.revisions.push_back({.revision = 2, .weight = 50, .endpoints = {}});
  route.revisions.push_back({.revision = 3, .weight = 0, .endpoints = {MakeEndpoint("c", 3)}});
  for (int i = 0; i < 100; ++i) {
    g_next = static_cast<uint64_t>(i);
    EXPECT_EQ(Router::Pick(route, nullptr, 0, Sequence)->revision(), 1);
  }
  EXPECT_EQ(route.ReadyReplicas(), 2u);
  // Only a weightless revision left: nothing takes the traffic.
  EXPECT_EQ(Router::Pick(route, route.revisions[0].endpoints[0].get(), 0), nullptr);
}

TEST(RouterTest, ARetryMovesToTheOtherRevisionWhenItsOwnHasNoOtherReplica) {
  ServiceRoute route;
  route.name = "svc";
  auto a = MakeEndpoint("a", 1);
  route.revisions.push_back({.revision = 1, .weight = 99, .endpoints = {a}});
  route.revisions.push_back({.revision = 2, .weight = 1, .endpoints = {MakeEndpoint("b", 2)}});
  EXPECT_EQ(Router::Pick(route, a.get(), 0)->revision(), 2);
}

}  // namespace
}  // namespace berth::routing
