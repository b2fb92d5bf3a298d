// Who is calling: API keys (Bearer) and console sessions (cookie), checked against the store
// with a small cache so that the data plane pays a SHA-256 and a map lookup per request.
// Revocation drops cached entries at once. Thread-safe.
#pragma once

#include <mutex>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "control/store.h"

namespace berth::control {

struct Principal {
  std::string key_id;
  std::string key_name;
  std::vector<std::string> scopes;
  bool via_session = false;
};

// Scopes: admin > deploy > read; invoke and invoke:SERVICE for the data plane.
// `needed` is "admin", "deploy", "read" or "invoke:SERVICE".
bool Allows(const Principal& principal, std::string_view needed);

// OK when every scope is one berth knows; InvalidArgument naming the bad one otherwise.
absl::Status CheckScopes(const std::vector<std::string>& scopes);

class Authenticator {
 public:
  explicit Authenticator(Store* store) : store_(store) {}

  // `authorization` is the raw header value ("Bearer brth_..."). Unauthenticated with a
  // reason that never repeats the key.
  absl::StatusOr<Principal> FromAuthorization(std::string_view authorization);
  absl::StatusOr<Principal> FromKey(std::string_view key);
  // `cookie` is the raw Cookie header.
  absl::StatusOr<Principal> FromSessionCookie(std::string_view cookie);

  // Creates a console session for a valid key; returns the cookie value (random, stored
  // hashed).
  absl::StatusOr<std::string> CreateSession(std::string_view key);
  // Ends the session a Cookie header names (none: OK). An error means it still stands.
  absl::Status DeleteSession(std::string_view cookie);
  // Forgets cached keys (after a revocation).
  void Invalidate();

  static constexpr std::string_view kSessionCookie = "berth_session";
  static constexpr int64_t kSessionLifetimeMs = 12LL * 3600 * 1000;

 private:
  struct Cached {
    ApiKeyRecord key;
    int64_t cached_at_ms = 0;
    int64_t touched_ms = 0;
  };
  absl::StatusOr<Principal> FromHash(const std::string& hash);

  Store* const store_;
  std::mutex mu_;
  std::unordered_map<std::string, Cached> cache_ ABSL_GUARDED_BY(mu_);
};

// The value of cookie `name` in a Cookie header, or empty.
std::string_view CookieValue(std::string_view header, std::string_view name);

}  // namespace berth::control
