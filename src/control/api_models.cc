// /api/v1 routes of models: list, describe, add (uploaded or fetched from a URI), delete.
#include <filesystem>

#include "common/status_macros.h"
#include "common/strings.h"
#include "control/api.h"
#include "control/api_internal.h"
#include "models/model_format.h"
#include "runtime/run_self.h"

namespace berth::control {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;
using namespace api_internal;

json ModelJson(const ModelRecord& m) {
  json doc = {{"name", m.name},
              {"format", m.format},
              {"size_bytes", m.size_bytes},
              {"sha256", m.sha256},
              {"source", m.source},
              {"created_at", TimeText(m.created_at)}};
  for (const char* field : {"inputs", "outputs", "max_batch_size", "description", "labels"}) {
    if (m.metadata.contains(field)) doc[field] = m.metadata[field];
  }
  return doc;
}

}  // namespace

void ControlApi::AddModelRoutes() {
  AddRoute("GET", "models", Access::kRead, [this](ApiRequest&) -> absl::StatusOr<ApiResponse> {
    ASSIGN_OR_RETURN(auto models, store_->ListModels());
    json items = json::array();
    for (const auto& m : models) items.push_back(ModelJson(m));
    return Json(200, {{"items", std::move(items)}});
  });
  AddRoute("GET", "models/{name}", Access::kRead,
           [this](ApiRequest& r) -> absl::StatusOr<ApiResponse> {
             const std::string& name = r.params["name"];
             ASSIGN_OR_RETURN(auto model, store_->FindModel(name));
             if (!model) return absl::NotFoundError(StrCat("no model named '", name, "'"));
             return Json(200, ModelJson(*model));
           });
  AddRoute("DELETE", "models/{name}", Access::kDeploy,
           [this](ApiRequest& r) -> absl::StatusOr<ApiResponse> {
             const std::string& name = r.params["name"];
             ASSIGN_OR_RETURN(auto model, store_->FindModel(name));
             if (!model) return absl::NotFoundError(StrCat("no model named '", name, "'"));
             ASSIGN_OR_RETURN(auto users, store_->ServicesUsingModel(name));
             if (!users.empty()) {
               std::string list;
               for (const auto& u : users) StrAppend(&list, list.empty() ? "" : ", ", u);
               return absl::AlreadyExistsError(StrCat("model '", name,
                                                      "' is in use by service(s) ", list,
                                                      "; delete those first"));
             }
             RETURN_IF_ERROR(store_->DeleteModel(name));
             std::error_code ec;
             fs::remove_all(StrCat(options_.data_dir, "/models/", name), ec);
             return NoContent();
           });
  AddRoute("POST", "models", Access::kDeploy, [this](ApiRequest& r) -> absl::StatusOr<ApiResponse> {
    return AddModel(r);
  });
}

absl::StatusOr<ApiResponse> ControlApi::AddModel(ApiRequest& r) {
  if (!r.upload_path.empty()) {
    const std::string name = r.query["name"];
    if (!IsValidName(name)) {
      std::error_code ec;
      fs::remove(r.upload_path, ec);
      return absl::InvalidArgumentError(
          "name: give ?name=NAME, a DNS label (a-z, 0-9 and '-', at most 63 characters)");
    }
    ASSIGN_OR_RETURN(auto model, RegisterModel(name, r.upload_path, r.upload_bytes,
                                               r.upload_sha256, "upload", json::object()));
    return Json(201, ModelJson(model));
  }
  ASSIGN_OR_RETURN(json body, ParseBody(r));
  RETURN_IF_ERROR(OnlyFields(body, "", {"name", "uri"}));
  ASSIGN_OR_RETURN(const std::string name, StringField(body, "name", "name"));
  if (!IsValidName(name)) {
    return absl::InvalidArgumentError(
        "name: a DNS label (a-z, 0-9 and '-', at most 63 characters) is required");
  }
  if (!body.contains("uri") || !body["uri"].is_string()) {
    return absl::InvalidArgumentError(
        "uri: give the model's location (file://, http://, https:// or s3://), or upload the "
        "file with Content-Type: application/octet-stream");
  }
  const std::string uri = body["uri"].get<std::string>();
  const std::string temp = TempPath();
  models::FetchOptions fetch = options_.fetch;
  fetch.max_bytes = options_.max_model_bytes;
  ASSIGN_OR_RETURN(auto fetched, models::FetchModel(uri, temp, fetch));
  ASSIGN_OR_RETURN(auto model, RegisterModel(name, temp, fetched.size_bytes, fetched.sha256_hex,
                                             uri, json::object()));
  return Json(201, ModelJson(model));
}

absl::StatusOr<ModelRecord> ControlApi::RegisterModel(const std::string& name,
                                                      const std::string& file, uint64_t size,
                                                      const std::string& sha256,
                                                      const std::string& source,
                                                      const json& extra) {
  std::error_code ec;
  auto cleanup = [&] { fs::remove(file, ec); };
  auto detected = models::DetectModelFormat(file);
  if (!detected.ok()) {
    cleanup();
    return detected.status();
  }
  if (auto status = models::CheckServable(*detected); !status.ok()) {
    cleanup();
    return status;
  }
  const models::ModelFormat format = detected->servable_format.value_or(detected->format);
  const std::string format_name(models::FormatName(format));
  const std::string dir = StrCat(options_.data_dir, "/models/", name, "/", sha256.substr(0, 16));
  const std::string path =
      StrCat(dir, format == models::ModelFormat::kOnnx ? "/model.onnx" : "/model.pt");
  fs::create_directories(dir, ec);
  fs::rename(file, path, ec);
  if (ec) {
    cleanup();
    return absl::InternalError(StrCat("cannot store the model: ", ec.message()));
  }
  // The probe loads the model in a separate process: a model that crashes the engine takes
  // only the probe down.
  auto probe = runtime::RunSelf({"probe", "--model", path, "--format", format_name},
                                options_.probe_timeout_ms);
  auto fail = [&](const std::string& why) {
    // Keep the directory if an earlier registration of the same content uses it.
    auto existing = store_->FindModel(name);
    if (!(existing.ok() && *existing && (*existing)->path == path)) fs::remove_all(dir, ec);
    return absl::InvalidArgumentError(why);
  };
  if (!probe.ok()) return fail(std::string(Msg(probe.status())));
  if (probe->exit_code != 0) {
    std::string reason = probe->errors;
    while (!reason.empty() && (reason.back() == '\n' || reason.back() == ' ')) reason.pop_back();
    if (reason.empty()) reason = "the probe process crashed while loading it";
    return fail(StrCat("the model could not be loaded: ", reason));
  }
  auto metadata = json::parse(probe->output, nullptr, false);
  if (metadata.is_discarded() || !metadata.is_object()) {
    return fail("the model probe gave no description of the model");
  }
  metadata["description"] = detected->description;
  for (const auto& [k, v] : extra.items()) metadata[k] = v;
  ModelRecord record;
  record.name = name;
  record.format = format_name;
  record.size_bytes = size;
  record.sha256 = sha256;
  record.source = source;
  record.path = path;
  record.metadata = std::move(metadata);
  record.created_at = NowMs();
  auto previous = store_->FindModel(name);
  RETURN_IF_ERROR(store_->UpsertModel(record));
  // The replaced content's file goes: revisions that served it keep their own hard link.
  if (previous.ok() && *previous && (*previous)->path != path) {
    fs::remove_all(fs::path((*previous)->path).parent_path(), ec);
  }
  controller_->Event("", "model/" + name, "ModelRegistered",
                     StrCat(format_name, ", ", size, " bytes, sha256 ", sha256.substr(0, 12)));
  return record;
}


}  // namespace berth::control
