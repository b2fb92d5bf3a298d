// /api/v1 routes of API keys, console sessions and whoami.
#include "common/status_macros.h"
#include "common/strings.h"
#include "control/api.h"
#include "control/api_internal.h"
#include "control/api_key.h"

namespace berth::control {
namespace {

using nlohmann::json;
using namespace api_internal;

json KeyJson(const ApiKeyRecord& k) {
  return {{"id", k.id},
          {"name", k.name},
          {"scopes", k.scopes},
          {"prefix", k.prefix},
          {"created_at", TimeText(k.created_at)},
          {"expires_at", k.expires_at ? json(TimeText(k.expires_at)) : json(nullptr)},
          {"last_used_at", k.last_used_at ? json(TimeText(k.last_used_at)) : json(nullptr)}};
}

// Set-Cookie for the session cookie: `value` for `max_age_s` seconds (0: remove it).
std::string SessionCookie(std::string_view value, int64_t max_age_s) {
  return StrCat(Authenticator::kSessionCookie, "=", value,
                "; Path=/; HttpOnly; SameSite=Strict; Max-Age=", max_age_s);
}

}  // namespace

void ControlApi::AddKeyRoutes() {
  AddRoute("GET", "whoami", Access::kSignedIn, [this](ApiRequest& r) -> absl::StatusOr<ApiResponse> {
    auth_->Flush();  // so that last_used_at includes this request
    ASSIGN_OR_RETURN(auto key, store_->FindKeyById(r.principal.key_id));
    if (!key) return absl::UnauthenticatedError("the API key was revoked");
    return Json(200, KeyJson(*key));
  });

  AddRoute("POST", "session", Access::kPublic, [this](ApiRequest& r) -> absl::StatusOr<ApiResponse> {
    ASSIGN_OR_RETURN(json body, ParseBody(r));
    if (!body.contains("key") || !body["key"].is_string()) {
      return absl::InvalidArgumentError("key: give the API key to sign in with");
    }
    const std::string key_text = body["key"].get<std::string>();
    ASSIGN_OR_RETURN(std::string cookie, auth_->CreateSession(key_text));
    ASSIGN_OR_RETURN(Principal principal, auth_->FromKey(key_text));
    auth_->Flush();
    ASSIGN_OR_RETURN(auto key, store_->FindKeyById(principal.key_id));
    ApiResponse res = Json(200, key ? KeyJson(*key) : json::object());
    res.headers.emplace_back("Set-Cookie",
                             SessionCookie(cookie, Authenticator::kSessionLifetimeMs / 1000));
    return res;
  });
  AddRoute("DELETE", "session", Access::kPublic, [this](ApiRequest& r) -> absl::StatusOr<ApiResponse> {
    // A sign-out that the store did not record would leave the session valid: say so.
    RETURN_IF_ERROR(auth_->DeleteSession(r.cookie));
    ApiResponse res = NoContent();
    res.headers.emplace_back("Set-Cookie", SessionCookie("", 0));
    return res;
  });

  AddRoute("GET", "keys", Access::kAdmin, [this](ApiRequest&) -> absl::StatusOr<ApiResponse> {
    auth_->Flush();  // last_used_at as of now
    ASSIGN_OR_RETURN(auto keys, store_->ListKeys());
    json items = json::array();
    for (const auto& k : keys) items.push_back(KeyJson(k));
    return Json(200, {{"items", std::move(items)}});
  });
  AddRoute("POST", "keys", Access::kAdmin, [this](ApiRequest& r) -> absl::StatusOr<ApiResponse> {
    ASSIGN_OR_RETURN(json body, ParseBody(r));
    RETURN_IF_ERROR(OnlyFields(body, "", {"name", "scopes", "expires_in_days"}));
    if (!body.contains("name") || !body["name"].is_string() ||
        body["name"].get<std::string>().empty() || body["name"].get<std::string>().size() > 100) {
      return absl::InvalidArgumentError("name: give the key a name of 1 to 100 characters");
    }
    if (!body.contains("scopes") || !body["scopes"].is_array()) {
      return absl::InvalidArgumentError(
          "scopes: give a list, e.g. [\"deploy\"] (admin, deploy, read, invoke, invoke:SERVICE)");
    }
    std::vector<std::string> scopes;
    for (const auto& s : body["scopes"]) {
      if (!s.is_string()) return absl::InvalidArgumentError("scopes: every scope is a string");
      scopes.push_back(s.get<std::string>());
    }
    RETURN_IF_ERROR(CheckScopes(scopes));
    ASSIGN_OR_RETURN(int64_t days, IntField(body, "expires_in_days", "expires_in_days", 0, 3650, 0));
    ASSIGN_OR_RETURN(NewApiKey key, GenerateApiKey());
    ApiKeyRecord record;
    record.id = "key-" + RandomName(10);
    record.name = body["name"].get<std::string>();
    record.hash = key.hash;
    record.prefix = key.display;
    record.scopes = scopes;
    record.created_at = NowMs();
    record.expires_at = days > 0 ? record.created_at + days * 86400000 : 0;
    RETURN_IF_ERROR(auth_->AddKey(record));
    json doc = KeyJson(record);
    doc["key"] = key.key;
    return Json(201, doc);
  });
  AddRoute("DELETE", "keys/{id}", Access::kAdmin, [this](ApiRequest& r) -> absl::StatusOr<ApiResponse> {
    RETURN_IF_ERROR(auth_->RevokeKey(r.params["id"]));
    return NoContent();
  });
}

absl::StatusOr<std::string> ControlApi::BootstrapAdminKey() {
  ASSIGN_OR_RETURN(int count, store_->CountKeys());
  if (count > 0) return std::string();
  ASSIGN_OR_RETURN(NewApiKey key, GenerateApiKey());
  ApiKeyRecord record;
  record.id = "key-" + RandomName(10);
  record.name = "admin";
  record.hash = key.hash;
  record.prefix = key.display;
  record.scopes = {"admin"};
  record.created_at = NowMs();
  RETURN_IF_ERROR(auth_->AddKey(record));
  return key.key;
}

}  // namespace berth::control
