// The route table of /api/v1: every route is one entry {method, pattern, access, handler}, and
// the one place that decides whether a caller may take a route is the table's walk, through an
// Authorizer. A handler never checks scopes itself. Patterns are paths below /api/v1 whose
// segments are literals or {parameters}: "services/{name}/logs". Two routes that would match
// the same requests are refused when the table is built. Thread-safe once built.
#pragma once

#include <functional>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "control/auth.h"

namespace berth::control {

struct ApiRequest;
struct ApiResponse;

// What a route needs of its caller.
enum class Access {
  kPublic,    // anyone, signed in or not (signing in)
  kSignedIn,  // any valid key or session (whoami)
  kRead,      // read the control plane's state
  kDeploy,    // change models and services
  kAdmin,     // manage keys
};
std::string_view AccessName(Access access);

// Decides whether a signed-in caller may take a route. `request` carries the path parameters,
// for rules that look at the resource (a tenant, a service).
class Authorizer {
 public:
  virtual ~Authorizer() = default;
  virtual absl::Status Authorize(const Principal& principal, Access access,
                                 const ApiRequest& request) const = 0;
};

// The key's scopes: admin > deploy > read (control/auth.h Allows).
class ScopeAuthorizer final : public Authorizer {
 public:
  absl::Status Authorize(const Principal& principal, Access access,
                         const ApiRequest& request) const override;
};

using ApiHandler = std::function<absl::StatusOr<ApiResponse>(ApiRequest&)>;

struct ApiRoute {
  std::string method;   // GET, POST, PUT, PATCH, DELETE
  std::string pattern;  // "services/{name}"
  Access access = Access::kAdmin;
  ApiHandler handler;
};

class RouteTable {
 public:
  explicit RouteTable(std::unique_ptr<Authorizer> authorizer)
      : authorizer_(std::move(authorizer)) {}

  // Refuses a malformed pattern and a route that clashes with one already added (same method,
  // and the same literals where both have literals, parameters in the same places).
  absl::Status Add(ApiRoute route);

  // Finds the route for `request` (filling request.params), checks the caller may take it and
  // returns it. NotFound for a path no route has; InvalidArgument naming the methods the path
  // takes for another method; Unauthenticated or PermissionDenied from the authorizer.
  absl::StatusOr<const ApiRoute*> Resolve(ApiRequest& request) const;

  // Resolves and runs the handler.
  absl::StatusOr<ApiResponse> Dispatch(ApiRequest& request) const;

  const std::vector<ApiRoute>& routes() const { return routes_; }

 private:
  struct Segment {
    std::string text;  // the literal, or the parameter's name
    bool parameter = false;
  };
  struct Entry {
    std::vector<Segment> segments;
  };
  static absl::StatusOr<std::vector<Segment>> Parse(std::string_view pattern);
  // True when `path` has the route's length and its literals where it has literals. Of two
  // routes that match, the one with a literal at the first segment where they differ wins.
  static bool Matches(const std::vector<Segment>& segments, const std::vector<std::string>& path);

  std::unique_ptr<Authorizer> authorizer_;
  std::vector<ApiRoute> routes_;
  std::vector<Entry> entries_;  // parallel to routes_
};

}  // namespace berth::control
