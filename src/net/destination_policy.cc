#include "net/destination_policy.h"

#include <arpa/inet.h>
#include <curl/curl.h>
#include <netinet/in.h>
#include <unistd.h>

#include <charconv>
#include <cstring>

#include "common/strings.h"

namespace berth::net {
namespace {

struct Internal {
  int family;
  const char* address;
  int prefix;
  const char* what;
};

// Ranges refused unless allow-listed, with how messages name them.
constexpr Internal kInternal[] = {
    {AF_INET, "0.0.0.0", 8, "an unspecified (\"this network\") address"},
    {AF_INET, "10.0.0.0", 8, "a private address"},
    {AF_INET, "100.64.0.0", 10, "a carrier-grade NAT address"},
    {AF_INET, "127.0.0.0", 8, "a loopback address"},
    {AF_INET, "169.254.0.0", 16, "a link-local address"},
    {AF_INET, "172.16.0.0", 12, "a private address"},
    {AF_INET, "192.0.0.0", 24, "an IETF protocol address"},
    {AF_INET, "192.168.0.0", 16, "a private address"},
    {AF_INET, "198.18.0.0", 15, "a benchmarking address"},
    {AF_INET, "224.0.0.0", 4, "a multicast address"},
    {AF_INET, "240.0.0.0", 4, "a reserved or broadcast address"},
    {AF_INET6, "::", 128, "an unspecified address"},
    {AF_INET6, "::1", 128, "a loopback address"},
    {AF_INET6, "fc00::", 7, "a unique-local (private) address"},
    {AF_INET6, "fe80::", 10, "a link-local address"},
    {AF_INET6, "ff00::", 8, "a multicast address"},
};

// The family and bytes of `address`; IPv6 addresses that carry an IPv4 one (mapped ::ffff:a.b.c.d,
// IPv4-translated ::ffff:0:a.b.c.d of RFC 6145, compatible ::a.b.c.d, NAT64 64:ff9b::a.b.c.d,
// 6to4 2002:aabb:ccdd::) become that IPv4 address, so that ::ffff:127.0.0.1 or
// 64:ff9b::a9fe:a9fe are judged as what they reach.
int Normalize(const sockaddr* address, uint8_t* bytes) {
  if (address->sa_family == AF_INET) {
    std::memcpy(bytes, &reinterpret_cast<const sockaddr_in*>(address)->sin_addr, 4);
    return AF_INET;
  }
  if (address->sa_family == AF_INET6) {
    const auto* raw = reinterpret_cast<const sockaddr_in6*>(address)->sin6_addr.s6_addr;
    static constexpr uint8_t kMapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
    static constexpr uint8_t kTranslated[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 0, 0};
    static constexpr uint8_t kZero[12] = {};
    static constexpr uint8_t kNat64[12] = {0, 0x64, 0xff, 0x9b, 0, 0, 0, 0, 0, 0, 0, 0};
    const bool mapped = std::memcmp(raw, kMapped, 12) == 0;
    const bool compatible = std::memcmp(raw, kZero, 12) == 0 &&
                            (raw[12] | raw[13] | raw[14]) != 0;  // not :: or ::1
    const bool nat64 = std::memcmp(raw, kNat64, 12) == 0;
    const bool translated = std::memcmp(raw, kTranslated, 12) == 0;
    if (mapped || translated || compatible || nat64) {
      std::memcpy(bytes, raw + 12, 4);
      return AF_INET;
    }
    if (raw[0] == 0x20 && raw[1] == 0x02) {  // 6to4: 2002:V4ADDR::/48
      std::memcpy(bytes, raw + 2, 4);
      return AF_INET;
    }
    std::memcpy(bytes, raw, 16);
    return AF_INET6;
  }
  return AF_UNSPEC;
}

curl_socket_t OpenGuardedSocket(void* user, curlsocktype purpose, curl_sockaddr* address) {
  auto* guard = static_cast<CurlGuard*>(user);
  if (purpose == CURLSOCKTYPE_IPCXN && guard->policy != nullptr) {
    std::string why = guard->policy->Refusal(&address->addr);
    if (!why.empty()) {
      if (guard->refused.empty()) guard->refused = std::move(why);
      return CURL_SOCKET_BAD;
    }
  }
  return socket(address->family, address->socktype | SOCK_CLOEXEC, address->protocol);
}

}  // namespace

std::string AddressText(const sockaddr* address) {
  char text[INET6_ADDRSTRLEN] = "?";
  if (address->sa_family == AF_INET) {
    inet_ntop(AF_INET, &reinterpret_cast<const sockaddr_in*>(address)->sin_addr, text,
              sizeof(text));
  } else if (address->sa_family == AF_INET6) {
    inet_ntop(AF_INET6, &reinterpret_cast<const sockaddr_in6*>(address)->sin6_addr, text,
              sizeof(text));
  }
  return text;
}

bool DestinationPolicy::Contains(const Range& range, int family, const uint8_t* bytes) {
  if (range.family != family) return false;
  const int full = range.prefix / 8, rest = range.prefix % 8;
  if (std::memcmp(range.bytes.data(), bytes, full) != 0) return false;
  if (rest == 0) return true;
  const uint8_t mask = static_cast<uint8_t>(0xFF << (8 - rest));
  return (range.bytes[full] & mask) == (bytes[full] & mask);
}

absl::StatusOr<DestinationPolicy> DestinationPolicy::Parse(std::string_view allow_list) {
  DestinationPolicy policy;
  while (!allow_list.empty()) {
    const size_t comma = allow_list.find(',');
    std::string_view item = allow_list.substr(0, comma);
    allow_list = comma == std::string_view::npos ? "" : allow_list.substr(comma + 1);
    while (!item.empty() && item.front() == ' ') item.remove_prefix(1);
    while (!item.empty() && item.back() == ' ') item.remove_suffix(1);
    if (item.empty()) continue;
    const size_t slash = item.find('/');
    const std::string address(item.substr(0, slash));
    Range range;
    if (inet_pton(AF_INET, address.c_str(), range.bytes.data()) == 1) {
      range.family = AF_INET;
      range.prefix = 32;
    } else if (inet_pton(AF_INET6, address.c_str(), range.bytes.data()) == 1) {
      range.family = AF_INET6;
      range.prefix = 128;
    } else {
      return absl::InvalidArgumentError(
          StrCat("'", item, "' is not an IP address or CIDR range (e.g. 10.0.0.0/8, 127.0.0.1)"));
    }
    if (slash != std::string_view::npos) {
      const std::string_view bits = item.substr(slash + 1);
      int prefix = -1;
      auto r = std::from_chars(bits.data(), bits.data() + bits.size(), prefix);
      if (r.ec != std::errc() || r.ptr != bits.data() + bits.size() || prefix < 0 ||
          prefix > range.prefix) {
        return absl::InvalidArgumentError(
            StrCat("'", item, "': the prefix length must be 0..", range.prefix));
      }
      range.prefix = prefix;
    }
    policy.allow_.push_back(range);
  }
  return policy;
}

DestinationPolicy DestinationPolicy::AllowAll() {
  DestinationPolicy policy;
  policy.allow_all_ = true;
  return policy;
}

std::string DestinationPolicy::Refusal(const sockaddr* address) const {
  if (allow_all_) return "";
  uint8_t bytes[16] = {};
  const int family = Normalize(address, bytes);
  if (family == AF_UNSPEC) return "not an IP address";
  for (const Range& range : allow_) {
    if (Contains(range, family, bytes)) return "";
  }
  // The internal ranges in binary form, parsed once.
  static const std::vector<std::pair<Range, const char*>> kRanges = [] {
    std::vector<std::pair<Range, const char*>> ranges;
    for (const Internal& internal : kInternal) {
      Range range{.family = internal.family, .prefix = internal.prefix};
      inet_pton(internal.family, internal.address, range.bytes.data());
      ranges.emplace_back(range, internal.what);
    }
    return ranges;
  }();
  for (const auto& [range, what] : kRanges) {
    if (Contains(range, family, bytes)) return StrCat(AddressText(address), " is ", what);
  }
  return "";
}

std::string DestinationPolicy::ToString() const {
  std::string out;
  for (const Range& range : allow_) {
    char text[INET6_ADDRSTRLEN] = "";
    inet_ntop(range.family, range.bytes.data(), text, sizeof(text));
    StrAppend(&out, out.empty() ? "" : ",", text, "/", range.prefix);
  }
  return out;
}

void GuardCurl(CURL* curl, CurlGuard* guard) {
  curl_easy_setopt(curl, CURLOPT_OPENSOCKETFUNCTION, OpenGuardedSocket);
  curl_easy_setopt(curl, CURLOPT_OPENSOCKETDATA, guard);
  curl_easy_setopt(curl, CURLOPT_PROXY, "");
}

}  // namespace berth::net
