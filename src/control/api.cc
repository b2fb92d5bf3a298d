#include "control/api.h"

#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <charconv>
#include <filesystem>
#include <fstream>
#include <limits>
#include <set>
#include <sstream>
#include <thread>

#include "absl/strings/escaping.h"
#include "common/error_mapping.h"
#include "common/status_macros.h"
#include "common/strings.h"
#include "control/api_key.h"
#include "models/model_format.h"
#include "protocol/datatype.h"
#include "runtime/run_self.h"
#include "spdlog/spdlog.h"

namespace berth::control {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

ApiResponse Json(int status, const json& doc) { return ApiResponse{status, doc.dump(), "application/json", {}}; }

absl::Status NeedScope(const ApiRequest& r, std::string_view scope) {
  if (Allows(r.principal, scope)) return absl::OkStatus();
  return absl::PermissionDeniedError(
      StrCat("the API key '", r.principal.key_name, "' lacks the '", scope,
             "' scope needed here"));
}

json KeyJson(const ApiKeyRecord& k) {
  return {{"id", k.id},
          {"name", k.name},
          {"scopes", k.scopes},
          {"prefix", k.prefix},
          {"created_at", TimeText(k.created_at)},
          {"expires_at", k.expires_at ? json(TimeText(k.expires_at)) : json(nullptr)},
          {"last_used_at", k.last_used_at ? json(TimeText(k.last_used_at)) : json(nullptr)}};
}

json ModelJson(const ModelRecord& m) {
  json doc = {{"name", m.name},
              {"format", m.format},
              {"size_bytes", m.size_bytes},
              {"sha256", m.sha256},
              {"source", m.source},
              {"created_at", TimeText(m.created_at)}};
  for (const char* field : {"inputs", "outputs", "max_batch_size", "description", "labels"}) {
    if (m.metadata.contains(field)) doc[field] = m.metadata[field];
  }
  return doc;
}

absl::StatusOr<json> ParseBody(const ApiRequest& r) {
  if (r.body.empty()) return absl::InvalidArgumentError("the request needs a JSON body");
  auto doc = json::parse(r.body, nullptr, false);
  if (doc.is_discarded()) return absl::InvalidArgumentError("the body is not valid JSON");
  if (!doc.is_object()) return absl::InvalidArgumentError("the body must be a JSON object");
  return doc;
}

// Field checks that name the field in their errors.
absl::StatusOr<int64_t> IntField(const json& obj, const char* key, const std::string& path,
                                 int64_t lo, int64_t hi, int64_t fallback) {
  if (!obj.contains(key) || obj[key].is_null()) return fallback;
  const json& v = obj[key];
  if (!v.is_number_integer()) {
    return absl::InvalidArgumentError(StrCat(path, ": must be a whole number"));
  }
  const int64_t n = v.get<int64_t>();
  if (n < lo || n > hi) {
    return absl::InvalidArgumentError(StrCat(path, ": must be between ", lo, " and ", hi));
  }
  return n;
}

// A whole-number query parameter within [lo, hi]; `fallback` when absent. "?limit=abc" or a
// value out of range is an error naming the parameter, never a silent default.
absl::StatusOr<int64_t> QueryInt(const ApiRequest& r, const char* name, int64_t lo, int64_t hi,
                                 int64_t fallback) {
  auto it = r.query.find(name);
  if (it == r.query.end()) return fallback;
  const std::string& text = it->second;
  int64_t value = 0;
  const auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (text.empty() || error != std::errc() || end != text.data() + text.size() || value < lo ||
      value > hi) {
    return absl::InvalidArgumentError(StrCat("?", name, "=", text.substr(0, 40),
                                             ": must be a whole number from ", lo, " to ", hi));
  }
  return value;
}

// A string member: `fallback` when absent or null, an error naming `path` for another type.
absl::StatusOr<std::string> StringField(const json& obj, const char* key, const std::string& path,
                                        std::string fallback = "") {
  if (!obj.is_object() || !obj.contains(key) || obj[key].is_null()) return fallback;
  if (!obj[key].is_string()) {
    return absl::InvalidArgumentError(
        StrCat(path, ": must be a string, not ", obj[key].type_name()));
  }
  return obj[key].get<std::string>();
}

absl::Status OnlyFields(const json& obj, const std::string& path,
                        std::initializer_list<const char*> allowed) {
  if (!obj.is_object()) return absl::InvalidArgumentError(StrCat(path, ": must be an object"));
  for (const auto& [key, value] : obj.items()) {
    bool ok = false;
    for (const char* a : allowed) ok = ok || key == a;
    if (!ok) {
      std::string list;
      for (const char* a : allowed) StrAppend(&list, list.empty() ? "" : ", ", a);
      return absl::InvalidArgumentError(StrCat(path.empty() ? "" : path + ".", key,
                                               ": unknown field (known: ", list, ")"));
    }
  }
  return absl::OkStatus();
}

std::string ConfigType(const std::string& v2) {
  const auto type = protocol::DataTypeFromName(v2);
  return type ? std::string(protocol::DataTypeConfigName(*type)) : "TYPE_" + v2;
}

// Validates a declared signature (spec.inputs / spec.outputs): a list of
// {"name", "datatype", "shape"} with the full shape, -1 for a dynamic dimension.
absl::StatusOr<json> ParseSignature(const json& list, const std::string& field) {
  if (!list.is_array() || list.empty() || list.size() > 64) {
    return absl::InvalidArgumentError(StrCat(
        field, ": a list of 1 to 64 tensors, e.g. [{\"name\": \"x\", \"datatype\": \"FP32\", "
               "\"shape\": [-1, 3, 224, 224]}]"));
  }
  json out = json::array();
  std::set<std::string> names;
  for (size_t i = 0; i < list.size(); ++i) {
    const std::string at = StrCat(field, "[", i, "]");
    const json& t = list[i];
    if (!t.is_object()) return absl::InvalidArgumentError(StrCat(at, ": an object"));
    for (const auto& [key, value] : t.items()) {
      if (key != "name" && key != "datatype" && key != "shape") {
        return absl::InvalidArgumentError(
            StrCat(at, ".", key, ": unknown field (known: name, datatype, shape)"));
      }
    }
    ASSIGN_OR_RETURN(const std::string name, StringField(t, "name", at + ".name"));
    const bool name_ok =
        !name.empty() && name.size() <= 128 &&
        std::all_of(name.begin(), name.end(), [](char c) {
          return std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '.' ||
                 c == ':' || c == '-' || c == '/';
        });
    if (!name_ok) {
      return absl::InvalidArgumentError(
          StrCat(at, ".name: 1 to 128 letters, digits or _ . : - /"));
    }
    if (!names.insert(name).second) {
      return absl::InvalidArgumentError(StrCat(at, ".name: '", name, "' appears twice"));
    }
    ASSIGN_OR_RETURN(const std::string type, StringField(t, "datatype", at + ".datatype"));
    if (!protocol::DataTypeFromName(type)) {
      return absl::InvalidArgumentError(
          StrCat(at, ".datatype: one of BOOL, UINT8..UINT64, INT8..INT64, FP16, BF16, FP32, "
                     "FP64, BYTES"));
    }
    if (!t.contains("shape") || !t["shape"].is_array() || t["shape"].empty() ||
        t["shape"].size() > 8) {
      return absl::InvalidArgumentError(StrCat(at, ".shape: 1 to 8 dimensions"));
    }
    for (const auto& d : t["shape"]) {
      if (!d.is_number_integer() || d.get<int64_t>() < -1 || d.get<int64_t>() == 0 ||
          d.get<int64_t>() > (int64_t{1} << 31)) {
        return absl::InvalidArgumentError(
            StrCat(at, ".shape: positive sizes, or -1 for a dynamic dimension"));
      }
    }
    out.push_back({{"name", name}, {"datatype", type}, {"shape", t["shape"]}});
  }
  return out;
}

void WriteText(const fs::path& path, const std::string& text) {
  std::ofstream out(path, std::ios::binary);
  out << text;
}

// A sample request body for a model: zeros of the right shape (dynamic dims as 1).
json SampleRequest(const ModelRecord& model, const json& spec, size_t* elements) {
  const int max_batch_size = spec.value("batching", json::object()).value("max_batch_size", 0);
  json inputs = json::array();
  *elements = 0;
  for (const auto& in : spec.contains("inputs") ? spec["inputs"]
                                                : model.metadata.value("inputs", json::array())) {
    std::vector<int64_t> shape;
    for (const auto& d : in.value("shape", json::array())) {
      shape.push_back(d.get<int64_t>() < 0 ? 1 : d.get<int64_t>());
    }
    if (max_batch_size > 0 && !shape.empty()) shape[0] = 1;
    size_t n = 1;
    for (int64_t d : shape) n *= static_cast<size_t>(d);
    *elements += n;
    const std::string dtype = in.value("datatype", "FP32");
    json data = json::array();
    for (size_t i = 0; i < n && i < (1u << 22); ++i) {
      if (dtype == "BOOL") data.push_back(false);
      else if (dtype == "BYTES") data.push_back("");
      else data.push_back(0);
    }
    inputs.push_back({{"name", in.value("name", "")}, {"shape", shape}, {"datatype", dtype},
                      {"data", std::move(data)}});
  }
  return {{"inputs", std::move(inputs)}};
}

// A 28x28 PNG of a handwritten 7 (tests/fixtures/digits/7.png), served at
// /samples/digit-7.png so that the sample request of a classification service works as printed.
constexpr char kSampleDigitPngBase64[] =
    "iVBORw0KGgoAAAANSUhEUgAAABwAAAAcCAAAAABXZoBIAAAA1klEQVR42mNgGI7AvayMN6GsrPLfv/9lqDLVr159/f"
    "v3za+/YPDDFUXyKkT07/uNGzf+/PvXG1Xysi0YGAHZH/+eE0KRdHWAsRjTfv5dg8tdUX//nhHDIcd/4u/fFGwSBvmi"
    "Bj/+/j2aH4ImYfT48eN3f1+8ALv5oSaKnOj2vzBwe0e3CqpGu0/fq7vcW4H+r1fGtC+pkoGBZ9vfe/64fFH89289zq"
    "D/8fe2Mg4ptnV//5rh0mf99+8DBRxynBv+PjLEpbH5799KnK5Z82chM27J96SlKgDYhXGo4yD8UQAAAABJRU5ErkJggg==";

}  // namespace

std::string TimeText(TimeMs ms) {
  if (ms == 0) return "";
  const time_t seconds = static_cast<time_t>(ms / 1000);
  struct tm t;
  gmtime_r(&seconds, &t);
  char buffer[40];
  strftime(buffer, sizeof(buffer), "%Y-%m-%dT%H:%M:%S", &t);
  return StrCat(buffer, ".", std::string(3 - std::to_string(ms % 1000).size(), '0'),
                ms % 1000, "Z");
}

absl::StatusOr<uint64_t> ParseMemory(std::string_view text) {
  size_t digits = 0;
  while (digits < text.size() && (isdigit(static_cast<unsigned char>(text[digits])) ||
                                  text[digits] == '.')) {
    ++digits;
  }
  if (digits == 0 || digits > 15) {
    return absl::InvalidArgumentError(
        StrCat("'", text, "' is not a memory size (use e.g. 512Mi, 2Gi or bytes)"));
  }
  const double value = std::strtod(std::string(text.substr(0, digits)).c_str(), nullptr);
  const std::string_view unit = text.substr(digits);
  double factor = 0;
  if (unit.empty()) factor = 1;
  else if (unit == "Ki") factor = 1024.0;
  else if (unit == "Mi") factor = 1024.0 * 1024;
  else if (unit == "Gi") factor = 1024.0 * 1024 * 1024;
  else if (unit == "Ti") factor = 1024.0 * 1024 * 1024 * 1024;
  else if (unit == "K" || unit == "k") factor = 1e3;
  else if (unit == "M") factor = 1e6;
  else if (unit == "G") factor = 1e9;
  if (factor == 0) {
    return absl::InvalidArgumentError(
        StrCat("'", text, "' has an unknown unit (use Ki, Mi, Gi, Ti, K, M or G)"));
  }
  return static_cast<uint64_t>(value * factor);
}

ControlApi::ControlApi(const ApiOptions& options, Store* store, Controller* controller,
                       Authenticator* auth, gateway::TrafficStats* traffic)
    : options_(options), store_(store), controller_(controller), auth_(auth), traffic_(traffic) {
  std::error_code ec;
  fs::create_directories(options_.data_dir + "/tmp", ec);
  fs::create_directories(options_.data_dir + "/models", ec);
}

bool ControlApi::IsValidName(std::string_view name) {
  if (name.empty() || name.size() > 63) return false;
  for (char c : name) {
    if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-')) return false;
  }
  return name.front() != '-' && name.back() != '-';
}

std::string ControlApi::TempPath() {
  return StrCat(options_.data_dir, "/tmp/upload-", RandomName(16));
}

int ControlApi::RemoveCrashDebris() {
  int removed = 0;
  std::error_code ec;
  for (const auto& entry : fs::directory_iterator(options_.data_dir + "/tmp", ec)) {
    if (!entry.path().filename().string().starts_with("upload-")) continue;
    std::error_code rec;
    if (fs::remove_all(entry.path(), rec) > 0) ++removed;
  }
  auto models = store_->ListModels();
  if (!models.ok()) {
    spdlog::warn("cannot list models to find orphan model directories: {}", Msg(models.status()));
    return removed;
  }
  // models/NAME/CONTENT/...: a content directory that no record points into is debris, and so
  // is a name directory left empty.
  const fs::path root = fs::path(options_.data_dir) / "models";
  std::set<std::string> kept;
  for (const ModelRecord& m : *models) {
    const fs::path relative = fs::path(m.path).lexically_relative(root);
    auto part = relative.begin();
    if (relative.empty() || *part == "..") continue;  // a file:// model outside the directory
    const fs::path name = *part++;
    if (part != relative.end()) kept.insert((root / name / *part).string());
  }
  for (const auto& name : fs::directory_iterator(root, ec)) {
    if (!name.is_directory()) continue;
    std::error_code dec;
    for (const auto& content : fs::directory_iterator(name.path(), dec)) {
      if (kept.count(content.path().string()) != 0) continue;
      std::error_code rec;
      if (fs::remove_all(content.path(), rec) > 0) ++removed;
    }
    if (fs::is_empty(name.path(), dec) && !dec) {
      fs::remove(name.path(), dec);
      ++removed;
    }
  }
  if (removed > 0) {
    spdlog::info("removed {} partial upload(s) and orphan model directories", removed);
  }
  return removed;
}

std::string ControlApi::BaseUrl(const std::string& host) const {
  if (!options_.public_url.empty()) return options_.public_url;
  return StrCat("http://", host.empty() ? "127.0.0.1:8080" : host);
}

std::string_view SampleDigitPng() {
  static const std::string* png = [] {
    auto* bytes = new std::string;
    absl::Base64Unescape(kSampleDigitPngBase64, bytes);
    return bytes;
  }();
  return *png;
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
  RETURN_IF_ERROR(store_->InsertKey(record));
  return key.key;
}

ApiResponse ControlApi::Handle(ApiRequest& request) {
  absl::StatusOr<ApiResponse> response;
  try {
    response = Route(request);
  } catch (const nlohmann::json::exception& e) {
    // A handler read a field of the body without checking its type first. The handlers check
    // every field they read, naming it; this is the net under them.
    std::string path;
    for (const std::string& part : request.path) StrAppend(&path, "/", part);
    spdlog::error("api: {} /api/v1{}: unchecked JSON access: {}", request.method, path,
                  e.what());
    response = absl::InvalidArgumentError(StrCat(
        "a field of the request has the wrong type (", e.what(),
        "); see /api/v1/openapi.json for the shape of this resource"));
  }
  if (response.ok()) return *std::move(response);
  const absl::Status& status = response.status();
  ApiResponse error = Json(common::HttpStatusFromStatus(status), {{"error", Msg(status)}});
  if (common::IsRetryable(status)) error.headers.emplace_back("Retry-After", "1");
  if (error.status >= 500) spdlog::error("api: {}", Msg(status));
  return error;
}

absl::StatusOr<ApiResponse> ControlApi::Route(ApiRequest& r) {
  const auto& p = r.path;
  if (p.empty()) return absl::NotFoundError("no such API route; see /api/v1/openapi.json");
  if (p[0] == "session") return Session(r);
  if (!r.authenticated) return absl::UnauthenticatedError("sign in first");
  if (p[0] == "whoami" && p.size() == 1) {
    ASSIGN_OR_RETURN(auto key, store_->FindKeyById(r.principal.key_id));
    if (!key) return absl::UnauthenticatedError("the API key was revoked");
    return Json(200, KeyJson(*key));
  }
  if (p[0] == "keys") return Keys(r);
  if (p[0] == "models") return Models(r);
  if (p[0] == "services") return Services(r);
  if (p[0] == "events" && p.size() == 1) {
    RETURN_IF_ERROR(NeedScope(r, "read"));
    ASSIGN_OR_RETURN(const int64_t after_id,
                     QueryInt(r, "after", 0, std::numeric_limits<int64_t>::max(), 0));
    ASSIGN_OR_RETURN(const int64_t limit, QueryInt(r, "limit", 1, 1000, 100));
    const int n = static_cast<int>(limit);
    ASSIGN_OR_RETURN(auto events, store_->ListEvents(r.query["service"], after_id, n));
    json items = json::array();
    for (const auto& e : events) {
      items.push_back({{"id", e.id}, {"time", TimeText(e.time)}, {"service", e.service},
                       {"object", e.object}, {"reason", e.reason}, {"message", e.message}});
    }
    return Json(200, {{"items", std::move(items)}});
  }
  if (p[0] == "server" && p.size() == 1) {
    RETURN_IF_ERROR(NeedScope(r, "read"));
    const long pages = sysconf(_SC_PHYS_PAGES), page = sysconf(_SC_PAGE_SIZE);
    return Json(200, {{"version", "0.1.0"},
                      {"data_dir", options_.data_dir},
                      {"http_port", http_port_.load()},
                      {"grpc_port", grpc_port_.load() ? grpc_port_.load() : options_.grpc_port},
                      {"cpus", std::thread::hardware_concurrency()},
                      {"memory_bytes", static_cast<uint64_t>(pages) * static_cast<uint64_t>(page)},
                      {"replicas_running", controller_->RunningReplicas()},
                      {"resource_limits", controller_->driver().capabilities().resource_limits_detail}});
  }
  return absl::NotFoundError(StrCat("no API route /api/v1/", p[0], "; see /api/v1/openapi.json"));
}

absl::StatusOr<ApiResponse> ControlApi::Session(ApiRequest& r) {
  if (r.path.size() != 1) return absl::NotFoundError("no such session route");
  if (r.method == "DELETE") {
    // A sign-out that the store did not record would leave the session valid: say so.
    RETURN_IF_ERROR(auth_->DeleteSession(r.cookie));
    ApiResponse res{204, "", "application/json", {}};
    res.headers.emplace_back("Set-Cookie", StrCat(Authenticator::kSessionCookie,
                                                  "=; Path=/; HttpOnly; SameSite=Strict; Max-Age=0"));
    return res;
  }
  if (r.method != "POST") return absl::InvalidArgumentError("use POST or DELETE on /session");
  ASSIGN_OR_RETURN(json body, ParseBody(r));
  if (!body.contains("key") || !body["key"].is_string()) {
    return absl::InvalidArgumentError("key: give the API key to sign in with");
  }
  ASSIGN_OR_RETURN(std::string cookie, auth_->CreateSession(body["key"].get<std::string>()));
  ASSIGN_OR_RETURN(Principal principal, auth_->FromKey(body["key"].get<std::string>()));
  ASSIGN_OR_RETURN(auto key, store_->FindKeyById(principal.key_id));
  ApiResponse res = Json(200, key ? KeyJson(*key) : json::object());
  res.headers.emplace_back(
      "Set-Cookie", StrCat(Authenticator::kSessionCookie, "=", cookie,
                           "; Path=/; HttpOnly; SameSite=Strict; Max-Age=",
                           Authenticator::kSessionLifetimeMs / 1000));
  return res;
}

absl::StatusOr<ApiResponse> ControlApi::Keys(ApiRequest& r) {
  RETURN_IF_ERROR(NeedScope(r, "admin"));
  if (r.path.size() == 1 && r.method == "GET") {
    ASSIGN_OR_RETURN(auto keys, store_->ListKeys());
    json items = json::array();
    for (const auto& k : keys) items.push_back(KeyJson(k));
    return Json(200, {{"items", std::move(items)}});
  }
  if (r.path.size() == 1 && r.method == "POST") {
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
    RETURN_IF_ERROR(store_->InsertKey(record));
    json doc = KeyJson(record);
    doc["key"] = key.key;
    return Json(201, doc);
  }
  if (r.path.size() == 2 && r.method == "DELETE") {
    RETURN_IF_ERROR(store_->RevokeKey(r.path[1], NowMs()));
    auth_->Invalidate();
    return ApiResponse{204, "", "application/json", {}};
  }
  return absl::NotFoundError("use GET/POST /api/v1/keys or DELETE /api/v1/keys/{id}");
}

absl::StatusOr<ModelRecord> ControlApi::RegisterModel(const std::string& name,
                                                      const std::string& file, uint64_t size,
                                                      const std::string& sha256,
                                                      const std::string& source,
                                                      const json& extra) {
  std::error_code ec;
  auto cleanup = [&] { fs::remove(file, ec); };
  auto detected = models::DetectModelFormat(file);
  if (!detected.ok()) {
    cleanup();
    return detected.status();
  }
  if (auto status = models::CheckServable(*detected); !status.ok()) {
    cleanup();
    return status;
  }
  const models::ModelFormat format = detected->servable_format.value_or(detected->format);
  const std::string format_name(models::FormatName(format));
  const std::string dir = StrCat(options_.data_dir, "/models/", name, "/", sha256.substr(0, 16));
  const std::string path =
      StrCat(dir, format == models::ModelFormat::kOnnx ? "/model.onnx" : "/model.pt");
  fs::create_directories(dir, ec);
  fs::rename(file, path, ec);
  if (ec) {
    cleanup();
    return absl::InternalError(StrCat("cannot store the model: ", ec.message()));
  }
  // The probe loads the model in a separate process: a model that crashes the engine takes
  // only the probe down.
  auto probe = runtime::RunSelf({"probe", "--model", path, "--format", format_name},
                                options_.probe_timeout_ms);
  auto fail = [&](const std::string& why) {
    // Keep the directory if an earlier registration of the same content uses it.
    auto existing = store_->FindModel(name);
    if (!(existing.ok() && *existing && (*existing)->path == path)) fs::remove_all(dir, ec);
    return absl::InvalidArgumentError(why);
  };
  if (!probe.ok()) return fail(std::string(Msg(probe.status())));
  if (probe->exit_code != 0) {
    std::string reason = probe->errors;
    while (!reason.empty() && (reason.back() == '\n' || reason.back() == ' ')) reason.pop_back();
    if (reason.empty()) reason = "the probe process crashed while loading it";
    return fail(StrCat("the model could not be loaded: ", reason));
  }
  auto metadata = json::parse(probe->output, nullptr, false);
  if (metadata.is_discarded() || !metadata.is_object()) {
    return fail("the model probe gave no description of the model");
  }
  metadata["description"] = detected->description;
  for (const auto& [k, v] : extra.items()) metadata[k] = v;
  ModelRecord record;
  record.name = name;
  record.format = format_name;
  record.size_bytes = size;
  record.sha256 = sha256;
  record.source = source;
  record.path = path;
  record.metadata = std::move(metadata);
  record.created_at = NowMs();
  auto previous = store_->FindModel(name);
  RETURN_IF_ERROR(store_->UpsertModel(record));
  // The replaced content's file goes: revisions that served it keep their own hard link.
  if (previous.ok() && *previous && (*previous)->path != path) {
    fs::remove_all(fs::path((*previous)->path).parent_path(), ec);
  }
  controller_->Event("", "model/" + name, "ModelRegistered",
                     StrCat(format_name, ", ", size, " bytes, sha256 ", sha256.substr(0, 12)));
  return record;
}

absl::StatusOr<ApiResponse> ControlApi::Models(ApiRequest& r) {
  if (r.method == "GET") {
    RETURN_IF_ERROR(NeedScope(r, "read"));
    if (r.path.size() == 1) {
      ASSIGN_OR_RETURN(auto models, store_->ListModels());
      json items = json::array();
      for (const auto& m : models) items.push_back(ModelJson(m));
      return Json(200, {{"items", std::move(items)}});
    }
    if (r.path.size() == 2) {
      ASSIGN_OR_RETURN(auto model, store_->FindModel(r.path[1]));
      if (!model) return absl::NotFoundError(StrCat("no model named '", r.path[1], "'"));
      return Json(200, ModelJson(*model));
    }
  }
  RETURN_IF_ERROR(NeedScope(r, "deploy"));
  if (r.method == "DELETE" && r.path.size() == 2) {
    const std::string& name = r.path[1];
    ASSIGN_OR_RETURN(auto model, store_->FindModel(name));
    if (!model) return absl::NotFoundError(StrCat("no model named '", name, "'"));
    ASSIGN_OR_RETURN(auto users, store_->ServicesUsingModel(name));
    if (!users.empty()) {
      std::string list;
      for (const auto& u : users) StrAppend(&list, list.empty() ? "" : ", ", u);
      return absl::AlreadyExistsError(StrCat("model '", name, "' is in use by service(s) ", list,
                                             "; delete those first"));
    }
    RETURN_IF_ERROR(store_->DeleteModel(name));
    std::error_code ec;
    fs::remove_all(StrCat(options_.data_dir, "/models/", name), ec);
    return ApiResponse{204, "", "application/json", {}};
  }
  if (r.method != "POST" || r.path.size() != 1) {
    return absl::NotFoundError("use POST /api/v1/models to add a model");
  }
  if (!r.upload_path.empty()) {
    const std::string name = r.query["name"];
    if (!IsValidName(name)) {
      std::error_code ec;
      fs::remove(r.upload_path, ec);
      return absl::InvalidArgumentError(
          "name: give ?name=NAME, a DNS label (a-z, 0-9 and '-', at most 63 characters)");
    }
    ASSIGN_OR_RETURN(auto model, RegisterModel(name, r.upload_path, r.upload_bytes,
                                               r.upload_sha256, "upload", json::object()));
    return Json(201, ModelJson(model));
  }
  ASSIGN_OR_RETURN(json body, ParseBody(r));
  RETURN_IF_ERROR(OnlyFields(body, "", {"name", "uri"}));
  ASSIGN_OR_RETURN(const std::string name, StringField(body, "name", "name"));
  if (!IsValidName(name)) {
    return absl::InvalidArgumentError(
        "name: a DNS label (a-z, 0-9 and '-', at most 63 characters) is required");
  }
  if (!body.contains("uri") || !body["uri"].is_string()) {
    return absl::InvalidArgumentError(
        "uri: give the model's location (file://, http://, https:// or s3://), or upload the "
        "file with Content-Type: application/octet-stream");
  }
  const std::string uri = body["uri"].get<std::string>();
  const std::string temp = TempPath();
  models::FetchOptions fetch = options_.fetch;
  fetch.max_bytes = options_.max_model_bytes;
  ASSIGN_OR_RETURN(auto fetched, models::FetchModel(uri, temp, fetch));
  ASSIGN_OR_RETURN(auto model, RegisterModel(name, temp, fetched.size_bytes, fetched.sha256_hex,
                                             uri, json::object()));
  return Json(201, ModelJson(model));
}

absl::StatusOr<json> ControlApi::NormalizeSpec(const json& body, const ModelRecord& stored) {
  RETURN_IF_ERROR(OnlyFields(body, "spec", {"name", "model", "replicas", "resources", "batching",
                                            "image", "inputs", "outputs"}));
  json spec;
  // A declared signature (needed for TorchScript, whose files do not carry one) stands in for
  // what the probe found, for everything below.
  ModelRecord model = stored;
  if (body.contains("inputs") || body.contains("outputs")) {
    if (!body.contains("inputs") || !body.contains("outputs")) {
      return absl::InvalidArgumentError(
          "spec.inputs, spec.outputs: declare both, or neither to use the model's own");
    }
    ASSIGN_OR_RETURN(json inputs, ParseSignature(body["inputs"], "spec.inputs"));
    ASSIGN_OR_RETURN(json outputs, ParseSignature(body["outputs"], "spec.outputs"));
    bool batched = true;
    for (const json* list : {&inputs, &outputs}) {
      for (const auto& t : *list) batched = batched && t["shape"][0].get<int64_t>() == -1;
    }
    model.metadata["inputs"] = inputs;
    model.metadata["outputs"] = outputs;
    model.metadata["max_batch_size"] = batched ? 8 : 0;
    spec["inputs"] = inputs;
    spec["outputs"] = outputs;
  } else if (model.metadata.value("inputs", json::array()).empty()) {
    return absl::InvalidArgumentError(StrCat(
        "spec.inputs: the ", model.format, " model '", model.name,
        "' does not declare its inputs and outputs; give spec.inputs and spec.outputs, e.g. "
        "\"inputs\": [{\"name\": \"x\", \"datatype\": \"FP32\", \"shape\": [-1, 3, 224, 224]}] "
        "(berth deploy --model-input x:FP32:-1x3x224x224 --model-output y:FP32:-1x1000)"));
  }
  spec["model"] = model.name;
  ASSIGN_OR_RETURN(int64_t replicas, IntField(body, "replicas", "spec.replicas", 0, 64, 1));
  spec["replicas"] = replicas;
  json resources = json::object();
  if (body.contains("resources")) {
    const json& res = body["resources"];
    RETURN_IF_ERROR(OnlyFields(res, "spec.resources", {"cpu", "memory"}));
    if (res.contains("cpu")) {
      double cpu = 0;
      if (res["cpu"].is_number()) {
        cpu = res["cpu"].get<double>();
      } else if (res["cpu"].is_string()) {
        const std::string text = res["cpu"].get<std::string>();
        cpu = text.ends_with("m") ? std::atof(text.c_str()) / 1000 : std::atof(text.c_str());
      }
      if (!(cpu > 0 && cpu <= 256)) {
        return absl::InvalidArgumentError(
            "spec.resources.cpu: must be a number of CPUs between 0.001 and 256 (e.g. 1, 0.5 or "
            "\"500m\")");
      }
      resources["cpu"] = cpu;
    }
    if (res.contains("memory")) {
      if (!res["memory"].is_string() && !res["memory"].is_number_unsigned()) {
        return absl::InvalidArgumentError("spec.resources.memory: give a size such as \"2Gi\"");
      }
      const std::string text = res["memory"].is_string() ? res["memory"].get<std::string>()
                                                         : res["memory"].dump();
      auto bytes = ParseMemory(text);
      if (!bytes.ok()) return absl::InvalidArgumentError(StrCat("spec.resources.memory: ", Msg(bytes.status())));
      if (*bytes < (64u << 20)) {
        return absl::InvalidArgumentError("spec.resources.memory: at least 64Mi");
      }
      resources["memory"] = text;
      resources["memory_bytes"] = *bytes;
    }
  }
  spec["resources"] = resources;
  // Batching: only for models whose tensors all have a dynamic leading dimension.
  const int model_batch = model.metadata.value("max_batch_size", 0);
  json batching = json::object();
  const json empty = json::object();
  const json& b = body.contains("batching") ? body["batching"] : empty;
  RETURN_IF_ERROR(OnlyFields(b, "spec.batching", {"max_batch_size", "max_queue_delay_us"}));
  ASSIGN_OR_RETURN(int64_t max_batch, IntField(b, "max_batch_size", "spec.batching.max_batch_size",
                                               0, 4096, model_batch > 0 ? 32 : 0));
  if (max_batch > 0 && model_batch == 0) {
    return absl::InvalidArgumentError(
        "spec.batching.max_batch_size: this model has a fixed first dimension, so it cannot "
        "batch; use 0");
  }
  ASSIGN_OR_RETURN(int64_t delay, IntField(b, "max_queue_delay_us",
                                           "spec.batching.max_queue_delay_us", 0, 1000000, 0));
  batching["max_batch_size"] = max_batch;
  batching["max_queue_delay_us"] = delay;
  spec["batching"] = batching;
  // Image classification: on by default for models that carry labels (the demo model).
  const json& img = body.contains("image") ? body["image"] : empty;
  RETURN_IF_ERROR(OnlyFields(img, "spec.image", {"enabled", "labels", "top_k", "mean", "std",
                                                 "color_order", "invert"}));
  json image = json::object();
  const bool default_on = model.metadata.contains("labels");
  if (img.contains("enabled") && !img["enabled"].is_boolean()) {
    return absl::InvalidArgumentError("spec.image.enabled: true or false");
  }
  image["enabled"] = img.value("enabled", default_on);
  if (img.contains("labels")) {
    if (!img["labels"].is_array() || img["labels"].size() > 100000) {
      return absl::InvalidArgumentError("spec.image.labels: a list of up to 100000 strings");
    }
    for (const auto& l : img["labels"]) {
      if (!l.is_string() || l.get<std::string>().find('\n') != std::string::npos) {
        return absl::InvalidArgumentError("spec.image.labels: every label is a one-line string");
      }
    }
    image["labels"] = img["labels"];
  } else if (model.metadata.contains("labels")) {
    image["labels"] = model.metadata["labels"];
  }
  for (const char* key : {"mean", "std"}) {
    if (!img.contains(key)) continue;
    if (!img[key].is_array() || img[key].size() != 3) {
      return absl::InvalidArgumentError(StrCat("spec.image.", key, ": three numbers (R, G, B)"));
    }
    for (const auto& v : img[key]) {
      if (!v.is_number()) return absl::InvalidArgumentError(StrCat("spec.image.", key, ": three numbers"));
    }
    image[key] = img[key];
  }
  if (img.contains("color_order")) {
    if (img["color_order"] != "RGB" && img["color_order"] != "BGR") {
      return absl::InvalidArgumentError("spec.image.color_order: RGB or BGR");
    }
    image["color_order"] = img["color_order"];
  }
  if (img.contains("invert")) {
    if (img["invert"] != "auto" && img["invert"] != "true" && img["invert"] != "false" &&
        !img["invert"].is_boolean()) {
      return absl::InvalidArgumentError("spec.image.invert: true, false or \"auto\"");
    }
    image["invert"] = img["invert"].is_boolean() ? (img["invert"].get<bool>() ? "true" : "false")
                                                 : img["invert"].get<std::string>();
  } else if (model.metadata.contains("image_invert")) {
    image["invert"] = model.metadata["image_invert"];
  }
  ASSIGN_OR_RETURN(int64_t top_k, IntField(img, "top_k", "spec.image.top_k", 1, 1000, 5));
  image["top_k"] = top_k;
  if (image["enabled"].get<bool>()) {
    const auto inputs = model.metadata.value("inputs", json::array());
    const auto outputs = model.metadata.value("outputs", json::array());
    if (inputs.size() != 1 || outputs.size() != 1) {
      return absl::InvalidArgumentError(
          "spec.image.enabled: image classification needs a model with one image input and one "
          "output of scores");
    }
  }
  spec["image"] = image;
  return spec;
}

absl::Status ControlApi::WriteRevisionRepository(const std::string& service, int revision,
                                                 const json& spec, const ModelRecord& model) {
  const fs::path repo = fs::path(RevisionDirectory(options_.data_dir, service, revision)) / "repo";
  const fs::path model_dir = repo / service;
  std::error_code ec;
  fs::remove_all(repo, ec);
  fs::create_directories(model_dir / "1", ec);
  if (ec) return absl::InternalError(StrCat("cannot create ", model_dir.string(), ": ", ec.message()));
  const fs::path file = model_dir / "1" / fs::path(model.path).filename();
  // A hard link, or a copy where the file system has none: never a symbolic link, so that the
  // model store may drop the file once the model is replaced.
  fs::create_hard_link(model.path, file, ec);
  if (ec) {
    ec.clear();
    fs::copy_file(model.path, file, fs::copy_options::overwrite_existing, ec);
  }
  if (ec) return absl::InternalError(StrCat("cannot place the model file: ", ec.message()));

  const int max_batch = spec["batching"].value("max_batch_size", 0);
  std::string config = StrCat("name: \"", service, "\"\n", "platform: \"",
                              model.format == "onnx" ? "onnxruntime_onnx" : "pytorch_libtorch",
                              "\"\n", "max_batch_size: ", max_batch, "\n");
  const json& image = spec["image"];
  const bool labels = image.value("enabled", false) && image.contains("labels");
  auto tensors = [&](const char* kind, const json& list, bool with_labels) {
    for (const auto& t : list) {
      StrAppend(&config, kind, " { name: \"", t.value("name", ""), "\" data_type: ",
                ConfigType(t.value("datatype", "FP32")), " dims: [");
      const auto& shape = t["shape"];
      for (size_t i = max_batch > 0 ? 1 : 0; i < shape.size(); ++i) {
        StrAppend(&config, i > (max_batch > 0 ? 1u : 0u) ? ", " : "", shape[i].get<int64_t>());
      }
      StrAppend(&config, "]", with_labels ? " label_filename: \"labels.txt\"" : "", " }\n");
    }
  };
  const json inputs = spec.contains("inputs") ? spec["inputs"]
                                              : model.metadata.value("inputs", json::array());
  const json outputs = spec.contains("outputs") ? spec["outputs"]
                                                : model.metadata.value("outputs", json::array());
  if (!inputs.empty() && !outputs.empty()) {
    tensors("input", inputs, false);
    tensors("output", outputs, labels);
  }
  if (max_batch > 0) {
    StrAppend(&config, "dynamic_batching { max_queue_delay_microseconds: ",
              spec["batching"].value("max_queue_delay_us", 0), " }\n");
  }
  auto parameter = [&](const std::string& key, const std::string& value) {
    StrAppend(&config, "parameters { key: \"", key, "\" value: { string_value: \"", value,
              "\" } }\n");
  };
  auto floats = [](const json& list) {
    std::string s;
    for (const auto& v : list) StrAppend(&s, s.empty() ? "" : ",", v.get<double>());
    return s;
  };
  if (image.contains("mean")) parameter("berth.image.mean", floats(image["mean"]));
  if (image.contains("std")) parameter("berth.image.std", floats(image["std"]));
  if (image.contains("color_order")) parameter("berth.image.color_order", image["color_order"]);
  if (image.contains("invert")) parameter("berth.image.invert", image["invert"]);
  WriteText(model_dir / "config.pbtxt", config);
  if (labels) {
    std::string text;
    for (const auto& l : image["labels"]) StrAppend(&text, l.get<std::string>(), "\n");
    WriteText(model_dir / "labels.txt", text);
  }
  return absl::OkStatus();
}

absl::StatusOr<ApiResponse> ControlApi::ApplyService(const std::string& name, const json& body,
                                                     bool create_only, const std::string& host) {
  if (!IsValidName(name)) {
    return absl::InvalidArgumentError(
        "name: a DNS label (a-z, 0-9 and '-', at most 63 characters) is required");
  }
  if (body.contains("name") && body["name"] != name) {
    return absl::InvalidArgumentError("name: the body names another service than the URL");
  }
  if (!body.contains("model") || !body["model"].is_string()) {
    return absl::InvalidArgumentError("spec.model: name the model to serve (see GET /api/v1/models)");
  }
  ASSIGN_OR_RETURN(auto model, store_->FindModel(body["model"].get<std::string>()));
  if (!model) {
    return absl::InvalidArgumentError(StrCat("spec.model: no model named '",
                                             body["model"].get<std::string>(),
                                             "'; upload it first (berth models upload)"));
  }
  ASSIGN_OR_RETURN(json spec, NormalizeSpec(body, *model));
  json revision_spec = spec;
  revision_spec.erase("replicas");
  revision_spec["model_sha256"] = model->sha256;
  revision_spec["model_format"] = model->format;

  std::lock_guard lock(apply_mu_);
  ASSIGN_OR_RETURN(auto existing, store_->FindService(name));
  const TimeMs now = NowMs();
  int status = 200;
  ServiceRecord service;
  if (existing) {
    if (create_only) {
      return absl::AlreadyExistsError(
          StrCat("a service named '", name, "' exists; use PUT to change it"));
    }
    if (existing->deleting) {
      return absl::FailedPreconditionError(
          StrCat("service '", name, "' is being deleted; try again when it is gone"));
    }
    service = *existing;
  } else {
    service.name = name;
    service.created_at = now;
    service.updated_at = now;
    service.spec = spec;
    RETURN_IF_ERROR(store_->InsertService(service));
    controller_->Event(name, "service/" + name, "Created", StrCat("serving model ", model->name));
    status = 201;
  }
  bool new_revision = service.latest_revision == 0;
  if (!new_revision) {
    ASSIGN_OR_RETURN(auto latest, store_->FindRevision(name, service.latest_revision));
    new_revision = !latest || latest->spec != revision_spec;
  }
  if (service.spec.value("replicas", 1) != spec.value("replicas", 1)) {
    controller_->Event(name, "service/" + name, "Scaled",
                       StrCat("replicas ", service.spec.value("replicas", 1), " -> ",
                              spec.value("replicas", 1)));
  }
  service.spec = spec;
  service.updated_at = now;
  RETURN_IF_ERROR(store_->UpdateService(service));
  if (new_revision) {
    ASSIGN_OR_RETURN(int number, store_->CreateRevision(name, revision_spec, now));
    if (auto s = WriteRevisionRepository(name, number, spec, *model); !s.ok()) {
      RevisionRecord failed{name, number, revision_spec, "Failed", std::string(Msg(s)), now};
      if (auto stored = store_->UpdateRevision(failed); !stored.ok()) {
        spdlog::error("cannot mark revision {} of {} failed: {}", number, name, Msg(stored));
      }
      return s;
    }
    controller_->Event(name, StrCat("revision/", name, "-", number), "RevisionCreated",
                       StrCat("model ", model->name, " (sha256 ", model->sha256.substr(0, 12),
                              "), ", spec.value("replicas", 1), " replica(s)"));
  }
  controller_->Wake();
  ASSIGN_OR_RETURN(auto saved, store_->FindService(name));
  return Json(status, ServiceJson(*saved, host));
}

json ControlApi::ServiceJson(const ServiceRecord& s, const std::string& host) {
  json doc = {{"name", s.name},
              {"model", s.spec.value("model", "")},
              {"spec", s.spec},
              {"current_revision", s.current_revision},
              {"latest_revision", s.latest_revision},
              {"replicas", s.spec.value("replicas", 1)},
              {"created_at", TimeText(s.created_at)},
              {"updated_at", TimeText(s.updated_at)}};
  auto replicas = store_->ListReplicas(s.name);
  int ready = 0;
  if (replicas.ok()) {
    for (const auto& r : *replicas) {
      ready += r.revision == s.current_revision && r.state == "Ready" ? 1 : 0;
    }
  }
  doc["ready_replicas"] = ready;
  auto latest = store_->FindRevision(s.name, s.latest_revision);
  std::string status = "Deploying", reason;
  const int desired = s.spec.value("replicas", 1);
  if (s.deleting) {
    status = "Deleting";
  } else if (latest.ok() && *latest && (*latest)->status == "Failed") {
    status = s.current_revision > 0 ? "Degraded" : "Failed";
    reason = StrCat("revision ", (*latest)->number, " failed: ", (*latest)->reason);
    if (s.current_revision > 0) StrAppend(&reason, "; revision ", s.current_revision, " serves");
  } else if (s.current_revision > 0 && s.current_revision == s.latest_revision) {
    status = ready >= desired ? "Ready" : "Degraded";
    if (ready < desired) reason = StrCat(ready, " of ", desired, " replicas ready");
  }
  doc["status"] = status;
  doc["reason"] = reason;
  const std::string base = BaseUrl(host);
  const std::string infer = StrCat(base, "/v2/models/", s.name, "/infer");
  doc["endpoint"] = infer;
  doc["v2_endpoint"] = infer;
  std::string grpc_host = host.substr(0, host.rfind(':'));
  if (grpc_host.empty()) grpc_host = "127.0.0.1";
  doc["grpc_endpoint"] =
      StrCat(grpc_host, ":", grpc_port_.load() ? grpc_port_.load() : options_.grpc_port);
  const bool image = s.spec.value("image", json::object()).value("enabled", false);
  if (image) {
    const std::string classify = StrCat(base, "/services/", s.name, "/v1/classify");
    doc["classify_endpoint"] = classify;
    doc["endpoint"] = classify;
    doc["sample_curl"] = StrCat(
        "curl -X POST -H \"Authorization: Bearer $BERTH_API_KEY\" -H \"Content-Type: "
        "application/json\" -d '{\"image_url\": \"", base, kSampleImagePath, "\"}' ", classify);
  } else if (auto model = store_->FindModel(s.spec.value("model", "")); model.ok() && *model) {
    size_t elements = 0;
    json sample = SampleRequest(**model, s.spec, &elements);
    if (elements <= 64) {
      doc["sample_curl"] = StrCat(
          "curl -X POST -H \"Authorization: Bearer $BERTH_API_KEY\" -H \"Content-Type: "
          "application/json\" -d '", sample.dump(), "' ", infer);
    } else {
      // Too large to type: fetch a sample request from the API and pipe it in.
      doc["sample_curl"] = StrCat(
          "curl -s -H \"Authorization: Bearer $BERTH_API_KEY\" ", base, "/api/v1/services/",
          s.name, "/sample-request | curl -X POST -H \"Authorization: Bearer $BERTH_API_KEY\" "
          "-H \"Content-Type: application/json\" --data-binary @- ", infer);
    }
  }
  return doc;
}

absl::StatusOr<ApiResponse> ControlApi::Services(ApiRequest& r) {
  const auto& p = r.path;
  if (p.size() == 1 && r.method == "GET") {
    RETURN_IF_ERROR(NeedScope(r, "read"));
    ASSIGN_OR_RETURN(auto services, store_->ListServices());
    json items = json::array();
    for (const auto& s : services) items.push_back(ServiceJson(s, r.host));
    return Json(200, {{"items", std::move(items)}});
  }
  if (p.size() == 1 && r.method == "POST") {
    RETURN_IF_ERROR(NeedScope(r, "deploy"));
    ASSIGN_OR_RETURN(json body, ParseBody(r));
    if (!body.contains("name") || !body["name"].is_string()) {
      return absl::InvalidArgumentError("name: the service needs a name");
    }
    return ApplyService(body["name"].get<std::string>(), body, true, r.host);
  }
  if (p.size() < 2) return absl::NotFoundError("no such services route");
  const std::string& name = p[1];
  if (p.size() == 2 && r.method == "PUT") {
    RETURN_IF_ERROR(NeedScope(r, "deploy"));
    ASSIGN_OR_RETURN(json body, ParseBody(r));
    return ApplyService(name, body, false, r.host);
  }
  RETURN_IF_ERROR(NeedScope(r, r.method == "GET" ? "read" : "deploy"));
  ASSIGN_OR_RETURN(auto service, store_->FindService(name));
  if (!service) return absl::NotFoundError(StrCat("no service named '", name, "'"));
  if (p.size() == 2 && r.method == "GET") return Json(200, ServiceJson(*service, r.host));
  if (p.size() == 2 && r.method == "DELETE") {
    std::lock_guard lock(apply_mu_);
    service->deleting = true;
    service->updated_at = NowMs();
    RETURN_IF_ERROR(store_->UpdateService(*service));
    controller_->Event(name, "service/" + name, "Deleting", "replicas drain, then it goes");
    controller_->Wake();
    traffic_->Forget(name);
    return Json(202, ServiceJson(*service, r.host));
  }
  const std::string& what = p.size() >= 3 ? p[2] : "";
  if (p.size() == 3 && r.method == "GET" && what == "revisions") {
    ASSIGN_OR_RETURN(auto revisions, store_->ListRevisions(name));
    json items = json::array();
    for (const auto& rev : revisions) {
      items.push_back({{"number", rev.number}, {"status", rev.status}, {"reason", rev.reason},
                       {"spec", rev.spec}, {"created_at", TimeText(rev.created_at)},
                       {"serving", rev.number == service->current_revision}});
    }
    return Json(200, {{"items", std::move(items)}});
  }
  if (p.size() == 3 && r.method == "GET" && what == "replicas") {
    ASSIGN_OR_RETURN(auto replicas, store_->ListReplicas(name));
    json items = json::array();
    for (const auto& rep : replicas) {
      items.push_back({{"id", rep.id}, {"revision", rep.revision}, {"state", rep.state},
                       {"pid", rep.pid}, {"restarts", rep.restarts}, {"reason", rep.reason},
                       {"created_at", TimeText(rep.created_at)},
                       {"ready_at", rep.ready_at ? json(TimeText(rep.ready_at)) : json(nullptr)}});
    }
    return Json(200, {{"items", std::move(items)}});
  }
  if (p.size() == 3 && r.method == "GET" && what == "metrics") {
    json series = traffic_->Series(name, NowMs());
    return Json(200, series);
  }
  if (p.size() == 3 && r.method == "GET" && what == "sample-request") {
    ASSIGN_OR_RETURN(auto model, store_->FindModel(service->spec.value("model", "")));
    if (!model) return absl::NotFoundError("the service's model is gone");
    size_t elements = 0;
    return Json(200, SampleRequest(*model, service->spec, &elements));
  }
  if (p.size() == 3 && r.method == "GET" && what == "logs") {
    ASSIGN_OR_RETURN(auto replicas, store_->ListReplicas(name));
    const std::string only = r.query["replica"];
    ASSIGN_OR_RETURN(const int64_t tail_lines, QueryInt(r, "tail", 0, 10000, 200));
    const int tail = static_cast<int>(tail_lines);
    std::string text;
    for (const auto& rep : replicas) {
      if (!only.empty() && rep.id != only) continue;
      std::istringstream in(controller_->driver().LogTail(rep.id, 1024 * 1024));
      std::vector<std::string> lines;
      std::string line;
      while (std::getline(in, line)) lines.push_back(line);
      const size_t from = lines.size() > static_cast<size_t>(tail) ? lines.size() - tail : 0;
      for (size_t i = from; i < lines.size(); ++i) StrAppend(&text, "[", rep.id, "] ", lines[i], "\n");
    }
    return ApiResponse{200, std::move(text), "text/plain; charset=utf-8", {}};
  }
  if (p.size() == 3 && r.method == "POST" && what == "rollback") {
    ASSIGN_OR_RETURN(auto revisions, store_->ListRevisions(name));
    const RevisionRecord* previous = nullptr;
    for (const auto& rev : revisions) {
      if (rev.number < service->current_revision && rev.status != "Failed") previous = &rev;
    }
    if (previous == nullptr) {
      return absl::FailedPreconditionError(
          StrCat("service '", name, "' has no earlier working revision to roll back to"));
    }
    json body = previous->spec;
    body.erase("model_sha256");
    body.erase("model_format");
    if (body.contains("resources")) body["resources"].erase("memory_bytes");  // derived again
    body["replicas"] = service->spec.value("replicas", 1);
    ASSIGN_OR_RETURN(auto model, store_->FindModel(body.value("model", "")));
    if (!model || model->sha256 != previous->spec.value("model_sha256", "")) {
      return absl::FailedPreconditionError(StrCat(
          "revision ", previous->number, " served a version of model '", body.value("model", ""),
          "' that has since been replaced; upload it again to roll back"));
    }
    controller_->Event(name, "service/" + name, "RollingBack",
                       StrCat("to the spec of revision ", previous->number));
    return ApplyService(name, body, false, r.host);
  }
  return absl::NotFoundError(StrCat("no route ", r.method, " /api/v1/services/", name, "/", what));
}

}  // namespace berth::control
