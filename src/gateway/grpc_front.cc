#include "gateway/grpc_front.h"

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
      response->add_extensions("binary_tensor_data");
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

  static std::string_view Authorization(grpc::CallbackServerContext* context) {
    const auto& metadata = context->client_metadata();
    auto it = metadata.find("authorization");
    if (it == metadata.end()) return {};
    return std::string_view(it->second.data(), it->second.size());
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
    auto admission = dispatcher_->Admit(Transport::kGrpc, Authorization(context), model);
    if (!admission.ok()) return Finish(context, ToGrpc(admission.status()));
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

    void Run(const std::shared_ptr<Attempt>& self) {
      auto endpoint = service->dispatcher_->Pick(admission);
      if (!endpoint.ok()) return Done(ToGrpc(endpoint.status()));
      client = std::make_unique<grpc::ClientContext>();
      client->set_deadline(server_context->deadline());
      auto stub = service->StubFor(**endpoint);
      call(stub.get(), client.get(), request, response, [self, stub](grpc::Status status) {
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
      reactor->Finish(status);
    }
  };

  Dispatcher* dispatcher_;
  const bool public_health_;  // ServerLive and ServerReady without a key
  std::mutex mu_;
  std::unordered_map<std::string, std::shared_ptr<Stub>> stubs_;
};

// Relays one ModelStreamInfer stream to one replica of the service its first request names:
// the caller's requests go up one at a time (the next is read once the previous is written),
// the replica's responses come down one at a time. Every request of a stream must name the same
// service. Deletes itself once both sides are done.
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
      if (upstream_) {
        if (write_hold_) upstream_->StartWritesDone();
        ReleaseHoldsLocked(/*read=*/false, /*write=*/true);
      } else {
        FinishLocked(grpc::Status::OK);
      }
      return;
    }
    berth::net::GuardStream(
        "gateway gRPC ModelStreamInfer", [&] { ForwardLocked(); },
        [&] { CancelLocked(berth::net::UnhandledExceptionStatus()); });
  }

  // Sends the request just read upstream, connecting on the first one. Needs mu_.
  void ForwardLocked() {
    if (!upstream_) {
      if (grpc::Status status = ConnectLocked(); !status.ok()) return FinishLocked(status);
    } else if (request_.model_name() != service_name_) {
      return CancelLocked(grpc::Status(
          grpc::StatusCode::INVALID_ARGUMENT,
          StrCat("a stream serves one service: it started with '", service_name_,
                 "', this request names '", request_.model_name(), "'")));
    }
    // Without the write hold the replica's side is over; its status finishes the stream.
    if (write_hold_) upstream_->Send(request_);
  }

  void OnWriteDone(bool ok) override {  // a response reached the caller
    std::lock_guard lock(mu_);
    if (!ok) return CancelLocked(grpc::Status(grpc::StatusCode::CANCELLED, "the caller left"));
    if (!finished_ && !cancelling_ && read_hold_) upstream_->StartRead(&upstream_->response);
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
      last = !upstream_ || upstream_done_;
    }
    if (last) delete this;
  }

 private:
  class Upstream final : public grpc::ClientBidiReactor<inference::ModelInferRequest,
                                                        inference::ModelStreamInferResponse> {
   public:
    explicit Upstream(StreamProxy* proxy) : proxy(proxy) {}
    void Send(const inference::ModelInferRequest& request) {
      outgoing = request;
      StartWrite(&outgoing);
    }
    void OnWriteDone(bool ok) override { proxy->UpstreamWrote(ok); }
    void OnReadDone(bool ok) override { proxy->UpstreamRead(ok); }
    void OnDone(const grpc::Status& status) override { proxy->UpstreamDone(status); }

    StreamProxy* proxy;
    grpc::ClientContext context;
    inference::ModelInferRequest outgoing;
    inference::ModelStreamInferResponse response;
  };

  grpc::Status ConnectLocked() {
    service_name_ = request_.model_name();
    auto admission =
        service_->dispatcher_->Admit(Transport::kGrpc, principal_, service_name_);
    if (!admission.ok()) return ToGrpc(admission.status());
    admission_ = *std::move(admission);
    // A stream's requests are consumed as they go up: it is never sent again elsewhere.
    admission_.retryable = false;
    auto endpoint = service_->dispatcher_->Pick(admission_);
    if (!endpoint.ok()) {
      service_->dispatcher_->Finish(admission_, static_cast<int>(grpc::StatusCode::UNAVAILABLE),
                                    {.route = "ModelStreamInfer"});
      return ToGrpc(endpoint.status());
    }
    stub_ = service_->StubFor(**endpoint);
    upstream_ = std::make_unique<Upstream>(this);
    upstream_->context.set_deadline(context_->deadline());
    stub_->async()->ModelStreamInfer(&upstream_->context, upstream_.get());
    // Reads and writes on the replica's stream are started from the caller's reactions, outside
    // the replica's own: one hold for each flow keeps the call alive between its operations
    // (without them gRPC may tear the call down while a read is about to be started).
    upstream_->AddMultipleHolds(2);
    read_hold_ = write_hold_ = true;
    upstream_->StartRead(&upstream_->response);
    upstream_->StartCall();
    return grpc::Status::OK;
  }

  void UpstreamWrote(bool ok) {
    std::lock_guard lock(mu_);
    if (ok && !finished_ && !cancelling_) {
      StartRead(&request_);  // the caller's next request
    } else if (!ok) {
      ReleaseHoldsLocked(/*read=*/false, /*write=*/true);  // its OnDone carries the status
    }
  }

  void UpstreamRead(bool ok) {
    std::lock_guard lock(mu_);
    if (ok && !finished_ && !cancelling_) {
      StartWrite(&upstream_->response);
    } else {
      // The replica has no more responses (or the stream is being cancelled): nothing more is
      // started on its side, so that its OnDone (and the status) can follow.
      ReleaseHoldsLocked(/*read=*/true, /*write=*/true);
    }
  }

  void ReleaseHoldsLocked(bool read, bool write) {
    if (read && read_hold_) {
      read_hold_ = false;
      upstream_->RemoveHold();
    }
    if (write && write_hold_) {
      write_hold_ = false;
      upstream_->RemoveHold();
    }
  }

  void UpstreamDone(const grpc::Status& status) {
    bool last;
    {
      std::lock_guard lock(mu_);
      upstream_done_ = true;
      const grpc::Status& final_status = cancelling_ ? cancel_status_ : status;
      service_->dispatcher_->Complete(admission_, cancelling_ ? AttemptOutcome::kAnswered
                                                              : OutcomeOf(status));
      service_->dispatcher_->Finish(admission_, static_cast<int>(final_status.error_code()),
                                    {.route = "ModelStreamInfer"});
      FinishLocked(final_status);
      last = downstream_done_;
    }
    if (last) delete this;
  }

  // Stops the replica's side; the caller's stream finishes with `status` once it has.
  void CancelLocked(const grpc::Status& status) {
    if (finished_ || cancelling_) return;
    if (!upstream_ || upstream_done_) return FinishLocked(status);
    cancelling_ = true;
    cancel_status_ = status;
    upstream_->context.TryCancel();
    ReleaseHoldsLocked(/*read=*/true, /*write=*/true);  // nothing more is started on it
  }

  void FinishLocked(const grpc::Status& status) {
    if (finished_) return;
    finished_ = true;
    Finish(status);
  }

  Service* service_;
  grpc::CallbackServerContext* context_;
  std::mutex mu_;
  control::Principal principal_;
  inference::ModelInferRequest request_;
  std::string service_name_;
  Admission admission_;
  std::shared_ptr<Stub> stub_;
  std::unique_ptr<Upstream> upstream_;
  grpc::Status cancel_status_;
  bool finished_ = false, cancelling_ = false;
  bool downstream_done_ = false, upstream_done_ = false;
  bool read_hold_ = false, write_hold_ = false;  // holds on upstream_ not yet removed
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
