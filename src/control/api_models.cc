// /api/v1 routes of models: list, describe, add (uploaded or fetched from a URI), delete.
#include <charconv>
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
              {"version", m.version},
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

std::string List(const std::vector<std::string>& names) {
  std::string list;
  for (const auto& n : names) StrAppend(&list, list.empty() ? "" : ", ", n);
  return list;
}

// The {version} path parameter, a whole number from 1.
absl::StatusOr<int> PathVersion(ApiRequest& r) {
  const std::string& text = r.params["version"];
  int version = 0;
  const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), version);
  if (ec != std::errc() || end != text.data() + text.size() || version < 1) {
    return absl::InvalidArgumentError(
        StrCat("version: '", text, "' is not a version number (1, 2, ...)"));
  }
  return version;
}

// 201 with the new version, or 200 with the version that has the same content.
ApiResponse RegisteredJson(const ControlApi::RegisteredModel& registered) {
  json doc = ModelJson(registered.model);
  doc["unchanged"] = registered.unchanged;
  if (registered.unchanged) {
    doc["message"] = StrCat("version ", registered.model.version, " of '", registered.model.name,
                            "' has the same content (sha256 ",
                            registered.model.sha256.substr(0, 12), "): no new version");
  }
  return Json(registered.unchanged ? 200 : 201, std::move(doc));
}

}  // namespace

void ControlApi::AddModelRoutes() {
  using Result = absl::StatusOr<ApiResponse>;
  // The latest version of each model, with how many versions it has.
  AddRoute("GET", "models", Access::kRead, [this](ApiRequest&) -> Result {
    // Every version, by name and then version: each name's last is its latest.
    ASSIGN_OR_RETURN(auto versions, store_->ListModelVersions(""));
    json items = json::array();
    int count = 0;
    for (size_t i = 0; i < versions.size(); ++i) {
      ++count;
      if (i + 1 < versions.size() && versions[i + 1].name == versions[i].name) continue;
      json doc = ModelJson(versions[i]);
      doc["versions"] = count;
      items.push_back(std::move(doc));
      count = 0;
    }
    return Json(200, {{"items", std::move(items)}});
  });
  // The latest version, and every version with the services that use it.
  AddRoute("GET", "models/{name}", Access::kRead, [this](ApiRequest& r) -> Result {
    const std::string& name = r.params["name"];
    ASSIGN_OR_RETURN(auto versions, store_->ListModelVersions(name));
    if (versions.empty()) return absl::NotFoundError(StrCat("no model named '", name, "'"));
    json doc = ModelJson(versions.back());
    json list = json::array();
    for (const auto& v : versions) {
      ASSIGN_OR_RETURN(auto users, store_->ServicesUsingModel(name, v.version));
      list.push_back({{"version", v.version},
                      {"sha256", v.sha256},
                      {"size_bytes", v.size_bytes},
                      {"format", v.format},
                      {"source", v.source},
                      {"created_at", TimeText(v.created_at)},
                      {"used_by", users}});
    }
    doc["versions"] = std::move(list);
    return Json(200, std::move(doc));
  });
  AddRoute("GET", "models/{name}/versions/{version}", Access::kRead,
           [this](ApiRequest& r) -> Result {
             const std::string& name = r.params["name"];
             ASSIGN_OR_RETURN(const int version, PathVersion(r));
             ASSIGN_OR_RETURN(auto model, store_->FindModel(name, version));
             if (!model) {
               return absl::NotFoundError(StrCat("model '", name, "' has no version ", version));
             }
             json doc = ModelJson(*model);
             ASSIGN_OR_RETURN(auto users, store_->ServicesUsingModel(name, version));
             doc["used_by"] = users;
             return Json(200, std::move(doc));
           });
  AddRoute("DELETE", "models/{name}", Access::kDeploy, [this](ApiRequest& r) -> Result {
    const std::string& name = r.params["name"];
    ASSIGN_OR_RETURN(auto model, store_->FindModel(name));
    if (!model) return absl::NotFoundError(StrCat("no model named '", name, "'"));
    ASSIGN_OR_RETURN(auto users, store_->ServicesUsingModel(name));
    if (!users.empty()) {
      return absl::AlreadyExistsError(StrCat("model '", name, "' is in use by service(s) ",
                                             List(users), "; delete those first"));
    }
    RETURN_IF_ERROR(store_->DeleteModel(name));
    std::error_code ec;
    fs::remove_all(StrCat(options_.data_dir, "/models/", name), ec);
    controller_->Event("", "model/" + name, "ModelDeleted", "every version");
    return NoContent();
  });
  AddRoute("DELETE", "models/{name}/versions/{version}", Access::kDeploy,
           [this](ApiRequest& r) -> Result {
             const std::string& name = r.params["name"];
             ASSIGN_OR_RETURN(const int version, PathVersion(r));
             ASSIGN_OR_RETURN(auto model, store_->FindModel(name, version));
             if (!model) {
               return absl::NotFoundError(StrCat("model '", name, "' has no version ", version));
             }
             ASSIGN_OR_RETURN(auto users, store_->ServicesUsingModel(name, version));
             if (!users.empty()) {
               return absl::AlreadyExistsError(
                   StrCat("version ", version, " of model '", name, "' is in use by service(s) ",
                          List(users), "; deploy another version there first"));
             }
             RETURN_IF_ERROR(store_->DeleteModelVersion(name, version));
             // Its content directory; revisions that served it keep their own hard link.
             std::error_code ec;
             fs::remove_all(fs::path(model->path).parent_path(), ec);
             controller_->Event("", "model/" + name, "ModelVersionDeleted",
                                StrCat("version ", version));
             return NoContent();
           });
  AddRoute("POST", "models", Access::kDeploy, [this](ApiRequest& r) -> Result {
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
    ASSIGN_OR_RETURN(auto registered, RegisterModel(name, r.upload_path, r.upload_bytes,
                                                    r.upload_sha256, "upload", json::object()));
    return RegisteredJson(registered);
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
  ASSIGN_OR_RETURN(auto registered, RegisterModel(name, temp, fetched.size_bytes,
                                                  fetched.sha256_hex, uri, json::object()));
  return RegisteredJson(registered);
}

absl::StatusOr<ControlApi::RegisteredModel> ControlApi::RegisterModel(
    const std::string& name, const std::string& file, uint64_t size, const std::string& sha256,
    const std::string& source, const json& extra) {
  std::error_code ec;
  auto cleanup = [&] { fs::remove(file, ec); };
  // Content-addressed: the same bytes under the same name are the version that has them.
  ASSIGN_OR_RETURN(auto versions, store_->ListModelVersions(name));
  for (const ModelRecord& v : versions) {
    if (v.sha256 == sha256) {
      cleanup();
      return RegisteredModel{v, true};
    }
  }
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
    fs::remove_all(dir, ec);
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
  auto version = store_->InsertModelVersion(record);
  if (!version.ok()) {
    fs::remove_all(dir, ec);
    return version.status();
  }
  record.version = *version;
  controller_->Event("", "model/" + name, "ModelRegistered",
                     StrCat("version ", record.version, ": ", format_name, ", ", size,
                            " bytes, sha256 ", sha256.substr(0, 12)));
  return RegisteredModel{std::move(record), false};
}

}  // namespace berth::control
