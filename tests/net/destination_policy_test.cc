#include "net/destination_policy.h"

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>

namespace berth::net {
namespace {

// Refusal() for a textual address.
std::string RefusalOf(const DestinationPolicy& policy, const std::string& text) {
  sockaddr_storage storage{};
  auto* v4 = reinterpret_cast<sockaddr_in*>(&storage);
  auto* v6 = reinterpret_cast<sockaddr_in6*>(&storage);
  if (inet_pton(AF_INET, text.c_str(), &v4->sin_addr) == 1) {
    v4->sin_family = AF_INET;
  } else if (inet_pton(AF_INET6, text.c_str(), &v6->sin6_addr) == 1) {
    v6->sin6_family = AF_INET6;
  } else {
    ADD_FAILURE() << "not an address: " << text;
  }
  return policy.Refusal(reinterpret_cast<const sockaddr*>(&storage));
}

TEST(DestinationPolicyTest, RefusesInternalAddressesByDefault) {
  DestinationPolicy policy;
  for (const char* address : {"127.0.0.1",
                              "127.8.9.10",
                              "10.1.2.3",
                              "172.16.0.1",
                              "172.31.255.255",
                              "192.168.1.1",
                              "169.254.169.254",
                              "100.64.0.1",
                              "0.0.0.0",
                              "224.0.0.1",
                              "255.255.255.255",
                              "::1",
                              "::",
                              "fe80::1",
                              "fd00::1",
                              "::ffff:127.0.0.1",
                              "::ffff:10.0.0.1",
                              "::127.0.0.1",
                              "64:ff9b::a9fe:a9fe",
                              "2002:7f00:1::1",
                              "2002:c0a8:101::",
                              "::ffff:0:127.0.0.1",
                              "::ffff:0:a9fe:a9fe",
                              "::ffff:0:10.1.2.3"}) {
    EXPECT_NE(RefusalOf(policy, address), "") << address;
  }
  EXPECT_EQ(RefusalOf(policy, "169.254.169.254"), "169.254.169.254 is a link-local address");
  EXPECT_EQ(RefusalOf(policy, "::ffff:127.0.0.1"), "::ffff:127.0.0.1 is a loopback address");
}

TEST(DestinationPolicyTest, AllowsPublicAddresses) {
  DestinationPolicy policy;
  for (const char* address :
       {"1.1.1.1", "8.8.8.8", "172.32.0.1", "172.15.255.255", "192.169.0.1", "2001:4860:4860::8888",
        "::ffff:8.8.8.8", "::ffff:0:8.8.8.8", "64:ff9b::808:808", "2002:808:808::1"}) {
    EXPECT_EQ(RefusalOf(policy, address), "") << address;
  }
}

TEST(DestinationPolicyTest, AllowListOpensRanges) {
  auto policy = DestinationPolicy::Parse(" 127.0.0.1 ,10.0.0.0/8,fd00::/8");
  ASSERT_TRUE(policy.ok()) << policy.status();
  EXPECT_EQ(RefusalOf(*policy, "127.0.0.1"), "");
  EXPECT_NE(RefusalOf(*policy, "127.0.0.2"), "");
  EXPECT_EQ(RefusalOf(*policy, "10.200.0.1"), "");
  EXPECT_EQ(RefusalOf(*policy, "::ffff:10.0.0.9"), "");
  EXPECT_EQ(RefusalOf(*policy, "fd12::1"), "");
  EXPECT_NE(RefusalOf(*policy, "192.168.0.1"), "");
  EXPECT_EQ(policy->ToString(), "127.0.0.1/32,10.0.0.0/8,fd00::/8");
  auto again = DestinationPolicy::Parse(policy->ToString());
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(again->ToString(), policy->ToString());
}

TEST(DestinationPolicyTest, OddPrefixLengthsMaskCorrectly) {
  auto policy = DestinationPolicy::Parse("172.16.0.0/13");
  ASSERT_TRUE(policy.ok());
  EXPECT_EQ(RefusalOf(*policy, "172.23.255.255"), "");
  EXPECT_NE(RefusalOf(*policy, "172.24.0.1"), "");
}

TEST(DestinationPolicyTest, BadAllowListsAreRefusedWithTheItem) {
  for (const char* bad : {"localhost", "10.0.0.0/33", "::1/129", "1.2.3.4/x", "1.2.3.4/"}) {
    auto policy = DestinationPolicy::Parse(bad);
    ASSERT_FALSE(policy.ok()) << bad;
    EXPECT_NE(policy.status().message().find(bad), std::string::npos) << policy.status();
  }
  EXPECT_TRUE(DestinationPolicy::Parse("").ok());
}

}  // namespace
}  // namespace berth::net
