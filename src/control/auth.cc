#include "control/auth.h"

#include <openssl/rand.h>

#include <algorithm>
#include <utility>

#include "common/status_macros.h"
#include "common/strings.h"
#include "control/api_key.h"
#include "spdlog/spdlog.h"

namespace berth::control {
namespace {

absl::Status Unauthenticated(std::string_view why) {
  return absl::UnauthenticatedError(
      StrCat(why, "; send an API key as 'Authorization: Bearer brth_...' (create one with "
                  "`berth keys create` or in the console)"));
}

}  // namespace

bool Allows(const Principal& p, std::string_view needed) {
  for (const std::string& s : p.scopes) {
    if (s == "admin") return true;
    if (needed == "admin") continue;
    if (s == "deploy") return true;  // deploy covers read and every service's data plane
    if (needed == "read" && s == "read") return true;
    if (needed.starts_with("invoke:")) {
      if (s == "invoke" || s == needed) return true;
    }
  }
  return false;
}

absl::Status CheckScopes(const std::vector<std::string>& scopes) {
  if (scopes.empty()) return absl::InvalidArgumentError("scopes: give at least one scope");
  for (const std::string& s : scopes) {
    if (s == "admin" || s == "deploy" || s == "read" || s == "invoke") continue;
    if (s.starts_with("invoke:") && s.size() > 7 && s.size() <= 70) continue;
    return absl::InvalidArgumentError(StrCat(
        "scopes: '", s, "' is not a scope; use admin, deploy, read, invoke or invoke:SERVICE"));
  }
  return absl::OkStatus();
}

std::string_view CookieValue(std::string_view header, std::string_view name) {
  while (!header.empty()) {
    size_t end = header.find(';');
    std::string_view part = header.substr(0, end);
    while (!part.empty() && part.front() == ' ') part.remove_prefix(1);
    if (part.size() > name.size() && part.starts_with(name) && part[name.size()] == '=') {
      return part.substr(name.size() + 1);
    }
    if (end == std::string_view::npos) break;
    header.remove_prefix(end + 1);
  }
  return {};
}

absl::StatusOr<std::unique_ptr<Authenticator>> Authenticator::Create(
    const AuthenticatorOptions& options) {
  std::unique_ptr<Authenticator> auth(new Authenticator(options));
  ASSIGN_OR_RETURN(std::vector<ApiKeyRecord> keys, options.store->ListKeys());
  ASSIGN_OR_RETURN(std::vector<SessionRecord> sessions,
                   options.store->ListSessions(options.clock->WallMs()));
  auto snapshot = std::make_shared<Snapshot>();
  for (ApiKeyRecord& key : keys) {
    auto entry = std::make_shared<const KeyEntry>(std::move(key));
    snapshot->by_hash.emplace(entry->key.hash, entry);
    snapshot->by_id.emplace(entry->key.id, entry);
  }
  for (SessionRecord& session : sessions) {
    std::string hash = session.hash;
    snapshot->sessions.emplace(std::move(hash), std::move(session));
  }
  auth->snapshot_.store(std::move(snapshot));
  if (options.flush_period_ms > 0) auth->flusher_ = std::thread([a = auth.get()] { a->FlushLoop(); });
  return auth;
}

Authenticator::~Authenticator() {
  {
    absl::MutexLock lock(&stop_mu_);
    stopping_ = true;
  }
  if (flusher_.joinable()) flusher_.join();
  Flush();
}

void Authenticator::FlushLoop() {
  absl::MutexLock lock(&stop_mu_);
  while (!stopping_) {
    stop_mu_.AwaitWithTimeout(absl::Condition(&stopping_),
                              absl::Milliseconds(options_.flush_period_ms));
    if (stopping_) return;
    stop_mu_.Unlock();
    Flush();
    stop_mu_.Lock();
  }
}

absl::StatusOr<Principal> Authenticator::FromAuthorization(std::string_view authorization) const {
  if (authorization.empty()) return Unauthenticated("this route needs an API key");
  while (!authorization.empty() && authorization.back() == ' ') authorization.remove_suffix(1);
  // "Bearer $BERTH_API_KEY" with the variable unset: the header parser has trimmed the space.
  if (authorization == "Bearer") {
    return Unauthenticated(
        "empty Bearer token: is $BERTH_API_KEY set? (send 'Authorization: Bearer brth_...')");
  }
  constexpr std::string_view kBearer = "Bearer ";
  if (!authorization.starts_with(kBearer)) {
    return Unauthenticated("the Authorization header is not of the form 'Bearer KEY'");
  }
  std::string_view key = authorization.substr(kBearer.size());
  while (!key.empty() && key.front() == ' ') key.remove_prefix(1);
  if (key.empty()) {
    return Unauthenticated(
        "empty Bearer token: is $BERTH_API_KEY set? (send 'Authorization: Bearer brth_...')");
  }
  return FromKey(key);
}

absl::StatusOr<Principal> Authenticator::FromKey(std::string_view key) const {
  if (auto status = CheckApiKeyFormat(key); !status.ok()) {
    return Unauthenticated(StrCat("the API key is not valid: ", Msg(status)));
  }
  return FromHash(Sha256Hex(key));
}

absl::StatusOr<Principal> Authenticator::FromHash(const std::string& hash) const {
  const std::shared_ptr<const Snapshot> snapshot = snapshot_.load();
  auto it = snapshot->by_hash.find(hash);
  // Compared again in constant time, although the lookup was by hash.
  if (it == snapshot->by_hash.end() || !ConstantTimeEquals(it->second->key.hash, hash)) {
    return Unauthenticated("the API key is unknown or revoked");
  }
  const KeyEntry& entry = *it->second;
  const int64_t now = options_.clock->WallMs();
  if (entry.key.expires_at != 0 && entry.key.expires_at <= now) {
    return Unauthenticated("the API key has expired");
  }
  entry.used_ms.store(now, std::memory_order_relaxed);
  return Principal{entry.key.id, entry.key.name, entry.key.scopes, false};
}

absl::StatusOr<Principal> Authenticator::FromSessionCookie(std::string_view cookie) const {
  const std::string_view value = CookieValue(cookie, kSessionCookie);
  if (value.empty()) return Unauthenticated("sign in first");
  const std::shared_ptr<const Snapshot> snapshot = snapshot_.load();
  auto session = snapshot->sessions.find(Sha256Hex(value));
  if (session == snapshot->sessions.end() ||
      session->second.expires_at <= options_.clock->WallMs()) {
    return Unauthenticated("the console session has expired; sign in again");
  }
  auto key = snapshot->by_id.find(session->second.key_id);
  if (key == snapshot->by_id.end()) return Unauthenticated("the API key was revoked");
  const ApiKeyRecord& k = key->second->key;
  return Principal{k.id, k.name, k.scopes, true};
}

void Authenticator::Change(const std::function<void(Snapshot&)>& change) {
  absl::MutexLock lock(&change_mu_);
  auto next = std::make_shared<Snapshot>(*snapshot_.load());
  change(*next);
  snapshot_.store(std::move(next));
}

absl::Status Authenticator::AddKey(const ApiKeyRecord& key) {
  RETURN_IF_ERROR(options_.store->InsertKey(key));
  auto entry = std::make_shared<const KeyEntry>(key);
  Change([&](Snapshot& s) {
    s.by_hash[key.hash] = entry;
    s.by_id[key.id] = entry;
  });
  return absl::OkStatus();
}

absl::Status Authenticator::RevokeKey(const std::string& id) {
  RETURN_IF_ERROR(options_.store->RevokeKey(id, options_.clock->WallMs()));
  Change([&](Snapshot& s) {
    auto it = s.by_id.find(id);
    if (it != s.by_id.end()) {
      s.by_hash.erase(it->second->key.hash);
      s.by_id.erase(it);
    }
    std::erase_if(s.sessions, [&](const auto& entry) { return entry.second.key_id == id; });
  });
  return absl::OkStatus();
}

absl::StatusOr<std::string> Authenticator::CreateSession(std::string_view key) {
  auto principal = FromKey(key);
  if (!principal.ok()) return principal.status();
  unsigned char random[32];
  if (RAND_bytes(random, sizeof(random)) != 1) {
    return absl::InternalError("the random number generator failed");
  }
  static constexpr char kHex[] = "0123456789abcdef";
  std::string value;
  for (unsigned char c : random) {
    value.push_back(kHex[c >> 4]);
    value.push_back(kHex[c & 15]);
  }
  SessionRecord session{Sha256Hex(value), principal->key_id,
                        options_.clock->WallMs() + kSessionLifetimeMs};
  RETURN_IF_ERROR(options_.store->InsertSession(session.hash, session.key_id, session.expires_at));
  Change([&](Snapshot& s) {
    // A key revoked meanwhile ended its sessions; this one must not outlive it.
    if (s.by_id.contains(session.key_id)) s.sessions[session.hash] = session;
  });
  return value;
}

absl::Status Authenticator::DeleteSession(std::string_view cookie) {
  const std::string_view value = CookieValue(cookie, kSessionCookie);
  if (value.empty()) return absl::OkStatus();
  const std::string hash = Sha256Hex(value);
  RETURN_IF_ERROR(options_.store->DeleteSession(hash));
  Change([&](Snapshot& s) { s.sessions.erase(hash); });
  return absl::OkStatus();
}

void Authenticator::Flush() {
  absl::MutexLock lock(&flush_mu_);
  const std::shared_ptr<const Snapshot> snapshot = snapshot_.load();
  if (snapshot == nullptr) return;  // Create failed before the first snapshot
  for (const auto& [id, entry] : snapshot->by_id) {
    const int64_t used = entry->used_ms.load(std::memory_order_relaxed);
    if (used <= entry->written_ms.load()) continue;
    // Only last_used_at: a failure (counted by the store) is tried again next time.
    if (options_.store->TouchKey(id, used).ok()) {
      entry->written_ms.store(used);
    } else {
      spdlog::warn("cannot record the use of key {}", id);
    }
  }
  const int64_t now = options_.clock->WallMs();
  bool expired = false;
  for (const auto& [hash, session] : snapshot->sessions) expired |= session.expires_at <= now;
  if (expired) {
    Change([&](Snapshot& s) {
      std::erase_if(s.sessions, [&](const auto& entry) { return entry.second.expires_at <= now; });
    });
  }
}

}  // namespace berth::control
