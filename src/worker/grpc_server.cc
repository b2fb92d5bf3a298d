#include "worker/grpc_server.h"

#include <grpcpp/grpcpp.h>

#include <deque>

#include "common/strings.h"
#include "grpc_service.grpc.pb.h"
#include "net/grpc_guard.h"
#include "protocol/grpc_codec.h"
#include "spdlog/spdlog.h"
#include "worker/load_overrides.h"

namespace berth::worker {
using net::ToGrpc;

namespace {

// The time left before a call's deadline, in microseconds, as a request's budget (0: the call
// has none; 1 when it has passed already, so that the request expires at once).
uint64_t BudgetOf(std::chrono::system_clock::time_point deadline) {
  if (deadline == std::chrono::system_clock::time_point::max()) return 0;
  const auto left = std::chrono::duration_cast<std::chrono::microseconds>(
                        deadline - std::chrono::system_clock::now())
                        .count();
  return left > 0 ? static_cast<uint64_t>(left) : 1;
}

}  // namespace

class GrpcServer::Service final : public inference::GRPCInferenceService::CallbackService {
 public:
  explicit Service(Worker* worker) : worker_(worker) {}

  grpc::ServerUnaryReactor* ServerLive(grpc::CallbackServerContext* context,
                                       const inference::ServerLiveRequest*,
                                       inference::ServerLiveResponse* response) override {
    return berth::net::GuardUnary(context, "worker gRPC ServerLive", [&] {
      response->set_live(true);
      return Done(context, absl::OkStatus());
    });
  }

  grpc::ServerUnaryReactor* ServerReady(grpc::CallbackServerContext* context,
                                        const inference::ServerReadyRequest*,
                                        inference::ServerReadyResponse* response) override {
    return berth::net::GuardUnary(context, "worker gRPC ServerReady", [&] {
      response->set_ready(worker_->Ready());
      return Done(context, absl::OkStatus());
    });
  }

  grpc::ServerUnaryReactor* ModelReady(grpc::CallbackServerContext* context,
                                       const inference::ModelReadyRequest* request,
                                       inference::ModelReadyResponse* response) override {
    return berth::net::GuardUnary(context, "worker gRPC ModelReady", [&] {
      auto model = worker_->repository().Get(request->name(), request->version());
      if (absl::IsNotFound(model.status())) return Done(context, model.status());
      response->set_ready(model.ok());
      return Done(context, absl::OkStatus());
    });
  }

  grpc::ServerUnaryReactor* ServerMetadata(grpc::CallbackServerContext* context,
                                           const inference::ServerMetadataRequest*,
                                           inference::ServerMetadataResponse* response) override {
    return berth::net::GuardUnary(context, "worker gRPC ServerMetadata", [&] {
      const auto doc = worker_->ServerMetadataJson();
      response->set_name(doc["name"].get<std::string>());
      response->set_version(doc["version"].get<std::string>());
      for (const auto& ext : doc["extensions"]) response->add_extensions(ext.get<std::string>());
      return Done(context, absl::OkStatus());
    });
  }

  grpc::ServerUnaryReactor* ModelMetadata(grpc::CallbackServerContext* context,
                                          const inference::ModelMetadataRequest* request,
                                          inference::ModelMetadataResponse* response) override {
    return berth::net::GuardUnary(context, "worker gRPC ModelMetadata", [&] {
      return Done(context,
                  worker_->ModelMetadataProto(request->name(), request->version(), response));
    });
  }

  grpc::ServerUnaryReactor* ModelConfig(grpc::CallbackServerContext* context,
                                        const inference::ModelConfigRequest* request,
                                        inference::ModelConfigResponse* response) override {
    return berth::net::GuardUnary(context, "worker gRPC ModelConfig", [&] {
      auto config = worker_->Config(request->name(), request->version());
      if (config.ok()) *response->mutable_config() = **config;
      return Done(context, config.status());
    });
  }

  grpc::ServerUnaryReactor* ModelStatistics(
      grpc::CallbackServerContext* context, const inference::ModelStatisticsRequest* request,
      inference::ModelStatisticsResponse* response) override {
    return berth::net::GuardUnary(context, "worker gRPC ModelStatistics", [&] {
      return Done(context, worker_->StatisticsProto(request->name(), request->version(), response));
    });
  }

  grpc::ServerUnaryReactor* RepositoryIndex(
      grpc::CallbackServerContext* context, const inference::RepositoryIndexRequest* request,
      inference::RepositoryIndexResponse* response) override {
    return berth::net::GuardUnary(context, "worker gRPC RepositoryIndex", [&] {
      for (const auto& entry : worker_->repository().Index()) {
        if (request->ready() && entry.state != "READY") continue;
        auto* model = response->add_models();
        model->set_name(entry.name);
        model->set_version(entry.version);
        model->set_state(entry.state);
        model->set_reason(entry.reason);
      }
      return Done(context, absl::OkStatus());
    });
  }

  grpc::ServerUnaryReactor* RepositoryModelLoad(
      grpc::CallbackServerContext* context, const inference::RepositoryModelLoadRequest* request,
      inference::RepositoryModelLoadResponse*) override {
    return berth::net::GuardUnary(context, "worker gRPC RepositoryModelLoad",
                                  [&] {
                                    absl::StatusOr<LoadOverrides> overrides =
                                        LoadOverridesFromProto(*request);
                                    if (!overrides.ok()) return Done(context, overrides.status());
                                    return Control(context, request->model_name(), true,
                                                   *std::move(overrides));
                                  });
  }

  grpc::ServerUnaryReactor* RepositoryModelUnload(
      grpc::CallbackServerContext* context,
      const inference::RepositoryModelUnloadRequest* request,
      inference::RepositoryModelUnloadResponse*) override {
    return berth::net::GuardUnary(context, "worker gRPC RepositoryModelUnload",
                                  [&] { return Control(context, request->model_name(), false); });
  }

  grpc::ServerUnaryReactor* SystemSharedMemoryStatus(
      grpc::CallbackServerContext* context,
      const inference::SystemSharedMemoryStatusRequest* request,
      inference::SystemSharedMemoryStatusResponse* response) override {
    return berth::net::GuardUnary(context, "worker gRPC SystemSharedMemoryStatus", [&] {
      auto regions = worker_->shared_memory().Status(request->name());
      if (!regions.ok()) return Done(context, regions.status());
      for (const auto& region : *regions) {
        auto& out = (*response->mutable_regions())[region.name];
        out.set_name(region.name);
        out.set_key(region.key);
        out.set_offset(region.offset);
        out.set_byte_size(region.byte_size);
      }
      return Done(context, absl::OkStatus());
    });
  }

  grpc::ServerUnaryReactor* SystemSharedMemoryRegister(
      grpc::CallbackServerContext* context,
      const inference::SystemSharedMemoryRegisterRequest* request,
      inference::SystemSharedMemoryRegisterResponse*) override {
    return berth::net::GuardUnary(context, "worker gRPC SystemSharedMemoryRegister", [&] {
      if (absl::Status off = worker_->SharedMemoryOff(); !off.ok()) return Done(context, off);
      return Done(context, worker_->shared_memory().Register(request->name(), request->key(),
                                                             request->offset(),
                                                             request->byte_size()));
    });
  }

  grpc::ServerUnaryReactor* SystemSharedMemoryUnregister(
      grpc::CallbackServerContext* context,
      const inference::SystemSharedMemoryUnregisterRequest* request,
      inference::SystemSharedMemoryUnregisterResponse*) override {
    return berth::net::GuardUnary(context, "worker gRPC SystemSharedMemoryUnregister", [&] {
      if (absl::Status off = worker_->SharedMemoryOff(); !off.ok()) return Done(context, off);
      return Done(context, worker_->shared_memory().Unregister(request->name()));
    });
  }

  // CUDA shared memory, trace and log settings: an answer that says why, never an empty
  // UNIMPLEMENTED (which some clients take for success).
  grpc::ServerUnaryReactor* CudaSharedMemoryStatus(
      grpc::CallbackServerContext* context, const inference::CudaSharedMemoryStatusRequest*,
      inference::CudaSharedMemoryStatusResponse*) override {
    return Done(context, NoCudaSharedMemory());
  }
  grpc::ServerUnaryReactor* CudaSharedMemoryRegister(
      grpc::CallbackServerContext* context, const inference::CudaSharedMemoryRegisterRequest*,
      inference::CudaSharedMemoryRegisterResponse*) override {
    return Done(context, NoCudaSharedMemory());
  }
  grpc::ServerUnaryReactor* CudaSharedMemoryUnregister(
      grpc::CallbackServerContext* context, const inference::CudaSharedMemoryUnregisterRequest*,
      inference::CudaSharedMemoryUnregisterResponse*) override {
    return Done(context, NoCudaSharedMemory());
  }
  grpc::ServerUnaryReactor* TraceSetting(grpc::CallbackServerContext* context,
                                         const inference::TraceSettingRequest*,
                                         inference::TraceSettingResponse*) override {
    return Done(context, absl::UnimplementedError(
                             "trace settings are not served: berth's worker has no request "
                             "tracing (its metrics and statistics time each stage)"));
  }
  grpc::ServerUnaryReactor* LogSettings(grpc::CallbackServerContext* context,
                                        const inference::LogSettingsRequest*,
                                        inference::LogSettingsResponse*) override {
    return Done(context, absl::UnimplementedError(
                             "log settings are not served: berth's worker logs to its output, "
                             "set with --log-format and --log-level at start"));
  }

  grpc::ServerUnaryReactor* ModelInfer(grpc::CallbackServerContext* context,
                                       const inference::ModelInferRequest* request,
                                       inference::ModelInferResponse* response) override {
    return berth::net::GuardUnary(context, "worker gRPC ModelInfer", [&] {
      grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
      auto queued = std::make_unique<QueuedRequest>();
      queued->arrival = Clock::now();
      queued->budget_us = BudgetOf(context->deadline());
      absl::Status status = protocol::FromGrpcRequest(*request, &queued->request);
      if (!status.ok()) {
        reactor->Finish(ToGrpc(status));
        return reactor;
      }
      // `request` and `response` stay valid until Finish is called.
      queued->done = [reactor, response](absl::StatusOr<protocol::InferResponse> result) {
        if (!result.ok()) {
          reactor->Finish(ToGrpc(result.status()));
          return;
        }
        protocol::ToGrpcResponse(*std::move(result), response);
        reactor->Finish(grpc::Status::OK);
      };
      status = worker_->Infer(std::move(queued));
      if (!status.ok()) reactor->Finish(ToGrpc(status));
      return reactor;
    });
  }

  grpc::ServerBidiReactor<inference::ModelInferRequest, inference::ModelStreamInferResponse>*
  ModelStreamInfer(grpc::CallbackServerContext* context) override {
    return new StreamReactor(worker_, context);
  }

 private:
  // Answers a stream of requests in order, one at a time.
  class StreamReactor final : public grpc::ServerBidiReactor<inference::ModelInferRequest,
                                                             inference::ModelStreamInferResponse> {
   public:
    StreamReactor(Worker* worker, grpc::CallbackServerContext* context)
        : worker_(worker), context_(context) {
      StartRead(&request_);
    }

    void OnReadDone(bool ok) override {
      if (!ok) {
        Finish(grpc::Status::OK);
        return;
      }
      berth::net::GuardStream(
          "worker gRPC ModelStreamInfer", [&] { Submit(); },
          [&] {
            Respond(absl::InternalError(berth::net::UnhandledExceptionStatus().error_message()));
          });
    }

    void OnWriteDone(bool ok) override {
      if (!ok) {
        Finish(grpc::Status(grpc::StatusCode::UNAVAILABLE, "the stream was closed"));
        return;
      }
      request_.Clear();
      StartRead(&request_);
    }

    void OnDone() override { delete this; }

   private:
    // Queues the request just read; its answer is written when it comes back.
    void Submit() {
      auto queued = std::make_unique<QueuedRequest>();
      queued->arrival = Clock::now();
      queued->budget_us = BudgetOf(context_->deadline());
      absl::Status status = protocol::FromGrpcRequest(request_, &queued->request);
      if (!status.ok()) return Respond(status);
      queued->done = [this](absl::StatusOr<protocol::InferResponse> result) {
        if (!result.ok()) return Respond(result.status());
        response_.Clear();
        protocol::ToGrpcResponse(*std::move(result), response_.mutable_infer_response());
        StartWrite(&response_);
      };
      status = worker_->Infer(std::move(queued));
      if (!status.ok()) Respond(status);
    }

    void Respond(const absl::Status& status) {
      response_.Clear();
      response_.set_error_message(std::string(status.message()));
      // The id tells a caller with several requests in flight which one failed.
      if (!request_.id().empty()) response_.mutable_infer_response()->set_id(request_.id());
      StartWrite(&response_);
    }

    Worker* worker_;
    grpc::CallbackServerContext* context_;  // the stream's (its deadline)
    inference::ModelInferRequest request_;
    inference::ModelStreamInferResponse response_;
  };

  grpc::ServerUnaryReactor* Done(grpc::CallbackServerContext* context,
                                 const absl::Status& status) {
    grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
    reactor->Finish(ToGrpc(status));
    return reactor;
  }

  grpc::ServerUnaryReactor* Control(grpc::CallbackServerContext* context,
                                    const std::string& model, bool load,
                                    LoadOverrides overrides = {}) {
    grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
    Worker* worker = worker_;
    auto shared = std::make_shared<const LoadOverrides>(std::move(overrides));
    worker_->control().Post([worker, reactor, model, load, shared] {
      absl::Status status =
          load ? worker->repository().Load(model, *shared) : worker->repository().Unload(model);
      reactor->Finish(ToGrpc(status));
    });
    return reactor;
  }

  static absl::Status NoCudaSharedMemory() {
    return absl::UnimplementedError(
        "CUDA shared memory is not served: this worker runs models on the CPU; use system "
        "shared memory or send tensors in the request");
  }

  Worker* worker_;
};

absl::StatusOr<std::unique_ptr<GrpcServer>> GrpcServer::Create(Worker* worker) {
  std::unique_ptr<GrpcServer> server(new GrpcServer());
  server->service_ = std::make_unique<Service>(worker);
  const auto& options = worker->options();
  grpc::ServerBuilder builder;
  const std::string address = StrCat(
      options.grpc_address.find(':') != std::string::npos ? "[" + options.grpc_address + "]"
                                                          : options.grpc_address,
      ":", options.grpc_port);
  builder.AddListeningPort(address, grpc::InsecureServerCredentials(), &server->port_);
  builder.RegisterService(server->service_.get());
  const int max_bytes = static_cast<int>(std::min<size_t>(options.max_request_bytes, INT32_MAX));
  builder.SetMaxReceiveMessageSize(max_bytes);
  builder.SetMaxSendMessageSize(INT32_MAX);
  berth::net::LimitGrpcServer(builder, "berth-worker-grpc", options.max_request_bytes);
  server->server_ = builder.BuildAndStart();
  if (!server->server_ || server->port_ == 0) {
    return absl::UnavailableError(StrCat("cannot listen for gRPC on ", address));
  }
  return server;
}

GrpcServer::~GrpcServer() { Stop(); }

void GrpcServer::Stop() {
  if (server_) {
    server_->Shutdown(std::chrono::system_clock::now() + std::chrono::seconds(5));
    server_.reset();
  }
}

}  // namespace berth::worker
