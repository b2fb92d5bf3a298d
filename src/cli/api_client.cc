#include "cli/api_client.h"

#include <curl/curl.h>
#include <sys/stat.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <cstdio>
#include <cstring>
#include <mutex>

#include "absl/strings/cord.h"
#include "common/error_mapping.h"
#include "common/strings.h"

namespace berth::cli {
namespace {

constexpr char kHttpStatusPayload[] = "berth/http-status";
constexpr size_t kMaxResponseBytes = 64 << 20;

CURL* Handle(void* curl) { return static_cast<CURL*>(curl); }

size_t AppendBody(char* data, size_t size, size_t count, void* user) {
  auto* body = static_cast<std::string*>(user);
  const size_t bytes = size * count;
  if (body->size() + bytes > kMaxResponseBytes) return 0;  // aborts the transfer
  body->append(data, bytes);
  return bytes;
}

size_t ReadFromFile(char* buffer, size_t size, size_t count, void* user) {
  FILE* file = static_cast<FILE*>(user);
  const size_t n = std::fread(buffer, 1, size * count, file);
  if (n == 0 && std::ferror(file)) return CURL_READFUNC_ABORT;
  return n;
}

int ReportUpload(void* user, curl_off_t, curl_off_t, curl_off_t total, curl_off_t sent) {
  const auto* progress = static_cast<const UploadProgress*>(user);
  if (*progress && total > 0)
    (*progress)(static_cast<uint64_t>(sent), static_cast<uint64_t>(total));
  return 0;
}

std::string FirstLine(std::string_view text) {
  while (!text.empty() && (text.front() == ' ' || text.front() == '\n' || text.front() == '\r')) {
    text.remove_prefix(1);
  }
  text = text.substr(0, std::min(text.find_first_of("\r\n"), size_t{200}));
  return std::string(text);
}

}  // namespace

struct ApiClient::Request {
  std::string_view method;
  std::string_view path;
  const std::string* body = nullptr;  // sent as is with `content_type`
  std::string_view content_type;
  std::string_view accept = "application/json";
  FILE* upload = nullptr;  // streamed instead of `body`
  uint64_t upload_size = 0;
  const UploadProgress* progress = nullptr;
};

int HttpStatusOf(const absl::Status& status) {
  auto payload = status.GetPayload(kHttpStatusPayload);
  if (!payload.has_value()) return 0;
  const std::string text(*payload);
  int value = 0;
  std::from_chars(text.data(), text.data() + text.size(), value);
  return value;
}

absl::Status StatusFromHttpError(int http_status, std::string_view body) {
  std::string message;
  nlohmann::json document = nlohmann::json::parse(body, nullptr, /*allow_exceptions=*/false);
  if (document.is_object() && document.contains("error") && document["error"].is_string()) {
    message = document["error"].get<std::string>();
  } else {
    message = FirstLine(body);
    message = message.empty() ? StrCat("the server answered HTTP ", http_status)
                              : StrCat("the server answered HTTP ", http_status, ": ", message);
  }
  absl::Status status;
  switch (http_status) {
    case 400:
    case 415:
    case 422:
      status = absl::InvalidArgumentError(message);
      break;
    case 401:
      status = absl::UnauthenticatedError(message);
      break;
    case 403:
      status = absl::PermissionDeniedError(message);
      break;
    case 404:
      status = absl::NotFoundError(message);
      break;
    case 409:
      status = absl::AlreadyExistsError(message);
      break;
    case 413:
      status = common::PayloadTooLargeError(message);
      break;
    case 429:
      status = absl::ResourceExhaustedError(message);
      break;
    case 501:
      status = absl::UnimplementedError(message);
      break;
    case 502:
    case 503:
      status = absl::UnavailableError(message);
      break;
    case 504:
      status = absl::DeadlineExceededError(message);
      break;
    default:
      status =
          http_status < 500 ? absl::FailedPreconditionError(message) : absl::InternalError(message);
  }
  status.SetPayload(kHttpStatusPayload, absl::Cord(StrCat(http_status)));
  return status;
}

std::string UrlEncode(std::string_view text) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  std::string out;
  for (unsigned char c : text) {
    if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' ||
        c == '.' || c == '_' || c == '~') {
      out.push_back(static_cast<char>(c));
    } else {
      out.push_back('%');
      out.push_back(kHex[c >> 4]);
      out.push_back(kHex[c & 0xf]);
    }
  }
  return out;
}

absl::StatusOr<std::unique_ptr<ApiClient>> ApiClient::Create(Options options) {
  static std::once_flag once;
  static CURLcode init = CURLE_OK;
  std::call_once(once, [] { init = curl_global_init(CURL_GLOBAL_DEFAULT); });
  if (init != CURLE_OK) {
    return absl::InternalError(StrCat("libcurl failed to start: ", curl_easy_strerror(init)));
  }
  CURL* curl = curl_easy_init();
  if (curl == nullptr) return absl::InternalError("libcurl could not create a handle");
  return std::unique_ptr<ApiClient>(new ApiClient(std::move(options), curl));
}

ApiClient::ApiClient(Options options, void* curl) : options_(std::move(options)), curl_(curl) {}

ApiClient::~ApiClient() { curl_easy_cleanup(Handle(curl_)); }

absl::StatusOr<ApiClient::Response> ApiClient::Perform(const Request& request) {
  CURL* curl = Handle(curl_);
  curl_easy_reset(curl);  // keeps the connection cache
  const std::string url = StrCat(options_.server, request.path);
  Response response;
  char error_buffer[CURL_ERROR_SIZE] = {0};
  curl_easy_setopt(curl, CURLOPT_URL, url.c_str());
  curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(curl, CURLOPT_ERRORBUFFER, error_buffer);
  curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, &AppendBody);
  curl_easy_setopt(curl, CURLOPT_WRITEDATA, &response.body);
  curl_easy_setopt(curl, CURLOPT_CONNECTTIMEOUT_MS,
                   static_cast<long>(options_.connect_timeout.count()));
  curl_easy_setopt(curl, CURLOPT_USERAGENT, "berth-cli");

  const std::string authorization = StrCat("Authorization: Bearer ", options_.key);
  const std::string accept = StrCat("Accept: ", request.accept);
  const std::string content_type = StrCat("Content-Type: ", request.content_type);
  curl_slist* headers = curl_slist_append(nullptr, authorization.c_str());
  headers = curl_slist_append(headers, accept.c_str());
  headers = curl_slist_append(headers, "Expect:");  // no 100-continue round trip
  if (!request.content_type.empty()) headers = curl_slist_append(headers, content_type.c_str());
  curl_easy_setopt(curl, CURLOPT_HTTPHEADER, headers);

  const std::string method(request.method);
  if (request.upload != nullptr) {
    curl_easy_setopt(curl, CURLOPT_POST, 1L);
    curl_easy_setopt(curl, CURLOPT_READFUNCTION, &ReadFromFile);
    curl_easy_setopt(curl, CURLOPT_READDATA, request.upload);
    curl_easy_setopt(curl, CURLOPT_POSTFIELDSIZE_LARGE,
                     static_cast<curl_off_t>(request.upload_size));
    curl_easy_setopt(curl, CURLOPT_LOW_SPEED_LIMIT, 1L);
    curl_easy_setopt(curl, CURLOPT_LOW_SPEED_TIME,
                     static_cast<long>(std::chrono::duration_cast<std::chrono::seconds>(
                                           options_.upload_stall_timeout)
                                           .count()));
    if (request.progress != nullptr) {
      curl_easy_setopt(curl, CURLOPT_NOPROGRESS, 0L);
      curl_easy_setopt(curl, CURLOPT_XFERINFOFUNCTION, &ReportUpload);
      curl_easy_setopt(curl, CURLOPT_XFERINFODATA, request.progress);
    }
  } else {
    curl_easy_setopt(curl, CURLOPT_TIMEOUT_MS, static_cast<long>(options_.request_timeout.count()));
    if (method != "GET") curl_easy_setopt(curl, CURLOPT_CUSTOMREQUEST, method.c_str());
    if (request.body != nullptr) {
      curl_easy_setopt(curl, CURLOPT_POSTFIELDS, request.body->data());
      curl_easy_setopt(curl, CURLOPT_POSTFIELDSIZE_LARGE,
                       static_cast<curl_off_t>(request.body->size()));
    }
  }

  const CURLcode code = curl_easy_perform(curl);
  curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &response.http_status);
  curl_easy_setopt(curl, CURLOPT_HTTPHEADER, nullptr);
  curl_slist_free_all(headers);
  const std::string& server = options_.server;
  switch (code) {
    case CURLE_OK:
      return response;
    case CURLE_COULDNT_CONNECT:
      return absl::UnavailableError(
          StrCat("cannot reach the berth server at ", server, ": is `berth server` running?"));
    case CURLE_COULDNT_RESOLVE_HOST:
      return absl::UnavailableError(StrCat("cannot resolve the host of ", server,
                                           ": check --server, BERTH_SERVER or berth login"));
    case CURLE_OPERATION_TIMEDOUT:
      return absl::DeadlineExceededError(StrCat(
          "the berth server at ", server, " did not answer in time (", method, " ", request.path,
          "): try again, or check the server's health with curl ", server, "/readyz"));
    case CURLE_WRITE_ERROR:
      if (response.body.size() + CURL_MAX_WRITE_SIZE > kMaxResponseBytes) {
        return absl::ResourceExhaustedError(StrCat("the answer to ", method, " ", request.path,
                                                   " is larger than 64 MiB; not read"));
      }
      [[fallthrough]];
    default:
      return absl::UnavailableError(
          StrCat(method, " ", server, request.path,
                 " failed: ", error_buffer[0] != '\0' ? error_buffer : curl_easy_strerror(code)));
  }
}

absl::StatusOr<nlohmann::json> ApiClient::JsonCall(std::string_view method, std::string_view path,
                                                   const nlohmann::json* body) {
  std::string text;
  Request request{.method = method, .path = path};
  if (body != nullptr) {
    text = body->dump();
    request.body = &text;
    request.content_type = "application/json";
  }
  return DecodeJson(request, Perform(request));
}

absl::StatusOr<nlohmann::json> ApiClient::DecodeJson(const Request& request,
                                                     absl::StatusOr<Response> response) {
  if (!response.ok()) return response.status();
  if (response->http_status < 200 || response->http_status >= 300) {
    return StatusFromHttpError(static_cast<int>(response->http_status), response->body);
  }
  if (response->body.empty()) return nlohmann::json();
  nlohmann::json document =
      nlohmann::json::parse(response->body, nullptr, /*allow_exceptions=*/false);
  if (document.is_discarded()) {
    return absl::InternalError(StrCat("the server's answer to ", request.method, " ", request.path,
                                      " is not JSON: ", FirstLine(response->body), " (is ",
                                      options_.server, " a berth server?)"));
  }
  return document;
}

absl::StatusOr<nlohmann::json> ApiClient::Get(std::string_view path) {
  return JsonCall("GET", path, nullptr);
}

absl::StatusOr<nlohmann::json> ApiClient::Post(std::string_view path, const nlohmann::json& body) {
  return JsonCall("POST", path, &body);
}

absl::StatusOr<nlohmann::json> ApiClient::Put(std::string_view path, const nlohmann::json& body) {
  return JsonCall("PUT", path, &body);
}

absl::StatusOr<nlohmann::json> ApiClient::Patch(std::string_view path,
                                                const nlohmann::json& body) {
  std::string text = body.dump();
  Request request{.method = "PATCH", .path = path};
  request.body = &text;
  request.content_type = "application/merge-patch+json";
  return DecodeJson(request, Perform(request));
}

absl::StatusOr<nlohmann::json> ApiClient::Delete(std::string_view path) {
  return JsonCall("DELETE", path, nullptr);
}

absl::StatusOr<std::string> ApiClient::GetText(std::string_view path) {
  auto response = Perform({.method = "GET", .path = path, .accept = "text/plain"});
  if (!response.ok()) return response.status();
  if (response->http_status < 200 || response->http_status >= 300) {
    return StatusFromHttpError(static_cast<int>(response->http_status), response->body);
  }
  return std::move(response->body);
}

absl::StatusOr<nlohmann::json> ApiClient::UploadFile(std::string_view path, const std::string& file,
                                                     const UploadProgress& progress) {
  std::unique_ptr<FILE, int (*)(FILE*)> input(std::fopen(file.c_str(), "rb"), &std::fclose);
  struct stat info {};
  if (input == nullptr || fstat(fileno(input.get()), &info) != 0) {
    const int error = errno;
    return absl::NotFoundError(StrCat("cannot read ", file, ": ", std::strerror(error)));
  }
  if (!S_ISREG(info.st_mode)) {
    return absl::InvalidArgumentError(StrCat(file, " is not a regular file"));
  }
  Request request{.method = "POST",
                  .path = path,
                  .content_type = "application/octet-stream",
                  .upload = input.get(),
                  .upload_size = static_cast<uint64_t>(info.st_size),
                  .progress = &progress};
  return DecodeJson(request, Perform(request));
}

}  // namespace berth::cli
