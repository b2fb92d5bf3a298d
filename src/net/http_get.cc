#include "net/http_get.h"

#include <curl/curl.h>

#include <algorithm>
#include <condition_variable>
#include <deque>
#include <map>
#include <memory>
#include <mutex>

#include "common/error_mapping.h"
#include "common/strings.h"
#include "net/http_framing.h"

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

namespace {

// The host a URL names, lower case ("" when it has none): the key of the per-host limit.
std::string HostOf(const std::string& url) {
  std::unique_ptr<CURLU, decltype(&curl_url_cleanup)> parsed(curl_url(), curl_url_cleanup);
  if (!parsed || curl_url_set(parsed.get(), CURLUPART_URL, url.c_str(), 0) != CURLUE_OK) {
    return "";
  }
  char* host = nullptr;
  if (curl_url_get(parsed.get(), CURLUPART_HOST, &host, 0) != CURLUE_OK) return "";
  std::string out(host);
  curl_free(host);
  for (char& c : out) c = static_cast<char>(c >= 'A' && c <= 'Z' ? c - 'A' + 'a' : c);
  return out;
}

void Configure(Transfer& t) {
  CURL* c = t.curl;
  const GetOptions& options = *t.options;
  const bool trusted = Trusted(t.url, options.trusted_prefixes);
  curl_easy_setopt(c, CURLOPT_URL, t.url.c_str());
  curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
  curl_easy_setopt(c, CURLOPT_REDIR_PROTOCOLS_STR, "http,https");
  curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, trusted ? 0L : 1L);
  curl_easy_setopt(c, CURLOPT_MAXREDIRS, options.max_redirects);
  curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS,
                   static_cast<long>(options.connect_timeout.count()));
  curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, static_cast<long>(options.total_timeout.count()));
  curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(c, CURLOPT_MAXFILESIZE_LARGE, static_cast<curl_off_t>(options.max_bytes));
  curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, OnBody);
  curl_easy_setopt(c, CURLOPT_WRITEDATA, &t);
  curl_easy_setopt(c, CURLOPT_ERRORBUFFER, t.error_text);
  curl_easy_setopt(c, CURLOPT_USERAGENT, "berth-fetch");
  curl_easy_setopt(c, CURLOPT_ACCEPT_ENCODING, "");
  if (!trusted) GuardCurl(c, &t.guard);
}

using SteadyClock = std::chrono::steady_clock;

// One call of Fetch: its results fill in as its downloads end.
struct Job {
  GetResults results;
  size_t left = 0;
  std::function<void(GetResults)> done;
};

// One URL of a job, waiting for a slot or running.
struct Download {
  std::shared_ptr<Job> job;
  size_t index = 0;
  std::string url;
  std::string host;
  std::string caller;
  const GetOptions* options = nullptr;
  SteadyClock::time_point deadline;  // of the wait for a slot
  std::unique_ptr<Transfer> transfer;
};

absl::Status StoppingError(std::string_view url) {
  return absl::UnavailableError(StrCat(RedactUrl(url), ": the server is shutting down"));
}

// How many of a key's downloads run: a lookup that adds no entry, so that hosts and callers
// that never got a slot leave nothing behind.
int Running(const std::map<std::string, int>& counts, const std::string& key) {
  auto it = counts.find(key);
  return it == counts.end() ? 0 : it->second;
}

void Finish(Download& d, absl::StatusOr<GetResult> result) {
  Job& job = *d.job;
  job.results[d.index] = std::move(result);
  if (--job.left > 0) return;
  try {
    job.done(std::move(job.results));
  } catch (const std::exception& e) {
    CountUnhandledException("image download callback", e.what());
  } catch (...) {
    CountUnhandledException("image download callback", "an exception of unknown type");
  }
}

}  // namespace

struct Fetcher::State {
  explicit State(const FetchLimits& l) : limits(l), multi(curl_multi_init(), curl_multi_cleanup) {}

  const FetchLimits limits;
  std::unique_ptr<CURLM, decltype(&curl_multi_cleanup)> multi;

  mutable std::mutex mu;
  std::vector<Download> incoming;  // guarded by mu
  bool stopping = false;           // guarded by mu
  Counts counts;                   // guarded by mu

  // The fetcher thread's own.
  std::map<std::string, std::deque<Download>> waiting;  // by caller, oldest first
  std::string last_caller;                              // whose turn came last
  std::map<CURL*, Download> running;
  std::map<std::string, int> running_per_host;
  std::map<std::string, int> running_per_caller;
  size_t waiting_count = 0;

  void Admit(std::vector<Download> batch) {
    for (Download& d : batch) {
      if (waiting_count >= limits.max_waiting) {
        Finish(d, absl::UnavailableError(StrCat(
                      RedactUrl(d.url), ": ", limits.max_waiting,
                      " downloads are already waiting for a slot; retry in a moment")));
        continue;
      }
      ++waiting_count;
      waiting[d.caller].push_back(std::move(d));
    }
  }

  // Fails downloads that waited for a slot past their deadline; returns the next deadline.
  SteadyClock::time_point Expire(SteadyClock::time_point now) {
    SteadyClock::time_point next = SteadyClock::time_point::max();
    for (auto it = waiting.begin(); it != waiting.end();) {
      auto& queue = it->second;
      for (auto d = queue.begin(); d != queue.end();) {
        if (d->deadline <= now) {
          Finish(*d, absl::UnavailableError(StrCat(
                         RedactUrl(d->url), ": no download slot within ",
                         d->options->total_timeout.count(),
                         " ms (too many downloads at once); retry in a moment")));
          d = queue.erase(d);
          --waiting_count;
        } else {
          next = std::min(next, d->deadline);
          ++d;
        }
      }
      it = queue.empty() ? waiting.erase(it) : std::next(it);
    }
    return next;
  }

  // Starts waiting downloads while slots are free, one per caller per turn, callers in turn.
  void Start() {
    bool started = true;
    while (started && static_cast<int>(running.size()) < limits.max_running && !waiting.empty()) {
      started = false;
      // The callers after the one whose turn came last, then the rest.
      std::vector<std::string> order;
      for (auto it = waiting.upper_bound(last_caller); it != waiting.end(); ++it) {
        order.push_back(it->first);
      }
      for (auto it = waiting.begin(); it != waiting.end() && it->first <= last_caller; ++it) {
        order.push_back(it->first);
      }
      for (const std::string& caller : order) {
        if (static_cast<int>(running.size()) >= limits.max_running) break;
        if (Running(running_per_caller, caller) >= limits.max_per_caller) continue;
        auto& queue = waiting[caller];
        auto d = std::find_if(queue.begin(), queue.end(), [&](const Download& x) {
          return Running(running_per_host, x.host) < limits.max_per_host;
        });
        if (d == queue.end()) continue;
        Download download = std::move(*d);
        queue.erase(d);
        --waiting_count;
        if (queue.empty()) waiting.erase(caller);
        last_caller = caller;
        started = true;
        Launch(std::move(download));
      }
    }
  }

  void Launch(Download d) {
    auto t = std::make_unique<Transfer>();
    t->url = d.url;
    t->display = RedactUrl(d.url);
    t->options = d.options;
    t->guard.policy = d.options->policy;
    t->curl = curl_easy_init();
    if (t->curl == nullptr) return Finish(d, absl::InternalError("cannot initialise libcurl"));
    Configure(*t);
    if (curl_multi_add_handle(multi.get(), t->curl) != CURLM_OK) {
      curl_easy_cleanup(t->curl);
      return Finish(d, absl::InternalError("cannot start a download"));
    }
    ++running_per_host[d.host];
    ++running_per_caller[d.caller];
    CURL* handle = t->curl;
    d.transfer = std::move(t);
    running.emplace(handle, std::move(d));
  }

  // Takes a finished (or abandoned) transfer off the multi handle and reports it.
  void Complete(CURL* handle, CURLcode rc, bool stopping) {
    auto it = running.find(handle);
    if (it == running.end()) return;
    Download d = std::move(it->second);
    running.erase(it);
    Release(running_per_host, d.host);
    Release(running_per_caller, d.caller);
    Transfer& t = *d.transfer;
    if (t.status == 0) curl_easy_getinfo(t.curl, CURLINFO_RESPONSE_CODE, &t.status);
    absl::Status status = stopping ? StoppingError(t.url) : Outcome(t, rc);
    curl_multi_remove_handle(multi.get(), t.curl);
    curl_easy_cleanup(t.curl);
    if (status.ok()) {
      Finish(d, std::move(t.result));
    } else {
      Finish(d, std::move(status));
    }
  }

  static void Release(std::map<std::string, int>& counts, const std::string& key) {
    auto it = counts.find(key);
    if (it != counts.end() && --it->second <= 0) counts.erase(it);
  }

  void Publish() {
    std::lock_guard<std::mutex> lock(mu);
    counts.waiting = waiting_count + incoming.size();
    counts.running = running.size();
  }
};

Fetcher::Fetcher(const FetchLimits& limits) : state_(std::make_unique<State>(limits)) {
  InitCurlOnce();
  thread_ = std::thread([this] { Run(); });
}

Fetcher::~Fetcher() {
  {
    std::lock_guard<std::mutex> lock(state_->mu);
    state_->stopping = true;
  }
  if (state_->multi) curl_multi_wakeup(state_->multi.get());
  thread_.join();
}

Fetcher::Counts Fetcher::counts() const {
  std::lock_guard<std::mutex> lock(state_->mu);
  return state_->counts;
}

void Fetcher::Fetch(std::vector<std::string> urls, std::string caller, const GetOptions& options,
                    std::function<void(GetResults)> done) {
  auto job = std::make_shared<Job>();
  job->results.assign(urls.size(), absl::UnknownError("not fetched"));
  job->left = urls.size();
  job->done = std::move(done);
  if (urls.empty()) return job->done({});
  const auto deadline = SteadyClock::now() + options.total_timeout;
  std::vector<Download> batch;
  for (size_t i = 0; i < urls.size(); ++i) {
    Download d;
    d.job = job;
    d.index = i;
    d.host = HostOf(urls[i]);
    d.url = std::move(urls[i]);
    d.caller = caller;
    d.options = &options;
    d.deadline = deadline;
    batch.push_back(std::move(d));
  }
  bool refused = false;
  {
    std::lock_guard<std::mutex> lock(state_->mu);
    refused = state_->stopping || !state_->multi;
    if (!refused) {
      for (Download& d : batch) state_->incoming.push_back(std::move(d));
      state_->counts.waiting += urls.size();
    }
  }
  if (refused) {
    for (Download& d : batch) {
      Finish(d, StoppingError(d.url));
    }
    return;
  }
  curl_multi_wakeup(state_->multi.get());
}

void Fetcher::Run() {
  State& s = *state_;
  if (!s.multi) return;
  while (true) {
    std::vector<Download> batch;
    bool stopping = false;
    {
      std::lock_guard<std::mutex> lock(s.mu);
      batch.swap(s.incoming);
      stopping = s.stopping;
    }
    s.Admit(std::move(batch));
    if (stopping) break;
    SteadyClock::time_point next = s.Expire(SteadyClock::now());
    s.Start();
    int still_running = 0;
    curl_multi_perform(s.multi.get(), &still_running);
    int left = 0;
    while (CURLMsg* message = curl_multi_info_read(s.multi.get(), &left)) {
      if (message->msg == CURLMSG_DONE) {
        s.Complete(message->easy_handle, message->data.result, false);
      }
    }
    s.Start();  // slots freed by what just finished
    s.Publish();
    // Sleep until a socket is ready, libcurl's own timeout, a wait deadline or a wake-up.
    long wait_ms = 1000;
    long curl_ms = -1;
    curl_multi_timeout(s.multi.get(), &curl_ms);
    if (curl_ms >= 0) wait_ms = std::min(wait_ms, curl_ms);
    if (next != SteadyClock::time_point::max()) {
      const auto until = std::chrono::duration_cast<std::chrono::milliseconds>(
                             next - SteadyClock::now()).count() + 1;
      wait_ms = std::clamp<long>(until, 0, wait_ms);
    }
    if (wait_ms > 0) curl_multi_poll(s.multi.get(), nullptr, 0, static_cast<int>(wait_ms), nullptr);
  }
  // Stopping: everything still queued or running fails.
  while (!s.running.empty()) s.Complete(s.running.begin()->first, CURLE_OK, true);
  for (auto& [caller, queue] : s.waiting) {
    for (Download& d : queue) {
      Finish(d, StoppingError(d.url));
    }
  }
  s.waiting.clear();
  s.waiting_count = 0;
  s.Publish();
}

GetResults GetAll(std::span<const std::string> urls, const GetOptions& options) {
  FetchLimits unlimited;
  unlimited.max_running = unlimited.max_per_host = unlimited.max_per_caller = 1 << 20;
  unlimited.max_waiting = SIZE_MAX;
  GetResults out;
  {
    Fetcher fetcher(unlimited);
    std::mutex mu;
    std::condition_variable cv;
    bool ready = false;
    fetcher.Fetch(std::vector<std::string>(urls.begin(), urls.end()), "", options,
                  [&](GetResults results) {
                    std::lock_guard<std::mutex> lock(mu);
                    out = std::move(results);
                    ready = true;
                    cv.notify_one();
                  });
    std::unique_lock<std::mutex> lock(mu);
    cv.wait(lock, [&] { return ready; });
  }
  return out;
}

}  // namespace berth::net
