// The control API (/api/v1): keys, sessions, models, services, revisions, replicas, logs,
// events and traffic, as JSON documents in and out (docs/api.md). Transport-independent:
// the HTTP front end authenticates, reads the body (or streams an upload to a file) and hands
// over an ApiRequest; handlers may block (database, model probes), so they run on a pool.
// Every route is an entry of one RouteTable (control/api_routes.h), which authorizes the
// caller before any handler runs; the handlers live in one file per resource (api_keys.cc,
// api_models.cc, api_services.cc, api_server.cc). Thread-safe.
#pragma once

#include <atomic>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "control/api_routes.h"
#include "control/auth.h"
#include "control/controller.h"
#include "control/store.h"
#include "routing/traffic_stats.h"
#include "models/model_fetch.h"

namespace berth::control {

struct ApiRequest {
  std::string method;  // GET, POST, PUT, PATCH, DELETE
  std::vector<std::string> path;  // segments after /api/v1
  std::map<std::string, std::string> query;
  std::string body;
  std::string content_type;
  std::string host;   // the Host header, for endpoint URLs
  std::string cookie;  // the Cookie header
  Principal principal;
  bool authenticated = false;
  // The route's path parameters ({name} -> value), filled in by the route table.
  std::map<std::string, std::string> params;
  // A streamed upload (POST /models?name=...): already on disk with its digest.
  std::string upload_path;
  uint64_t upload_bytes = 0;
  std::string upload_sha256;
};

struct ApiResponse {
  int status = 200;
  std::string body;
  std::string content_type = "application/json";
  std::vector<std::pair<std::string, std::string>> headers;
};

// The demo image that sample requests of classification services name, and where the
// gateway serves it (without a key: it is public sample data).
inline constexpr char kSampleImagePath[] = "/samples/digit-7.png";
std::string_view SampleDigitPng();

struct ApiOptions {
  std::string data_dir;
  std::string public_url;  // e.g. http://models.example.com; empty: from the Host header
  int grpc_port = 8081;
  uint64_t max_model_bytes = 4ull << 30;
  models::FetchOptions fetch;
  int64_t probe_timeout_ms = 120000;
};

class ControlApi {
 public:
  ControlApi(const ApiOptions& options, Store* store, Controller* controller,
             Authenticator* auth, routing::TrafficStats* traffic);

  ApiResponse Handle(ApiRequest& request);
  // The route table's verdict on `request` without running it: OK when a route takes it and
  // the caller may. The HTTP front asks before it streams an upload.
  absl::Status Authorize(ApiRequest& request) const;
  const RouteTable& routes() const { return routes_; }

  // Registers a model from a file already in the data directory's temporary area (moved into
  // place on success, removed on failure) as the name's next version. Content a version of the
  // name already has is no new version: that version comes back, `unchanged`. Used for uploads
  // and by the built-in demo.
  struct RegisteredModel {
    ModelRecord model;
    bool unchanged = false;
  };
  absl::StatusOr<RegisteredModel> RegisterModel(const std::string& name, const std::string& file,
                                                uint64_t size, const std::string& sha256,
                                                const std::string& source,
                                                const nlohmann::json& extra);
  // The ports the HTTP and gRPC fronts listen on, for sample commands and /api/v1/server.
  void SetPorts(int http_port, int grpc_port) {
    http_port_.store(http_port);
    grpc_port_.store(grpc_port);
  }
  // Creates the first admin key when the store has none; returns it (empty otherwise).
  absl::StatusOr<std::string> BootstrapAdminKey();
  // A path for an incoming upload under the data directory.
  std::string TempPath();
  // Removes what a crash can leave behind, before the server serves: partial uploads under
  // tmp/ and model directories that no model record points into. Returns how many entries
  // were removed.
  int RemoveCrashDebris();

  static bool IsValidName(std::string_view name);
  // A V2 model name a service may answer to besides its own: Triton's model names
  // ([A-Za-z0-9_.-], at most 128, starting with a letter or digit; never a path component such
  // as "." or "..").
  static bool IsValidModelName(std::string_view name);

 private:
  // Route registration, one per handler file.
  void AddRoute(std::string method, std::string pattern, Access access, ApiHandler handler);
  void AddKeyRoutes();
  void AddModelRoutes();
  void AddServiceRoutes();
  void AddRolloutRoutes();
  void AddServerRoutes();
  // A rollout command (promote, abort, set weights): `change` edits the state of the rollout
  // in progress; Aborted (409) when there is none. Answers the new state.
  absl::StatusOr<ApiResponse> ChangeRollout(
      const std::string& name, const std::string& what,
      const std::function<absl::Status(nlohmann::json& state)>& change);

  absl::StatusOr<ApiResponse> AddModel(ApiRequest& r);
  absl::StatusOr<ServiceRecord> FindService(const std::string& name);  // NotFound naming it
  // To revision `to`, or (0) to the revision that last served all traffic before the state
  // now: the serving one while a rollout is in progress or failed, else the one before it
  // (past the revision a rollback restored, so that rollbacks walk back instead of flipping).
  absl::StatusOr<ApiResponse> Rollback(const std::string& name, int to, const std::string& host);
  // `rollback_of`: the revision whose spec this one restores (0: none).
  absl::StatusOr<ApiResponse> ApplyService(const std::string& name, const nlohmann::json& body,
                                           bool create_only, const std::string& host,
                                           int rollback_of = 0);
  // The model version a spec serves: spec.model_version when given (a number, or "latest"),
  // else the version the service serves now if it serves the same model (`current`, its spec;
  // null for a new service), else the latest. InvalidArgument naming what is missing.
  absl::StatusOr<ModelRecord> ResolveModelVersion(const nlohmann::json& body,
                                                  const nlohmann::json* current);
  absl::StatusOr<nlohmann::json> NormalizeSpec(const nlohmann::json& body,
                                               const ModelRecord& model);
  // AlreadyExists when `model_name` (may be empty) names another service or its V2 model
  // name, or `name` is another service's V2 model name. Needs apply_mu_.
  absl::Status CheckNamesAreFree(const std::string& name, const std::string& model_name);
  absl::Status WriteRevisionRepository(const std::string& service, int revision,
                                       const nlohmann::json& spec, const ModelRecord& model);
  nlohmann::json ServiceJson(const ServiceRecord& s, const std::string& host);
  std::string BaseUrl(const std::string& host) const;

  const ApiOptions options_;
  // The ports the fronts bound (known once they listen; a configured 0 means any free port).
  std::atomic<int> http_port_{0}, grpc_port_{0};
  Store* const store_;
  Controller* const controller_;
  Authenticator* const auth_;
  routing::TrafficStats* const traffic_;
  std::mutex apply_mu_;  // serialises service changes (read-modify-write of a service)
  RouteTable routes_;    // built in the constructor, read-only after
};

// RFC 3339 UTC text of a time in ms (empty for 0).
std::string TimeText(TimeMs ms);

}  // namespace berth::control
