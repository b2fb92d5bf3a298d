#include "worker/http_server.h"

#include <boost/asio.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>

#include "common/error_mapping.h"
#include "common/strings.h"
#include "net/descriptor_limit.h"
#include "net/http_compression.h"
#include "net/http_framing.h"
#include "protocol/json_writer.h"
#include "protocol/proto_json.h"
#include "protocol/rest_codec.h"
#include "spdlog/spdlog.h"
#include "worker/image_classifier.h"
#include "worker/load_overrides.h"

namespace berth::worker {
namespace {

namespace net = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = net::ip::tcp;

using Request = http::request<http::string_body>;
using Response = http::response<http::string_body>;

using berth::net::kIdleTimeout;

// Inference bodies up to this size are parsed on the event loop; larger ones on the
// pre-processing pool.
constexpr size_t kParseOnLoopBytes = 256 << 10;

Response MakeResponse(unsigned version, bool keep_alive, http::status status, std::string body,
                      std::string_view content_type = "application/json") {
  Response res{status, version};
  res.set(http::field::server, kServerName);
  res.set(http::field::content_type, content_type);
  res.keep_alive(keep_alive);
  res.body() = std::move(body);
  res.prepare_payload();
  return res;
}

Response ErrorResponse(unsigned version, bool keep_alive, const absl::Status& status) {
  Response res = MakeResponse(version, keep_alive,
                              static_cast<http::status>(common::HttpStatusFromStatus(status)),
                              protocol::JsonErrorBody(Msg(status)));
  if (common::IsRetryable(status)) res.set(http::field::retry_after, "1");
  if (std::string allow = common::AllowedMethods(status); !allow.empty()) {
    res.set(http::field::allow, allow);
  }
  return res;
}

Response JsonResponse(unsigned version, bool keep_alive, const nlohmann::json& doc) {
  return MakeResponse(version, keep_alive, http::status::ok, doc.dump());
}

class Session : public std::enable_shared_from_this<Session> {
 public:
  Session(tcp::socket socket, Worker* worker, std::atomic<int>* open_sessions,
          int max_connections)
      : stream_(std::move(socket)),
        worker_(worker),
        open_sessions_(open_sessions),
        max_connections_(max_connections) {
    open_sessions_->fetch_add(1, std::memory_order_relaxed);
    // Beast reads at most the buffer's spare capacity per call; without this a large body
    // arrives 512 bytes per read, each a trip through the reactor. The buffer's limit bounds
    // what may wait unparsed (a header, a chunk-size line, trailers).
    buffer_.reserve(berth::net::kReadBufferBytes);
  }
  ~Session() { open_sessions_->fetch_sub(1, std::memory_order_relaxed); }

  void Run() {
    net::dispatch(stream_.get_executor(),
                  beast::bind_front_handler(&Session::Read, shared_from_this()));
  }

 private:
  // A request is read in three steps, each with its own deadline: the first byte (the idle
  // timeout, shorter when the listener is nearly full), the header (kHeaderTimeout: a trickled
  // header is cut off) and the body, which is read only once its framing has been checked.
  void Read() {
    request_coding_ = berth::net::ContentCoding::kIdentity;
    answer_coding_ = berth::net::ContentCoding::kIdentity;
    parser_.emplace();
    parser_->body_limit(worker_->options().max_request_bytes);
    berth::net::ConfigureRequestParser(*parser_);
    trailers_.Attach(*parser_);
    if (buffer_.size() > 0) return ReadHeader();  // a pipelined request is already here
    stream_.expires_after(berth::net::IdleTimeout(
        open_sessions_->load(std::memory_order_relaxed), max_connections_));
    stream_.async_read_some(buffer_.prepare(berth::net::kReadBufferBytes),
                            beast::bind_front_handler(&Session::OnFirstBytes,
                                                      shared_from_this()));
  }

  void OnFirstBytes(beast::error_code ec, std::size_t n) {
    buffer_.commit(n);
    if (ec) return Close();
    ReadHeader();
  }

  void ReadHeader() {
    stream_.expires_after(berth::net::kHeaderTimeout);
    http::async_read_header(stream_, buffer_, *parser_,
                            beast::bind_front_handler(&Session::OnHeader, shared_from_this()));
  }

  void OnHeader(beast::error_code ec, std::size_t) {
    if (ec) return OnReadError(ec);
    // Beast takes a request whose Transfer-Encoding is not a final "chunked" for one without a
    // body; refuse it and close, so that its body is never parsed as the next request. An
    // over-limit Content-Length is refused here too, before a byte of the body is read.
    if (absl::Status framing = berth::net::CheckRequestFraming(
            parser_->get(), parser_->content_length(), worker_->options().max_request_bytes);
        !framing.ok()) {
      return Send(ErrorResponse(11, false, framing));
    }
    if (parser_->is_done()) return OnRead({}, 0);
    stream_.expires_after(kIdleTimeout);
    http::async_read(stream_, buffer_, *parser_,
                     beast::bind_front_handler(&Session::OnRead, shared_from_this()));
  }

  void OnRead(beast::error_code ec, std::size_t) {
    if (ec) return OnReadError(ec);
    if (trailers_.HasTrailer(parser_->get())) {
      return Send(ErrorResponse(11, false, berth::net::TrailerRefusedError()));
    }
    Request request = parser_->release();
    // The last resort: a handler that throws costs its request and connection, nothing more.
    try {
      Handle(std::move(request));
    } catch (const std::exception& e) {
      HandlerFailed(e.what());
    } catch (...) {
      HandlerFailed("an exception of unknown type");
    }
  }

  void OnReadError(beast::error_code ec) {
    if (ec == http::error::end_of_stream || ec == net::error::eof ||
        ec == net::error::operation_aborted || ec == beast::error::timeout ||
        ec == net::error::connection_reset) {
      return Close();
    }
    if (ec == http::error::body_limit) {
      return Send(ErrorResponse(11, false, common::PayloadTooLargeError(StrCat(
                                               "the request body is larger than the limit of ",
                                               worker_->options().max_request_bytes,
                                               " bytes (--max-request-bytes)"))));
    }
    if (ec == http::error::buffer_overflow && parser_->is_header_done()) {
      return Send(ErrorResponse(11, false, berth::net::OversizeChunkLineError()));
    }
    if (ec == http::error::header_limit || ec == http::error::buffer_overflow) {
      return Send(
          MakeResponse(11, false, http::status::request_header_fields_too_large,
                       protocol::JsonErrorBody(StrCat("the request header is over ",
                                                      berth::net::kMaxHeaderBytes, " bytes"))));
    }
    Send(ErrorResponse(11, false, absl::InvalidArgumentError(
                                      StrCat("malformed HTTP request: ", ec.message()))));
  }

  void HandlerFailed(std::string_view what) {
    berth::net::CountUnhandledException("worker HTTP connection", what);
    Send(ErrorResponse(11, false,
                       absl::InternalError("the worker failed while handling this request (it "
                                           "is logged); retry, and report it if it persists")));
  }

  // Compresses an answer for a client that asked for it (Accept-Encoding). Answers that carry
  // no body, or that some other step already encoded, go as they are.
  void EncodeAnswer(Response& response) {
    if (answer_coding_ == berth::net::ContentCoding::kIdentity || response.body().empty() ||
        response.count(http::field::content_encoding) != 0) {
      return;
    }
    absl::StatusOr<std::string> encoded = berth::net::Encode(answer_coding_, response.body());
    if (!encoded.ok()) return;  // answered uncompressed, which every client reads
    response.body() = *std::move(encoded);
    response.set(http::field::content_encoding, berth::net::CodingName(answer_coding_));
    response.set(http::field::vary, "Accept-Encoding");
    response.prepare_payload();
  }

  // The request's body in plain form: decoded from its Content-Encoding, at most
  // --max-request-bytes once decoded.
  absl::Status DecodeBody(std::string* body) const {
    if (request_coding_ == berth::net::ContentCoding::kIdentity) return absl::OkStatus();
    absl::StatusOr<std::string> decoded =
        berth::net::Decode(request_coding_, *body, worker_->options().max_request_bytes);
    if (!decoded.ok()) {
      if (common::HttpStatusFromStatus(decoded.status()) == 413) {
        return common::PayloadTooLargeError(StrCat(Msg(decoded.status()),
                                                   " (--max-request-bytes)"));
      }
      return decoded.status();
    }
    *body = *std::move(decoded);
    return absl::OkStatus();
  }

  void Send(Response response) {
    EncodeAnswer(response);
    auto shared = std::make_shared<Response>(std::move(response));
    stream_.expires_after(kIdleTimeout);
    http::async_write(stream_, *shared,
                      [self = shared_from_this(), shared](beast::error_code ec, std::size_t) {
                        self->OnWrite(shared->keep_alive(), ec);
                      });
  }

  // Writes an inference answer from the executor thread that produced it. The session has
  // no operation pending on its socket while it waits for the answer, so the socket is used
  // by one thread at a time; writing here saves waking the event loop before the first byte
  // goes out. Completions run on the session's strand.
  void SendFromExecutor(Response response) {
    EncodeAnswer(response);
    auto shared = std::make_shared<Response>(std::move(response));
    http::async_write(stream_.socket(), *shared,
                      net::bind_executor(stream_.get_executor(),
                                         [self = shared_from_this(), shared](
                                             beast::error_code ec, std::size_t) {
                                           self->OnWrite(shared->keep_alive(), ec);
                                         }));
  }

  void OnWrite(bool keep_alive, beast::error_code ec) {
    if (ec || !keep_alive) return Close();
    Read();
  }

  void Close() {
    beast::error_code ignored;
    stream_.socket().shutdown(tcp::socket::shutdown_send, ignored);
  }

  void Handle(Request&& request) {
    const unsigned version = request.version();
    const bool keep_alive = request.keep_alive();
    std::string_view target(request.target().data(), request.target().size());
    target = target.substr(0, target.find('?'));
    const bool get = request.method() == http::verb::get || request.method() == http::verb::head;
    const bool post = request.method() == http::verb::post;
    auto error = [&](const absl::Status& status) {
      Send(ErrorResponse(version, keep_alive, status));
    };
    auto method_not_allowed = [&](std::string_view allowed) {
      Response res = MakeResponse(
          version, keep_alive, http::status::method_not_allowed,
          protocol::JsonErrorBody(StrCat("use ", allowed, " for ", target)));
      res.set(http::field::allow, allowed);
      Send(std::move(res));
    };

    // A body in a coding the worker does not read is refused before any route acts on it;
    // one it reads is decoded where the route reads it (off the event loop for inference).
    absl::StatusOr<berth::net::ContentCoding> coding =
        berth::net::ParseContentEncoding(request[http::field::content_encoding]);
    if (!coding.ok()) return error(coding.status());
    request_coding_ = *coding;
    answer_coding_ = berth::net::ChooseResponseCoding(request[http::field::accept_encoding]);

    if (target == "/metrics") {
      if (!get) return method_not_allowed("GET");
      return Send(MakeResponse(version, keep_alive, http::status::ok,
                               worker_->metrics().Serialize(),
                               "text/plain; version=0.0.4; charset=utf-8"));
    }
    std::vector<std::string_view> parts = SplitPath(target);
    if (parts.empty() || parts[0] != "v2") {
      return error(absl::NotFoundError(StrCat("no route for ", target)));
    }
    parts.erase(parts.begin());
    if (parts.empty()) {
      if (!get) return method_not_allowed("GET");
      return Send(JsonResponse(version, keep_alive, worker_->ServerMetadataJson()));
    }
    if (parts[0] == "health" && parts.size() == 2) {
      if (!get) return method_not_allowed("GET");
      const bool ok = parts[1] == "live" || (parts[1] == "ready" && worker_->Ready());
      if (parts[1] != "live" && parts[1] != "ready") {
        return error(absl::NotFoundError(StrCat("no route for ", target)));
      }
      return Send(MakeResponse(version, keep_alive,
                               ok ? http::status::ok : http::status::service_unavailable, ""));
    }
    if (parts[0] == "repository") return HandleRepository(request, parts, post);
    if (parts[0] == "systemsharedmemory") return HandleSharedMemory(request, parts, get, post);
    if (parts[0] == "cudasharedmemory") {
      return error(absl::UnimplementedError(
          "CUDA shared memory is not served: this worker runs models on the CPU; use system "
          "shared memory (/v2/systemsharedmemory) or send tensors in the request"));
    }
    if (parts[0] == "trace" || parts[0] == "logging") {
      return error(absl::UnimplementedError(StrCat(
          "/v2/", parts[0], " settings are not served: berth's worker logs to its output "
          "(--log-format, --log-level) and has no request tracing")));
    }
    if (parts[0] == "models") {
      if (parts.size() == 2 && parts[1] == "stats") {
        if (!get) return method_not_allowed("GET");
        return SendStats("", "", version, keep_alive);
      }
      if (parts.size() < 2) return error(absl::NotFoundError("no route for " + std::string(target)));
      const std::string_view model = parts[1];
      std::string_view model_version;
      size_t next = 2;
      if (parts.size() >= 4 && parts[2] == "versions") {
        model_version = parts[3];
        next = 4;
      }
      const std::string_view action = parts.size() > next ? parts[next] : "";
      if (parts.size() > next + 1) {
        return error(absl::NotFoundError(StrCat("no route for ", target)));
      }
      if (action.empty()) {
        if (!get) return method_not_allowed("GET");
        auto doc = worker_->ModelMetadataJson(model, model_version);
        if (!doc.ok()) return error(doc.status());
        return Send(JsonResponse(version, keep_alive, *doc));
      }
      if (action == "ready") {
        if (!get) return method_not_allowed("GET");
        // The V2 protocol answers "not ready" with a 4xx: 404 for a model the repository does
        // not have, 400 for one that is there but not ready (loading, failed, unloading).
        auto ready = worker_->repository().Get(model, model_version);
        return Send(MakeResponse(version, keep_alive,
                                 ready.ok() ? http::status::ok
                                 : absl::IsNotFound(ready.status())
                                     ? http::status::not_found
                                     : http::status::bad_request,
                                 ready.ok() ? "" : protocol::JsonErrorBody(Msg(ready.status()))));
      }
      if (action == "config") {
        if (!get) return method_not_allowed("GET");
        auto config = worker_->Config(model, model_version);
        if (!config.ok()) return error(config.status());
        absl::StatusOr<std::string> json = protocol::TritonJson(**config);
        if (!json.ok()) return error(json.status());
        return Send(MakeResponse(version, keep_alive, http::status::ok, *std::move(json)));
      }
      if (action == "stats") {
        if (!get) return method_not_allowed("GET");
        return SendStats(model, model_version, version, keep_alive);
      }
      if (action == "infer") {
        if (!post) return method_not_allowed("POST");
        return HandleInfer(std::move(request), model, model_version);
      }
      if (action == "classify") {
        if (!post) return method_not_allowed("POST");
        return HandleClassify(std::move(request), model, model_version);
      }
    }
    return error(absl::NotFoundError(StrCat("no route for ", target)));
  }

  void SendStats(std::string_view model, std::string_view model_version, unsigned version,
                 bool keep_alive) {
    inference::ModelStatisticsResponse stats;
    absl::Status status = worker_->StatisticsProto(model, model_version, &stats);
    if (!status.ok()) return Send(ErrorResponse(version, keep_alive, status));
    absl::StatusOr<std::string> json = protocol::TritonJson(stats);
    if (!json.ok()) return Send(ErrorResponse(version, keep_alive, json.status()));
    Send(MakeResponse(version, keep_alive, http::status::ok, *std::move(json)));
  }

  void HandleRepository(Request& request, const std::vector<std::string_view>& parts, bool post) {
    const unsigned version = request.version();
    const bool keep_alive = request.keep_alive();
    if (absl::Status decoded = DecodeBody(&request.body()); !decoded.ok()) {
      return Send(ErrorResponse(version, keep_alive, decoded));
    }
    if (parts.size() == 2 && parts[1] == "index") {
      if (!post) {
        return Send(ErrorResponse(version, keep_alive,
                                  absl::InvalidArgumentError("use POST for /v2/repository/index")));
      }
      // {"ready": true} lists only the models that are ready, as Triton does.
      bool only_ready = false;
      if (const std::string& text = request.body(); !text.empty()) {
        const nlohmann::json body = nlohmann::json::parse(text, nullptr, false);
        if (!body.is_object() || (body.contains("ready") && !body["ready"].is_boolean())) {
          return Send(ErrorResponse(
              version, keep_alive,
              absl::InvalidArgumentError(
                  "the repository index takes a JSON object such as {\"ready\": true}")));
        }
        only_ready = body.value("ready", false);
      }
      nlohmann::json index = nlohmann::json::array();
      for (const auto& entry : worker_->repository().Index()) {
        if (only_ready && entry.state != "READY") continue;
        nlohmann::json item = {{"name", entry.name}};
        if (!entry.version.empty()) item["version"] = entry.version;
        if (!entry.state.empty()) item["state"] = entry.state;
        if (!entry.reason.empty()) item["reason"] = entry.reason;
        index.push_back(std::move(item));
      }
      return Send(JsonResponse(version, keep_alive, index));
    }
    if (parts.size() == 4 && parts[1] == "models" &&
        (parts[3] == "load" || parts[3] == "unload")) {
      if (!post) {
        return Send(ErrorResponse(version, keep_alive,
                                  absl::InvalidArgumentError("use POST to load or unload")));
      }
      const std::string model(parts[2]);
      const bool load = parts[3] == "load";
      // Loading blocks for as long as the engine takes: run it on the control thread and
      // answer from there.
      // The body (config and file overrides, which may be megabytes of base64) is parsed
      // there too, off the event loop.
      auto self = shared_from_this();
      auto body = std::make_shared<std::string>(std::move(request.body()));
      worker_->control().Post([self, model, load, version, keep_alive, body] {
        absl::Status status;
        if (load) {
          absl::StatusOr<LoadOverrides> overrides = LoadOverridesFromJson(model, *body);
          status = overrides.ok() ? self->worker_->repository().Load(model, *overrides)
                                  : overrides.status();
        } else {
          status = self->worker_->repository().Unload(model);
        }
        Response res = status.ok() ? MakeResponse(version, keep_alive, http::status::ok, "")
                                   : ErrorResponse(version, keep_alive, status);
        net::post(self->stream_.get_executor(),
                  [self, res = std::move(res)]() mutable { self->Send(std::move(res)); });
      });
      return;
    }
    Send(ErrorResponse(version, keep_alive, absl::NotFoundError("no such repository route")));
  }

  // /v2/systemsharedmemory[/region/{name}]/status|register|unregister.
  void HandleSharedMemory(Request& request, const std::vector<std::string_view>& parts, bool get,
                          bool post) {
    const unsigned version = request.version();
    const bool keep_alive = request.keep_alive();
    auto error = [&](const absl::Status& status) {
      Send(ErrorResponse(version, keep_alive, status));
    };
    std::string_view name, action;
    if (parts.size() == 2) {
      action = parts[1];
    } else if (parts.size() == 4 && parts[1] == "region") {
      name = parts[2];
      action = parts[3];
    } else {
      return error(absl::NotFoundError("no such shared-memory route; use /v2/systemsharedmemory"
                                       "[/region/{name}]/status|register|unregister"));
    }
    if (action == "status") {
      if (!get) return error(common::MethodNotAllowedError("use GET for the status", "GET"));
      auto regions = worker_->shared_memory().Status(name);
      if (!regions.ok()) return error(regions.status());
      nlohmann::json doc = nlohmann::json::array();
      for (const auto& region : *regions) {
        doc.push_back({{"name", region.name}, {"key", region.key}, {"offset", region.offset},
                       {"byte_size", region.byte_size}});
      }
      return Send(JsonResponse(version, keep_alive, doc));
    }
    if (action != "register" && action != "unregister") {
      return error(absl::NotFoundError(StrCat("no shared-memory action '", action.substr(0, 64),
                                              "'; use status, register or unregister")));
    }
    if (!post) return error(common::MethodNotAllowedError(StrCat("use POST to ", action), "POST"));
    if (absl::Status off = worker_->SharedMemoryOff(); !off.ok()) return error(off);
    if (action == "unregister") {
      absl::Status status = worker_->shared_memory().Unregister(name);
      if (!status.ok()) return error(status);
      return Send(MakeResponse(version, keep_alive, http::status::ok, ""));
    }
    if (name.empty()) {
      return error(absl::NotFoundError("register a region at /v2/systemsharedmemory/region/"
                                       "{name}/register"));
    }
    if (absl::Status decoded = DecodeBody(&request.body()); !decoded.ok()) return error(decoded);
    const nlohmann::json body = nlohmann::json::parse(request.body(), nullptr, false);
    const char* kShape =
        "the register request takes a JSON object {\"key\": \"/name\", \"offset\": 0, "
        "\"byte_size\": N}";
    if (!body.is_object() || !body.contains("key") || !body["key"].is_string() ||
        !body.contains("byte_size") || !body["byte_size"].is_number_unsigned() ||
        (body.contains("offset") && !body["offset"].is_number_unsigned())) {
      return error(absl::InvalidArgumentError(kShape));
    }
    absl::Status status = worker_->shared_memory().Register(
        std::string(name), body["key"].get<std::string>(), body.value("offset", uint64_t{0}),
        body["byte_size"].get<uint64_t>());
    if (!status.ok()) return error(status);
    Send(MakeResponse(version, keep_alive, http::status::ok, ""));
  }

  // Image in, top-k labels out. Decoding and resizing are CPU work, so they run on the
  // worker's pre-processing pool, not on this event loop.
  void HandleClassify(Request&& request, std::string_view model, std::string_view model_version) {
    const unsigned version = request.version();
    const bool keep_alive = request.keep_alive();
    auto found = worker_->repository().Get(model, model_version);
    if (!found.ok()) return Send(ErrorResponse(version, keep_alive, found.status()));
    std::shared_ptr<ModelVersion> target = *std::move(found);
    auto spec = ClassifierSpecFromConfig(target->config());
    if (!spec.ok()) return Send(ErrorResponse(version, keep_alive, spec.status()));
    auto content_type = request[http::field::content_type];
    // Who the request's image_url downloads count against.
    std::string caller;
    if (auto header = request.find(protocol::kCallerHeader);
        worker_->options().trust_caller_header && header != request.end()) {
      caller = StrCat("key:", std::string_view(header->value().data(), header->value().size()));
    } else {
      beast::error_code ec;
      caller = StrCat("peer:", stream_.socket().remote_endpoint(ec).address().to_string());
    }
    auto job = [self = shared_from_this(), target, spec = *std::move(spec), version, keep_alive,
                content_type = std::string(content_type.data(), content_type.size()),
                body = std::move(request.body()), caller = std::move(caller)]() mutable {
      self->RunClassify(std::move(target), spec, content_type, body, std::move(caller), version,
                        keep_alive);
    };
    stream_.expires_never();
    net::post(worker_->preprocess_pool(), std::move(job));
  }

  void RunClassify(std::shared_ptr<ModelVersion> target, const ClassifierSpec& spec,
                   const std::string& content_type, const std::string& body,
                   std::string caller, unsigned version, bool keep_alive) {
    const auto& config = target->config();
    const bool batched = config.max_batch_size() > 0;
    std::string decoded_body;
    const std::string* plain = &body;
    if (request_coding_ != berth::net::ContentCoding::kIdentity) {
      decoded_body = body;
      if (absl::Status decoded = DecodeBody(&decoded_body); !decoded.ok()) {
        return SendFromExecutor(ErrorResponse(version, keep_alive, decoded));
      }
      plain = &decoded_body;
    }
    auto parsed = ParseClassifyRequest(
        content_type, *plain, batched ? static_cast<size_t>(config.max_batch_size()) : 1);
    if (!parsed.ok()) return SendFromExecutor(ErrorResponse(version, keep_alive, parsed.status()));
    if (parsed->urls.empty()) {
      return DecodeAndInfer(std::move(target), spec, *std::move(parsed), version, keep_alive);
    }
    // Downloads wait on the network: the fetcher runs them on its own thread, with a share
    // per caller, so that a slow URL holds up neither the decoding of other requests, nor the
    // event loop, nor other callers' downloads; decoding comes back to the pool.
    std::vector<std::string> urls = ImageUrls(*parsed);
    worker_->fetcher().Fetch(
        std::move(urls), std::move(caller), worker_->image_fetch_options(),
        [self = shared_from_this(), target = std::move(target), spec,
         request = *std::move(parsed), version, keep_alive](berth::net::GetResults results) mutable {
          if (absl::Status status = TakeFetchedImages(&request, std::move(results));
              !status.ok()) {
            return self->SendFromExecutor(ErrorResponse(version, keep_alive, status));
          }
          net::post(self->worker_->preprocess_pool(),
                    [self, target = std::move(target), spec, request = std::move(request),
                     version, keep_alive]() mutable {
                      self->DecodeAndInfer(std::move(target), spec, std::move(request), version,
                                           keep_alive);
                    });
        });
  }

  // Decodes the request's images into one batch tensor and queues it for the model.
  void DecodeAndInfer(std::shared_ptr<ModelVersion> target, const ClassifierSpec& spec,
                      ClassifyRequest request, unsigned version, bool keep_alive) {
    const auto& config = target->config();
    const bool batched = config.max_batch_size() > 0;
    absl::StatusOr<std::vector<char>> tensor = ImagesToBatch(request.images, spec);
    if (!tensor.ok()) return SendFromExecutor(ErrorResponse(version, keep_alive, tensor.status()));
    auto queued = std::make_unique<QueuedRequest>();
    queued->arrival = Clock::now();
    queued->request.model_name = target->name();
    queued->request.model_version = target->version_text();
    auto& input = queued->request.inputs.emplace_back();
    input.name = spec.input_name;
    input.datatype = protocol::DataType::kFp32;
    if (batched) input.shape.push_back(static_cast<int64_t>(request.images.size()));
    for (int64_t d : config.input(0).dims()) input.shape.push_back(d);
    input.SetOwned(*std::move(tensor));
    const size_t count = request.images.size();
    auto self = shared_from_this();
    queued->done = [self, target, count, top_k = request.top_k, instances = request.instances,
                    version, keep_alive](absl::StatusOr<protocol::InferResponse> result) {
      if (!result.ok() || result->outputs.empty() ||
          result->outputs[0].datatype != protocol::DataType::kFp32) {
        return self->SendFromExecutor(ErrorResponse(
            version, keep_alive,
            result.ok() ? absl::InternalError("the model did not return FP32 scores")
                        : result.status()));
      }
      const auto& data = result->outputs[0].data;
      std::span<const float> scores(reinterpret_cast<const float*>(data.data()),
                                    data.size() / sizeof(float));
      nlohmann::json doc = {
          {"predictions", PredictionsJson(scores, count, top_k, target->labels(), instances)},
          {"model", target->name()},
          {"version", target->version_text()}};
      Response res = JsonResponse(version, keep_alive, doc);
      if (result->batch_rows > 0) {
        res.set(protocol::kBatchRowsHeader, std::to_string(result->batch_rows));
      }
      self->SendFromExecutor(std::move(res));
    };
    absl::Status status = worker_->Infer(std::move(queued));
    if (!status.ok()) SendFromExecutor(ErrorResponse(version, keep_alive, status));
  }

  void HandleInfer(Request&& request, std::string_view model, std::string_view model_version) {
    const unsigned version = request.version();
    const bool keep_alive = request.keep_alive();
    auto queued = std::make_unique<QueuedRequest>();
    queued->arrival = Clock::now();
    queued->request.model_name = std::string(model);
    queued->request.model_version = std::string(model_version);
    if (auto budget = request.find(protocol::kTimeoutHeader); budget != request.end()) {
      uint64_t us = 0;
      const auto value = budget->value();
      const auto [end, ec] = std::from_chars(value.data(), value.data() + value.size(), us);
      if (ec == std::errc() && end == value.data() + value.size()) queued->budget_us = us;
    }
    auto body = std::make_shared<std::string>(std::move(request.body()));
    // The JSON header's length (binary data extension) counts bytes of the decoded body.
    std::optional<std::string> header_length;
    if (auto header = request.find("Inference-Header-Content-Length"); header != request.end()) {
      header_length.emplace(header->value().data(), header->value().size());
    }
    if (body->size() <= kParseOnLoopBytes &&
        request_coding_ == berth::net::ContentCoding::kIdentity) {
      return ParseAndQueue(std::move(queued), std::move(body), std::move(header_length), version,
                           keep_alive, /*on_loop=*/true);
    }
    // A large body takes long enough to parse (tens of milliseconds for tens of megabytes) to
    // hold up every other connection of this event loop, and a compressed one may decode to
    // many times its size: the pre-processing pool decodes and parses them.
    stream_.expires_never();
    net::post(worker_->preprocess_pool(),
              [self = shared_from_this(), queued = std::move(queued), body = std::move(body),
               header_length = std::move(header_length), version, keep_alive]() mutable {
                self->ParseAndQueue(std::move(queued), std::move(body), std::move(header_length),
                                    version, keep_alive, /*on_loop=*/false);
              });
  }

  // Parses an inference request's body and queues it. `on_loop`: called on the session's
  // event loop (else from a pool thread, with no operation pending on the socket).
  void ParseAndQueue(std::unique_ptr<QueuedRequest> queued, std::shared_ptr<std::string> body,
                     std::optional<std::string> header_value, unsigned version, bool keep_alive,
                     bool on_loop) {
    auto reply = [&](Response res) {
      if (on_loop) {
        Send(std::move(res));
      } else {
        SendFromExecutor(std::move(res));
      }
    };
    if (absl::Status decoded = DecodeBody(body.get()); !decoded.ok()) {
      return reply(ErrorResponse(version, keep_alive, decoded));
    }
    std::optional<size_t> header_length;
    if (header_value) {
      size_t length = 0;
      absl::Status parsed = protocol::ParseHeaderLength(*header_value, body->size(), &length);
      if (!parsed.ok()) return reply(ErrorResponse(version, keep_alive, parsed));
      header_length = length;
    }
    absl::Status status = protocol::ParseInferRequest(body, header_length, &queued->request);
    if (!status.ok()) return reply(ErrorResponse(version, keep_alive, status));
    auto self = shared_from_this();
    // No timer while the request is in the engine; Read() arms it again after the answer.
    if (on_loop) stream_.expires_never();
    queued->done = [self, version, keep_alive](
                       absl::StatusOr<protocol::InferResponse> result) {
      Response res;
      if (!result.ok()) {
        res = ErrorResponse(version, keep_alive, result.status());
      } else {
        std::string payload;
        std::optional<size_t> json_length;
        protocol::EncodeInferResponse(*result, &payload, &json_length);
        res = MakeResponse(version, keep_alive, http::status::ok, std::move(payload),
                           json_length ? "application/octet-stream" : "application/json");
        if (json_length) res.set("Inference-Header-Content-Length", std::to_string(*json_length));
        if (result->batch_rows > 0) {
          res.set(protocol::kBatchRowsHeader, std::to_string(result->batch_rows));
        }
      }
      self->SendFromExecutor(std::move(res));
    };
    const std::string request_id = queued->request.id;
    const std::string model = queued->request.model_name;
    status = worker_->Infer(std::move(queued));
    if (!status.ok()) {
      if (!absl::IsInvalidArgument(status) && !absl::IsNotFound(status)) {
        spdlog::warn("model '{}' request '{}' refused: {}", model, request_id, Msg(status));
      }
      reply(ErrorResponse(version, keep_alive, status));
    }
  }

  beast::tcp_stream stream_;
  beast::flat_buffer buffer_{berth::net::kReadBufferBytes};
  std::optional<http::request_parser<http::string_body>> parser_;
  berth::net::TrailerDetector trailers_;
  // The current request's Content-Encoding, and the coding its answer goes out in.
  berth::net::ContentCoding request_coding_ = berth::net::ContentCoding::kIdentity;
  berth::net::ContentCoding answer_coding_ = berth::net::ContentCoding::kIdentity;
  Worker* worker_;
  std::atomic<int>* open_sessions_;
  const int max_connections_;
};

}  // namespace

struct HttpServer::Impl {
  Impl(Worker* w, int threads) : worker(w), io(threads), acceptor(io) {}

  void Accept() {
    acceptor.async_accept(net::make_strand(io), [this](beast::error_code ec, tcp::socket socket) {
      if (ec == net::error::operation_aborted) return;
      if (berth::net::IsOutOfDescriptorsOrMemory(ec)) {
        pause.expires_after(backoff.Failed(ec));
        pause.async_wait([this](beast::error_code wait) {
          if (wait != net::error::operation_aborted) Accept();
        });
        return;
      }
      if (!ec) backoff.Succeeded();
      if (!ec && open_sessions.load(std::memory_order_relaxed) >= max_connections) {
        // Over the limit: answer at once and close. The answer fits in a fresh socket's
        // send buffer, so this write does not block the event loop.
        static const std::string kBusy = [] {
          const std::string body =
              protocol::JsonErrorBody("too many open connections; retry in a moment");
          return StrCat("HTTP/1.1 503 Service Unavailable\r\nRetry-After: 1\r\n",
                        "Connection: close\r\nContent-Type: application/json\r\n",
                        "Content-Length: ", body.size(), "\r\n\r\n", body);
        }();
        net::write(socket, net::buffer(kBusy.data(), kBusy.size()), ec);
        socket.shutdown(tcp::socket::shutdown_both, ec);
        socket.close(ec);
        worker->metrics().connections_rejected().Increment();
        const uint64_t rejected = rejected_connections.fetch_add(1, std::memory_order_relaxed) + 1;
        if ((rejected & (rejected - 1)) == 0) {  // log the 1st, 2nd, 4th, 8th, ... refusal
          spdlog::warn("refused {} HTTP connection(s) so far: {} are open (--max-connections)",
                       rejected, max_connections);
        }
      } else if (!ec) {
        socket.set_option(tcp::no_delay(true), ec);
        std::make_shared<Session>(std::move(socket), worker, &open_sessions, max_connections)
            ->Run();
      }
      Accept();
    });
  }

  Worker* worker;
  net::io_context io;
  tcp::acceptor acceptor;
  const int max_connections =
      berth::net::CappedConnectionLimit(worker->options().max_connections, "worker");
  std::atomic<int> open_sessions{0};
  std::atomic<uint64_t> rejected_connections{0};
  net::steady_timer pause{io};
  berth::net::AcceptBackoff backoff{"worker HTTP"};
};

HttpServer::HttpServer(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

absl::StatusOr<std::unique_ptr<HttpServer>> HttpServer::Create(Worker* worker) {
  const auto& options = worker->options();
  auto impl = std::make_unique<Impl>(worker, std::max(1, options.http_threads));
  beast::error_code ec;
  auto address = net::ip::make_address(options.http_address, ec);
  if (ec) {
    return absl::InvalidArgumentError(
        StrCat("--http-address '", options.http_address, "' is not an IP address"));
  }
  tcp::endpoint endpoint(address, static_cast<unsigned short>(options.http_port));
  impl->acceptor.open(endpoint.protocol(), ec);
  if (!ec) impl->acceptor.set_option(net::socket_base::reuse_address(true), ec);
  if (!ec) impl->acceptor.bind(endpoint, ec);
  if (!ec) impl->acceptor.listen(net::socket_base::max_listen_connections, ec);
  if (ec) {
    return absl::UnavailableError(StrCat("cannot listen for HTTP on ", options.http_address,
                                               ":", options.http_port, ": ", ec.message()));
  }
  const int port = impl->acceptor.local_endpoint().port();
  std::unique_ptr<HttpServer> server(new HttpServer(std::move(impl)));
  server->port_ = port;
  return server;
}

HttpServer::~HttpServer() { Stop(); }

void HttpServer::Start() {
  impl_->Accept();
  const int threads = std::max(1, impl_->worker->options().http_threads);
  for (int i = 0; i < threads; ++i) {
    threads_.emplace_back([this] { berth::net::RunEventLoop(impl_->io, "worker HTTP"); });
  }
}

void HttpServer::Stop() {
  impl_->io.stop();
  for (auto& t : threads_) {
    if (t.joinable()) t.join();
  }
  threads_.clear();
}

}  // namespace berth::worker
