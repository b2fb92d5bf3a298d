#include "gateway/http_front.h"

#include <fcntl.h>
#include <unistd.h>

#include <boost/asio.hpp>
#include <boost/asio/experimental/as_tuple.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <charconv>
#include <filesystem>
#include <fstream>
#include <thread>

#include "absl/cleanup/cleanup.h"
#include "common/error_mapping.h"
#include "common/status_macros.h"
#include "common/strings.h"
#include "common/version.h"
#include "control/states.h"
#include "control/store.h"
#include "gateway/statistics_merge.h"
#include "models/model_fetch.h"
#include "nlohmann/json.hpp"
#include "net/descriptor_limit.h"
#include "net/http_compression.h"
#include "net/http_framing.h"
#include "prometheus/counter.h"
#include "prometheus/histogram.h"
#include "prometheus/registry.h"
#include "prometheus/text_serializer.h"
#include "protocol/infer.h"
#include "protocol/json_writer.h"
#include "spdlog/spdlog.h"

namespace berth::gateway {

extern const char kOpenApiDocument[];

namespace {

namespace net = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
namespace fs = std::filesystem;
using tcp = net::ip::tcp;
using net::awaitable;
constexpr auto kTuple = net::experimental::as_tuple(net::use_awaitable);

using StringResponse = http::response<http::string_body>;
using routing::Endpoint;
using routing::UpstreamConnection;
using berth::net::kIdleTimeout;
constexpr size_t kApiBodyLimit = 4u << 20;

StringResponse Make(unsigned status, std::string body, std::string_view type = "application/json") {
  StringResponse res{static_cast<http::status>(status), 11};
  res.set(http::field::server, "berth");
  res.set(http::field::content_type, type);
  res.body() = std::move(body);
  return res;
}

StringResponse Error(const absl::Status& status) {
  StringResponse res =
      Make(common::HttpStatusFromStatus(status), protocol::JsonErrorBody(Msg(status)));
  if (common::IsRetryable(status)) res.set(http::field::retry_after, "1");
  return res;
}

// {"ready": true} in a repository index request (a body that may be empty or compressed).
absl::StatusOr<bool> IndexReadyOnly(const std::string& text, std::string_view encoding) {
  ASSIGN_OR_RETURN(berth::net::ContentCoding coding, berth::net::ParseContentEncoding(encoding));
  ASSIGN_OR_RETURN(std::string plain, berth::net::Decode(coding, text, 64 << 10));
  if (plain.find_first_not_of(" \t\r\n") == std::string::npos) return false;
  const nlohmann::json body = nlohmann::json::parse(plain, nullptr, false);
  if (!body.is_object() || (body.contains("ready") && !body["ready"].is_boolean())) {
    return absl::InvalidArgumentError(
        "the repository index takes a JSON object such as {\"ready\": true}");
  }
  return body.value("ready", false);
}

std::string PercentDecode(std::string_view s) {
  std::string out;
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '%' && i + 2 < s.size() && isxdigit(static_cast<unsigned char>(s[i + 1])) &&
        isxdigit(static_cast<unsigned char>(s[i + 2]))) {
      out.push_back(static_cast<char>(std::stoi(std::string(s.substr(i + 1, 2)), nullptr, 16)));
      i += 2;
    } else {
      out.push_back(s[i] == '+' ? ' ' : s[i]);
    }
  }
  return out;
}

std::map<std::string, std::string> ParseQuery(std::string_view q) {
  std::map<std::string, std::string> out;
  while (!q.empty()) {
    size_t end = q.find('&');
    std::string_view part = q.substr(0, end);
    size_t eq = part.find('=');
    out[PercentDecode(part.substr(0, eq))] =
        eq == std::string_view::npos ? "" : PercentDecode(part.substr(eq + 1));
    if (end == std::string_view::npos) break;
    q.remove_prefix(end + 1);
  }
  return out;
}

std::string_view ContentTypeFor(const fs::path& path) {
  const std::string ext = path.extension().string();
  if (ext == ".html") return "text/html; charset=utf-8";
  if (ext == ".js" || ext == ".mjs") return "text/javascript; charset=utf-8";
  if (ext == ".css") return "text/css; charset=utf-8";
  if (ext == ".svg") return "image/svg+xml";
  if (ext == ".png") return "image/png";
  if (ext == ".json") return "application/json";
  if (ext == ".ico") return "image/x-icon";
  if (ext == ".woff2") return "font/woff2";
  return "application/octet-stream";
}

}  // namespace

struct HttpFront::Impl {
  HttpFrontOptions options;
  control::ControlApi* api;
  control::Authenticator* auth;
  routing::Router* router;
  Dispatcher* dispatcher;
  std::shared_ptr<prometheus::Registry> registry;

  net::io_context io;
  tcp::acceptor acceptor{io};
  std::unique_ptr<net::thread_pool> api_pool;  // options.api_threads threads
  std::unique_ptr<net::thread_pool> file_pool;  // writes uploads to disk
  std::atomic<int> api_jobs{0};                // API requests between arrival and answer
  int max_api_jobs = 0;                        // 8 per API thread
  prometheus::Counter* api_refused = nullptr;
  std::vector<std::thread> threads;
  int port = 0;
  int max_connections = 0;
  std::atomic<int> open_connections{0};
  std::atomic<uint64_t> refused_connections{0};
  prometheus::Counter* connections_refused = nullptr;
  prometheus::Counter* unhandled_exceptions = nullptr;
  prometheus::Counter* store_errors = nullptr;  // brought up to control::StoreErrorCount()
  // Brought up to control::UnexpectedTransitionCount().
  prometheus::Counter* unexpected_transitions = nullptr;

  awaitable<void> Accept();
  // One connection: ServeRequests under a last-resort handler that logs, counts and answers
  // 500 where no answer had begun.
  awaitable<void> Serve(tcp::socket socket);
  awaitable<void> ServeRequests(beast::tcp_stream& stream, bool* responding);
  // The body a route may take; UINT64_MAX for routes that read none. `hint` names the flag.
  uint64_t BodyLimit(const http::request_header<>& h, std::string_view path,
                     std::string* hint) const;
  awaitable<StringResponse> Api(beast::tcp_stream& stream, beast::flat_buffer& buffer,
                                http::request_parser<http::empty_body>& header, bool* close,
                                bool* body_read);
  // GET /v2/models/stats: the statistics of every ready service `principal` may call, one
  // replica each, in the order of the repository index.
  awaitable<StringResponse> AllStatistics(const control::Principal& principal);
  // A service's statistics (`suffix`: "/stats" or "/versions/N/stats"), summed over every
  // ready replica, so that a client reading them before and after a run sees the service's
  // counts, whichever replica answers. An error when no replica answered.
  awaitable<absl::StatusOr<nlohmann::json>> ServiceStatistics(const Admission& admission,
                                                             const std::string& suffix);
  // GET `target` from one replica on a connection of its own; the body of a 200.
  awaitable<absl::StatusOr<std::string>> FetchFrom(const Endpoint& endpoint,
                                                   const std::string& target);
  // Sends the request to a replica the dispatcher picks, again to another when the first
  // did not answer, at /v2/models/{the replica's model name}`suffix`.
  awaitable<StringResponse> Proxy(http::request<http::string_body>& request, Admission& admission,
                                  std::string suffix, int64_t* batch_rows);
  // Waits while the activator holds the request (Dispatcher::Hold); what Hold answered.
  awaitable<absl::Status> Hold(Admission& admission);
  // Sends a shadow copy of a request to `replica` on a connection of its own, reads the answer
  // and discards it; its figures go to the shadow revision's statistics.
  awaitable<void> Shadow(std::shared_ptr<http::request<http::string_body>> request,
                         Admission admission, std::shared_ptr<Endpoint> replica);
  // The console's files, read once at start (LoadConsole), so that serving one does no disk
  // access on an event loop.
  struct ConsoleFile {
    std::string body;
    std::string_view type;
    bool index = false;  // an index.html: revalidated on every load
  };
  static constexpr size_t kMaxConsoleBytes = 64u << 20;
  std::unordered_map<std::string, ConsoleFile> console_files;
  void LoadConsole();
  StringResponse Static(std::string_view path);
  absl::StatusOr<control::Principal> Authenticate(const http::request_header<>& h,
                                                  bool allow_cookie);
};

absl::StatusOr<control::Principal> HttpFront::Impl::Authenticate(const http::request_header<>& h,
                                                                 bool allow_cookie) {
  auto authorization = h[http::field::authorization];
  auto cookie = h[http::field::cookie];
  const bool has_session = !control::CookieValue(std::string_view(cookie.data(), cookie.size()),
                                                 control::Authenticator::kSessionCookie)
                                .empty();
  if (!authorization.empty() || !allow_cookie || !has_session) {
    return auth->FromAuthorization(std::string_view(authorization.data(), authorization.size()));
  }
  auto principal = auth->FromSessionCookie(std::string_view(cookie.data(), cookie.size()));
  if (!principal.ok()) return principal;
  // A cookie rides along on cross-site requests; the console marks its own.
  if (h.method() != http::verb::get && h.method() != http::verb::head &&
      h["X-Berth-Console"] != "1") {
    return absl::PermissionDeniedError(
        "a console session must send 'X-Berth-Console: 1' on requests that change state");
  }
  return principal;
}

awaitable<void> HttpFront::Impl::Accept() {
  berth::net::AcceptBackoff backoff("gateway");
  net::steady_timer pause(io);
  while (true) {
    auto [ec, socket] = co_await acceptor.async_accept(kTuple);
    if (ec) {
      if (ec == net::error::operation_aborted) co_return;
      if (berth::net::IsOutOfDescriptorsOrMemory(ec)) {
        pause.expires_after(backoff.Failed(ec));
        co_await pause.async_wait(kTuple);
      }
      continue;
    }
    backoff.Succeeded();
    if (open_connections.load(std::memory_order_relaxed) >= max_connections) {
      // Over the limit: answer at once and close. The answer fits in a fresh socket's send
      // buffer, so this write does not block the event loop.
      static const std::string kBusy = [] {
        const std::string body = protocol::JsonErrorBody(
            "the server has too many open connections; retry in a moment");
        return StrCat("HTTP/1.1 503 Service Unavailable\r\nRetry-After: 1\r\n",
                      "Connection: close\r\nContent-Type: application/json\r\n",
                      "Content-Length: ", body.size(), "\r\n\r\n", body);
      }();
      beast::error_code ignored;
      socket.non_blocking(true, ignored);
      socket.write_some(net::buffer(kBusy), ignored);
      socket.shutdown(tcp::socket::shutdown_both, ignored);
      socket.close(ignored);
      connections_refused->Increment();
      const uint64_t n = refused_connections.fetch_add(1, std::memory_order_relaxed) + 1;
      if ((n & (n - 1)) == 0) {
        spdlog::warn("gateway: refused {} connection(s) so far: {} are open (--max-connections)", n,
                     max_connections);
      }
      continue;
    }
    beast::error_code ignored;
    socket.set_option(tcp::no_delay(true), ignored);
    net::co_spawn(io, Serve(std::move(socket)), net::detached);
  }
}

uint64_t HttpFront::Impl::BodyLimit(const http::request_header<>& h, std::string_view path,
                                    std::string* hint) const {
  if (path == "/api/v1" || path.starts_with("/api/v1/")) {
    if (h.method() == http::verb::post && path == "/api/v1/models" &&
        h[http::field::content_type].starts_with("application/octet-stream")) {
      *hint = " (berth server --max-model-bytes)";
      return options.max_model_bytes;
    }
    *hint = "; upload models with Content-Type: application/octet-stream";
    return kApiBodyLimit;
  }
  if (path.starts_with("/v2") || path.starts_with("/services/")) {
    *hint = " (berth server --max-request-bytes)";
    return options.max_request_bytes;
  }
  return UINT64_MAX;  // routes that take no body: it is never read, the connection closes
}

awaitable<void> HttpFront::Impl::Serve(tcp::socket socket) {
  open_connections.fetch_add(1, std::memory_order_relaxed);
  beast::tcp_stream stream(std::move(socket));
  bool responding = false;
  std::string failure;
  try {
    co_await ServeRequests(stream, &responding);
  } catch (const std::exception& e) {
    failure = e.what();
  } catch (...) {
    failure = "an exception of unknown type";
  }
  if (!failure.empty()) {
    berth::net::CountUnhandledException("gateway HTTP connection", failure);
    unhandled_exceptions->Increment();
    if (!responding) {
      StringResponse res = Error(absl::InternalError(
          "the server failed while handling this request (it is logged); retry, and report it "
          "if it persists"));
      res.keep_alive(false);
      res.prepare_payload();
      stream.expires_after(std::chrono::seconds(5));
      co_await http::async_write(stream, res, kTuple);
    }
  }
  beast::error_code ignored;
  stream.socket().shutdown(tcp::socket::shutdown_send, ignored);
  open_connections.fetch_sub(1, std::memory_order_relaxed);
}

awaitable<void> HttpFront::Impl::ServeRequests(beast::tcp_stream& stream, bool* responding) {
  // The buffer's limit bounds what may wait unparsed (a header, a chunk-size line, trailers).
  beast::flat_buffer buffer(berth::net::kReadBufferBytes);
  buffer.reserve(berth::net::kReadBufferBytes);
  while (true) {
    http::request_parser<http::empty_body> header;
    berth::net::ConfigureRequestParser(header);
    header.body_limit(boost::none);
    if (buffer.size() == 0) {
      // Between requests: wait for the next one's first byte, then give its header
      // kHeaderTimeout, so that a trickled header cannot hold the connection for long.
      stream.expires_after(berth::net::IdleTimeout(
          open_connections.load(std::memory_order_relaxed), max_connections));
      auto [first, got] = co_await stream.async_read_some(
          buffer.prepare(berth::net::kReadBufferBytes), kTuple);
      buffer.commit(got);
      if (first) co_return;
    }
    stream.expires_after(berth::net::kHeaderTimeout);
    auto [ec, n] = co_await http::async_read_header(stream, buffer, header, kTuple);
    if (ec) {
      if (ec != http::error::end_of_stream && ec != beast::error::timeout &&
          ec != net::error::connection_reset && ec != net::error::eof) {
        StringResponse res =
            ec == http::error::header_limit || ec == http::error::buffer_overflow
                ? Make(431, protocol::JsonErrorBody(StrCat("the request header is over ",
                                                           berth::net::kMaxHeaderBytes, " bytes")))
                : Error(
                      absl::InvalidArgumentError(StrCat("malformed HTTP request: ", ec.message())));
        res.keep_alive(false);
        res.prepare_payload();
        *responding = true;
        co_await http::async_write(stream, res, kTuple);
      }
      co_return;
    }
    const auto& h = header.get();
    const bool keep_alive = h.keep_alive();
    const bool has_body = header.content_length().value_or(0) > 0 || header.chunked();
    std::string_view target(h.target().data(), h.target().size());
    const size_t q = target.find('?');
    const std::string_view path = target.substr(0, q);
    const bool get = h.method() == http::verb::get || h.method() == http::verb::head;
    bool close = !keep_alive;
    bool body_read = false;
    StringResponse res;

    // Bodies other than uploads are read whole, bounded; trailers are refused.
    auto read_body =
        [&](size_t limit) -> awaitable<absl::StatusOr<http::request<http::string_body>>> {
      body_read = true;
      if (h[http::field::expect] == "100-continue") {
        http::response<http::empty_body> cont{http::status::continue_, 11};
        co_await http::async_write(stream, cont, kTuple);
      }
      http::request_parser<http::string_body> body(std::move(header));
      body.body_limit(limit);
      berth::net::TrailerDetector trailers;
      trailers.Attach(body);
      stream.expires_after(std::chrono::milliseconds(options.request_timeout_ms));
      auto [rec, rn] = co_await http::async_read(stream, buffer, body, kTuple);
      if (rec == http::error::body_limit) {
        close = true;
        co_return common::PayloadTooLargeError(
            StrCat("the request body is larger than the limit of ", limit, " bytes"));
      }
      if (rec == http::error::buffer_overflow) {
        close = true;
        co_return berth::net::OversizeChunkLineError();
      }
      if (rec) {
        close = true;
        co_return absl::InvalidArgumentError(StrCat("cannot read the request: ", rec.message()));
      }
      if (trailers.HasTrailer(body.get())) {
        close = true;
        co_return berth::net::TrailerRefusedError();
      }
      co_return body.release();
    };

    std::string limit_hint;
    const uint64_t body_limit = BodyLimit(h, path, &limit_hint);
    if (absl::Status framing =
            berth::net::CheckRequestFraming(h, header.content_length(), body_limit);
        !framing.ok()) {
      // Refused before a byte of the body is read (or allocated for); the connection closes,
      // so that no part of the body is ever taken for the next request.
      res = Error(common::HttpStatusFromStatus(framing) == 413
                      ? common::PayloadTooLargeError(StrCat(framing.message(), limit_hint))
                      : framing);
      close = true;
    } else if (path == "/healthz" || path == "/readyz" || path == "/v2/health/live" ||
               path == "/v2/health/ready") {
      absl::Status denied;
      if (!options.public_health) denied = Authenticate(h, false).status();
      res = denied.ok() ? Make(200, "") : Error(denied);
    } else if (path == "/metrics") {
      absl::Status denied;
      if (!options.public_metrics) {
        if (auto p = Authenticate(h, false); !p.ok()) denied = p.status();
      }
      if (!denied.ok()) {
        res = Error(denied);
      } else {
        // Counters kept by the control plane, brought up to date when they are read.
        const std::pair<prometheus::Counter*, double> totals[] = {
            {store_errors, static_cast<double>(control::StoreErrorCount())},
            {unexpected_transitions, static_cast<double>(control::UnexpectedTransitionCount())}};
        for (const auto& [counter, value] : totals) {
          if (value > counter->Value()) counter->Increment(value - counter->Value());
        }
        prometheus::TextSerializer serializer;
        res = Make(200, serializer.Serialize(registry->Collect()),
                   "text/plain; version=0.0.4; charset=utf-8");
      }
    } else if (path.starts_with("/api/v1/") || path == "/api/v1") {
      res = co_await Api(stream, buffer, header, &close, &body_read);
    } else if (path.starts_with("/v2") || path.starts_with("/services/")) {
      const std::vector<std::string_view> parts = SplitPath(path);
      // The service (or the V2 model name it answers to), and what follows the model's name
      // in the replica's path.
      std::string service, upstream_suffix;
      // GET /v2/models/stats is every model's statistics, as in Triton (a service named
      // "stats" is still reached at its other routes).
      const bool all_stats =
          parts.size() == 3 && parts[0] == "v2" && parts[1] == "models" && parts[2] == "stats";
      if (all_stats) {
        // Answered below, for every service the key may call.
      } else if (parts.size() >= 3 && parts[0] == "v2" && parts[1] == "models") {
        service = std::string(parts[2]);
        for (size_t i = 3; i < parts.size(); ++i) StrAppend(&upstream_suffix, "/", parts[i]);
        if (q != std::string_view::npos) StrAppend(&upstream_suffix, target.substr(q));
      } else if (parts.size() == 4 && parts[0] == "services" && parts[2] == "v1" &&
                 parts[3] == "classify") {
        service = std::string(parts[1]);
        upstream_suffix = "/classify";
      }
      // A console session may call the data plane too (the console's try-it), marked as its
      // own like every cookie-authenticated request that changes state.
      auto principal = Authenticate(h, /*allow_cookie=*/true);
      if (!principal.ok()) {
        res = Error(principal.status());
      } else if (service.empty()) {
        if (path == "/v2" && get) {
          nlohmann::json extensions = nlohmann::json::array();
          for (std::string_view extension : kGatewayExtensions) extensions.push_back(extension);
          res = Make(200, nlohmann::json{{"name", "berth"},
                                         {"version", kVersion},
                                         {"extensions", extensions}}
                              .dump());
        } else if (all_stats) {
          if (!get) {
            res = Error(common::MethodNotAllowedError("use GET for /v2/models/stats", "GET"));
          } else {
            res = co_await AllStatistics(*principal);
          }
        } else if (parts.size() >= 2 && parts[0] == "v2" &&
                   (parts[1] == "systemsharedmemory" || parts[1] == "cudasharedmemory")) {
          res = Error(absl::FailedPreconditionError(
              "shared memory is a same-host feature of berth worker; berth's gateway does not "
              "carry it: send tensors in the request (JSON or binary data)"));
        } else if (path == "/v2/repository/index") {
          // The services the key may call, as Triton's index lists models: {"ready": true}
          // keeps only those a replica serves.
          auto body = co_await read_body(64 << 10);
          absl::StatusOr<bool> ready_only =
              body.ok() ? IndexReadyOnly(body->body(), (*body)[http::field::content_encoding])
                        : absl::StatusOr<bool>(body.status());
          if (h.method() != http::verb::post) {
            res = Error(common::MethodNotAllowedError("use POST for /v2/repository/index",
                                                      "POST"));
          } else if (!ready_only.ok()) {
            res = Error(ready_only.status());
          } else {
            nlohmann::json index = nlohmann::json::array();
            for (const auto& entry : dispatcher->Index(*principal, *ready_only)) {
              nlohmann::json item = {{"name", entry.name}, {"state", entry.state}};
              if (!entry.reason.empty()) item["reason"] = entry.reason;
              index.push_back(std::move(item));
            }
            res = Make(200, index.dump());
          }
        } else if (parts.size() >= 4 && parts[0] == "v2" && parts[1] == "repository" &&
                   parts[2] == "models") {
          res = Error(absl::FailedPreconditionError(
              "models behind berth's gateway are loaded and unloaded by deploys: use berth "
              "deploy, berth scale or berth delete (or /api/v1/services)"));
        } else {
          res = Error(absl::NotFoundError(
              StrCat("no route for ", path, "; the data plane is /v2/models/{service}/infer and "
                                            "/services/{service}/v1/classify")));
        }
      } else if (auto admission = dispatcher->Admit(
                     Transport::kHttp, *std::move(principal), service,
                     {.method = std::string_view(h.method_string().data(),
                                                 h.method_string().size()),
                      .route = path});
                 !admission.ok()) {
        res = Error(admission.status());
      } else {
        if (const std::string& pin = admission->route->pin_header; !pin.empty()) {
          const auto value = h[pin];
          Dispatcher::PinByHeader(*admission, std::string_view(value.data(), value.size()));
        }
        // Reading the body moves the parser that `h` and `path` point into: copy them first.
        const std::string method(h.method_string());
        const std::string route(path);
        // Overload is refused before the body is read: a refusal costs no parse.
        const absl::Status room = dispatcher->CheckCapacity(*admission);
        absl::StatusOr<http::request<http::string_body>> request =
            room.ok() ? absl::UnknownError("the body was not read") : room;
        if (room.ok()) {
          request = co_await read_body(options.max_request_bytes);
        }
        RequestDetails details;
        details.method = method;
        details.route = route;
        if (!request.ok()) {
          res = Error(request.status());
        } else {
          details.bytes_in = request->body().size();
          // The replica's per-caller limits (image_url downloads) count by this; a caller's
          // own value is never passed on.
          request->set(protocol::kCallerHeader, admission->principal.key_id);
          if (method == "GET" && upstream_suffix.ends_with("/stats")) {
            // Statistics are the service's, summed over its replicas, not one replica's.
            absl::StatusOr<nlohmann::json> stats =
                co_await ServiceStatistics(*admission, upstream_suffix);
            res = stats.ok() ? Make(200, stats->dump()) : Error(stats.status());
          } else {
            res = co_await Proxy(*request, *admission, std::move(upstream_suffix),
                                 &details.batch_rows);
          }
        }
        details.bytes_out = res.body().size();
        dispatcher->Finish(*admission, res.result_int(), details);
      }
    } else if (get) {
      res = Static(path);
    } else {
      res = Error(
          absl::NotFoundError(StrCat("no route for ", std::string(h.method_string()), " ", path)));
    }
    // A body the route did not read is never parsed as the next request.
    if (has_body && !body_read) close = true;
    res.keep_alive(!close);
    res.prepare_payload();
    stream.expires_after(kIdleTimeout);
    *responding = true;
    auto [wec, wn] = co_await http::async_write(stream, res, kTuple);
    *responding = false;
    if (wec || close) co_return;
  }
}

awaitable<StringResponse> HttpFront::Impl::Api(beast::tcp_stream& stream,
                                               beast::flat_buffer& buffer,
                                               http::request_parser<http::empty_body>& header,
                                               bool* close, bool* body_read) {
  // A bounded number of API requests at a time, counted from here (their bodies and uploads
  // included) to the answer: past it a 429, before any of the body is read.
  if (api_jobs.fetch_add(1, std::memory_order_relaxed) >= max_api_jobs) {
    api_jobs.fetch_sub(1, std::memory_order_relaxed);
    api_refused->Increment();
    StringResponse busy = Error(absl::ResourceExhaustedError(StrCat(
        "the control API is busy with ", max_api_jobs,
        " requests (uploads and model checks take a while); retry in a moment")));
    co_return busy;
  }
  absl::Cleanup release = [this] { api_jobs.fetch_sub(1, std::memory_order_relaxed); };
  const auto& h = header.get();
  std::string_view target(h.target().data(), h.target().size());
  const size_t q = target.find('?');
  const std::string_view path = target.substr(0, q);
  control::ApiRequest request;
  request.method = std::string(h.method_string());
  const std::vector<std::string_view> parts = SplitPath(path);
  request.path.assign(parts.begin() + 2, parts.end());
  if (q != std::string_view::npos) request.query = ParseQuery(target.substr(q + 1));
  request.host = std::string(h[http::field::host]);
  request.cookie = std::string(h[http::field::cookie]);
  request.content_type = std::string(h[http::field::content_type]);
  const uint64_t length = header.content_length().value_or(0);
  const bool has_body = length > 0 || header.chunked();

  if (request.path.size() == 1 && request.path[0] == "openapi.json" && request.method == "GET") {
    co_return Make(200, kOpenApiDocument);
  }
  // Signing in and out is public; reading the session is not.
  const bool sign_in_or_out = request.path.size() == 1 && request.path[0] == "session" &&
                              request.method != "GET";
  if (!sign_in_or_out) {
    auto principal = Authenticate(h, true);
    if (!principal.ok()) co_return Error(principal.status());
    request.principal = *principal;
    request.authenticated = true;
  }

  const bool upload = request.method == "POST" && request.path.size() == 1 &&
                      request.path[0] == "models" &&
                      request.content_type.starts_with("application/octet-stream");
  if (upload) {
    // The route table decides, before a byte of the model is read.
    if (auto allowed = api->Authorize(request); !allowed.ok()) co_return Error(allowed);
    if (!control::ControlApi::IsValidName(request.query["name"])) {
      co_return Error(absl::InvalidArgumentError(
          "name: give ?name=NAME, a DNS label (a-z, 0-9 and '-', at most 63 characters)"));
    }
    if (h[http::field::expect] == "100-continue") {
      http::response<http::empty_body> cont{http::status::continue_, 11};
      co_await http::async_write(stream, cont, kTuple);
    }
    // Stream the body to a file, hashing as it goes; never hold the model in memory.
    *body_read = true;
    http::request_parser<http::buffer_body> body(std::move(header));
    body.body_limit(options.max_model_bytes);
    berth::net::TrailerDetector trailers;
    trailers.Attach(body);
    const std::string temp = api->TempPath();
    const int fd = ::open(temp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd < 0) {
      *close = true;
      co_return Error(absl::InternalError(StrCat("cannot write ", temp, ": ", strerror(errno))));
    }
    models::Sha256Stream sha;
    uint64_t total = 0;
    std::vector<char> chunk(1 << 20);
    absl::Status failure;
    while (!body.is_done()) {
      body.get().body().data = chunk.data();
      body.get().body().size = chunk.size();
      stream.expires_after(std::chrono::seconds(120));
      auto [ec, n] = co_await http::async_read(stream, buffer, body, kTuple);
      if (ec == http::error::need_buffer) ec = {};
      if (ec) {
        failure = ec == http::error::body_limit
                      ? common::PayloadTooLargeError(StrCat("the model is over the limit of ",
                                                            options.max_model_bytes, " bytes"))
                      : absl::InvalidArgumentError(StrCat("the upload broke off: ", ec.message()));
        break;
      }
      const size_t got = chunk.size() - body.get().body().size;
      total += got;
      // Hashing and writing the chunk (a disk that stalls, a megabyte of SHA-256) happen on
      // the file pool; the event loop goes on serving other connections meanwhile.
      auto loop = co_await net::this_coro::executor;
      co_await net::post(*file_pool, net::use_awaitable);
      sha.Update(std::string_view(chunk.data(), got));
      for (size_t written = 0; written < got;) {
        const ssize_t w = ::write(fd, chunk.data() + written, got - written);
        if (w <= 0) {
          failure = absl::InternalError(StrCat("cannot write the upload: ", strerror(errno)));
          break;
        }
        written += static_cast<size_t>(w);
      }
      co_await net::post(loop, net::use_awaitable);
      if (!failure.ok()) break;
    }
    if (failure.ok() && trailers.HasTrailer(body.get()))
      failure = berth::net::TrailerRefusedError();
    ::close(fd);
    if (!failure.ok() || total == 0) {
      std::error_code ignored;
      fs::remove(temp, ignored);
      *close = true;
      co_return Error(failure.ok() ? absl::InvalidArgumentError("the upload is empty") : failure);
    }
    request.upload_path = temp;
    request.upload_bytes = total;
    request.upload_sha256 = sha.FinishHex();
  } else if (has_body) {
    *body_read = true;
    if (h[http::field::expect] == "100-continue") {
      http::response<http::empty_body> cont{http::status::continue_, 11};
      co_await http::async_write(stream, cont, kTuple);
    }
    http::request_parser<http::string_body> body(std::move(header));
    body.body_limit(kApiBodyLimit);
    berth::net::TrailerDetector trailers;
    trailers.Attach(body);
    stream.expires_after(std::chrono::milliseconds(options.request_timeout_ms));
    auto [ec, n] = co_await http::async_read(stream, buffer, body, kTuple);
    if (ec) {
      *close = true;
      co_return Error(ec == http::error::body_limit
                          ? common::PayloadTooLargeError(StrCat(
                                "the request body is over ", kApiBodyLimit,
                                " bytes; upload models with Content-Type: application/octet-stream"))
                          : absl::InvalidArgumentError(StrCat("cannot read the request: ",
                                                              ec.message())));
    }
    if (trailers.HasTrailer(body.get())) {
      *close = true;
      co_return Error(berth::net::TrailerRefusedError());
    }
    request.body = std::move(body.get().body());
  }

  // Handlers may block (database, probes): run them on the API pool, then come back.
  auto executor = co_await net::this_coro::executor;
  co_await net::post(*api_pool, net::use_awaitable);
  control::ApiResponse answer = api->Handle(request);
  co_await net::post(executor, net::use_awaitable);
  StringResponse res = Make(static_cast<unsigned>(answer.status), std::move(answer.body),
                            answer.content_type);
  for (auto& [name, value] : answer.headers) res.insert(name, value);
  co_return res;
}

awaitable<StringResponse> HttpFront::Impl::AllStatistics(const control::Principal& principal) {
  nlohmann::json all = nlohmann::json::array();
  for (const IndexEntry& entry : dispatcher->Index(principal, /*ready_only=*/true)) {
    auto admission = dispatcher->Admit(Transport::kHttp, principal, entry.name);
    if (!admission.ok()) continue;
    absl::StatusOr<nlohmann::json> stats = co_await ServiceStatistics(*admission, "/stats");
    dispatcher->Finish(*admission, stats.ok() ? 200 : common::HttpStatusFromStatus(stats.status()),
                       {.method = "GET", .route = "/v2/models/stats"});
    // A service whose replicas did not answer is left out, as an unready one is.
    if (!stats.ok()) continue;
    for (auto& model : (*stats)["model_stats"]) all.push_back(std::move(model));
  }
  co_return Make(200, nlohmann::json{{"model_stats", std::move(all)}}.dump());
}

awaitable<absl::StatusOr<std::string>> HttpFront::Impl::FetchFrom(const Endpoint& endpoint,
                                                                  const std::string& target) {
  beast::tcp_stream stream(co_await net::this_coro::executor);
  beast::error_code ec;
  const auto address = net::ip::make_address(endpoint.host(), ec);
  if (ec) co_return absl::InternalError(StrCat("bad replica address ", endpoint.host()));
  const auto unavailable = [&](const beast::error_code& failed) {
    return absl::UnavailableError(StrCat("replica ", endpoint.replica_id(), ": ", failed.message()));
  };
  stream.expires_after(std::chrono::milliseconds(options.request_timeout_ms));
  auto [cec] = co_await stream.async_connect(
      tcp::endpoint(address, static_cast<unsigned short>(endpoint.http_port())), kTuple);
  if (cec) co_return unavailable(cec);
  http::request<http::empty_body> request{http::verb::get, target, 11};
  request.set(http::field::host, endpoint.url_host());
  request.keep_alive(false);
  auto [wec, wn] = co_await http::async_write(stream, request, kTuple);
  if (wec) co_return unavailable(wec);
  beast::flat_buffer buffer;
  http::response_parser<http::string_body> parser;
  parser.body_limit(16u << 20);
  auto [rec, rn] = co_await http::async_read(stream, buffer, parser, kTuple);
  if (rec) co_return unavailable(rec);
  if (parser.get().result_int() != 200) {
    co_return absl::UnavailableError(StrCat("replica ", endpoint.replica_id(), " answered ",
                                            parser.get().result_int()));
  }
  co_return parser.release().body();
}

awaitable<absl::StatusOr<nlohmann::json>> HttpFront::Impl::ServiceStatistics(
    const Admission& admission, const std::string& suffix) {
  std::vector<nlohmann::json> answers;
  absl::Status last = absl::UnavailableError(StrCat(
      "service '", admission.service(), "' has no ready replica; retry shortly"));
  for (const routing::RevisionRoute& revision : admission.route->revisions) {
    for (const std::shared_ptr<Endpoint>& endpoint : revision.endpoints) {
      absl::StatusOr<std::string> body = co_await FetchFrom(
          *endpoint, StrCat("/v2/models/", admission.ModelNameAt(*endpoint), suffix));
      if (!body.ok()) {
        last = body.status();
        continue;
      }
      nlohmann::json doc = nlohmann::json::parse(*body, nullptr, false);
      if (doc.is_object() && doc.contains("model_stats") && doc["model_stats"].is_array()) {
        answers.push_back(std::move(doc));
      }
    }
  }
  if (answers.empty()) co_return last;
  co_return MergeStatistics(answers);
}

awaitable<StringResponse> HttpFront::Impl::Proxy(http::request<http::string_body>& request,
                                                 Admission& admission, std::string suffix,
                                                 int64_t* batch_rows) {
  // The upstream request: the caller's, edited in place (no copy of its fields or body), minus
  // hop-by-hop headers and its credentials.
  http::request<http::string_body>& upstream = request;
  static constexpr http::field kDropped[] = {
      http::field::connection, http::field::keep_alive,    http::field::transfer_encoding,
      http::field::te,         http::field::upgrade,       http::field::proxy_authorization,
      http::field::authorization, http::field::expect,     http::field::cookie};
  for (http::field f : kDropped) upstream.erase(f);
  upstream.version(11);
  upstream.keep_alive(true);
  upstream.prepare_payload();
  // A copy: a held request moves to a newer routing table, and the old one may go.
  const std::string service = admission.service();

  bool fresh = false;  // the next attempt opens a new connection
  while (true) {
    absl::StatusOr<std::shared_ptr<Endpoint>> picked = dispatcher->Pick(admission);
    if (!picked.ok() && dispatcher->ShouldHold(admission)) {
      const absl::Status held = co_await Hold(admission);
      if (!held.ok()) co_return Error(held);
      continue;
    }
    if (!picked.ok()) co_return Error(picked.status());
    Endpoint& endpoint = **picked;
    upstream.set(http::field::host, endpoint.url_host());
    {
      // How long the gateway still waits for this request: the replica drops it unanswered
      // from its queue once that has passed. A caller's own value may only shorten it.
      const auto waited = std::chrono::duration_cast<std::chrono::microseconds>(
          std::chrono::steady_clock::now() - admission.start);
      int64_t budget = options.request_timeout_ms * 1000 - waited.count();
      if (auto given = upstream.find(protocol::kTimeoutHeader); given != upstream.end()) {
        int64_t asked = 0;
        const auto value = given->value();
        const auto [end, ec] = std::from_chars(value.data(), value.data() + value.size(), asked);
        if (ec == std::errc() && end == value.data() + value.size() && asked > 0) {
          budget = std::min(budget, asked);
        }
      }
      upstream.set(protocol::kTimeoutHeader, std::to_string(std::max<int64_t>(budget, 1)));
    }
    // The replica's own name for the model, whichever name the caller used.
    upstream.target(StrCat("/v2/models/", admission.ModelNameAt(endpoint), suffix));
    if (admission.attempts == 1 && upstream.method() == http::verb::post) {
      if (auto shadow = dispatcher->PickShadow(admission, endpoint)) {
        auto copy = std::make_shared<http::request<http::string_body>>(upstream);
        copy->target(StrCat("/v2/models/", admission.ModelNameAt(*shadow), suffix));
        Admission shadow_admission;
        shadow_admission.transport = Transport::kHttp;
        shadow_admission.table = admission.table;
        shadow_admission.route = admission.route;
        net::co_spawn(co_await net::this_coro::executor,
                      Shadow(std::move(copy), std::move(shadow_admission), std::move(shadow)),
                      net::detached);
      }
    }
    // After a stale pooled connection the next attempt opens a new one: the others in the
    // pool have most likely gone the same way.
    std::unique_ptr<UpstreamConnection> conn =
        fresh ? nullptr : endpoint.TakeIdle(dispatcher->clock().MonotonicMs());
    beast::error_code ec;
    bool connected = conn != nullptr;
    if (!conn) {
      conn = std::make_unique<UpstreamConnection>(co_await net::this_coro::executor);
      const auto address = net::ip::make_address(endpoint.host(), ec);
      if (!ec) {
        conn->stream.expires_after(std::chrono::seconds(2));
        auto [cec] = co_await conn->stream.async_connect(
            tcp::endpoint(address, static_cast<unsigned short>(endpoint.http_port())), kTuple);
        ec = cec;
      }
      connected = !ec;
      if (connected) conn->stream.socket().set_option(tcp::no_delay(true), ec);
    }
    http::response_parser<http::string_body> parser;
    parser.body_limit(std::numeric_limits<uint64_t>::max());
    if (!ec) {
      conn->stream.expires_after(std::chrono::milliseconds(options.request_timeout_ms));
      auto [wec, wn] = co_await http::async_write(conn->stream, upstream, kTuple);
      ec = wec;
      if (!ec) {
        auto [rec, rn] = co_await http::async_read(conn->stream, conn->buffer, parser, kTuple);
        ec = rec;
      }
    }
    const AttemptOutcome outcome =
        ClassifyHttpAttempt({.failed = static_cast<bool>(ec),
                             .local_resources = berth::net::IsOutOfDescriptorsOrMemory(ec),
                             .connected = connected,
                             .reused = conn->reused,
                             .timed_out = ec == beast::error::timeout});
    const bool again = dispatcher->Complete(admission, outcome);
    switch (outcome) {
      case AttemptOutcome::kAnswered:
        break;
      case AttemptOutcome::kLocalResources:
        co_return Error(
            absl::UnavailableError(StrCat("the server cannot open a connection to service '",
                                          service, "' (", ec.message(), "); retry shortly")));
      case AttemptOutcome::kTimedOut:
        co_return Error(absl::DeadlineExceededError(StrCat(
            "service '", service, "' did not answer within ", options.request_timeout_ms,
            " ms")));
      case AttemptOutcome::kStaleConnection:
        fresh = true;
        [[fallthrough]];
      case AttemptOutcome::kUnreachable:
        if (again) continue;
        co_return Error(absl::UnavailableError(StrCat(
            "service '", service, "': its replicas did not answer (berth describe ", service,
            " shows their state); retry shortly")));
    }
    auto response = parser.release();
    if (response.keep_alive()) {
      endpoint.ReturnIdle(std::move(conn), dispatcher->clock().MonotonicMs());
    }
    // The worker's answer goes back as it is, minus hop-by-hop headers (Serve sets the
    // caller's keep-alive and the length).
    for (http::field f : kDropped) response.erase(f);
    if (auto it = response.find(protocol::kBatchRowsHeader); it != response.end()) {
      const auto value = it->value();
      int64_t rows = 0;
      auto parsed = std::from_chars(value.data(), value.data() + value.size(), rows);
      if (parsed.ec == std::errc() && rows > 0) *batch_rows = rows;
      response.erase(it);
    }
    response.set(http::field::server, "berth");
    response.set(kRevisionHeader, std::to_string(endpoint.revision()));
    co_return response;
  }
}

awaitable<void> HttpFront::Impl::Shadow(std::shared_ptr<http::request<http::string_body>> request,
                                        Admission admission, std::shared_ptr<Endpoint> replica) {
  const auto start = std::chrono::steady_clock::now();
  int code = 502;  // no answer
  beast::tcp_stream stream(co_await net::this_coro::executor);
  beast::error_code ec;
  const auto address = net::ip::make_address(replica->host(), ec);
  if (!ec) {
    stream.expires_after(std::chrono::milliseconds(options.request_timeout_ms));
    auto [cec] = co_await stream.async_connect(
        tcp::endpoint(address, static_cast<unsigned short>(replica->http_port())), kTuple);
    if (!cec) {
      request->set(http::field::host, replica->url_host());
      request->keep_alive(false);
      auto [wec, wn] = co_await http::async_write(stream, *request, kTuple);
      if (!wec) {
        beast::flat_buffer buffer;
        http::response_parser<http::string_body> parser;
        parser.body_limit(std::numeric_limits<uint64_t>::max());
        auto [rec, rn] = co_await http::async_read(stream, buffer, parser, kTuple);
        if (!rec) code = parser.get().result_int();
      }
    }
  }
  const double ms =
      std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count();
  dispatcher->EndShadow(admission, *replica, code, ms);
}

awaitable<absl::Status> HttpFront::Impl::Hold(Admission& admission) {
  auto executor = co_await net::this_coro::executor;
  co_return co_await net::async_initiate<decltype(net::use_awaitable), void(absl::Status)>(
      [&](auto handler) {
        // The activator's callback is copyable; the coroutine's handler is not.
        auto shared = std::make_shared<decltype(handler)>(std::move(handler));
        dispatcher->Hold(admission, [shared, executor](absl::Status status) {
          net::post(executor, [shared, status = std::move(status)]() mutable {
            (*shared)(std::move(status));
          });
        });
      },
      net::use_awaitable);
}

void HttpFront::Impl::LoadConsole() {
  if (options.console_dir.empty()) return;
  const fs::path root(options.console_dir);
  std::error_code ec;
  if (!fs::is_regular_file(root / "index.html", ec)) {
    spdlog::warn("no web console in {} (no index.html); run scripts/build-web.sh", root.string());
    return;
  }
  size_t total = 0;
  for (auto it = fs::recursive_directory_iterator(root, ec);
       !ec && it != fs::recursive_directory_iterator(); it.increment(ec)) {
    // Regular files only (a symbolic link could lead out of the directory), no hidden ones.
    const fs::path& path = it->path();
    if (!it->is_regular_file(ec) || it->is_symlink(ec) ||
        path.filename().string().starts_with(".")) {
      continue;
    }
    const uintmax_t size = it->file_size(ec);
    if (ec || size > kMaxConsoleBytes - total) {
      spdlog::warn("web console: {} left out (the console is limited to {} bytes)",
                   path.string(), kMaxConsoleBytes);
      continue;
    }
    std::ifstream in(path, std::ios::binary);
    std::string body((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    if (!in.good() && !in.eof()) continue;
    total += body.size();
    const std::string name = "/" + path.lexically_relative(root).generic_string();
    console_files[name] = ConsoleFile{std::move(body), ContentTypeFor(path),
                                      path.filename() == "index.html"};
  }
  spdlog::info("web console: {} files, {} bytes, from {}", console_files.size(), total,
               root.string());
}

StringResponse HttpFront::Impl::Static(std::string_view path) {
  if (path == control::kSampleImagePath) {
    StringResponse res = Make(200, std::string(control::SampleDigitPng()), "image/png");
    res.set(http::field::cache_control, "public, max-age=86400");
    return res;
  }
  auto index = console_files.find("/index.html");
  if (index == console_files.end()) {
    return Make(200,
                "<!doctype html><title>berth</title><p>berth server is running. The web console "
                "is not built here: run <code>scripts/build-web.sh</code>, or use the CLI "
                "(<code>berth --help</code>) and the API (<a href=/api/v1/openapi.json>"
                "/api/v1/openapi.json</a>).</p>",
                "text/html; charset=utf-8");
  }
  // The files were read at start: a path is only ever a key of that map, never a file name.
  auto it = console_files.find(std::string(path));
  if (it == console_files.end()) {
    // A missing script or stylesheet must not come back as the HTML page (the browser would
    // report a MIME-type error instead of the missing file); any other path is the app's.
    if (path.starts_with("/assets/")) {
      return Error(absl::NotFoundError(StrCat("no console file ", path)));
    }
    it = index;
  }
  const ConsoleFile& file = it->second;
  StringResponse res = Make(200, file.body, file.type);
  res.set(http::field::cache_control,
          file.index ? "no-cache" : "public, max-age=31536000, immutable");
  res.set("X-Content-Type-Options", "nosniff");
  res.set("Content-Security-Policy",
          "default-src 'self'; img-src 'self' data: blob:; style-src 'self' 'unsafe-inline'");
  return res;
}

HttpFront::HttpFront(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

HttpFront::~HttpFront() { Stop(); }

absl::StatusOr<std::unique_ptr<HttpFront>> HttpFront::Create(
    const HttpFrontOptions& options, control::ControlApi* api, control::Authenticator* auth,
    routing::Router* router, Dispatcher* dispatcher,
    std::shared_ptr<prometheus::Registry> registry) {
  auto impl = std::make_unique<Impl>();
  impl->options = options;
  impl->api = api;
  impl->auth = auth;
  impl->router = router;
  impl->dispatcher = dispatcher;
  impl->registry = registry;
  impl->connections_refused =
      &prometheus::BuildCounter()
           .Name("berth_gateway_connections_refused_total")
           .Help("Client connections answered 503 at once because --max-connections were open")
           .Register(*registry)
           .Add({});
  impl->unhandled_exceptions =
      &prometheus::BuildCounter()
           .Name("berth_gateway_unhandled_exceptions_total")
           .Help(
               "Requests whose handling threw; each was logged, answered 500 where possible "
               "and its connection closed")
           .Register(*registry)
           .Add({});
  impl->store_errors =
      &prometheus::BuildCounter()
           .Name("berth_store_errors_total")
           .Help("Failed operations on the server's database; a failed write ends that "
                 "reconcile pass for its service, and the next pass retries it")
           .Register(*registry)
           .Add({});
  impl->unexpected_transitions =
      &prometheus::BuildCounter()
           .Name("berth_controller_unexpected_transitions_total")
           .Help("Replica or revision state changes that the controller's transition table "
                 "does not have (each is logged); 0 unless the controller has a bug")
           .Register(*registry)
           .Add({});
  impl->api_refused =
      &prometheus::BuildCounter()
           .Name("berth_api_requests_refused_total")
           .Help("Control API requests answered 429 because 8 per API thread were in progress")
           .Register(*registry)
           .Add({});
  impl->api_pool = std::make_unique<net::thread_pool>(
      static_cast<size_t>(std::max(1, options.api_threads)));
  impl->max_api_jobs = 8 * std::max(1, options.api_threads);
  impl->file_pool = std::make_unique<net::thread_pool>(2);
  impl->max_connections = berth::net::CappedConnectionLimit(options.max_connections, "gateway");
  beast::error_code ec;
  const auto address = net::ip::make_address(options.address, ec);
  if (ec) return absl::InvalidArgumentError(StrCat("bad --http-address ", options.address));
  const tcp::endpoint endpoint(address, static_cast<unsigned short>(options.port));
  impl->acceptor.open(endpoint.protocol(), ec);
  if (!ec) impl->acceptor.set_option(net::socket_base::reuse_address(true), ec);
  if (!ec) impl->acceptor.bind(endpoint, ec);
  if (!ec) impl->acceptor.listen(net::socket_base::max_listen_connections, ec);
  if (ec) {
    return absl::UnavailableError(StrCat("cannot listen on ", options.address, ":", options.port,
                                         ": ", ec.message()));
  }
  impl->port = impl->acceptor.local_endpoint().port();
  impl->LoadConsole();
  return std::unique_ptr<HttpFront>(new HttpFront(std::move(impl)));
}

int HttpFront::port() const { return impl_->port; }

int HttpFront::max_connections() const { return impl_->max_connections; }

void HttpFront::Start() {
  net::co_spawn(impl_->io, impl_->Accept(), net::detached);
  for (int i = 0; i < impl_->options.threads; ++i) {
    impl_->threads.emplace_back([this] { berth::net::RunEventLoop(impl_->io, "gateway HTTP"); });
  }
}

void HttpFront::Stop() {
  if (!impl_) return;
  beast::error_code ignored;
  impl_->acceptor.close(ignored);
  impl_->io.stop();
  for (auto& t : impl_->threads) t.join();
  impl_->threads.clear();
  impl_->api_pool->join();
  impl_->file_pool->join();
  // Pooled worker connections belong to this io_context; close them while it still exists
  // (the router, and so its endpoints, outlive the front).
  impl_->router->CloseIdle();
}

}  // namespace berth::gateway
