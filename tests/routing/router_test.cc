// Router::Pick: revisions by weight, the less busy of two replicas, ejected replicas avoided
// while others are left, the excluded one never. Draws come from a test sequence.
#include "routing/routing.h"

#include <gtest/gtest.h>
#include <poll.h>

#include <boost/asio/connect.hpp>
#include <boost/asio/write.hpp>
#include <boost/asio/io_context.hpp>
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

TEST(RouterTest, FailuresInARowEjectASuccessResetsTheCountAndEjectionsGrow) {
  auto a = MakeEndpoint("a");
  for (int i = 0; i + 1 < Endpoint::kFailuresToEject; ++i) EXPECT_FALSE(a->RecordFailure(0));
  a->RecordSuccess();
  for (int i = 0; i + 1 < Endpoint::kFailuresToEject; ++i) EXPECT_FALSE(a->RecordFailure(0));
  EXPECT_FALSE(a->Ejected(0));
  EXPECT_TRUE(a->RecordFailure(0));
  EXPECT_TRUE(a->Ejected(0));
  EXPECT_FALSE(a->Ejected(Endpoint::kEjectMs));
  // Failing again as soon as it is back: ejected for twice as long.
  int64_t now = Endpoint::kEjectMs;
  for (int i = 0; i < Endpoint::kFailuresToEject; ++i) a->RecordFailure(now);
  EXPECT_EQ(a->ejections(), 2);
  EXPECT_TRUE(a->Ejected(now + 2 * Endpoint::kEjectMs - 1));
  EXPECT_FALSE(a->Ejected(now + 2 * Endpoint::kEjectMs));
  // Back for long enough, it starts from one again; and no ejection is what the caller forbids.
  now += 2 * Endpoint::kEjectMs + Endpoint::kMaxEjectMs;
  for (int i = 0; i < Endpoint::kFailuresToEject; ++i) a->RecordFailure(now, /*may_eject=*/false);
  EXPECT_FALSE(a->Ejected(now));
  a->RecordFailure(now);
  EXPECT_EQ(a->ejections(), 1);
  EXPECT_FALSE(a->Ejected(now + Endpoint::kEjectMs));
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

// Pooled connections over real loopback sockets: expired and closed ones are never given out.
class IdlePoolTest : public ::testing::Test {
 protected:
  // A connection to the test's listener, and the listener's end of it.
  std::unique_ptr<UpstreamConnection> Connect(boost::asio::ip::tcp::socket* peer) {
    auto connection = std::make_unique<UpstreamConnection>(io_.get_executor());
    connection->stream.socket().connect(acceptor_.local_endpoint());
    *peer = acceptor_.accept();
    return connection;
  }

  boost::asio::io_context io_;
  boost::asio::ip::tcp::acceptor acceptor_{
      io_, {boost::asio::ip::address_v4::loopback(), 0}};
  Endpoint endpoint_{"r", 1, "127.0.0.1", 1, 2};
};

TEST_F(IdlePoolTest, TheMostRecentOpenConnectionIsReused) {
  boost::asio::ip::tcp::socket peer_a(io_), peer_b(io_);
  auto a = Connect(&peer_a);
  auto b = Connect(&peer_b);
  UpstreamConnection* b_ptr = b.get();
  endpoint_.ReturnIdle(std::move(a), 0);
  endpoint_.ReturnIdle(std::move(b), 10);
  auto taken = endpoint_.TakeIdle(20);
  ASSERT_NE(taken, nullptr);
  EXPECT_EQ(taken.get(), b_ptr);
  EXPECT_TRUE(taken->reused);
  EXPECT_NE(endpoint_.TakeIdle(20), nullptr);  // then a
  EXPECT_EQ(endpoint_.TakeIdle(20), nullptr);  // then none
}

TEST_F(IdlePoolTest, AConnectionTheWorkerClosedIsNeverGiven) {
  boost::asio::ip::tcp::socket peer(io_), peer_open(io_);
  auto open = Connect(&peer_open);
  UpstreamConnection* open_ptr = open.get();
  endpoint_.ReturnIdle(std::move(open), 0);
  auto closed = Connect(&peer);
  peer.close();  // the worker's idle timeout
  // Wait (bounded) until the close has reached the pooled end.
  pollfd p{closed->stream.socket().native_handle(), POLLIN | POLLRDHUP, 0};
  ASSERT_EQ(::poll(&p, 1, 5000), 1);
  endpoint_.ReturnIdle(std::move(closed), 0);
  // The closed one is the most recent, and is skipped for the open one behind it.
  auto taken = endpoint_.TakeIdle(1);
  EXPECT_EQ(taken.get(), open_ptr);
  EXPECT_EQ(endpoint_.TakeIdle(1), nullptr);
}

TEST_F(IdlePoolTest, ABytesWaitingConnectionIsNeverGiven) {
  boost::asio::ip::tcp::socket peer(io_);
  auto connection = Connect(&peer);
  boost::asio::write(peer, boost::asio::buffer("HTTP/1.1 200 OK\r\n", 17));
  // Wait (bounded) until the bytes are readable on the pooled end.
  pollfd p{connection->stream.socket().native_handle(), POLLIN, 0};
  ASSERT_EQ(::poll(&p, 1, 5000), 1);
  endpoint_.ReturnIdle(std::move(connection), 0);
  EXPECT_EQ(endpoint_.TakeIdle(1), nullptr);
}

TEST_F(IdlePoolTest, ConnectionsIdleTooLongAreDropped) {
  boost::asio::ip::tcp::socket peer_old(io_), peer_new(io_);
  endpoint_.ReturnIdle(Connect(&peer_old), 0);
  endpoint_.ReturnIdle(Connect(&peer_new), Endpoint::kMaxIdleMs);
  // At kMaxIdleMs + 1 the first has been idle too long, the second has not.
  EXPECT_NE(endpoint_.TakeIdle(Endpoint::kMaxIdleMs + 1), nullptr);
  EXPECT_EQ(endpoint_.TakeIdle(Endpoint::kMaxIdleMs + 1), nullptr);
}

}  // namespace
}  // namespace berth::routing
