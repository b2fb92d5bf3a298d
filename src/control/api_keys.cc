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

// What the caller may do, for the console to offer only that: each action is allowed or has
// the reason it is not.
json ActionsJson(const Principal& p) {
  auto action = [&](std::string_view needed, std::string_view what) {
    if (Allows(p, needed)) return json{{"allowed", true}};
    return json{{"allowed", false},
                {"reason", StrCat("the key '", p.key_name, "' may not ", what, " (it needs the ",
                                  needed, needed == "admin" ? "" : " or admin", " scope)")}};
  };
  json doc = {{"read", action("read", "see models and services")},
              {"deploy", action("deploy", "upload models or change services")},
              {"manage_keys", action("admin", "manage API keys")}};
  // Which services the data plane lets it call: every one, or the ones its scopes name.
  json invoke = {{"allowed", false}};
  bool every = false;
  json names = json::array();
  for (const std::string& s : p.scopes) {
    if (s == "admin" || s == "deploy" || s == "invoke") every = true;
    if (s.starts_with("invoke:")) names.push_back(s.substr(7));
  }
  if (every) {
    invoke = {{"allowed", true}, {"services", nullptr}};
  } else if (!names.empty()) {
    invoke = {{"allowed", true}, {"services", std::move(names)}};
  } else {
    invoke["reason"] = StrCat("the key '", p.key_name,
                              "' may not call services (it needs invoke, invoke:SERVICE, deploy "
                              "or admin)");
  }
  doc["invoke"] = std::move(invoke);
  return doc;
}

}  // namespace

void ControlApi::AddKeyRoutes() {
  AddRoute("GET", "whoami", Access::kSignedIn, [this](ApiRequest& r) -> absl::StatusOr<ApiResponse> {
    auth_->Flush();  // so that last_used_at includes this request
    ASSIGN_OR_RETURN(auto key, store_->FindKeyById(r.principal.key_id));
    if (!key) return absl::UnauthenticatedError("the API key was revoked");
    return Json(200, KeyJson(*key));
  });

  AddRoute("GET", "session", Access::kSignedIn, [this](ApiRequest& r) -> absl::StatusOr<ApiResponse> {
    ASSIGN_OR_RETURN(auto key, store_->FindKeyById(r.principal.key_id));
    if (!key) return absl::UnauthenticatedError("the API key was revoked");
    return Json(200, {{"key", KeyJson(*key)},
                      {"via", r.principal.via_session ? "session" : "key"},
                      {"actions", ActionsJson(r.principal)}});
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
    for (const std::string& s : scopes) {
      if (!s.starts_with("invoke:")) continue;
      const std::string service = s.substr(7);
      ASSIGN_OR_RETURN(auto found, store_->FindService(service));
      if (!found) {
        return absl::InvalidArgumentError(StrCat("scopes: '", s, "' names no service; `berth "
                                                 "services` lists them"));
      }
    }
    const std::string name = body["name"].get<std::string>();
    ASSIGN_OR_RETURN(auto existing, store_->ListKeys());
    for (const auto& k : existing) {
      if (k.name == name && k.revoked_at == 0 && (k.expires_at == 0 || k.expires_at > NowMs())) {
        return absl::AlreadyExistsError(StrCat("a key named '", name, "' exists (", k.id,
                                               "); choose another name or revoke it first"));
      }
    }
    ASSIGN_OR_RETURN(int64_t days, IntField(body, "expires_in_days", "expires_in_days", 0, 3650, 0));
    ASSIGN_OR_RETURN(NewApiKey key, GenerateApiKey());
    ApiKeyRecord record;
    record.id = "key-" + RandomName(10);
    record.name = name;
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
    // An id, or the name of an active key (names are unique among active keys).
    std::string id = r.params["id"];
    ASSIGN_OR_RETURN(auto by_id, store_->FindKeyById(id));
    if (!by_id) {
      ASSIGN_OR_RETURN(auto keys, store_->ListKeys());
      for (const auto& k : keys) {
        if (k.name == id) id = k.id;
      }
    }
    RETURN_IF_ERROR(auth_->RevokeKey(id));
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
