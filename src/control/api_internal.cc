#include "control/api_internal.h"

#include <charconv>

#include "common/strings.h"

namespace berth::control::api_internal {

using nlohmann::json;

ApiResponse Json(int status, const json& doc) {
  return ApiResponse{status, doc.dump(), "application/json", {}};
}

ApiResponse NoContent() { return ApiResponse{204, "", "application/json", {}}; }

absl::StatusOr<json> ParseBody(const ApiRequest& r) {
  if (r.body.empty()) return absl::InvalidArgumentError("the request needs a JSON body");
  auto doc = json::parse(r.body, nullptr, false);
  if (doc.is_discarded()) return absl::InvalidArgumentError("the body is not valid JSON");
  if (!doc.is_object()) return absl::InvalidArgumentError("the body must be a JSON object");
  return doc;
}

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

absl::StatusOr<std::string> StringField(const json& obj, const char* key, const std::string& path,
                                        std::string fallback) {
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

}  // namespace berth::control::api_internal
