#include "worker/load_overrides.h"

#include <charconv>

#include "absl/strings/escaping.h"
#include "common/status_macros.h"
#include "common/strings.h"
#include "google/protobuf/util/json_util.h"
#include "nlohmann/json.hpp"
#include "worker/model_config_loader.h"

namespace berth::worker {
namespace {

constexpr std::string_view kFilePrefix = "file:";
constexpr size_t kMaxFileDepth = 8;

absl::Status UnknownParameter(std::string_view key) {
  return absl::InvalidArgumentError(
      StrCat("the load request's parameter '", key.substr(0, 128),
             "' is not one berth takes: use \"config\" (a model config as JSON) and "
             "\"file:<version>/<file name>\" (a model file's content)"));
}

// Checks a file override's path: a positive version number, then plain names (no "." or
// "..", no absolute path), so that it can only name a file inside the model directory.
absl::StatusOr<std::string> CheckFilePath(std::string_view key) {
  const std::string_view path = key.substr(kFilePrefix.size());
  auto refuse = [&](std::string_view why) {
    return absl::InvalidArgumentError(
        StrCat("the load request's parameter '", key.substr(0, 128), "' ", why,
               ": file overrides are named \"file:<version>/<file name>\", for example "
               "\"file:1/model.onnx\""));
  };
  std::vector<std::string_view> parts;
  for (size_t start = 0; start <= path.size();) {
    const size_t slash = std::min(path.find('/', start), path.size());
    parts.push_back(path.substr(start, slash - start));
    start = slash + 1;
  }
  if (parts.size() < 2) return refuse("names no version directory");
  if (parts.size() > kMaxFileDepth) return refuse("is nested too deep");
  int64_t version = 0;
  const std::string_view v = parts[0];
  auto parsed = std::from_chars(v.data(), v.data() + v.size(), version);
  if (parsed.ec != std::errc() || parsed.ptr != v.data() + v.size() || version <= 0 ||
      v[0] == '0') {
    return refuse("does not start with a version number (1, 2, ...)");
  }
  for (size_t i = 1; i < parts.size(); ++i) {
    if (!IsValidModelName(parts[i])) {
      return refuse("has a path part that is not a plain file name ([A-Za-z0-9_.-], not "
                    "starting with '.')");
    }
  }
  return std::string(path);
}

absl::Status CheckComplete(const LoadOverrides& overrides) {
  if (!overrides.files.empty() && !overrides.config) {
    return absl::InvalidArgumentError(
        "a load with \"file:\" overrides needs a \"config\" parameter too: the files replace "
        "the model directory, config.pbtxt included");
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<inference::ModelConfig> ParseConfigOverride(std::string_view model,
                                                          std::string_view json) {
  inference::ModelConfig config;
  google::protobuf::util::JsonParseOptions options;
  options.ignore_unknown_fields = false;
  const auto status = google::protobuf::util::JsonStringToMessage(
      google::protobuf::StringPiece(json.data(), json.size()), &config, options);
  if (!status.ok()) {
    return absl::InvalidArgumentError(
        StrCat("the load request's \"config\" is not a valid model config in JSON: ",
               std::string_view(status.message().data(), status.message().size())));
  }
  if (config.name().empty()) {
    config.set_name(std::string(model));
  } else if (config.name() != model) {
    return absl::InvalidArgumentError(StrCat("the load request's \"config\" names the model '",
                                             config.name(), "' but the request loads '",
                                             model, "'"));
  }
  return config;
}

absl::StatusOr<LoadOverrides> LoadOverridesFromJson(std::string_view model,
                                                    std::string_view body) {
  LoadOverrides overrides;
  if (body.find_first_not_of(" \t\r\n") == std::string_view::npos) return overrides;
  const nlohmann::json doc = nlohmann::json::parse(body, nullptr, /*allow_exceptions=*/false);
  if (!doc.is_object()) {
    return absl::InvalidArgumentError(
        "the load request body must be a JSON object such as {\"parameters\": {\"config\": "
        "\"...\"}}");
  }
  for (const auto& [key, value] : doc.items()) {
    if (key != "parameters") {
      return absl::InvalidArgumentError(StrCat("the load request has a field '",
                                               std::string_view(key).substr(0, 128),
                                               "'; it takes only \"parameters\""));
    }
  }
  if (!doc.contains("parameters")) return overrides;
  const nlohmann::json& parameters = doc["parameters"];
  if (!parameters.is_object()) {
    return absl::InvalidArgumentError("the load request's \"parameters\" must be an object");
  }
  for (const auto& [key, value] : parameters.items()) {
    if (key == "config") {
      if (!value.is_string()) {
        return absl::InvalidArgumentError(
            "the load request's \"config\" must be a string holding the model config as JSON "
            "(the config object serialised, not the object itself)");
      }
      ASSIGN_OR_RETURN(overrides.config,
                       ParseConfigOverride(model, value.get_ref<const std::string&>()));
    } else if (std::string_view(key).starts_with(kFilePrefix)) {
      ASSIGN_OR_RETURN(std::string path, CheckFilePath(key));
      if (!value.is_string()) {
        return absl::InvalidArgumentError(
            StrCat("the load request's '", key, "' must be the file's content in base64"));
      }
      std::string content;
      if (!absl::Base64Unescape(value.get_ref<const std::string&>(), &content)) {
        return absl::InvalidArgumentError(
            StrCat("the load request's '", key, "' is not valid base64"));
      }
      overrides.files.emplace_back(std::move(path), std::move(content));
    } else {
      return UnknownParameter(key);
    }
  }
  RETURN_IF_ERROR(CheckComplete(overrides));
  return overrides;
}

absl::StatusOr<LoadOverrides> LoadOverridesFromProto(
    const inference::RepositoryModelLoadRequest& request) {
  LoadOverrides overrides;
  using Choice = inference::ModelRepositoryParameter::ParameterChoiceCase;
  for (const auto& [key, value] : request.parameters()) {
    if (key == "config") {
      if (value.parameter_choice_case() != Choice::kStringParam) {
        return absl::InvalidArgumentError(
            "the load request's \"config\" must be a string_param holding the model config as "
            "JSON");
      }
      ASSIGN_OR_RETURN(overrides.config,
                       ParseConfigOverride(request.model_name(), value.string_param()));
    } else if (std::string_view(key).starts_with(kFilePrefix)) {
      ASSIGN_OR_RETURN(std::string path, CheckFilePath(key));
      if (value.parameter_choice_case() != Choice::kBytesParam) {
        return absl::InvalidArgumentError(
            StrCat("the load request's '", key, "' must be a bytes_param with the file's content"));
      }
      overrides.files.emplace_back(std::move(path), value.bytes_param());
    } else {
      return UnknownParameter(key);
    }
  }
  RETURN_IF_ERROR(CheckComplete(overrides));
  return overrides;
}

}  // namespace berth::worker
