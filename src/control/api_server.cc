// /api/v1 routes of the event log and the server's own description.
#include <unistd.h>

#include <limits>
#include <thread>

#include "common/status_macros.h"
#include "common/strings.h"
#include "common/version.h"
#include "control/api.h"
#include "control/api_internal.h"

namespace berth::control {

using nlohmann::json;
using namespace api_internal;

void ControlApi::AddServerRoutes() {
  using Result = absl::StatusOr<ApiResponse>;
  AddRoute("GET", "events", Access::kRead, [this](ApiRequest& r) -> Result {
    ASSIGN_OR_RETURN(const int64_t after_id,
                     QueryInt(r, "after", 0, std::numeric_limits<int64_t>::max(), 0));
    ASSIGN_OR_RETURN(const int64_t limit, QueryInt(r, "limit", 1, 1000, 100));
    const int n = static_cast<int>(limit);
    const std::string service = r.query["service"];
    ASSIGN_OR_RETURN(auto events, store_->ListEvents(service, after_id, n));
    // A deleted service's events stay readable; a name that never had any is a mistake.
    if (!service.empty() && events.empty() && after_id == 0) {
      ASSIGN_OR_RETURN(auto found, store_->FindService(service));
      if (!found) {
        return absl::NotFoundError(
            StrCat("no service named '", service, "' and no events for one; `berth services` "
                   "lists them"));
      }
    }
    json items = json::array();
    for (const auto& e : events) {
      items.push_back({{"id", e.id}, {"time", TimeText(e.time)}, {"service", e.service},
                       {"object", e.object}, {"reason", e.reason}, {"message", e.message}});
    }
    return Json(200, {{"items", std::move(items)}});
  });
  AddRoute("GET", "server", Access::kRead, [this](ApiRequest&) -> Result {
    const long pages = sysconf(_SC_PHYS_PAGES), page = sysconf(_SC_PAGE_SIZE);
    return Json(200, {{"version", kVersion},
                      {"data_dir", options_.data_dir},
                      {"http_port", http_port_.load()},
                      {"grpc_port", grpc_port_.load() ? grpc_port_.load() : options_.grpc_port},
                      {"cpus", std::thread::hardware_concurrency()},
                      {"memory_bytes", static_cast<uint64_t>(pages) * static_cast<uint64_t>(page)},
                      {"replicas_running", controller_->RunningReplicas()},
                      {"resource_limits",
                       controller_->driver().capabilities().resource_limits_detail}});
  });
}

}  // namespace berth::control
