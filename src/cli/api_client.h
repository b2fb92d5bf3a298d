// The CLI's HTTP client of `berth server`: one base URL, the Bearer key, JSON in and out, and
// every failure as an absl::Status a person can act on (the server's {"error": ...} message,
// with the HTTP status attached; see HttpStatusOf).
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>

#include "absl/status/statusor.h"
#include "nlohmann/json.hpp"

namespace berth::cli {

// The HTTP status a failed call answered with, or 0 when the call never got an answer.
int HttpStatusOf(const absl::Status& status);

// Maps an HTTP error answer to a Status with the server's message (or the body's first line
// when it is not berth's JSON error) and the HTTP status attached. Exposed for tests.
absl::Status StatusFromHttpError(int http_status, std::string_view body);

// Percent-encodes one path segment or query value.
std::string UrlEncode(std::string_view text);

// Called during an upload with the bytes sent so far and the total.
using UploadProgress = std::function<void(uint64_t sent, uint64_t total)>;

// One client per command. Not thread-safe (it owns one libcurl easy handle).
class ApiClient {
 public:
  struct Options {
    std::string server;  // normalized base URL, no trailing slash
    std::string key;
    std::chrono::milliseconds connect_timeout{5000};
    std::chrono::milliseconds request_timeout{60000};  // for every call but uploads
    // An upload fails when it stalls (no bytes either way) this long; the server probes the
    // model before answering, so this also bounds the probe.
    std::chrono::milliseconds upload_stall_timeout{600000};
  };

  static absl::StatusOr<std::unique_ptr<ApiClient>> Create(Options options);
  ~ApiClient();
  ApiClient(const ApiClient&) = delete;
  ApiClient& operator=(const ApiClient&) = delete;

  const std::string& server() const { return options_.server; }
  const std::string& key() const { return options_.key; }

  // `path` starts with '/' and is already encoded. A 204 or empty answer is JSON null.
  absl::StatusOr<nlohmann::json> Get(std::string_view path);
  absl::StatusOr<nlohmann::json> Post(std::string_view path, const nlohmann::json& body);
  absl::StatusOr<nlohmann::json> Put(std::string_view path, const nlohmann::json& body);
  // An RFC 7386 merge patch (application/merge-patch+json).
  absl::StatusOr<nlohmann::json> Patch(std::string_view path, const nlohmann::json& body);
  absl::StatusOr<nlohmann::json> Delete(std::string_view path);
  // A text/plain answer (logs), returned as it came.
  absl::StatusOr<std::string> GetText(std::string_view path);
  // POST of a file as application/octet-stream, streamed from disk (never held in memory).
  absl::StatusOr<nlohmann::json> UploadFile(std::string_view path, const std::string& file,
                                            const UploadProgress& progress);

 private:
  struct Request;
  struct Response {
    long http_status = 0;
    std::string body;
  };
  ApiClient(Options options, void* curl);
  absl::StatusOr<Response> Perform(const Request& request);
  // The JSON of a 2xx answer (null when empty); the server's error otherwise.
  absl::StatusOr<nlohmann::json> DecodeJson(const Request& request,
                                            absl::StatusOr<Response> response);
  absl::StatusOr<nlohmann::json> JsonCall(std::string_view method, std::string_view path,
                                          const nlohmann::json* body);

  Options options_;
  void* curl_;  // CURL*, kept out of this header
};

}  // namespace berth::cli
