#include "net/http_get.h"

#include <curl/curl.h>

#include <memory>
#include <mutex>

#include "common/error_mapping.h"
#include "common/strings.h"

namespace berth::net {
namespace {

struct Transfer {
  std::string url;
  std::string display;
  CURL* curl = nullptr;
  CurlGuard guard;
  const GetOptions* options = nullptr;
  GetResult result;
  bool wrong_type = false;
  bool too_large = false;
  long status = 0;
  char error_text[CURL_ERROR_SIZE] = "";
};

// Content-Type without parameters, lower case.
std::string MediaType(const char* header) {
  std::string type;
  for (const char* p = header; p && *p && *p != ';' && *p != ' '; ++p) {
    type.push_back(static_cast<char>(*p >= 'A' && *p <= 'Z' ? *p - 'A' + 'a' : *p));
  }
  return type;
}

size_t OnBody(char* data, size_t size, size_t count, void* user) {
  auto* t = static_cast<Transfer*>(user);
  const size_t bytes = size * count;
  if (t->status == 0) {
    curl_easy_getinfo(t->curl, CURLINFO_RESPONSE_CODE, &t->status);
    char* type = nullptr;
    curl_easy_getinfo(t->curl, CURLINFO_CONTENT_TYPE, &type);
    t->result.content_type = MediaType(type);
    if (t->status >= 200 && t->status < 300 && !t->options->content_types.empty()) {
      bool known = false;
      for (const std::string& prefix : t->options->content_types) {
        known = known || t->result.content_type.starts_with(prefix);
      }
      if (!known) {
        t->wrong_type = true;
        return 0;
      }
    }
  }
  if (t->status < 200 || t->status >= 300) return 0;  // the status is all the message needs
  if (bytes > t->options->max_bytes - t->result.body.size()) {
    t->too_large = true;
    return 0;
  }
  t->result.body.append(data, bytes);
  return bytes;
}


absl::Status Outcome(Transfer& t, CURLcode rc) {
  const GetOptions& o = *t.options;
  const std::string& url = t.display;
  if (!t.guard.refused.empty()) {
    return absl::InvalidArgumentError(StrCat(
        url, ": refused to connect: ", t.guard.refused,
        " (internal addresses are not fetched unless the operator allows them with "
        "--fetch-allow)"));
  }
  if (t.too_large || rc == CURLE_FILESIZE_EXCEEDED) {
    return common::PayloadTooLargeError(
        StrCat(url, ": the answer is larger than the limit of ", o.max_bytes, " bytes"));
  }
  if (t.wrong_type) {
    std::string expected;
    for (const std::string& type : o.content_types) {
      StrAppend(&expected, expected.empty() ? "" : " or ", type, type.ends_with('/') ? "*" : "");
    }
    return absl::InvalidArgumentError(StrCat(
        url, ": the answer's Content-Type is '",
        t.result.content_type.empty() ? "(none)" : t.result.content_type, "', expected ",
        expected));
  }
  if (rc == CURLE_TOO_MANY_REDIRECTS) {
    return absl::InvalidArgumentError(StrCat(url, ": more than ", o.max_redirects, " redirects"));
  }
  if (t.status != 0 && (t.status < 200 || t.status >= 300)) {
    return absl::InvalidArgumentError(StrCat(url, ": the server answered HTTP ", t.status));
  }
  const std::string reason = t.error_text[0] ? t.error_text : curl_easy_strerror(rc);
  switch (rc) {
    case CURLE_OK:
      return absl::OkStatus();
    case CURLE_OPERATION_TIMEDOUT:
      return absl::InvalidArgumentError(
          StrCat(url, ": timed out (connect limit ", o.connect_timeout.count(), " ms, total ",
                 o.total_timeout.count(), " ms)"));
    case CURLE_COULDNT_RESOLVE_HOST:
      return absl::InvalidArgumentError(StrCat(url, ": unknown host: ", reason));
    case CURLE_UNSUPPORTED_PROTOCOL:
      return absl::InvalidArgumentError(
          StrCat(url, ": only http:// and https:// URLs are fetched (", reason, ")"));
    default:
      return absl::InvalidArgumentError(StrCat(url, ": cannot fetch: ", reason));
  }
}

// Whether `url` lies under one of `prefixes`, compared after libcurl's normalisation (dot
// segments removed, scheme and host lower-cased), so that "/samples/../api" is not under
// "/samples/".
bool Trusted(const std::string& url, const std::vector<std::string>& prefixes) {
  if (prefixes.empty()) return false;
  std::unique_ptr<CURLU, decltype(&curl_url_cleanup)> parsed(curl_url(), curl_url_cleanup);
  if (!parsed || curl_url_set(parsed.get(), CURLUPART_URL, url.c_str(), 0) != CURLUE_OK) {
    return false;
  }
  char* normal = nullptr;
  if (curl_url_get(parsed.get(), CURLUPART_URL, &normal, 0) != CURLUE_OK) return false;
  const std::string text(normal);
  curl_free(normal);
  if (text.find('@') != std::string::npos) return false;  // no user:password@ tricks
  for (const std::string& prefix : prefixes) {
    if (!prefix.empty() && text.starts_with(prefix)) return true;
  }
  return false;
}

}  // namespace

void InitCurlOnce() {
  static std::once_flag once;
  std::call_once(once, [] { curl_global_init(CURL_GLOBAL_DEFAULT); });
}

std::string RedactUrl(std::string_view url) {
  const size_t scheme_end = url.find("://");
  if (scheme_end == std::string_view::npos) return std::string(url.substr(0, 200));
  const size_t authority = scheme_end + 3;
  const size_t authority_end = std::min(url.find_first_of("/?#", authority), url.size());
  const size_t at = url.substr(authority, authority_end - authority).rfind('@');
  std::string out = StrCat(url.substr(0, authority), at == std::string_view::npos ? "" : "***@",
                           url.substr(at == std::string_view::npos ? authority : authority + at + 1));
  const size_t query = out.find_first_of("?#");
  if (query != std::string::npos) out.replace(query, std::string::npos, "?<redacted>");
  if (out.size() > 300) out = StrCat(out.substr(0, 300), "...");
  return out;
}

std::vector<absl::StatusOr<GetResult>> GetAll(std::span<const std::string> urls,
                                              const GetOptions& options) {
  InitCurlOnce();
  std::vector<absl::StatusOr<GetResult>> results;
  std::vector<std::unique_ptr<Transfer>> transfers;
  std::unique_ptr<CURLM, decltype(&curl_multi_cleanup)> multi(curl_multi_init(),
                                                              curl_multi_cleanup);
  if (!multi) {
    results.assign(urls.size(), absl::InternalError("cannot initialise libcurl"));
    return results;
  }
  for (const std::string& url : urls) {
    auto t = std::make_unique<Transfer>();
    t->url = url;
    t->display = RedactUrl(url);
    t->options = &options;
    t->guard.policy = options.policy;
    t->curl = curl_easy_init();
    transfers.push_back(std::move(t));
  }
  for (auto& t : transfers) {
    CURL* c = t->curl;
    if (c == nullptr) continue;
    const bool trusted = Trusted(t->url, options.trusted_prefixes);
    curl_easy_setopt(c, CURLOPT_URL, t->url.c_str());
    curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(c, CURLOPT_REDIR_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, trusted ? 0L : 1L);
    curl_easy_setopt(c, CURLOPT_MAXREDIRS, options.max_redirects);
    curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, static_cast<long>(options.connect_timeout.count()));
    curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, static_cast<long>(options.total_timeout.count()));
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c, CURLOPT_MAXFILESIZE_LARGE, static_cast<curl_off_t>(options.max_bytes));
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, OnBody);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, t.get());
    curl_easy_setopt(c, CURLOPT_ERRORBUFFER, t->error_text);
    curl_easy_setopt(c, CURLOPT_USERAGENT, "berth-fetch");
    curl_easy_setopt(c, CURLOPT_ACCEPT_ENCODING, "");
    curl_easy_setopt(c, CURLOPT_PRIVATE, t.get());
    if (!trusted) GuardCurl(c, &t->guard);
    curl_multi_add_handle(multi.get(), c);
  }
  std::vector<CURLcode> codes(transfers.size(), CURLE_OK);
  int running = 0;
  do {
    if (curl_multi_perform(multi.get(), &running) != CURLM_OK) break;
    if (running > 0) curl_multi_poll(multi.get(), nullptr, 0, 100, nullptr);
  } while (running > 0);
  int left = 0;
  while (CURLMsg* message = curl_multi_info_read(multi.get(), &left)) {
    if (message->msg != CURLMSG_DONE) continue;
    for (size_t i = 0; i < transfers.size(); ++i) {
      if (transfers[i]->curl == message->easy_handle) codes[i] = message->data.result;
    }
  }
  for (size_t i = 0; i < transfers.size(); ++i) {
    Transfer& t = *transfers[i];
    if (t.curl == nullptr) {
      results.emplace_back(absl::InternalError("cannot initialise libcurl"));
      continue;
    }
    if (t.status == 0) curl_easy_getinfo(t.curl, CURLINFO_RESPONSE_CODE, &t.status);
    absl::Status status = Outcome(t, codes[i]);
    curl_multi_remove_handle(multi.get(), t.curl);
    curl_easy_cleanup(t.curl);
    if (status.ok()) {
      results.emplace_back(std::move(t.result));
    } else {
      results.emplace_back(std::move(status));
    }
  }
  return results;
}

}  // namespace berth::net
