// /api/v1 routes of services: create, change, describe, delete, and a service's revisions,
// replicas, metrics, logs, sample request and rollback. A change is one normalised spec and,
// when the spec differs from the latest revision's, a new revision with its model repository.
#include <algorithm>
#include <cctype>
#include <filesystem>
#include <fstream>
#include <limits>
#include <set>
#include <sstream>

#include "common/quantity.h"
#include "common/status_macros.h"
#include "common/strings.h"
#include "control/api.h"
#include "control/api_internal.h"
#include "control/canary_rollout.h"
#include "control/states.h"
#include "google/protobuf/text_format.h"
#include "model_config.pb.h"
#include "protocol/config_datatype.h"
#include "protocol/datatype.h"
#include "spdlog/spdlog.h"

namespace berth::control {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;
using namespace api_internal;

// A V2 datatype name as the model config's enum.
absl::StatusOr<inference::DataType> ConfigType(const std::string& v2) {
  const auto parsed = protocol::DataTypeFromName(v2);
  const inference::DataType type =
      parsed ? protocol::ConfigDataType(*parsed) : inference::TYPE_INVALID;
  if (type == inference::TYPE_INVALID) {
    return absl::InvalidArgumentError(StrCat("'", v2, "' is not a V2 datatype"));
  }
  return type;
}

// Validates a declared signature (spec.inputs / spec.outputs): a list of
// {"name", "datatype", "shape"} with the full shape, -1 for a dynamic dimension.
absl::StatusOr<json> ParseSignature(const json& list, const std::string& field) {
  if (!list.is_array() || list.empty() || list.size() > 64) {
    return absl::InvalidArgumentError(StrCat(
        field, ": a list of 1 to 64 tensors, e.g. [{\"name\": \"x\", \"datatype\": \"FP32\", "
               "\"shape\": [-1, 3, 224, 224]}]"));
  }
  json out = json::array();
  std::set<std::string> names;
  for (size_t i = 0; i < list.size(); ++i) {
    const std::string at = StrCat(field, "[", i, "]");
    const json& t = list[i];
    if (!t.is_object()) return absl::InvalidArgumentError(StrCat(at, ": an object"));
    for (const auto& [key, value] : t.items()) {
      if (key != "name" && key != "datatype" && key != "shape") {
        return absl::InvalidArgumentError(
            StrCat(at, ".", key, ": unknown field (known: name, datatype, shape)"));
      }
    }
    ASSIGN_OR_RETURN(const std::string name, StringField(t, "name", at + ".name"));
    const bool name_ok =
        !name.empty() && name.size() <= 128 &&
        std::all_of(name.begin(), name.end(), [](char c) {
          return std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '.' ||
                 c == ':' || c == '-' || c == '/';
        });
    if (!name_ok) {
      return absl::InvalidArgumentError(
          StrCat(at, ".name: 1 to 128 letters, digits or _ . : - /"));
    }
    if (!names.insert(name).second) {
      return absl::InvalidArgumentError(StrCat(at, ".name: '", name, "' appears twice"));
    }
    ASSIGN_OR_RETURN(const std::string type, StringField(t, "datatype", at + ".datatype"));
    if (!protocol::DataTypeFromName(type)) {
      return absl::InvalidArgumentError(
          StrCat(at, ".datatype: one of BOOL, UINT8..UINT64, INT8..INT64, FP16, BF16, FP32, "
                     "FP64, BYTES"));
    }
    if (!t.contains("shape") || !t["shape"].is_array() || t["shape"].empty() ||
        t["shape"].size() > 8) {
      return absl::InvalidArgumentError(StrCat(at, ".shape: 1 to 8 dimensions"));
    }
    for (const auto& d : t["shape"]) {
      if (!d.is_number_integer() || d.get<int64_t>() < -1 || d.get<int64_t>() == 0 ||
          d.get<int64_t>() > (int64_t{1} << 31)) {
        return absl::InvalidArgumentError(
            StrCat(at, ".shape: positive sizes, or -1 for a dynamic dimension"));
      }
    }
    out.push_back({{"name", name}, {"datatype", type}, {"shape", t["shape"]}});
  }
  return out;
}

absl::Status WriteText(const fs::path& path, const std::string& text) {
  std::ofstream out(path, std::ios::binary);
  out << text;
  out.close();
  if (!out) return absl::InternalError(StrCat("cannot write ", path.string()));
  return absl::OkStatus();
}

// A stored spec (a service's, or a revision's with its pins) as a caller would write it: what
// NormalizeSpec derives and what a revision pins are left out, so that it normalizes again
// from what the caller meant (a merge patch on it, a rollback to it).
json DeclaredSpec(const json& stored) {
  json spec = stored;
  for (const char* pinned : {"model_sha256", "model_format", "rollback_of"}) spec.erase(pinned);
  if (spec.contains("resources") && spec["resources"].is_object()) {
    spec["resources"].erase("memory_bytes");
  }
  return spec;
}

// A sample request body for a model: zeros of the right shape (dynamic dims as 1).
json SampleRequest(const ModelRecord& model, const json& spec, size_t* elements) {
  const int max_batch_size = spec.value("batching", json::object()).value("max_batch_size", 0);
  json inputs = json::array();
  *elements = 0;
  for (const auto& in : spec.contains("inputs") ? spec["inputs"]
                                                : model.metadata.value("inputs", json::array())) {
    std::vector<int64_t> shape;
    for (const auto& d : in.value("shape", json::array())) {
      shape.push_back(d.get<int64_t>() < 0 ? 1 : d.get<int64_t>());
    }
    if (max_batch_size > 0 && !shape.empty()) shape[0] = 1;
    size_t n = 1;
    for (int64_t d : shape) n *= static_cast<size_t>(d);
    *elements += n;
    const std::string dtype = in.value("datatype", "FP32");
    json data = json::array();
    for (size_t i = 0; i < n && i < (1u << 22); ++i) {
      if (dtype == "BOOL") data.push_back(false);
      else if (dtype == "BYTES") data.push_back("");
      else data.push_back(0);
    }
    inputs.push_back({{"name", in.value("name", "")}, {"shape", shape}, {"datatype", dtype},
                      {"data", std::move(data)}});
  }
  return {{"inputs", std::move(inputs)}};
}

// A 28x28 PNG of a handwritten 7 (tests/fixtures/digits/7.png), served at

}  // namespace

absl::StatusOr<ServiceRecord> ControlApi::FindService(const std::string& name) {
  ASSIGN_OR_RETURN(auto service, store_->FindService(name));
  if (!service) return absl::NotFoundError(StrCat("no service named '", name, "'"));
  return *std::move(service);
}

void ControlApi::AddServiceRoutes() {
  using Result = absl::StatusOr<ApiResponse>;
  AddRoute("GET", "services", Access::kRead, [this](ApiRequest& r) -> Result {
    ASSIGN_OR_RETURN(auto services, store_->ListServices());
    json items = json::array();
    for (const auto& s : services) items.push_back(ServiceJson(s, r.host));
    return Json(200, {{"items", std::move(items)}});
  });
  AddRoute("POST", "services", Access::kDeploy, [this](ApiRequest& r) -> Result {
    ASSIGN_OR_RETURN(json body, ParseBody(r));
    if (!body.contains("name") || !body["name"].is_string()) {
      return absl::InvalidArgumentError("name: the service needs a name");
    }
    return ApplyService(body["name"].get<std::string>(), body, true, r.host);
  });
  AddRoute("PUT", "services/{name}", Access::kDeploy, [this](ApiRequest& r) -> Result {
    ASSIGN_OR_RETURN(json body, ParseBody(r));
    return ApplyService(r.params["name"], body, false, r.host);
  });
  AddRoute("PATCH", "services/{name}", Access::kDeploy, [this](ApiRequest& r) -> Result {
    ASSIGN_OR_RETURN(json patch, ParseBody(r));
    if (!patch.is_object()) {
      return absl::InvalidArgumentError(
          "a merge patch (RFC 7386) is a JSON object of the fields to change, e.g. "
          "{\"replicas\": 3}; null removes a field");
    }
    const std::string& name = r.params["name"];
    if (patch.contains("name") && patch["name"] != name) {
      return absl::InvalidArgumentError(
          "name: a service cannot be renamed; create the new name and delete this one");
    }
    ASSIGN_OR_RETURN(ServiceRecord service, FindService(name));
    json spec = DeclaredSpec(service.spec);
    // Another model named without a version: its latest, not the old model's version number.
    if (patch.contains("model") && patch["model"] != spec.value("model", "") &&
        !patch.contains("model_version")) {
      spec.erase("model_version");
    }
    spec.merge_patch(patch);
    spec["name"] = name;
    return ApplyService(name, spec, false, r.host);
  });
  AddRoute("GET", "services/{name}", Access::kRead, [this](ApiRequest& r) -> Result {
    ASSIGN_OR_RETURN(ServiceRecord service, FindService(r.params["name"]));
    return Json(200, ServiceJson(service, r.host));
  });
  AddRoute("DELETE", "services/{name}", Access::kDeploy, [this](ApiRequest& r) -> Result {
    const std::string& name = r.params["name"];
    ASSIGN_OR_RETURN(ServiceRecord service, FindService(name));
    std::lock_guard lock(apply_mu_);
    service.deleting = true;
    service.updated_at = NowMs();
    RETURN_IF_ERROR(store_->UpdateService(service));
    controller_->Event(name, "service/" + name, "Deleting", "replicas drain, then it goes");
    controller_->Wake();
    traffic_->Forget(name);
    return Json(202, ServiceJson(service, r.host));
  });
  AddRoute("GET", "services/{name}/revisions", Access::kRead, [this](ApiRequest& r) -> Result {
    const std::string& name = r.params["name"];
    ASSIGN_OR_RETURN(ServiceRecord service, FindService(name));
    ASSIGN_OR_RETURN(auto revisions, store_->ListRevisions(name));
    const std::map<int, int> shares = controller_->TrafficShares(name);
    json items = json::array();
    for (const auto& rev : revisions) {
      const auto share = shares.find(rev.number);
      items.push_back({{"number", rev.number}, {"status", rev.status}, {"reason", rev.reason},
                       {"spec", rev.spec}, {"created_at", TimeText(rev.created_at)},
                       {"serving", rev.number == service.current_revision},
                       {"traffic_percent", share != shares.end() ? share->second : 0},
                       {"rollback_of", rev.spec.value("rollback_of", json(nullptr))}});
    }
    return Json(200, {{"items", std::move(items)}});
  });
  AddRoute("GET", "services/{name}/replicas", Access::kRead, [this](ApiRequest& r) -> Result {
    const std::string& name = r.params["name"];
    RETURN_IF_ERROR(FindService(name).status());
    ASSIGN_OR_RETURN(auto replicas, store_->ListReplicas(name));
    json items = json::array();
    for (const auto& rep : replicas) {
      items.push_back({{"id", rep.id}, {"revision", rep.revision}, {"state", rep.state},
                       {"pid", rep.pid}, {"restarts", rep.restarts}, {"reason", rep.reason},
                       {"created_at", TimeText(rep.created_at)},
                       {"ready_at", rep.ready_at ? json(TimeText(rep.ready_at)) : json(nullptr)}});
    }
    return Json(200, {{"items", std::move(items)}});
  });
  AddRoute("GET", "services/{name}/metrics", Access::kRead, [this](ApiRequest& r) -> Result {
    const std::string& name = r.params["name"];
    RETURN_IF_ERROR(FindService(name).status());
    // 0: the whole service; N: the requests revision N served.
    ASSIGN_OR_RETURN(const int64_t revision, QueryInt(r, "revision", 0, INT32_MAX, 0));
    return Json(200, traffic_->Series(name, NowMs(), revision));
  });
  AddRoute("GET", "services/{name}/requests", Access::kRead, [this](ApiRequest& r) -> Result {
    const std::string& name = r.params["name"];
    RETURN_IF_ERROR(FindService(name).status());
    ASSIGN_OR_RETURN(const int64_t limit,
                     QueryInt(r, "limit", 1, routing::TrafficStats::kLoggedRequests, 100));
    // ?after=SEQ: only the requests logged after that one (what `berth logs -f` polls with).
    ASSIGN_OR_RETURN(const int64_t after,
                     QueryInt(r, "after", 0, std::numeric_limits<int64_t>::max(), 0));
    json items = json::array();
    for (const routing::RequestEntry& e :
         traffic_->RecentRequests(name, limit, static_cast<uint64_t>(after))) {
      json item = {{"seq", e.seq}, {"time", TimeText(e.time_ms)}, {"protocol", e.protocol},
                   {"method", e.method},          {"route", e.route},
                   {"status", e.status},          {"latency_ms", e.latency_ms},
                   {"revision", e.revision},      {"replica", e.replica},
                   {"key", e.key},                {"bytes_in", e.bytes_in},
                   {"bytes_out", e.bytes_out}};
      if (e.grpc_code >= 0) item["grpc_code"] = e.grpc_code;
      items.push_back(std::move(item));
    }
    return Json(200, {{"items", std::move(items)}});
  });
  AddRoute("GET", "services/{name}/sample-request", Access::kRead,
           [this](ApiRequest& r) -> Result {
             ASSIGN_OR_RETURN(ServiceRecord service, FindService(r.params["name"]));
             ASSIGN_OR_RETURN(auto model, store_->FindModel(service.spec.value("model", ""),
                                                            service.spec.value("model_version", 0)));
             if (!model) return absl::NotFoundError("the service's model is gone");
             size_t elements = 0;
             return Json(200, SampleRequest(*model, service.spec, &elements));
           });
  AddRoute("GET", "services/{name}/logs", Access::kRead, [this](ApiRequest& r) -> Result {
    const std::string& name = r.params["name"];
    RETURN_IF_ERROR(FindService(name).status());
    ASSIGN_OR_RETURN(auto replicas, store_->ListReplicas(name));
    const std::string only = r.query["replica"];
    ASSIGN_OR_RETURN(const int64_t tail_lines, QueryInt(r, "tail", 0, 10000, 200));
    const int tail = static_cast<int>(tail_lines);
    if (!only.empty() && std::none_of(replicas.begin(), replicas.end(),
                                      [&](const ReplicaRecord& rep) { return rep.id == only; })) {
      std::string ids;
      for (const auto& rep : replicas) StrAppend(&ids, ids.empty() ? "" : ", ", rep.id);
      return absl::NotFoundError(StrCat("service '", name, "' has no replica '", only, "'",
                                        ids.empty() ? "" : StrCat(" (it has ", ids, ")")));
    }
    std::string text;
    for (const auto& rep : replicas) {
      if (!only.empty() && rep.id != only) continue;
      std::istringstream in(controller_->driver().LogTail(rep.id, 1024 * 1024));
      std::vector<std::string> lines;
      std::string line;
      while (std::getline(in, line)) lines.push_back(line);
      const size_t from = lines.size() > static_cast<size_t>(tail) ? lines.size() - tail : 0;
      for (size_t i = from; i < lines.size(); ++i) StrAppend(&text, "[", rep.id, "] ", lines[i], "\n");
    }
    return ApiResponse{200, std::move(text), "text/plain; charset=utf-8", {}};
  });
  AddRoute("POST", "services/{name}/rollback", Access::kDeploy, [this](ApiRequest& r) -> Result {
    json body = json::object();
    if (!r.body.empty()) {
      ASSIGN_OR_RETURN(body, ParseBody(r));
    }
    RETURN_IF_ERROR(OnlyFields(body, "rollback", {"revision"}));
    ASSIGN_OR_RETURN(const int64_t to, IntField(body, "revision", "revision", 1, INT32_MAX, 0));
    return Rollback(r.params["name"], static_cast<int>(to), r.host);
  });
}

absl::StatusOr<ApiResponse> ControlApi::Rollback(const std::string& name, int to,
                                                 const std::string& host) {
  ASSIGN_OR_RETURN(ServiceRecord service, FindService(name));
  ASSIGN_OR_RETURN(auto revisions, store_->ListRevisions(name));
  auto find = [&](int number) -> const RevisionRecord* {
    for (const auto& rev : revisions) {
      if (rev.number == number) return &rev;
    }
    return nullptr;
  };
  const RevisionRecord* target = nullptr;
  if (to > 0) {
    target = find(to);
    if (target == nullptr) {
      return absl::NotFoundError(StrCat("service '", name, "' has no revision ", to,
                                        " (berth revisions ", name, " lists them)"));
    }
    if (target->status == Name(RevisionStatus::kFailed)) {
      return absl::FailedPreconditionError(
          StrCat("revision ", to, " of '", name, "' failed (", target->reason,
                 "); roll back to one that served"));
    }
  } else if (service.current_revision > 0 && service.latest_revision != service.current_revision) {
    // A rollout is in progress or failed: back to what serves now.
    target = find(service.current_revision);
  } else {
    // Before the serving revision; when that one restored an older spec, before that one.
    int before = service.current_revision;
    if (const RevisionRecord* serving = find(before)) {
      before = serving->spec.value("rollback_of", before);
    }
    for (const auto& rev : revisions) {
      if (rev.number < before && rev.status == Name(RevisionStatus::kRetired)) target = &rev;
    }
  }
  if (target == nullptr) {
    return absl::FailedPreconditionError(
        StrCat("service '", name, "' has no earlier revision that served to roll back to"));
  }
  json body = DeclaredSpec(target->spec);
  body["replicas"] = service.spec.value("replicas", 1);
  ASSIGN_OR_RETURN(auto model, store_->FindModel(body.value("model", ""),
                                                 body.value("model_version", 0)));
  if (!model || model->sha256 != target->spec.value("model_sha256", "")) {
    return absl::FailedPreconditionError(StrCat(
        "revision ", target->number, " served version ", body.value("model_version", 0),
        " of model '", body.value("model", ""),
        "', which has since been deleted; upload it again and deploy it to go back"));
  }
  // A revision that is itself a rollback restores the same original.
  const int original = target->spec.value("rollback_of", target->number);
  controller_->Event(name, "service/" + name, "RollingBack",
                     StrCat("to the spec of revision ", target->number));
  return ApplyService(name, body, false, host, original);
}

absl::StatusOr<ModelRecord> ControlApi::ResolveModelVersion(const json& body,
                                                             const json* current) {
  const std::string name = body["model"].get<std::string>();
  int version = 0;  // the latest
  if (body.contains("model_version") && !body["model_version"].is_null()) {
    const json& v = body["model_version"];
    if (v.is_number_integer() && v.get<int64_t>() >= 1 && v.get<int64_t>() <= INT32_MAX) {
      version = static_cast<int>(v.get<int64_t>());
    } else if (v != "latest") {
      return absl::InvalidArgumentError(
          "spec.model_version: a version number (1, 2, ...) or \"latest\"");
    }
  } else if (current != nullptr && current->value("model", "") == name) {
    // Not named: the version the service serves stays, until a change names another.
    version = current->value("model_version", 0);
  }
  ASSIGN_OR_RETURN(auto model, store_->FindModel(name, version));
  if (model) return *std::move(model);
  ASSIGN_OR_RETURN(auto versions, store_->ListModelVersions(name));
  if (versions.empty()) {
    return absl::InvalidArgumentError(StrCat("spec.model: no model named '", name,
                                             "'; upload it first (berth models upload)"));
  }
  std::string list;
  for (const auto& v : versions) StrAppend(&list, list.empty() ? "" : ", ", v.version);
  return absl::InvalidArgumentError(StrCat("spec.model_version: model '", name,
                                           "' has no version ", version, " (it has ", list, ")"));
}

namespace {

// spec.autoscaling: the autoscaler's settings, each checked; what is left out takes its
// default.
absl::StatusOr<json> NormalizeAutoscaling(const json& a) {
  if (!a.is_object()) {
    return absl::InvalidArgumentError(
        "spec.autoscaling: give an object such as {\"target\": 4, \"max_replicas\": 8}");
  }
  RETURN_IF_ERROR(OnlyFields(a, "spec.autoscaling",
                             {"metric", "target", "min_replicas", "max_replicas", "window_s",
                              "scale_down_delay_s", "scale_to_zero_after_s",
                              "cold_start_timeout_s", "initial_replicas"}));
  json out = json::object();
  if (a.contains("metric") && !a["metric"].is_string()) {
    return absl::InvalidArgumentError(
        "spec.autoscaling.metric: give concurrency (requests in flight per replica) or rps "
        "(requests per second per replica)");
  }
  const std::string metric = a.value("metric", "concurrency");
  if (metric != "concurrency" && metric != "rps" && metric != "cpu") {
    return absl::InvalidArgumentError(StrCat(
        "spec.autoscaling.metric: '", metric, "' is not a metric; give concurrency (requests in "
        "flight per replica), rps (requests per second per replica) or cpu (percent of a "
        "replica's CPU limit)"));
  }
  out["metric"] = metric;
  double target = metric == "rps" ? 10 : metric == "cpu" ? 80 : 1;
  if (a.contains("target")) {
    const double most = metric == "cpu" ? 100 : 100000;
    if (!a["target"].is_number() || !(a["target"].get<double>() > 0) ||
        a["target"].get<double>() > most) {
      return absl::InvalidArgumentError(StrCat(
          "spec.autoscaling.target: ",
          metric == "rps"   ? "the requests per second"
          : metric == "cpu" ? "the percent of its CPU limit"
                            : "the requests in flight",
          " one replica should carry, a number above 0 and at most ", most));
    }
    target = a["target"].get<double>();
  }
  out["target"] = target;
  ASSIGN_OR_RETURN(int64_t min_replicas,
                   IntField(a, "min_replicas", "spec.autoscaling.min_replicas", 0, 64, 1));
  ASSIGN_OR_RETURN(int64_t max_replicas,
                   IntField(a, "max_replicas", "spec.autoscaling.max_replicas", 1, 64,
                            std::max<int64_t>(min_replicas, 10)));
  if (max_replicas < min_replicas) {
    return absl::InvalidArgumentError(
        StrCat("spec.autoscaling.max_replicas: ", max_replicas, " is below min_replicas (",
               min_replicas, ")"));
  }
  if (a.contains("initial_replicas") && !a["initial_replicas"].is_null()) {
    ASSIGN_OR_RETURN(int64_t initial, IntField(a, "initial_replicas",
                                               "spec.autoscaling.initial_replicas", 1, 64, 1));
    if (initial < min_replicas || initial > max_replicas) {
      return absl::InvalidArgumentError(StrCat(
          "spec.autoscaling.initial_replicas: ", initial, " is outside min_replicas (",
          min_replicas, ") to max_replicas (", max_replicas, ")"));
    }
    out["initial_replicas"] = initial;
  }
  ASSIGN_OR_RETURN(int64_t window,
                   IntField(a, "window_s", "spec.autoscaling.window_s", 6, 3600, 60));
  ASSIGN_OR_RETURN(int64_t delay, IntField(a, "scale_down_delay_s",
                                           "spec.autoscaling.scale_down_delay_s", 0, 3600, 0));
  if (min_replicas > 0) {
    for (const char* field : {"scale_to_zero_after_s", "cold_start_timeout_s"}) {
      if (a.contains(field)) {
        return absl::InvalidArgumentError(StrCat(
            "spec.autoscaling.", field, ": only a service that scales to zero (min_replicas "
            "0) has it"));
      }
    }
  } else {
    ASSIGN_OR_RETURN(int64_t grace,
                     IntField(a, "scale_to_zero_after_s", "spec.autoscaling.scale_to_zero_after_s",
                              1, 86400, 60));
    ASSIGN_OR_RETURN(int64_t cold_start,
                     IntField(a, "cold_start_timeout_s", "spec.autoscaling.cold_start_timeout_s",
                              1, 3600, 60));
    out["scale_to_zero_after_s"] = grace;
    out["cold_start_timeout_s"] = cold_start;
  }
  out["min_replicas"] = min_replicas;
  out["max_replicas"] = max_replicas;
  out["window_s"] = window;
  out["scale_down_delay_s"] = delay;
  return out;
}

}  // namespace

absl::StatusOr<json> ControlApi::NormalizeSpec(const json& body, const ModelRecord& stored) {
  RETURN_IF_ERROR(OnlyFields(body, "spec", {"name", "model", "model_version", "model_name",
                                            "replicas", "autoscaling", "rollout", "resources",
                                            "batching", "image", "inputs", "outputs"}));
  json spec;
  if (body.contains("model_name") && !body["model_name"].is_null()) {
    if (!body["model_name"].is_string() || !IsValidModelName(body["model_name"].get<std::string>())) {
      return absl::InvalidArgumentError(
          "spec.model_name: the V2 model name the service answers to besides its own: 1 to 128 "
          "letters, digits, '_', '.' and '-', starting with a letter or digit (e.g. "
          "densenet_onnx)");
    }
    spec["model_name"] = body["model_name"];
  }
  // A declared signature (needed for TorchScript, whose files do not carry one) stands in for
  // what the probe found, for everything below.
  ModelRecord model = stored;
  if (body.contains("inputs") || body.contains("outputs")) {
    if (!body.contains("inputs") || !body.contains("outputs")) {
      return absl::InvalidArgumentError(
          "spec.inputs, spec.outputs: declare both, or neither to use the model's own");
    }
    ASSIGN_OR_RETURN(json inputs, ParseSignature(body["inputs"], "spec.inputs"));
    ASSIGN_OR_RETURN(json outputs, ParseSignature(body["outputs"], "spec.outputs"));
    bool batched = true;
    for (const json* list : {&inputs, &outputs}) {
      for (const auto& t : *list) batched = batched && t["shape"][0].get<int64_t>() == -1;
    }
    model.metadata["inputs"] = inputs;
    model.metadata["outputs"] = outputs;
    model.metadata["max_batch_size"] = batched ? 8 : 0;
    spec["inputs"] = inputs;
    spec["outputs"] = outputs;
  } else if (model.metadata.value("inputs", json::array()).empty()) {
    return absl::InvalidArgumentError(StrCat(
        "spec.inputs: the ", model.format, " model '", model.name,
        "' does not declare its inputs and outputs; give spec.inputs and spec.outputs, e.g. "
        "\"inputs\": [{\"name\": \"x\", \"datatype\": \"FP32\", \"shape\": [-1, 3, 224, 224]}] "
        "(berth deploy --model-input x:FP32:-1x3x224x224 --model-output y:FP32:-1x1000)"));
  }
  spec["model"] = model.name;
  spec["model_version"] = model.version;
  ASSIGN_OR_RETURN(int64_t replicas, IntField(body, "replicas", "spec.replicas", 0, 64, 1));
  spec["replicas"] = replicas;
  json resources = json::object();
  if (body.contains("resources")) {
    const json& res = body["resources"];
    RETURN_IF_ERROR(OnlyFields(res, "spec.resources", {"cpu", "memory"}));
    if (res.contains("cpu")) {
      double cpu = 0;
      if (res["cpu"].is_number()) {
        cpu = res["cpu"].get<double>();
      } else if (res["cpu"].is_string()) {
        cpu = ParseCpu(res["cpu"].get<std::string>()).value_or(0);
      }
      if (!(cpu > 0 && cpu <= 256)) {
        return absl::InvalidArgumentError(
            "spec.resources.cpu: must be a number of CPUs between 0.001 and 256 (e.g. 1, 0.5 or "
            "\"500m\")");
      }
      resources["cpu"] = cpu;
    }
    if (res.contains("memory")) {
      if (!res["memory"].is_string() && !res["memory"].is_number_unsigned()) {
        return absl::InvalidArgumentError("spec.resources.memory: give a size such as \"2Gi\"");
      }
      const std::string text = res["memory"].is_string() ? res["memory"].get<std::string>()
                                                         : res["memory"].dump();
      auto bytes = ParseMemory(text);
      if (!bytes.ok()) return absl::InvalidArgumentError(StrCat("spec.resources.memory: ", Msg(bytes.status())));
      if (*bytes < (64u << 20)) {
        return absl::InvalidArgumentError("spec.resources.memory: at least 64Mi");
      }
      resources["memory"] = text;
      resources["memory_bytes"] = *bytes;
    }
  }
  spec["resources"] = resources;
  if (body.contains("rollout") && !body["rollout"].is_null()) {
    ASSIGN_OR_RETURN(spec["rollout"], NormalizeRollout(body["rollout"]));
  }
  if (body.contains("autoscaling") && !body["autoscaling"].is_null()) {
    ASSIGN_OR_RETURN(spec["autoscaling"], NormalizeAutoscaling(body["autoscaling"]));
    const bool limited = body.contains("resources") && body["resources"].is_object() &&
                         body["resources"].contains("cpu");
    if (spec["autoscaling"]["metric"] == "cpu" && !limited) {
      return absl::InvalidArgumentError(
          "spec.autoscaling.metric: cpu is measured in percent of each replica's CPU limit; "
          "give spec.resources.cpu too (berth deploy --cpu 1)");
    }
  }
  // Batching: only for models whose tensors all have a dynamic leading dimension.
  const int model_batch = model.metadata.value("max_batch_size", 0);
  json batching = json::object();
  const json empty = json::object();
  const json& b = body.contains("batching") ? body["batching"] : empty;
  RETURN_IF_ERROR(OnlyFields(b, "spec.batching", {"max_batch_size", "max_queue_delay_us"}));
  ASSIGN_OR_RETURN(int64_t max_batch, IntField(b, "max_batch_size", "spec.batching.max_batch_size",
                                               0, 4096, model_batch > 0 ? 32 : 0));
  if (max_batch > 0 && model_batch == 0) {
    return absl::InvalidArgumentError(
        "spec.batching.max_batch_size: this model has a fixed first dimension, so it cannot "
        "batch; use 0");
  }
  ASSIGN_OR_RETURN(int64_t delay, IntField(b, "max_queue_delay_us",
                                           "spec.batching.max_queue_delay_us", 0, 1000000, 0));
  batching["max_batch_size"] = max_batch;
  batching["max_queue_delay_us"] = delay;
  spec["batching"] = batching;
  // Image classification: on by default for models that carry labels (the demo model).
  const json& img = body.contains("image") ? body["image"] : empty;
  RETURN_IF_ERROR(OnlyFields(img, "spec.image", {"enabled", "labels", "top_k", "mean", "std",
                                                 "color_order", "invert"}));
  json image = json::object();
  const bool default_on = model.metadata.contains("labels");
  if (img.contains("enabled") && !img["enabled"].is_boolean()) {
    return absl::InvalidArgumentError("spec.image.enabled: true or false");
  }
  image["enabled"] = img.value("enabled", default_on);
  if (img.contains("labels")) {
    if (!img["labels"].is_array() || img["labels"].size() > 100000) {
      return absl::InvalidArgumentError("spec.image.labels: a list of up to 100000 strings");
    }
    for (const auto& l : img["labels"]) {
      if (!l.is_string() || l.get<std::string>().find('\n') != std::string::npos) {
        return absl::InvalidArgumentError("spec.image.labels: every label is a one-line string");
      }
    }
    image["labels"] = img["labels"];
  } else if (model.metadata.contains("labels")) {
    image["labels"] = model.metadata["labels"];
  }
  for (const char* key : {"mean", "std"}) {
    if (!img.contains(key)) continue;
    if (!img[key].is_array() || img[key].size() != 3) {
      return absl::InvalidArgumentError(StrCat("spec.image.", key, ": three numbers (R, G, B)"));
    }
    for (const auto& v : img[key]) {
      if (!v.is_number()) return absl::InvalidArgumentError(StrCat("spec.image.", key, ": three numbers"));
    }
    image[key] = img[key];
  }
  if (img.contains("color_order")) {
    if (img["color_order"] != "RGB" && img["color_order"] != "BGR") {
      return absl::InvalidArgumentError("spec.image.color_order: RGB or BGR");
    }
    image["color_order"] = img["color_order"];
  }
  if (img.contains("invert")) {
    if (img["invert"] != "auto" && img["invert"] != "true" && img["invert"] != "false" &&
        !img["invert"].is_boolean()) {
      return absl::InvalidArgumentError("spec.image.invert: true, false or \"auto\"");
    }
    image["invert"] = img["invert"].is_boolean() ? (img["invert"].get<bool>() ? "true" : "false")
                                                 : img["invert"].get<std::string>();
  } else if (model.metadata.contains("image_invert")) {
    image["invert"] = model.metadata["image_invert"];
  }
  ASSIGN_OR_RETURN(int64_t top_k, IntField(img, "top_k", "spec.image.top_k", 1, 1000, 5));
  image["top_k"] = top_k;
  if (image["enabled"].get<bool>()) {
    const auto inputs = model.metadata.value("inputs", json::array());
    const auto outputs = model.metadata.value("outputs", json::array());
    if (inputs.size() != 1 || outputs.size() != 1) {
      return absl::InvalidArgumentError(
          "spec.image.enabled: image classification needs a model with one image input and one "
          "output of scores");
    }
  }
  spec["image"] = image;
  return spec;
}

absl::Status ControlApi::WriteRevisionRepository(const std::string& service, int revision,
                                                 const json& spec, const ModelRecord& model) {
  const fs::path repo = fs::path(RevisionDirectory(options_.data_dir, service, revision)) / "repo";
  // The replica serves the model under the spec's V2 model name where it gives one (checked
  // by IsValidModelName: no path separator, never "." or ".."), else the service's name.
  const std::string model_name = spec.value("model_name", service);
  const fs::path model_dir = repo / model_name;
  std::error_code ec;
  fs::remove_all(repo, ec);
  fs::create_directories(model_dir / "1", ec);
  if (ec) return absl::InternalError(StrCat("cannot create ", model_dir.string(), ": ", ec.message()));
  const fs::path file = model_dir / "1" / fs::path(model.path).filename();
  // A hard link, or a copy where the file system has none: never a symbolic link, so that the
  // model store may drop the file once the model is replaced.
  fs::create_hard_link(model.path, file, ec);
  if (ec) {
    ec.clear();
    fs::copy_file(model.path, file, fs::copy_options::overwrite_existing, ec);
  }
  if (ec) return absl::InternalError(StrCat("cannot place the model file: ", ec.message()));

  // The worker's config, built as the message it is and printed by protobuf: names from the
  // model file or the spec are data, never configuration text.
  const int max_batch = spec["batching"].value("max_batch_size", 0);
  inference::ModelConfig config;
  config.set_name(model_name);
  config.set_platform(model.format == "onnx" ? "onnxruntime_onnx" : "pytorch_libtorch");
  config.set_max_batch_size(max_batch);
  const json& image = spec["image"];
  const bool labels = image.value("enabled", false) && image.contains("labels");
  // ModelInput and ModelOutput share these fields.
  auto fill = [&](auto* tensor, const json& t) -> absl::Status {
    ASSIGN_OR_RETURN(const inference::DataType type, ConfigType(t.value("datatype", "FP32")));
    tensor->set_name(t.value("name", ""));
    tensor->set_data_type(type);
    const auto& shape = t["shape"];
    // The batch dimension is the config's max_batch_size, not one of its dims.
    for (size_t i = max_batch > 0 ? 1 : 0; i < shape.size(); ++i) {
      tensor->add_dims(shape[i].get<int64_t>());
    }
    return absl::OkStatus();
  };
  const json inputs = spec.contains("inputs") ? spec["inputs"]
                                              : model.metadata.value("inputs", json::array());
  const json outputs = spec.contains("outputs") ? spec["outputs"]
                                                : model.metadata.value("outputs", json::array());
  if (!inputs.empty() && !outputs.empty()) {
    for (const auto& t : inputs) RETURN_IF_ERROR(fill(config.add_input(), t));
    for (const auto& t : outputs) {
      inference::ModelOutput* out = config.add_output();
      RETURN_IF_ERROR(fill(out, t));
      if (labels) out->set_label_filename("labels.txt");
    }
  }
  if (max_batch > 0) {
    config.mutable_dynamic_batching()->set_max_queue_delay_microseconds(
        spec["batching"].value("max_queue_delay_us", uint64_t{0}));
  }
  auto parameter = [&](const std::string& key, const std::string& value) {
    (*config.mutable_parameters())[key].set_string_value(value);
  };
  auto floats = [](const json& list) {
    std::string s;
    for (const auto& v : list) StrAppend(&s, s.empty() ? "" : ",", v.get<double>());
    return s;
  };
  if (image.contains("mean")) parameter("berth.image.mean", floats(image["mean"]));
  if (image.contains("std")) parameter("berth.image.std", floats(image["std"]));
  if (image.contains("color_order")) parameter("berth.image.color_order", image["color_order"]);
  if (image.contains("invert")) parameter("berth.image.invert", image["invert"]);
  std::string text;
  if (!google::protobuf::TextFormat::PrintToString(config, &text)) {
    return absl::InternalError("cannot print the model config");
  }
  RETURN_IF_ERROR(WriteText(model_dir / "config.pbtxt", text));
  if (labels) {
    std::string text;
    for (const auto& l : image["labels"]) StrAppend(&text, l.get<std::string>(), "\n");
    RETURN_IF_ERROR(WriteText(model_dir / "labels.txt", text));
  }
  return absl::OkStatus();
}

absl::Status ControlApi::CheckNamesAreFree(const std::string& name,
                                           const std::string& model_name) {
  ASSIGN_OR_RETURN(std::vector<ServiceRecord> services, store_->ListServices());
  for (const ServiceRecord& other : services) {
    if (other.name == name) continue;
    const std::string other_model = other.spec.value("model_name", "");
    if (!model_name.empty() && (other.name == model_name || other_model == model_name)) {
      return absl::AlreadyExistsError(
          StrCat("spec.model_name: '", model_name, "' already names service '", other.name,
                 "'; a V2 model name reaches one service"));
    }
    if (other_model == name) {
      return absl::AlreadyExistsError(
          StrCat("name: '", name, "' is the V2 model name of service '", other.name,
                 "'; choose another name"));
    }
  }
  return absl::OkStatus();
}

absl::StatusOr<ApiResponse> ControlApi::ApplyService(const std::string& name, const json& body,
                                                     bool create_only, const std::string& host,
                                                     int rollback_of) {
  if (!IsValidName(name)) {
    return absl::InvalidArgumentError(
        "name: a DNS label (a-z, 0-9 and '-', at most 63 characters) is required");
  }
  if (body.contains("name") && body["name"] != name) {
    return absl::InvalidArgumentError("name: the body names another service than the URL");
  }
  if (!body.contains("model") || !body["model"].is_string()) {
    return absl::InvalidArgumentError("spec.model: name the model to serve (see GET /api/v1/models)");
  }
  ASSIGN_OR_RETURN(auto existing_service, store_->FindService(name));
  ASSIGN_OR_RETURN(ModelRecord model,
                   ResolveModelVersion(body, existing_service ? &existing_service->spec : nullptr));
  ASSIGN_OR_RETURN(json spec, NormalizeSpec(body, model));
  json revision_spec = spec;
  // How many replicas (fixed or autoscaled) and how revisions roll out are the service's, not
  // a revision's.
  revision_spec.erase("replicas");
  revision_spec.erase("autoscaling");
  revision_spec.erase("rollout");
  revision_spec["model_sha256"] = model.sha256;
  revision_spec["model_format"] = model.format;
  if (rollback_of > 0) revision_spec["rollback_of"] = rollback_of;

  std::lock_guard lock(apply_mu_);
  ASSIGN_OR_RETURN(auto existing, store_->FindService(name));
  RETURN_IF_ERROR(CheckNamesAreFree(name, spec.value("model_name", "")));
  const TimeMs now = NowMs();
  int status = 200;
  ServiceRecord service;
  if (existing) {
    if (create_only) {
      return absl::AlreadyExistsError(
          StrCat("a service named '", name, "' exists; use PUT to change it"));
    }
    if (existing->deleting) {
      return absl::FailedPreconditionError(
          StrCat("service '", name, "' is being deleted; try again when it is gone"));
    }
    service = *existing;
  } else {
    service.name = name;
    service.created_at = now;
    service.updated_at = now;
    service.spec = spec;
    RETURN_IF_ERROR(store_->InsertService(service));
    controller_->Event(name, "service/" + name, "Created",
                       StrCat("serving model ", model.name, " version ", model.version));
    status = 201;
  }
  bool new_revision = service.latest_revision == 0;
  if (!new_revision) {
    ASSIGN_OR_RETURN(auto latest, store_->FindRevision(name, service.latest_revision));
    // Which revision a spec restores is not part of what it is.
    auto without_origin = [](json spec) {
      spec.erase("rollback_of");
      return spec;
    };
    new_revision = !latest || without_origin(latest->spec) != without_origin(revision_spec);
    // The spec of a revision that failed (or a canary that was halted or aborted), sent again
    // as it was: a new try, not "unchanged". A call that only scales makes none.
    auto scale_free = [](json s) {
      s.erase("replicas");
      s.erase("autoscaling");
      return s;
    };
    const bool only_scaled = spec != service.spec && scale_free(spec) == scale_free(service.spec);
    if (!new_revision && latest && latest->status == "Failed" && !only_scaled) {
      new_revision = true;
    }
  }
  const bool autoscaling_changed =
      status != 201 && service.spec.value("autoscaling", json()) != spec.value("autoscaling", json());
  const bool scaled = status != 201 &&
                      (service.spec.value("replicas", 1) != spec.value("replicas", 1) ||
                       autoscaling_changed);
  if (scaled && service.spec.value("replicas", 1) != spec.value("replicas", 1)) {
    controller_->Event(name, "service/" + name, "Scaled",
                       StrCat("replicas ", service.spec.value("replicas", 1), " -> ",
                              spec.value("replicas", 1)));
  }
  if (autoscaling_changed) {
    controller_->Event(name, "service/" + name, "AutoscalingChanged",
                       spec.contains("autoscaling") ? spec["autoscaling"].dump()
                                                    : std::string("off: the spec's replicas"));
  }
  service.spec = spec;
  service.updated_at = now;
  RETURN_IF_ERROR(store_->UpdateService(service));
  if (new_revision) {
    ASSIGN_OR_RETURN(int number, store_->CreateRevision(name, revision_spec, now));
    if (auto s = WriteRevisionRepository(name, number, spec, model); !s.ok()) {
      RevisionRecord failed{name, number, revision_spec, "Failed", std::string(Msg(s)), now};
      if (auto stored = store_->UpdateRevision(failed); !stored.ok()) {
        spdlog::error("cannot mark revision {} of {} failed: {}", number, name, Msg(stored));
      }
      return s;
    }
    controller_->Event(name, StrCat("revision/", name, "-", number), "RevisionCreated",
                       StrCat("model ", model.name, " version ", model.version, " (sha256 ",
                              model.sha256.substr(0, 12), "), ", spec.value("replicas", 1),
                              " replica(s)"));
  }
  controller_->Wake();
  ASSIGN_OR_RETURN(auto saved, store_->FindService(name));
  json doc = ServiceJson(*saved, host);
  // What this call changed: created (a new service), revision (a new revision rolls out),
  // scaled (only the replica count), unchanged.
  doc["change"] = status == 201 ? "created"
                  : new_revision ? "revision"
                  : scaled       ? "scaled"
                                 : "unchanged";
  return Json(status, std::move(doc));
}

json ControlApi::ServiceJson(const ServiceRecord& s, const std::string& host) {
  json doc = {{"name", s.name},
              {"model", s.spec.value("model", "")},
              {"model_version", s.spec.value("model_version", 0)},
              {"spec", s.spec},
              {"current_revision", s.current_revision},
              {"latest_revision", s.latest_revision},
              {"replicas", s.spec.value("replicas", 1)},
              {"created_at", TimeText(s.created_at)},
              {"updated_at", TimeText(s.updated_at)}};
  auto replicas = store_->ListReplicas(s.name);
  int ready = 0;
  if (replicas.ok()) {
    for (const auto& r : *replicas) {
      ready += r.revision == s.current_revision && r.state == "Ready" ? 1 : 0;
    }
  }
  doc["ready_replicas"] = ready;
  int desired = s.spec.value("replicas", 1);
  bool autoscaled = false;
  if (const auto decision = controller_->Recommendation(s.name)) {
    doc["autoscaler"] = {{"desired_replicas", decision->desired},
                         {"panicking", decision->panicking},
                         {"observed", decision->stable_observed},
                         {"metric", s.spec.value("autoscaling", json::object())
                                        .value("metric", "concurrency")},
                         {"reason", decision->reason}};
    desired = decision->desired;
    autoscaled = true;
    doc["replicas"] = desired;  // what the service wants now: the autoscaler's say
  }
  if (!s.rollout.empty()) doc["rollout_status"] = RolloutJson(s.rollout);
  auto latest = store_->FindRevision(s.name, s.latest_revision);
  std::string status = "Deploying", reason;
  if (s.deleting) {
    status = "Deleting";
  } else if (latest.ok() && *latest && (*latest)->status == "Failed") {
    status = s.current_revision > 0 ? "Degraded" : "Failed";
    reason = StrCat("revision ", (*latest)->number, " failed: ", (*latest)->reason);
    if (s.current_revision > 0) StrAppend(&reason, "; revision ", s.current_revision, " serves");
  } else if (s.current_revision > 0 && s.current_revision == s.latest_revision) {
    status = ready >= desired ? "Ready" : "Degraded";
    if (ready < desired) reason = StrCat(ready, " of ", desired, " replicas ready");
    if (autoscaled && desired == 0 && ready == 0) {
      reason = "scaled to zero: the next request starts a replica (the gateway holds it "
               "meanwhile)";
    }
  }
  if (RolloutActive(s.rollout.value("phase", "")) && !s.deleting) {
    reason = s.rollout.value("message", "");
  }
  doc["status"] = status;
  doc["reason"] = reason;
  const std::string base = BaseUrl(host);
  const std::string infer = StrCat(base, "/v2/models/", s.name, "/infer");
  doc["endpoint"] = infer;
  doc["v2_endpoint"] = infer;
  std::string grpc_host = host.substr(0, host.rfind(':'));
  if (grpc_host.empty()) grpc_host = "127.0.0.1";
  doc["grpc_endpoint"] =
      StrCat(grpc_host, ":", grpc_port_.load() ? grpc_port_.load() : options_.grpc_port);
  const bool image = s.spec.value("image", json::object()).value("enabled", false);
  if (image) {
    const std::string classify = StrCat(base, "/services/", s.name, "/v1/classify");
    doc["classify_endpoint"] = classify;
    doc["endpoint"] = classify;
    const json body = {{"image_url", StrCat(base, kSampleImagePath)}};
    doc["sample_request"] = {{"method", "POST"},
                             {"url", classify},
                             {"content_type", "application/json"},
                             {"body", body}};
    doc["sample_curl"] = StrCat(
        "curl -X POST -H \"Authorization: Bearer $BERTH_API_KEY\" -H \"Content-Type: "
        "application/json\" -d '{\"image_url\": \"", base, kSampleImagePath, "\"}' ", classify);
  } else if (auto model = store_->FindModel(s.spec.value("model", ""),
                                            s.spec.value("model_version", 0));
             model.ok() && *model) {
    size_t elements = 0;
    json sample = SampleRequest(**model, s.spec, &elements);
    // The request as data, for clients that build their own (the console); the body only when
    // it is small enough to show (else GET .../sample-request has it).
    doc["sample_request"] = {
        {"method", "POST"}, {"url", infer}, {"content_type", "application/json"}};
    if (elements <= 4096) doc["sample_request"]["body"] = sample;
    if (elements <= 64) {
      doc["sample_curl"] = StrCat(
          "curl -X POST -H \"Authorization: Bearer $BERTH_API_KEY\" -H \"Content-Type: "
          "application/json\" -d '", sample.dump(), "' ", infer);
    } else {
      // Too large to type: fetch a sample request from the API and pipe it in.
      doc["sample_curl"] = StrCat(
          "curl -s -H \"Authorization: Bearer $BERTH_API_KEY\" ", base, "/api/v1/services/",
          s.name, "/sample-request | curl -X POST -H \"Authorization: Bearer $BERTH_API_KEY\" "
          "-H \"Content-Type: application/json\" --data-binary @- ", infer);
    }
  }
  return doc;
}


}  // namespace berth::control
