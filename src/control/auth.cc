#include "control/auth.h"

#include <openssl/rand.h>

#include "common/strings.h"
#include "control/api_key.h"
#include "control/controller.h"
#include "spdlog/spdlog.h"

namespace berth::control {
namespace {

constexpr int64_t kCacheTtlMs = 1000;     // a key's row is re-read at least this often
constexpr int64_t kTouchPeriodMs = 60000;  // last_used_at is written at most this often

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

absl::StatusOr<Principal> Authenticator::FromAuthorization(std::string_view authorization) {
  if (authorization.empty()) return Unauthenticated("this route needs an API key");
  constexpr std::string_view kBearer = "Bearer ";
  if (!authorization.starts_with(kBearer)) {
    return Unauthenticated("the Authorization header is not of the form 'Bearer KEY'");
  }
  std::string_view key = authorization.substr(kBearer.size());
  while (!key.empty() && key.back() == ' ') key.remove_suffix(1);
  return FromKey(key);
}

absl::StatusOr<Principal> Authenticator::FromKey(std::string_view key) {
  if (auto status = CheckApiKeyFormat(key); !status.ok()) {
    return Unauthenticated(StrCat("the API key is not valid: ", Msg(status)));
  }
  return FromHash(Sha256Hex(key));
}

absl::StatusOr<Principal> Authenticator::FromHash(const std::string& hash) {
  const int64_t now = NowMs();
  ApiKeyRecord key;
  bool touch = false;
  {
    std::lock_guard lock(mu_);
    auto it = cache_.find(hash);
    if (it != cache_.end() && now - it->second.cached_at_ms < kCacheTtlMs) {
      key = it->second.key;
      if (now - it->second.touched_ms > kTouchPeriodMs) {
        it->second.touched_ms = now;
        touch = true;
      }
    } else {
      auto found = store_->FindKeyByHash(hash);
      if (!found.ok()) return found.status();
      if (!*found) {
        cache_.erase(hash);
        return Unauthenticated("the API key is unknown or revoked");
      }
      if (cache_.size() > 10000) cache_.clear();
      Cached& entry = cache_[hash];
      touch = now - entry.touched_ms > kTouchPeriodMs;
      entry = Cached{**found, now, touch ? now : entry.touched_ms};
      key = **found;
    }
  }
  // Compared again in constant time, although the lookup was by hash.
  if (!ConstantTimeEquals(key.hash, hash) || key.revoked_at != 0) {
    return Unauthenticated("the API key is unknown or revoked");
  }
  if (key.expires_at != 0 && key.expires_at <= now) {
    return Unauthenticated("the API key has expired");
  }
  // Only last_used_at: a failure (counted by the store) must not refuse the request.
  if (touch && !store_->TouchKey(key.id, now).ok()) {
    spdlog::warn("cannot record the use of key {}", key.id);
  }
  return Principal{key.id, key.name, key.scopes, false};
}

absl::StatusOr<Principal> Authenticator::FromSessionCookie(std::string_view cookie) {
  const std::string_view value = CookieValue(cookie, kSessionCookie);
  if (value.empty()) return Unauthenticated("sign in first");
  auto key_id = store_->FindSession(Sha256Hex(value), NowMs());
  if (!key_id.ok()) return key_id.status();
  if (!*key_id) return Unauthenticated("the console session has expired; sign in again");
  auto key = store_->FindKeyById(**key_id);
  if (!key.ok()) return key.status();
  if (!*key || (*key)->revoked_at != 0) return Unauthenticated("the API key was revoked");
  Principal p{(*key)->id, (*key)->name, (*key)->scopes, true};
  return p;
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
  auto status =
      store_->InsertSession(Sha256Hex(value), principal->key_id, NowMs() + kSessionLifetimeMs);
  if (!status.ok()) return status;
  return value;
}

absl::Status Authenticator::DeleteSession(std::string_view cookie) {
  const std::string_view value = CookieValue(cookie, kSessionCookie);
  if (value.empty()) return absl::OkStatus();
  return store_->DeleteSession(Sha256Hex(value));
}

void Authenticator::Invalidate() {
  std::lock_guard lock(mu_);
  cache_.clear();
}

}  // namespace berth::control
