#include "gateway/grpc_front.h"

#include <deque>
#include <memory>
#include <mutex>
#include <optional>
#include <unordered_map>
#include <vector>

#include <grpcpp/grpcpp.h>

#include "common/strings.h"
#include "common/version.h"
#include "grpc_service.grpc.pb.h"
#include "net/grpc_guard.h"
#include "spdlog/spdlog.h"

namespace berth::gateway {
namespace {

using Stub = inference::GRPCInferenceService::Stub;

using net::ToGrpc;

// The model a request names: ModelInferRequest calls it model_name, the others name.
template <typename Request>
const std::string& ModelNameOf(const Request& request) {
  if constexpr (requires { request.model_name(); }) {
    return request.model_name();
  } else {
    return request.name();
  }
}

template <typename Request>
void SetModelName(Request* request, const std::string& name) {
  if constexpr (requires { request->model_name(); }) {
    request->set_model_name(name);
  } else {
    request->set_name(name);
  }
}

}  // namespace

class GrpcFront::Service final : public inference::GRPCInferenceService::CallbackService {
 public:
  Service(Dispatcher* dispatcher, bool public_health)
      : dispatcher_(dispatcher), public_health_(public_health) {}

  grpc::ServerUnaryReactor* ServerLive(grpc::CallbackServerContext* context,
                                       const inference::ServerLiveRequest*,
                                       inference::ServerLiveResponse* response) override {
    return berth::net::GuardUnary(context, "gateway gRPC ServerLive", [&] {
      if (!public_health_) {
        if (auto p = Authenticate(context); !p.ok()) return Finish(context, ToGrpc(p.status()));
      }
      response->set_live(true);
      return Finish(context, grpc::Status::OK);
    });
  }
  grpc::ServerUnaryReactor* ServerReady(grpc::CallbackServerContext* context,
                                        const inference::ServerReadyRequest*,
                                        inference::ServerReadyResponse* response) override {
    return berth::net::GuardUnary(context, "gateway gRPC ServerReady", [&] {
      if (!public_health_) {
        if (auto p = Authenticate(context); !p.ok()) return Finish(context, ToGrpc(p.status()));
      }
      response->set_ready(true);
      return Finish(context, grpc::Status::OK);
    });
  }
  grpc::ServerUnaryReactor* ServerMetadata(grpc::CallbackServerContext* context,
                                           const inference::ServerMetadataRequest*,
                                           inference::ServerMetadataResponse* response) override {
    return berth::net::GuardUnary(context, "gateway gRPC ServerMetadata", [&] {
      if (auto p = Authenticate(context); !p.ok()) return Finish(context, ToGrpc(p.status()));
      response->set_name("berth");
      response->set_version(kVersion);
      for (std::string_view extension : kGatewayExtensions) {
        response->add_extensions(std::string(extension));
      }
      return Finish(context, grpc::Status::OK);
    });
  }
  grpc::ServerUnaryReactor* ModelReady(grpc::CallbackServerContext* context,
                                       const inference::ModelReadyRequest* request,
                                       inference::ModelReadyResponse* response) override {
    return berth::net::GuardUnary(context, "gateway gRPC ModelReady", [&] {
      return Forward(context, "ModelReady", request->name(), request, response,
                     [](Stub* stub, grpc::ClientContext* c, const auto* q, auto* a, auto done) {
                       stub->async()->ModelReady(c, q, a, std::move(done));
                     });
    });
  }
  grpc::ServerUnaryReactor* ModelMetadata(grpc::CallbackServerContext* context,
                                          const inference::ModelMetadataRequest* request,
                                          inference::ModelMetadataResponse* response) override {
    return berth::net::GuardUnary(context, "gateway gRPC ModelMetadata", [&] {
      return Forward(context, "ModelMetadata", request->name(), request, response,
                     [](Stub* stub, grpc::ClientContext* c, const auto* q, auto* a, auto done) {
                       stub->async()->ModelMetadata(c, q, a, std::move(done));
                     });
    });
  }
  grpc::ServerUnaryReactor* ModelInfer(grpc::CallbackServerContext* context,
                                       const inference::ModelInferRequest* request,
                                       inference::ModelInferResponse* response) override {
    return berth::net::GuardUnary(context, "gateway gRPC ModelInfer", [&] {
      return Forward(context, "ModelInfer", request->model_name(), request, response,
                     [](Stub* stub, grpc::ClientContext* c, const auto* q, auto* a, auto done) {
                       stub->async()->ModelInfer(c, q, a, std::move(done));
                     });
    });
  }
  grpc::ServerUnaryReactor* ModelConfig(grpc::CallbackServerContext* context,
                                        const inference::ModelConfigRequest* request,
                                        inference::ModelConfigResponse* response) override {
    return berth::net::GuardUnary(context, "gateway gRPC ModelConfig", [&] {
      return Forward(context, "ModelConfig", request->name(), request, response,
                     [](Stub* stub, grpc::ClientContext* c, const auto* q, auto* a, auto done) {
                       stub->async()->ModelConfig(c, q, a, std::move(done));
                     });
    });
  }
  grpc::ServerUnaryReactor* ModelStatistics(grpc::CallbackServerContext* context,
                                            const inference::ModelStatisticsRequest* request,
                                            inference::ModelStatisticsResponse* response) override {
    return berth::net::GuardUnary(context, "gateway gRPC ModelStatistics", [&] {
      // No name: every service the key may call, as Triton answers with every model.
      if (request->name().empty()) return AllStatistics(context, request, response);
      return Forward(context, "ModelStatistics", request->name(), request, response,
                     [](Stub* stub, grpc::ClientContext* c, const auto* q, auto* a, auto done) {
                       stub->async()->ModelStatistics(c, q, a, std::move(done));
                     });
    });
  }

  grpc::ServerBidiReactor<inference::ModelInferRequest, inference::ModelStreamInferResponse>*
  ModelStreamInfer(grpc::CallbackServerContext* context) override;

  // What the gateway does not carry answers why (after authentication), never with an empty
  // UNIMPLEMENTED, which some Triton clients take for success.
#define BERTH_GATEWAY_REFUSES(Rpc, Why)                                                   \
  grpc::ServerUnaryReactor* Rpc(grpc::CallbackServerContext* context,                     \
                                const inference::Rpc##Request*, inference::Rpc##Response*) \
      override {                                                                          \
    return berth::net::GuardUnary(context, "gateway gRPC " #Rpc, [&] {                    \
      if (auto p = Authenticate(context); !p.ok()) return Finish(context, ToGrpc(p.status())); \
      return Finish(context, ToGrpc(Why));                                                \
    });                                                                                   \
  }
  grpc::ServerUnaryReactor* RepositoryIndex(grpc::CallbackServerContext* context,
                                            const inference::RepositoryIndexRequest* request,
                                            inference::RepositoryIndexResponse* response) override {
    return berth::net::GuardUnary(context, "gateway gRPC RepositoryIndex", [&] {
      auto principal = Authenticate(context);
      if (!principal.ok()) return Finish(context, ToGrpc(principal.status()));
      for (const auto& entry : dispatcher_->Index(*principal, request->ready())) {
        auto* model = response->add_models();
        model->set_name(entry.name);
        model->set_state(entry.state);
        model->set_reason(entry.reason);
      }
      return Finish(context, grpc::Status::OK);
    });
  }
  BERTH_GATEWAY_REFUSES(SystemSharedMemoryStatus, SharedMemoryIsLocal())
  BERTH_GATEWAY_REFUSES(SystemSharedMemoryRegister, SharedMemoryIsLocal())
  BERTH_GATEWAY_REFUSES(SystemSharedMemoryUnregister, SharedMemoryIsLocal())
  BERTH_GATEWAY_REFUSES(CudaSharedMemoryStatus, SharedMemoryIsLocal())
  BERTH_GATEWAY_REFUSES(CudaSharedMemoryRegister, SharedMemoryIsLocal())
  BERTH_GATEWAY_REFUSES(CudaSharedMemoryUnregister, SharedMemoryIsLocal())
  BERTH_GATEWAY_REFUSES(RepositoryModelLoad, DeploysAreTheControlPlanes())
  BERTH_GATEWAY_REFUSES(RepositoryModelUnload, DeploysAreTheControlPlanes())
  BERTH_GATEWAY_REFUSES(TraceSetting, absl::UnimplementedError(
                                          "berth's gateway has no request tracing; each "
                                          "service's request log is berth logs SERVICE --requests"))
  BERTH_GATEWAY_REFUSES(LogSettings, absl::UnimplementedError(
                                         "log settings are not served over the data plane; the "
                                         "server's are set with --log-level at start"))
#undef BERTH_GATEWAY_REFUSES

 private:
  class StreamProxy;

  static absl::Status SharedMemoryIsLocal() {
    return absl::FailedPreconditionError(
        "shared memory is a same-host feature of berth worker; berth's gateway does not carry "
        "it: send tensors in the request (raw contents)");
  }
  static absl::Status DeploysAreTheControlPlanes() {
    return absl::FailedPreconditionError(
        "models behind berth's gateway are loaded and unloaded by deploys: use berth deploy, "
        "berth scale or berth delete (or /api/v1/services)");
  }

  static grpc::ServerUnaryReactor* Finish(grpc::CallbackServerContext* context,
                                          const grpc::Status& status) {
    auto* reactor = context->DefaultReactor();
    reactor->Finish(status);
    return reactor;
  }

  static std::string_view Metadata(grpc::CallbackServerContext* context, std::string_view key) {
    const auto& metadata = context->client_metadata();
    auto it = metadata.find(grpc::string_ref(key.data(), key.size()));
    if (it == metadata.end()) return {};
    return std::string_view(it->second.data(), it->second.size());
  }
  static std::string_view Authorization(grpc::CallbackServerContext* context) {
    return Metadata(context, "authorization");
  }
  // A/B by header: gRPC metadata keys are lowercase, as the route's pin_header is.
  static void Pin(grpc::CallbackServerContext* context, Admission& admission) {
    if (!admission.route->pin_header.empty()) {
      Dispatcher::PinByHeader(admission, Metadata(context, admission.route->pin_header));
    }
  }

  absl::StatusOr<control::Principal> Authenticate(grpc::CallbackServerContext* context) {
    return dispatcher_->Authenticate(Authorization(context));
  }

  std::shared_ptr<Stub> StubFor(const routing::Endpoint& endpoint) {
    const std::string target = StrCat(endpoint.url_host(), ":", endpoint.grpc_port());
    std::lock_guard lock(mu_);
    auto& stub = stubs_[target];
    if (!stub) {
      grpc::ChannelArguments args;
      args.SetMaxReceiveMessageSize(-1);
      args.SetMaxSendMessageSize(-1);
      stub = inference::GRPCInferenceService::NewStub(
          grpc::CreateCustomChannel(target, grpc::InsecureChannelCredentials(), args));
    }
    return stub;
  }

  static AttemptOutcome OutcomeOf(const grpc::Status& status) {
    return ClassifyGrpcStatus(static_cast<int>(status.error_code()));
  }

  // Admits the call through the dispatcher and forwards it to a replica of the service
  // `model` names, again to another when the first did not answer.
  template <typename Request, typename Response, typename Call>
  grpc::ServerUnaryReactor* Forward(grpc::CallbackServerContext* context, std::string_view rpc,
                                    const std::string& model, const Request* request,
                                    Response* response, Call call) {
    auto admission =
        dispatcher_->Admit(Transport::kGrpc, Authorization(context), model, {.route = rpc});
    if (!admission.ok()) return Finish(context, ToGrpc(admission.status()));
    Pin(context, *admission);
    if (absl::Status room = dispatcher_->CheckCapacity(*admission); !room.ok()) {
      dispatcher_->Finish(*admission, static_cast<int>(room.code()), {.route = rpc});
      return Finish(context, ToGrpc(room));
    }
    auto* reactor = context->DefaultReactor();
    auto attempt = std::make_shared<Attempt<Request, Response, Call>>(
        Attempt<Request, Response, Call>{this, reactor, context, *std::move(admission), rpc,
                                         request, response, call, nullptr});
    attempt->Run(attempt);
    return reactor;
  }

  template <typename Request, typename Response, typename Call>
  struct Attempt {
    Service* service;
    grpc::ServerUnaryReactor* reactor;
    grpc::CallbackServerContext* server_context;
    Admission admission;
    std::string_view rpc;  // a literal
    const Request* request;
    Response* response;
    Call call;
    std::unique_ptr<grpc::ClientContext> client;
    std::unique_ptr<Request> renamed;  // the request under the replica's model name

    void Run(const std::shared_ptr<Attempt>& self) {
      Dispatcher& dispatcher = *service->dispatcher_;
      auto endpoint = dispatcher.Pick(admission);
      if (!endpoint.ok() && dispatcher.ShouldHold(admission)) {
        // The service is starting a replica: this call waits for it, then tries again.
        return dispatcher.Hold(admission, [self](absl::Status held) {
          if (!held.ok()) return self->Done(ToGrpc(held));
          self->Run(self);
        });
      }
      if (!endpoint.ok()) return Done(ToGrpc(endpoint.status()));
      client = std::make_unique<grpc::ClientContext>();
      client->set_deadline(server_context->deadline());
      auto stub = service->StubFor(**endpoint);
      // A caller that names the service by its other name (the service's own, or its V2
      // model name) gets a copy renamed to the replica's.
      const Request* sent = request;
      const std::string& model = admission.ModelNameAt(**endpoint);
      if (ModelNameOf(*request) != model) {
        renamed = std::make_unique<Request>(*request);
        SetModelName(renamed.get(), model);
        sent = renamed.get();
      }
      call(stub.get(), client.get(), sent, response, [self, stub](grpc::Status status) {
        if (self->service->dispatcher_->Complete(self->admission, OutcomeOf(status))) {
          self->response->Clear();
          return self->Run(self);
        }
        self->Done(status);
      });
    }

    void Done(const grpc::Status& status) {
      RequestDetails details;
      details.route = rpc;
      details.bytes_in = request->ByteSizeLong();
      details.bytes_out = status.ok() ? response->ByteSizeLong() : 0;
      service->dispatcher_->Finish(admission, static_cast<int>(status.error_code()), details);
      if (admission.endpoint) {
        server_context->AddTrailingMetadata(kRevisionMetadata,
                                            std::to_string(admission.endpoint->revision()));
      }
      reactor->Finish(status);
    }
  };

  // The statistics of every ready service the caller may call, one replica each, gathered
  // in the order of the repository index.
  grpc::ServerUnaryReactor* AllStatistics(grpc::CallbackServerContext* context,
                                          const inference::ModelStatisticsRequest* request,
                                          inference::ModelStatisticsResponse* response) {
    auto principal = Authenticate(context);
    if (!principal.ok()) return Finish(context, ToGrpc(principal.status()));
    struct Call {
      Admission admission;
      grpc::ClientContext client;
      inference::ModelStatisticsRequest request;
      inference::ModelStatisticsResponse answer;
      grpc::Status status;
    };
    struct FanOut {
      std::mutex mu;
      size_t remaining = 0;
      std::vector<std::unique_ptr<Call>> calls;
    };
    auto fan_out = std::make_shared<FanOut>();
    for (const IndexEntry& entry : dispatcher_->Index(*principal, /*ready_only=*/true)) {
      auto admission = dispatcher_->Admit(Transport::kGrpc, *principal, entry.name);
      if (!admission.ok()) continue;
      admission->retryable = false;
      auto endpoint = dispatcher_->Pick(*admission);
      if (!endpoint.ok()) {
        dispatcher_->Finish(*admission, static_cast<int>(grpc::StatusCode::UNAVAILABLE),
                            {.route = "ModelStatistics"});
        continue;
      }
      auto call = std::make_unique<Call>();
      call->admission = *std::move(admission);
      call->request.set_name(call->admission.ModelNameAt(**endpoint));
      call->request.set_version(request->version());
      call->client.set_deadline(context->deadline());
      fan_out->calls.push_back(std::move(call));
    }
    auto* reactor = context->DefaultReactor();
    if (fan_out->calls.empty()) {
      reactor->Finish(grpc::Status::OK);
      return reactor;
    }
    fan_out->remaining = fan_out->calls.size();
    for (const auto& call : fan_out->calls) {
      Call* c = call.get();
      auto stub = StubFor(*c->admission.endpoint);
      stub->async()->ModelStatistics(
          &c->client, &c->request, &c->answer,
          [this, fan_out, c, reactor, response, stub](grpc::Status status) {
            dispatcher_->Complete(c->admission, OutcomeOf(status));
            dispatcher_->Finish(c->admission, static_cast<int>(status.error_code()),
                                {.route = "ModelStatistics"});
            std::lock_guard lock(fan_out->mu);
            c->status = std::move(status);
            if (--fan_out->remaining > 0) return;
            // A service whose replica did not answer is left out, as an unready one is.
            for (const auto& done : fan_out->calls) {
              if (!done->status.ok()) continue;
              for (auto& stats : *done->answer.mutable_model_stats()) {
                *response->add_model_stats() = std::move(stats);
              }
            }
            reactor->Finish(grpc::Status::OK);
          });
    }
    return reactor;
  }

  Dispatcher* dispatcher_;
  const bool public_health_;  // ServerLive and ServerReady without a key
  std::mutex mu_;
  std::unordered_map<std::string, std::shared_ptr<Stub>> stubs_;
};

// Relays one ModelStreamInfer stream to the services its requests name, as Triton's stream
// serves any model: one stream to a replica per service, opened by the first request that
// names it. The caller's requests go up one at a time (the next is read once the previous is
// written to its replica); responses come down as the replicas send them, one write at a time,
// and a replica's next response is read once its last one reached the caller, so that a slow
// caller holds at most one response per service here. A request the gateway cannot send (no
// such service, a key that may not call it, no ready replica) is answered in the stream with
// error_message and its id, as the worker answers a bad request, and the stream goes on; so
// are the requests a replica's stream held when it broke. Deletes itself once the caller's
// side and every replica's are done.
class GrpcFront::Service::StreamProxy final
    : public grpc::ServerBidiReactor<inference::ModelInferRequest,
                                     inference::ModelStreamInferResponse> {
 public:
  StreamProxy(Service* service, grpc::CallbackServerContext* context)
      : service_(service), context_(context) {
    auto principal = service_->Authenticate(context);
    if (!principal.ok()) {
      std::lock_guard lock(mu_);
      FinishLocked(ToGrpc(principal.status()));
      return;
    }
    principal_ = *std::move(principal);
    StartRead(&request_);
  }

  void OnReadDone(bool ok) override {
    std::lock_guard lock(mu_);
    if (finished_ || cancelling_) return;
    if (!ok) {  // the caller has sent everything
      reads_over_ = true;
      for (const auto& upstream : upstreams_) CloseWritesLocked(upstream.get());
      return MaybeFinishLocked();
    }
    berth::net::GuardStream(
        "gateway gRPC ModelStreamInfer", [&] { RouteLocked(); },
        [&] { CancelLocked(berth::net::UnhandledExceptionStatus()); });
  }

  void OnWriteDone(bool ok) override {  // a response reached the caller (or did not)
    std::lock_guard lock(mu_);
    Outgoing sent = std::move(outgoing_.front());
    outgoing_.pop_front();
    writing_ = false;
    if (!ok) {
      CancelLocked(grpc::Status(grpc::StatusCode::CANCELLED, "the caller left"));
    } else if (!finished_ && !cancelling_) {
      if (sent.from != nullptr && sent.from->read_hold) sent.from->StartRead(&sent.from->response);
      if (sent.resume_read) StartRead(&request_);
    }
    WriteNextLocked();
  }

  void OnCancel() override {
    std::lock_guard lock(mu_);
    CancelLocked(grpc::Status(grpc::StatusCode::CANCELLED, "the caller cancelled the stream"));
  }

  void OnDone() override {
    bool last;
    {
      std::lock_guard lock(mu_);
      downstream_done_ = true;
      last = live_upstreams_ == 0;
    }
    if (last) delete this;
  }

 private:
  // The stream to one replica of one service.
  class Upstream final : public grpc::ClientBidiReactor<inference::ModelInferRequest,
                                                        inference::ModelStreamInferResponse> {
   public:
    Upstream(StreamProxy* proxy, std::string name, Admission admission,
             std::shared_ptr<Stub> stub, std::string model_name)
        : proxy(proxy), name(std::move(name)), admission(std::move(admission)),
          stub(std::move(stub)), model_name(std::move(model_name)) {}
    void Send(const inference::ModelInferRequest& request) {
      outgoing = request;
      if (outgoing.model_name() != model_name) outgoing.set_model_name(model_name);
      pending_ids.push_back(request.id());
      StartWrite(&outgoing);
    }
    void OnWriteDone(bool ok) override { proxy->UpstreamWrote(this, ok); }
    void OnReadDone(bool ok) override { proxy->UpstreamRead(this, ok); }
    void OnDone(const grpc::Status& status) override { proxy->UpstreamDone(this, status); }

    StreamProxy* const proxy;
    const std::string name;  // as the caller's requests name the service
    Admission admission;
    const std::shared_ptr<Stub> stub;
    const std::string model_name;  // the replica's name for the service's model
    grpc::ClientContext context;
    inference::ModelInferRequest outgoing;
    inference::ModelStreamInferResponse response;
    // The ids of the requests sent and not yet answered, oldest first (a replica answers a
    // stream's requests in order, one response each).
    std::deque<std::string> pending_ids;
    // Reads and writes on a replica's stream are started from the caller's reactions, outside
    // the replica's own: one hold for each flow keeps the call alive between its operations.
    bool read_hold = false, write_hold = false;
    bool done = false;
  };

  // A response waiting for the caller: a replica's (written from its buffer) or the gateway's.
  struct Outgoing {
    Upstream* from = nullptr;
    std::unique_ptr<inference::ModelStreamInferResponse> own;
    bool resume_read = false;  // it answers the request last read: read the next one after it
  };

  // Sends the request just read to its service's replica, opening that stream on the first
  // request for it (by either of its names: one stream, so that its answers keep their order).
  // Needs mu_.
  void RouteLocked() {
    Upstream* upstream = nullptr;
    const std::string service = service_->dispatcher_->ServiceNameOf(request_.model_name());
    if (auto it = active_.find(service); it != active_.end()) {
      upstream = it->second;
    } else {
      absl::StatusOr<Upstream*> opened = OpenLocked(service);
      if (!opened.ok()) {
        return ReplyLocked(request_.id(), std::string(opened.status().message()), true);
      }
      if (*opened == nullptr) return;  // held until a replica is ready (HoldLocked)
      upstream = *opened;
    }
    upstream->Send(request_);
  }

  // A request for a service at zero waits in the activator: the caller's next request is read
  // once this one went up (or was answered), as for any other.
  struct PendingHold {
    std::string name;
    Admission admission;
    std::mutex mu;
    bool calling = true;  // Hold has not returned yet
    std::optional<absl::Status> early;  // what it answered before returning
  };

  void HoldLocked(const std::string& name, Admission admission) {
    auto pending = std::make_shared<PendingHold>();
    pending->name = name;
    pending->admission = std::move(admission);
    ++live_upstreams_;  // the stream (and this proxy) lives until the hold ends
    service_->dispatcher_->Hold(pending->admission, [this, pending](absl::Status status) {
      {
        std::lock_guard hold_lock(pending->mu);
        // Answered from inside Hold, on the thread that holds mu_: handled when it returns.
        if (pending->calling) {
          pending->early = std::move(status);
          return;
        }
      }
      bool last;
      {
        std::lock_guard lock(mu_);
        ResumeLocked(*pending, status);
        last = downstream_done_ && live_upstreams_ == 0;
      }
      if (last) delete this;
    });
    std::optional<absl::Status> early;
    {
      std::lock_guard hold_lock(pending->mu);
      pending->calling = false;
      early = std::move(pending->early);
    }
    if (early) ResumeLocked(*pending, *early);
  }

  void ResumeLocked(PendingHold& pending, const absl::Status& held) {
    --live_upstreams_;
    Dispatcher& dispatcher = *service_->dispatcher_;
    absl::Status status = held;
    if (finished_ || cancelling_) {
      status = absl::CancelledError("the caller cancelled the stream");
    }
    const absl::StatusOr<std::shared_ptr<routing::Endpoint>> endpoint =
        status.ok() ? dispatcher.Pick(pending.admission)
                    : absl::StatusOr<std::shared_ptr<routing::Endpoint>>(status);
    if (!endpoint.ok()) {
      dispatcher.Finish(pending.admission, static_cast<int>(endpoint.status().code()),
                        {.route = "ModelStreamInfer"});
      if (finished_ || cancelling_) return MaybeFinishLocked();
      return ReplyLocked(request_.id(), std::string(endpoint.status().message()), true);
    }
    OpenWithLocked(pending.name, std::move(pending.admission), **endpoint)->Send(request_);
  }

  // Admits the service and opens the stream to one of its replicas; null when the request is
  // held for a service at zero (it goes up when a replica is ready).
  absl::StatusOr<Upstream*> OpenLocked(const std::string& name) {
    if (active_.size() >= kMaxServicesPerStream) {
      return absl::ResourceExhaustedError(
          StrCat("a stream serves at most ", kMaxServicesPerStream,
                 " services at once; open another stream"));
    }
    auto admission = service_->dispatcher_->Admit(Transport::kGrpc, principal_, name,
                                                  {.route = "ModelStreamInfer"});
    if (!admission.ok()) return admission.status();
    Service::Pin(context_, *admission);
    // A stream's requests are consumed as they go up: none is sent again elsewhere.
    admission->retryable = false;
    auto endpoint = service_->dispatcher_->Pick(*admission);
    if (!endpoint.ok() && service_->dispatcher_->ShouldHold(*admission)) {
      HoldLocked(name, *std::move(admission));
      return nullptr;
    }
    if (!endpoint.ok()) {
      service_->dispatcher_->Finish(*admission, static_cast<int>(grpc::StatusCode::UNAVAILABLE),
                                    {.route = "ModelStreamInfer"});
      return endpoint.status();
    }
    return OpenWithLocked(name, *std::move(admission), **endpoint);
  }

  // Opens the stream to `endpoint`, the replica `admission` picked.
  Upstream* OpenWithLocked(const std::string& name, Admission admission,
                           const routing::Endpoint& endpoint) {
    const std::string model = admission.ModelNameAt(endpoint);
    auto owned = std::make_unique<Upstream>(this, name, std::move(admission),
                                            service_->StubFor(endpoint), model);
    Upstream* upstream = owned.get();
    upstreams_.push_back(std::move(owned));
    active_[name] = upstream;
    ++live_upstreams_;
    upstream->context.set_deadline(context_->deadline());
    upstream->stub->async()->ModelStreamInfer(&upstream->context, upstream);
    upstream->AddMultipleHolds(2);
    upstream->read_hold = upstream->write_hold = true;
    upstream->StartRead(&upstream->response);
    upstream->StartCall();
    return upstream;
  }

  void UpstreamWrote(Upstream* upstream, bool ok) {
    std::lock_guard lock(mu_);
    if (!ok) {
      // Its stream broke: the request is answered when its OnDone says why; later requests
      // for the service open a new stream.
      RetireLocked(upstream);
      ReleaseHoldsLocked(upstream, /*read=*/false, /*write=*/true);
    }
    if (!finished_ && !cancelling_) StartRead(&request_);  // the caller's next request
  }

  void UpstreamRead(Upstream* upstream, bool ok) {
    std::lock_guard lock(mu_);
    if (ok && !finished_ && !cancelling_) {
      std::string id;
      if (!upstream->pending_ids.empty()) {
        id = std::move(upstream->pending_ids.front());
        upstream->pending_ids.pop_front();
      }
      // The worker's in-stream errors carry no id; the gateway knows whose they are.
      inference::ModelStreamInferResponse& response = upstream->response;
      if (!response.error_message().empty() && response.infer_response().id().empty() &&
          !id.empty()) {
        response.mutable_infer_response()->set_id(id);
      }
      QueueLocked({.from = upstream});
    } else {
      // The replica has no more responses (or the stream is being cancelled): nothing more is
      // started on its side, so that its OnDone (and the status) can follow.
      RetireLocked(upstream);
      ReleaseHoldsLocked(upstream, /*read=*/true, /*write=*/true);
    }
  }

  void UpstreamDone(Upstream* upstream, const grpc::Status& status) {
    bool last;
    {
      std::lock_guard lock(mu_);
      upstream->done = true;
      --live_upstreams_;
      RetireLocked(upstream);
      const grpc::Status& final_status = cancelling_ ? cancel_status_ : status;
      service_->dispatcher_->Complete(upstream->admission, cancelling_ ? AttemptOutcome::kAnswered
                                                                       : OutcomeOf(status));
      service_->dispatcher_->Finish(upstream->admission,
                                    static_cast<int>(final_status.error_code()),
                                    {.route = "ModelStreamInfer"});
      if (!finished_ && !cancelling_) {
        const std::string why =
            status.ok() ? StrCat("service '", upstream->name,
                                 "': its replica ended the stream before answering; send the "
                                 "request again")
                        : StrCat("service '", upstream->name, "': ", status.error_message());
        for (const std::string& id : upstream->pending_ids) ReplyLocked(id, why, false);
      }
      upstream->pending_ids.clear();
      MaybeFinishLocked();
      last = downstream_done_ && live_upstreams_ == 0;
    }
    if (last) delete this;
  }

  // An in-stream error for the request `id`.
  void ReplyLocked(const std::string& id, std::string_view message, bool resume_read) {
    auto response = std::make_unique<inference::ModelStreamInferResponse>();
    response->set_error_message(std::string(message));
    if (!id.empty()) response->mutable_infer_response()->set_id(id);
    QueueLocked({.own = std::move(response), .resume_read = resume_read});
  }

  void QueueLocked(Outgoing outgoing) {
    outgoing_.push_back(std::move(outgoing));
    if (!writing_) WriteNextLocked();
  }

  void WriteNextLocked() {
    if (writing_) return;
    if (outgoing_.empty() || finished_) return MaybeFinishLocked();
    writing_ = true;
    const Outgoing& next = outgoing_.front();
    StartWrite(next.from != nullptr ? &next.from->response : next.own.get());
  }

  // No further request goes to `upstream`'s stream; the next for its service opens another.
  void RetireLocked(Upstream* upstream) {
    auto it = active_.find(upstream->name);
    if (it != active_.end() && it->second == upstream) active_.erase(it);
  }

  void CloseWritesLocked(Upstream* upstream) {
    if (upstream->done || !upstream->write_hold) return;
    upstream->StartWritesDone();
    ReleaseHoldsLocked(upstream, /*read=*/false, /*write=*/true);
  }

  static void ReleaseHoldsLocked(Upstream* upstream, bool read, bool write) {
    if (read && upstream->read_hold) {
      upstream->read_hold = false;
      upstream->RemoveHold();
    }
    if (write && upstream->write_hold) {
      upstream->write_hold = false;
      upstream->RemoveHold();
    }
  }

  // Stops every replica's side; the caller's stream finishes with `status` once they are done.
  void CancelLocked(const grpc::Status& status) {
    if (finished_ || cancelling_) return;
    cancelling_ = true;
    cancel_status_ = status;
    while (outgoing_.size() > (writing_ ? 1u : 0u)) outgoing_.pop_back();
    active_.clear();
    for (const auto& upstream : upstreams_) {
      if (upstream->done) continue;
      upstream->context.TryCancel();
      ReleaseHoldsLocked(upstream.get(), /*read=*/true, /*write=*/true);
    }
    MaybeFinishLocked();
  }

  // Finishes the caller's stream once nothing is left to relay.
  void MaybeFinishLocked() {
    if (finished_ || writing_ || live_upstreams_ > 0) return;
    if (cancelling_) return FinishLocked(cancel_status_);
    if (reads_over_ && outgoing_.empty()) FinishLocked(grpc::Status::OK);
  }

  void FinishLocked(const grpc::Status& status) {
    if (finished_) return;
    finished_ = true;
    Finish(status);
  }

  static constexpr size_t kMaxServicesPerStream = 64;

  Service* service_;
  grpc::CallbackServerContext* context_;
  std::mutex mu_;
  control::Principal principal_;
  inference::ModelInferRequest request_;
  // Every replica stream this stream opened (kept until the end: a response queued for the
  // caller is written from its buffer), and the one each service name sends to now.
  std::vector<std::unique_ptr<Upstream>> upstreams_;
  std::unordered_map<std::string, Upstream*> active_;
  size_t live_upstreams_ = 0;  // opened and not yet done
  std::deque<Outgoing> outgoing_;  // the front one is being written while writing_
  grpc::Status cancel_status_;
  bool writing_ = false;
  bool reads_over_ = false;  // the caller has closed its side
  bool finished_ = false, cancelling_ = false;
  bool downstream_done_ = false;
};

grpc::ServerBidiReactor<inference::ModelInferRequest, inference::ModelStreamInferResponse>*
GrpcFront::Service::ModelStreamInfer(grpc::CallbackServerContext* context) {
  return new StreamProxy(this, context);
}

absl::StatusOr<std::unique_ptr<GrpcFront>> GrpcFront::Create(const std::string& address, int port,
                                                             size_t max_message_bytes,
                                                             Dispatcher* dispatcher,
                                                             bool public_health) {
  std::unique_ptr<GrpcFront> front(new GrpcFront());
  front->service_ = std::make_unique<Service>(dispatcher, public_health);
  grpc::ServerBuilder builder;
  builder.AddListeningPort(StrCat(address, ":", port), grpc::InsecureServerCredentials(),
                           &front->port_);
  builder.RegisterService(front->service_.get());
  builder.SetMaxReceiveMessageSize(static_cast<int>(std::min<size_t>(max_message_bytes, INT32_MAX)));
  builder.SetMaxSendMessageSize(-1);
  berth::net::LimitGrpcServer(builder, "berth-gateway-grpc", max_message_bytes);
  front->server_ = builder.BuildAndStart();
  if (!front->server_ || front->port_ == 0) {
    return absl::UnavailableError(StrCat("cannot listen for gRPC on ", address, ":", port));
  }
  return front;
}

GrpcFront::~GrpcFront() { Stop(); }

void GrpcFront::Stop() {
  if (server_) {
    server_->Shutdown(std::chrono::system_clock::now() + std::chrono::seconds(2));
    server_.reset();
  }
}

}  // namespace berth::gateway
