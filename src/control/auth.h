// Who is calling: API keys (Bearer) and console sessions (cookie). The valid keys and sessions
// live in memory as an immutable snapshot, published again after every change made through
// this class (each change is durable in the store first), so authenticating a request takes
// no lock and never touches the store: one SHA-256 and one hash-map lookup. When a key was
// last used is kept in memory and written to the store in the background. Thread-safe.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <thread>
#include <unordered_map>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "common/clock.h"
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

struct AuthenticatorOptions {
  Store* store = nullptr;
  const Clock* clock = &RealClock();
  // How often the background thread writes last_used_at and drops expired sessions;
  // 0: no thread (tests call Flush).
  int64_t flush_period_ms = 10'000;
};

class Authenticator {
 public:
  // Reads the keys and sessions from the store.
  static absl::StatusOr<std::unique_ptr<Authenticator>> Create(const AuthenticatorOptions& options);
  // Stops the background thread after a last flush.
  ~Authenticator();

  // `authorization` is the raw header value ("Bearer brth_..."). Unauthenticated with a
  // reason that never repeats the key.
  absl::StatusOr<Principal> FromAuthorization(std::string_view authorization) const;
  absl::StatusOr<Principal> FromKey(std::string_view key) const;
  // `cookie` is the raw Cookie header.
  absl::StatusOr<Principal> FromSessionCookie(std::string_view cookie) const;

  // Stores a new key; it authenticates from the moment this returns OK.
  absl::Status AddKey(const ApiKeyRecord& key);
  // Revokes a key and ends its console sessions; refused from the moment this returns OK.
  absl::Status RevokeKey(const std::string& id);
  // Creates a console session for a valid key; returns the cookie value (random, stored
  // hashed).
  absl::StatusOr<std::string> CreateSession(std::string_view key);
  // Ends the session a Cookie header names (none: OK). An error means it still stands.
  absl::Status DeleteSession(std::string_view cookie);

  // Writes last_used_at for the keys used since the last flush and forgets expired sessions.
  // A failed write is tried again on the next flush.
  void Flush();

  static constexpr std::string_view kSessionCookie = "berth_session";
  static constexpr int64_t kSessionLifetimeMs = 12LL * 3600 * 1000;

 private:
  struct KeyEntry {
    explicit KeyEntry(ApiKeyRecord k) : key(std::move(k)), written_ms(key.last_used_at) {}
    const ApiKeyRecord key;
    // Shared by every snapshot that holds the entry; requests store, Flush reads.
    mutable std::atomic<int64_t> used_ms{0};
    mutable std::atomic<int64_t> written_ms;
  };
  struct Snapshot {
    std::unordered_map<std::string, std::shared_ptr<const KeyEntry>> by_hash;
    std::unordered_map<std::string, std::shared_ptr<const KeyEntry>> by_id;
    std::unordered_map<std::string, SessionRecord> sessions;  // by hash
  };

  explicit Authenticator(const AuthenticatorOptions& options) : options_(options) {}
  absl::StatusOr<Principal> FromHash(const std::string& hash) const;
  // Copies the snapshot, changes the copy and publishes it; changes are serialised.
  void Change(const std::function<void(Snapshot&)>& change) ABSL_LOCKS_EXCLUDED(change_mu_);
  void FlushLoop();

  const AuthenticatorOptions options_;
  std::atomic<std::shared_ptr<const Snapshot>> snapshot_;
  absl::Mutex change_mu_;
  absl::Mutex flush_mu_;  // one flush at a time
  absl::Mutex stop_mu_;
  bool stopping_ ABSL_GUARDED_BY(stop_mu_) = false;
  std::thread flusher_;
};

// The value of cookie `name` in a Cookie header, or empty.
std::string_view CookieValue(std::string_view header, std::string_view name);

}  // namespace berth::control
