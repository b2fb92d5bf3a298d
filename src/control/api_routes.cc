#include "control/api_routes.h"

#include <set>

#include "common/error_mapping.h"
#include "common/status_macros.h"
#include "common/strings.h"
#include "control/api.h"

namespace berth::control {

std::string_view AccessName(Access access) {
  switch (access) {
    case Access::kPublic:
      return "public";
    case Access::kSignedIn:
      return "signed-in";
    case Access::kRead:
      return "read";
    case Access::kDeploy:
      return "deploy";
    case Access::kAdmin:
      return "admin";
  }
  return "?";
}

absl::Status ScopeAuthorizer::Authorize(const Principal& principal, Access access,
                                        const ApiRequest&) const {
  if (access == Access::kPublic || access == Access::kSignedIn) return absl::OkStatus();
  const std::string_view scope = AccessName(access);
  if (Allows(principal, scope)) return absl::OkStatus();
  return absl::PermissionDeniedError(StrCat("the API key '", principal.key_name, "' lacks the '",
                                            scope, "' scope needed here"));
}

absl::StatusOr<std::vector<RouteTable::Segment>> RouteTable::Parse(std::string_view pattern) {
  std::vector<Segment> segments;
  std::set<std::string> names;
  size_t start = 0;
  while (start <= pattern.size()) {
    size_t end = pattern.find('/', start);
    if (end == std::string_view::npos) end = pattern.size();
    std::string_view part = pattern.substr(start, end - start);
    if (part.empty()) {
      return absl::InvalidArgumentError(StrCat("route '", pattern, "': an empty segment"));
    }
    Segment segment;
    if (part.front() == '{') {
      if (part.size() < 3 || part.back() != '}') {
        return absl::InvalidArgumentError(StrCat("route '", pattern, "': bad parameter ", part));
      }
      segment.parameter = true;
      segment.text = std::string(part.substr(1, part.size() - 2));
      if (!names.insert(segment.text).second) {
        return absl::InvalidArgumentError(
            StrCat("route '", pattern, "': parameter {", segment.text, "} twice"));
      }
    } else {
      if (part.find_first_of("{}") != std::string_view::npos) {
        return absl::InvalidArgumentError(StrCat("route '", pattern, "': bad segment ", part));
      }
      segment.text = std::string(part);
    }
    segments.push_back(std::move(segment));
    start = end + 1;
  }
  return segments;
}

absl::Status RouteTable::Add(ApiRoute route) {
  static const std::set<std::string> kMethods = {"GET", "POST", "PUT", "PATCH", "DELETE"};
  if (!kMethods.contains(route.method)) {
    return absl::InvalidArgumentError(StrCat("route '", route.pattern, "': method ", route.method));
  }
  if (!route.handler) {
    return absl::InvalidArgumentError(StrCat("route '", route.pattern, "': no handler"));
  }
  ASSIGN_OR_RETURN(std::vector<Segment> segments, Parse(route.pattern));
  for (size_t i = 0; i < routes_.size(); ++i) {
    const std::vector<Segment>& other = entries_[i].segments;
    if (routes_[i].method != route.method || other.size() != segments.size()) continue;
    bool same = true;
    for (size_t s = 0; s < segments.size() && same; ++s) {
      same = segments[s].parameter == other[s].parameter &&
             (segments[s].parameter || segments[s].text == other[s].text);
    }
    if (same) {
      return absl::AlreadyExistsError(StrCat("route ", route.method, " ", route.pattern,
                                             " clashes with ", routes_[i].pattern));
    }
  }
  routes_.push_back(std::move(route));
  entries_.push_back(Entry{std::move(segments)});
  return absl::OkStatus();
}

bool RouteTable::Matches(const std::vector<Segment>& segments,
                         const std::vector<std::string>& path) {
  if (segments.size() != path.size()) return false;
  for (size_t i = 0; i < path.size(); ++i) {
    if (!segments[i].parameter && segments[i].text != path[i]) return false;
  }
  return true;
}

absl::StatusOr<const ApiRoute*> RouteTable::Resolve(ApiRequest& request) const {
  const ApiRoute* best = nullptr;
  const Entry* best_entry = nullptr;
  std::set<std::string> methods;
  for (size_t i = 0; i < routes_.size(); ++i) {
    const Entry& entry = entries_[i];
    if (!Matches(entry.segments, request.path)) continue;
    methods.insert(routes_[i].method);
    if (routes_[i].method != request.method) continue;
    bool better = best == nullptr;
    for (size_t s = 0; !better && s < entry.segments.size(); ++s) {
      const bool mine = !entry.segments[s].parameter, theirs = !best_entry->segments[s].parameter;
      if (mine != theirs) {
        better = mine;
        break;
      }
    }
    if (better) {
      best = &routes_[i];
      best_entry = &entry;
    }
  }
  if (best == nullptr) {
    std::string path;
    for (const std::string& part : request.path) StrAppend(&path, "/", part);
    if (methods.empty()) {
      return absl::NotFoundError(
          StrCat("no API route /api/v1", path, "; see /api/v1/openapi.json"));
    }
    std::string allow;
    for (const std::string& m : methods) StrAppend(&allow, allow.empty() ? "" : ", ", m);
    return common::MethodNotAllowedError(
        StrCat("/api/v1", path, " takes ", allow, ", not ", request.method.substr(0, 16)), allow);
  }
  request.params.clear();
  for (size_t s = 0; s < best_entry->segments.size(); ++s) {
    if (best_entry->segments[s].parameter) {
      request.params[best_entry->segments[s].text] = request.path[s];
    }
  }
  if (best->access != Access::kPublic) {
    if (!request.authenticated) return absl::UnauthenticatedError("sign in first");
    RETURN_IF_ERROR(authorizer_->Authorize(request.principal, best->access, request));
  }
  return best;
}

absl::StatusOr<ApiResponse> RouteTable::Dispatch(ApiRequest& request) const {
  ASSIGN_OR_RETURN(const ApiRoute* route, Resolve(request));
  return route->handler(request);
}

}  // namespace berth::control
