// Which network addresses berth's outbound fetches (model URIs, `image_url`) may connect to.
// By default anything that is not a public unicast address is refused: loopback, private
// ranges, link-local (cloud metadata services live there), carrier-grade NAT, unique-local,
// unspecified, multicast and broadcast. An operator allow-lists ranges with CIDRs.
#pragma once

#include <sys/socket.h>

#include <array>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"

typedef void CURL;

namespace berth::net {

class DestinationPolicy {
 public:
  // Refuses every internal address.
  DestinationPolicy() = default;

  // `allow_list`: comma-separated addresses or CIDRs ("127.0.0.1,10.0.0.0/8,::1"), allowed
  // even when internal. Empty: nothing extra.
  static absl::StatusOr<DestinationPolicy> Parse(std::string_view allow_list);

  // A policy that allows every address (trusted, operator-given locations only).
  static DestinationPolicy AllowAll();

  // Empty when `address` may be connected to; otherwise why not, for a message:
  // "10.1.2.3 is a private address".
  std::string Refusal(const sockaddr* address) const;

  // The allow list in Parse's syntax, to hand the same policy to another process.
  std::string ToString() const;

 private:
  struct Range {
    int family = AF_INET;
    std::array<uint8_t, 16> bytes{};
    int prefix = 0;
  };
  static bool Contains(const Range& range, int family, const uint8_t* bytes);
  std::vector<Range> allow_;
  bool allow_all_ = false;
};

// Holds one transfer's policy check. GuardCurl points libcurl at it; it must outlive the
// transfer.
struct CurlGuard {
  const DestinationPolicy* policy = nullptr;
  std::string refused;  // set when a connection was refused: the address and why
};

// Makes `curl` check every address it is about to connect to (the first host, each redirect
// target and each DNS answer) against guard->policy, and ignore proxy settings from the
// environment, which would hide the real destination.
void GuardCurl(CURL* curl, CurlGuard* guard);

// "1.2.3.4" or "::1".
std::string AddressText(const sockaddr* address);

}  // namespace berth::net
