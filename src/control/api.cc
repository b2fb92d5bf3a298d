#include "control/api.h"

#include <cstdlib>
#include <filesystem>
#include <set>

#include "absl/strings/escaping.h"
#include "common/error_mapping.h"
#include "common/status_macros.h"
#include "common/strings.h"
#include "control/api_internal.h"
#include "spdlog/spdlog.h"

namespace berth::control {
namespace {

namespace fs = std::filesystem;

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

ControlApi::ControlApi(const ApiOptions& options, Store* store, Controller* controller,
                       Authenticator* auth, routing::TrafficStats* traffic)
    : options_(options),
      store_(store),
      controller_(controller),
      auth_(auth),
      traffic_(traffic),
      routes_(std::make_unique<ScopeAuthorizer>()) {
  std::error_code ec;
  fs::create_directories(options_.data_dir + "/tmp", ec);
  fs::create_directories(options_.data_dir + "/models", ec);
  AddKeyRoutes();
  AddModelRoutes();
  AddServiceRoutes();
  AddRolloutRoutes();
  AddServerRoutes();
}

void ControlApi::AddRoute(std::string method, std::string pattern, Access access,
                          ApiHandler handler) {
  const std::string name = StrCat(method, " ", pattern);
  // The table is the program's own: a clash is a programming error, found by every test.
  if (auto status = routes_.Add({std::move(method), std::move(pattern), access,
                                 std::move(handler)});
      !status.ok()) {
    spdlog::critical("api: {}", Msg(status));
    std::abort();
  }
}

absl::Status ControlApi::Authorize(ApiRequest& request) const {
  return routes_.Resolve(request).status();
}

bool ControlApi::IsValidModelName(std::string_view name) {
  if (name.empty() || name.size() > 128) return false;
  for (char c : name) {
    const bool alnum = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
    if (!alnum && c != '_' && c != '.' && c != '-') return false;
  }
  const char first = name.front();
  return first != '_' && first != '.' && first != '-';
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
  auto models = store_->ListModelVersions("");
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


ApiResponse ControlApi::Handle(ApiRequest& request) {
  absl::StatusOr<ApiResponse> response;
  try {
    response = routes_.Dispatch(request);
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
  ApiResponse error =
      api_internal::Json(common::HttpStatusFromStatus(status), {{"error", Msg(status)}});
  if (common::IsRetryable(status)) error.headers.emplace_back("Retry-After", "1");
  if (const std::string allow = common::AllowedMethods(status); !allow.empty()) {
    error.headers.emplace_back("Allow", allow);
  }
  if (error.status >= 500) spdlog::error("api: {}", Msg(status));
  return error;
}

}  // namespace berth::control
