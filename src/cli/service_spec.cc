#include "cli/service_spec.h"

#include <charconv>
#include <chrono>
#include <algorithm>
#include <map>
#include <cmath>
#include <initializer_list>
#include <tuple>

#include "cli/units.h"
#include "common/strings.h"
#include "yaml-cpp/yaml.h"

namespace berth::cli {
namespace {

constexpr std::string_view kKServeApiVersion = "serving.kserve.io/v1beta1";

// Why `name` is not a DNS label, or "" when it is one.
std::string NameProblem(std::string_view name) {
  bool valid = !name.empty() && name.size() <= 63 && name.front() != '-' && name.back() != '-';
  for (char c : name) {
    valid = valid && ((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-');
  }
  if (valid) return "";
  return StrCat("\"", name, "\" is not a valid name: use 1 to 63 lower-case letters, digits and ",
                "'-', starting and ending with a letter or digit");
}

// A CPU amount as JSON: whole cores as an integer, fractions as a number.
nlohmann::json CpuJson(double cores) {
  if (cores == std::floor(cores) && cores < 1e6) return static_cast<int64_t>(cores);
  return cores;
}

// Reads fields of one YAML document, turning every problem into "SOURCE:LINE: FIELD: why".
class FieldReader {
 public:
  explicit FieldReader(std::string_view source) : source_(source) {}

  absl::Status Error(const YAML::Node& node, std::string_view field,
                     std::string_view problem) const {
    const int line = node.IsDefined() ? node.Mark().line + 1 : 0;
    return absl::InvalidArgumentError(line > 0
                                          ? StrCat(source_, ":", line, ": ", field, ": ", problem)
                                          : StrCat(source_, ": ", field, ": ", problem));
  }

  // A map whose keys are all in `allowed` (or any keys when `allowed` is empty).
  absl::Status Map(const YAML::Node& node, std::string_view field,
                   std::initializer_list<std::string_view> allowed) const {
    if (!node.IsDefined()) return Error(node, field, "is required");
    if (!node.IsMap()) return Error(node, field, "must be a mapping (key: value lines)");
    if (allowed.size() == 0) return absl::OkStatus();
    for (const auto& entry : node) {
      const std::string key = entry.first.as<std::string>("");
      bool known = false;
      for (std::string_view name : allowed) known = known || key == name;
      if (!known) {
        std::string expected;
        for (std::string_view name : allowed)
          StrAppend(&expected, expected.empty() ? "" : ", ", name);
        return Error(entry.first, Join(field, key),
                     StrCat("unknown field; expected one of ", expected));
      }
    }
    return absl::OkStatus();
  }

  absl::StatusOr<std::string> String(const YAML::Node& node, std::string_view field) const {
    if (!node.IsDefined()) return Error(node, field, "is required");
    if (!node.IsScalar() || node.Scalar().empty()) {
      return Error(node, field, "must be a non-empty string");
    }
    return node.Scalar();
  }

  // A string that is a DNS label (the name of a service or model).
  absl::StatusOr<std::string> Name(const YAML::Node& node, std::string_view field) const {
    auto text = String(node, field);
    if (!text.ok()) return text;
    if (std::string problem = NameProblem(*text); !problem.empty()) {
      return Error(node, field, problem);
    }
    return text;
  }

  absl::StatusOr<int64_t> Integer(const YAML::Node& node, std::string_view field,
                                  int64_t min) const {
    int64_t value = 0;
    if (!node.IsDefined()) return Error(node, field, "is required");
    if (!node.IsScalar() || !YAML::convert<int64_t>::decode(node, value)) {
      return Error(node, field, StrCat("must be a whole number (got ", Show(node), ")"));
    }
    if (value < min) return Error(node, field, StrCat("must be at least ", min));
    return value;
  }

  absl::StatusOr<double> Number(const YAML::Node& node, std::string_view field) const {
    double value = 0;
    if (!node.IsDefined()) return Error(node, field, "is required");
    if (!node.IsScalar() || !YAML::convert<double>::decode(node, value) || !(value > 0)) {
      return Error(node, field, StrCat("must be a number above 0 (got ", Show(node), ")"));
    }
    return value;
  }

  absl::StatusOr<bool> Bool(const YAML::Node& node, std::string_view field) const {
    bool value = false;
    if (!node.IsDefined()) return Error(node, field, "is required");
    if (!node.IsScalar() || !YAML::convert<bool>::decode(node, value)) {
      return Error(node, field, StrCat("must be true or false (got ", Show(node), ")"));
    }
    return value;
  }

  static std::string Join(std::string_view parent, std::string_view child) {
    return parent.empty() ? std::string(child) : StrCat(parent, ".", child);
  }

 private:
  static std::string Show(const YAML::Node& node) {
    if (node.IsScalar()) return StrCat("\"", node.Scalar(), "\"");
    if (node.IsMap()) return "a mapping";
    if (node.IsSequence()) return "a list";
    return "nothing";
  }

  std::string source_;
};

// Reads {cpu, memory} into spec["resources"].
absl::Status ReadResources(const FieldReader& reader, const YAML::Node& node,
                           const std::string& field, nlohmann::json& resources) {
  if (auto status = reader.Map(node, field, {}); !status.ok()) return status;
  if (const YAML::Node cpu = node["cpu"]) {
    auto text = reader.String(cpu, field + ".cpu");
    if (!text.ok()) return text.status();
    auto cores = ParseCpu(*text);
    if (!cores.ok()) return reader.Error(cpu, field + ".cpu", Msg(cores.status()));
    resources["cpu"] = CpuJson(*cores);
  }
  if (const YAML::Node memory = node["memory"]) {
    auto text = reader.String(memory, field + ".memory");
    if (!text.ok()) return text.status();
    if (auto bytes = ParseMemory(*text); !bytes.ok()) {
      return reader.Error(memory, field + ".memory", Msg(bytes.status()));
    }
    resources["memory"] = *text;
  }
  return absl::OkStatus();
}

absl::Status ReadBerthSpec(const FieldReader& reader, const YAML::Node& spec,
                           const std::string& prefix, ServiceDocument& document) {
  const auto field = [&](std::string_view name) { return FieldReader::Join(prefix, name); };
  nlohmann::json& out = document.spec;
  const YAML::Node model = spec["model"];
  if (!model)
    return reader.Error(spec, field("model"),
                        "is required: the name of a model (see berth models list)");
  if (model.IsMap()) {
    if (auto status = reader.Map(model, field("model"), {"name", "uri", "version"}); !status.ok())
      return status;
    if (const YAML::Node version = model["version"]) {
      if (version.IsScalar() && version.Scalar() == "latest") {
        out["model_version"] = "latest";
      } else {
        auto number = reader.Integer(version, field("model.version"), 1);
        if (!number.ok()) return number.status();
        out["model_version"] = *number;
      }
    }
    if (!model["name"]) return reader.Error(model, field("model.name"), "is required");
    auto name = reader.Name(model["name"], field("model.name"));
    if (!name.ok()) return name.status();
    if (const YAML::Node uri = model["uri"]) {
      auto text = reader.String(uri, field("model.uri"));
      if (!text.ok()) return text.status();
      if (!IsModelUri(*text)) {
        return reader.Error(uri, field("model.uri"),
                            "must start with file://, http://, https:// or s3://");
      }
      document.model_to_add = ModelReference{*name, *text};
    }
    out["model"] = *name;
  } else {
    auto name = reader.String(model, field("model"));
    if (!name.ok()) return name.status();
    out["model"] = *name;
  }
  if (const YAML::Node model_name = spec["model_name"]) {
    auto value = reader.String(model_name, field("model_name"));
    if (!value.ok()) return value.status();
    out["model_name"] = *value;
  }
  if (const YAML::Node replicas = spec["replicas"]) {
    auto value = reader.Integer(replicas, field("replicas"), 0);
    if (!value.ok()) return value.status();
    out["replicas"] = *value;
  }
  if (const YAML::Node autoscaling = spec["autoscaling"]) {
    if (auto status = reader.Map(autoscaling, field("autoscaling"),
                                 {"metric", "target", "min_replicas", "max_replicas", "window_s",
                                  "scale_down_delay_s", "scale_to_zero_after_s",
                                  "cold_start_timeout_s", "initial_replicas"});
        !status.ok()) {
      return status;
    }
    nlohmann::json json = nlohmann::json::object();
    if (const YAML::Node metric = autoscaling["metric"]) {
      auto text = reader.String(metric, field("autoscaling.metric"));
      if (!text.ok()) return text.status();
      json["metric"] = *text;
    }
    if (const YAML::Node target = autoscaling["target"]) {
      auto value = reader.Number(target, field("autoscaling.target"));
      if (!value.ok()) return value.status();
      json["target"] = *value;
    }
    for (const char* name : {"min_replicas", "max_replicas", "window_s", "scale_down_delay_s",
                             "scale_to_zero_after_s", "cold_start_timeout_s",
                             "initial_replicas"}) {
      if (const YAML::Node value = autoscaling[name]) {
        auto number = reader.Integer(value, field(StrCat("autoscaling.", name)), 0);
        if (!number.ok()) return number.status();
        json[name] = *number;
      }
    }
    out["autoscaling"] = std::move(json);
  }
  if (const YAML::Node rollout = spec["rollout"]) {
    if (auto status = reader.Map(rollout, field("rollout"),
                                 {"steps", "interval_s", "max_error_rate", "max_p99_ms",
                                  "min_requests", "route_header", "shadow_percent"});
        !status.ok()) {
      return status;
    }
    nlohmann::json json = nlohmann::json::object();
    if (const YAML::Node steps = rollout["steps"]) {
      if (!steps.IsSequence()) {
        return reader.Error(steps, field("rollout.steps"), "must be a list of percents");
      }
      json["steps"] = nlohmann::json::array();
      for (size_t i = 0; i < steps.size(); ++i) {
        auto step = reader.Integer(steps[i], field(StrCat("rollout.steps[", i, "]")), 1);
        if (!step.ok()) return step.status();
        json["steps"].push_back(*step);
      }
    }
    for (const char* name : {"interval_s", "min_requests", "shadow_percent"}) {
      if (const YAML::Node value = rollout[name]) {
        auto number = reader.Integer(value, field(StrCat("rollout.", name)), 0);
        if (!number.ok()) return number.status();
        json[name] = *number;
      }
    }
    for (const char* name : {"max_error_rate", "max_p99_ms"}) {
      if (const YAML::Node value = rollout[name]) {
        auto number = reader.Number(value, field(StrCat("rollout.", name)));
        if (!number.ok()) return number.status();
        json[name] = *number;
      }
    }
    if (const YAML::Node pin = rollout["route_header"]) {
      if (auto status = reader.Map(pin, field("rollout.route_header"), {"name", "value"});
          !status.ok()) {
        return status;
      }
      auto name = reader.String(pin["name"], field("rollout.route_header.name"));
      if (!name.ok()) return name.status();
      auto value = reader.String(pin["value"], field("rollout.route_header.value"));
      if (!value.ok()) return value.status();
      json["route_header"] = {{"name", *name}, {"value", *value}};
    }
    out["rollout"] = std::move(json);
  }
  if (const YAML::Node resources = spec["resources"]) {
    if (auto status = reader.Map(resources, field("resources"), {"cpu", "memory"}); !status.ok())
      return status;
    nlohmann::json json = nlohmann::json::object();
    if (auto status = ReadResources(reader, resources, field("resources"), json); !status.ok())
      return status;
    out["resources"] = std::move(json);
  }
  if (const YAML::Node batching = spec["batching"]) {
    if (auto status =
            reader.Map(batching, field("batching"), {"max_batch_size", "max_queue_delay_us"});
        !status.ok()) {
      return status;
    }
    nlohmann::json json = nlohmann::json::object();
    for (const char* name : {"max_batch_size", "max_queue_delay_us"}) {
      if (const YAML::Node value = batching[name]) {
        auto number = reader.Integer(value, field(StrCat("batching.", name)), 0);
        if (!number.ok()) return number.status();
        json[name] = *number;
      }
    }
    out["batching"] = std::move(json);
  }
  if (const YAML::Node image = spec["image"]) {
    if (auto status = reader.Map(image, field("image"), {"enabled", "labels", "top_k"});
        !status.ok())
      return status;
    nlohmann::json json = nlohmann::json::object();
    if (const YAML::Node enabled = image["enabled"]) {
      auto value = reader.Bool(enabled, field("image.enabled"));
      if (!value.ok()) return value.status();
      json["enabled"] = *value;
    }
    if (const YAML::Node labels = image["labels"]) {
      if (!labels.IsSequence())
        return reader.Error(labels, field("image.labels"), "must be a list of strings");
      nlohmann::json list = nlohmann::json::array();
      for (const YAML::Node& label : labels) {
        if (!label.IsScalar())
          return reader.Error(label, field("image.labels"), "must be a list of strings");
        list.push_back(label.Scalar());
      }
      json["labels"] = std::move(list);
    }
    if (const YAML::Node top_k = image["top_k"]) {
      auto value = reader.Integer(top_k, field("image.top_k"), 1);
      if (!value.ok()) return value.status();
      json["top_k"] = *value;
    }
    out["image"] = std::move(json);
  }
  for (const char* kind : {"inputs", "outputs"}) {
    const YAML::Node list = spec[kind];
    if (!list) continue;
    if (!list.IsSequence()) {
      return reader.Error(list, field(kind), "must be a list of {name, datatype, shape}");
    }
    nlohmann::json tensors = nlohmann::json::array();
    for (size_t i = 0; i < list.size(); ++i) {
      const YAML::Node t = list[i];
      const std::string at = field(StrCat(kind, "[", i, "]"));
      if (auto status = reader.Map(t, at, {"name", "datatype", "shape"}); !status.ok()) {
        return status;
      }
      auto name = reader.String(t["name"], StrCat(at, ".name"));
      if (!name.ok()) return name.status();
      auto type = reader.String(t["datatype"], StrCat(at, ".datatype"));
      if (!type.ok()) return type.status();
      const YAML::Node shape = t["shape"];
      if (!shape || !shape.IsSequence()) {
        return reader.Error(t, StrCat(at, ".shape"), "must be a list of sizes (-1: dynamic)");
      }
      nlohmann::json dims = nlohmann::json::array();
      for (const YAML::Node& d : shape) {
        auto value = reader.Integer(d, StrCat(at, ".shape"), -1);
        if (!value.ok()) return value.status();
        dims.push_back(*value);
      }
      tensors.push_back({{"name", *name}, {"datatype", *type}, {"shape", dims}});
    }
    out[kind] = std::move(tensors);
  }
  return absl::OkStatus();
}

absl::Status ReadBerthService(const FieldReader& reader, const YAML::Node& root,
                              ServiceDocument& document) {
  document.kind = "Service";
  const YAML::Node spec = root["spec"];
  const bool flat = !spec;  // fields at the top level: name, model, replicas, ...
  if (flat) {
    if (auto status = reader.Map(root, "",
                                 {"apiVersion", "kind", "metadata", "name", "model",
                                  "model_name", "replicas", "autoscaling", "rollout",
                                  "resources", "batching", "image", "inputs", "outputs"});
        !status.ok()) {
      return status;
    }
  } else {
    if (auto status = reader.Map(root, "", {"apiVersion", "kind", "metadata", "name", "spec"});
        !status.ok()) {
      return status;
    }
    if (auto status =
            reader.Map(spec, "spec", {"model", "model_name", "replicas", "autoscaling", "rollout",
                                      "resources", "batching", "image", "inputs", "outputs"});
        !status.ok()) {
      return status;
    }
  }
  const YAML::Node metadata = root["metadata"];
  if (metadata) {
    if (auto status = reader.Map(metadata, "metadata", {}); !status.ok()) return status;
  }
  const bool in_metadata = metadata && metadata["name"];
  const YAML::Node name = in_metadata ? metadata["name"] : root["name"];
  const std::string name_field = in_metadata ? "metadata.name" : "name";
  if (!name) return reader.Error(root, "metadata.name", "is required: the service's name");
  auto text = reader.Name(name, name_field);
  if (!text.ok()) return text.status();
  document.name = *text;
  document.spec = nlohmann::json::object();
  document.spec["name"] = document.name;
  return ReadBerthSpec(reader, flat ? root : spec, flat ? "" : "spec", document);
}

absl::Status ReadInferenceService(const FieldReader& reader, const YAML::Node& root,
                                  ServiceDocument& document) {
  document.kind = "InferenceService";
  const YAML::Node api_version = root["apiVersion"];
  if (!api_version || !api_version.IsScalar() || api_version.Scalar() != kKServeApiVersion) {
    return reader.Error(api_version ? api_version : root, "apiVersion",
                        StrCat("an InferenceService must have apiVersion ", kKServeApiVersion));
  }
  const YAML::Node metadata = root["metadata"];
  if (!metadata) return reader.Error(root, "metadata.name", "is required: the service's name");
  if (auto status = reader.Map(metadata, "metadata", {}); !status.ok()) return status;
  if (!metadata["name"]) {
    return reader.Error(metadata, "metadata.name", "is required: the service's name");
  }
  auto name = reader.Name(metadata["name"], "metadata.name");
  if (!name.ok()) return name.status();
  document.name = *name;

  const YAML::Node spec = root["spec"];
  if (!spec) return reader.Error(root, "spec.predictor", "is required");
  if (auto status = reader.Map(spec, "spec", {}); !status.ok()) return status;
  const YAML::Node predictor = spec["predictor"];
  if (!predictor) return reader.Error(spec, "spec.predictor", "is required");
  if (auto status = reader.Map(predictor, "spec.predictor", {}); !status.ok()) return status;

  // The model: spec.predictor.model (with modelFormat), or the older per-framework keys.
  const char* framework = nullptr;
  for (const char* key : {"model", "onnx", "pytorch", "triton"}) {
    if (predictor[key]) {
      framework = key;
      break;
    }
  }
  if (framework == nullptr) {
    return reader.Error(
        predictor, "spec.predictor.model",
        "is required (with storageUri); berth serves onnx, pytorch and triton models");
  }
  const YAML::Node model = predictor[framework];
  const std::string model_field = StrCat("spec.predictor.", framework);
  if (auto status = reader.Map(model, model_field, {}); !status.ok()) return status;
  if (const YAML::Node format = model["modelFormat"]; format && format["name"]) {
    auto format_name = reader.String(format["name"], model_field + ".modelFormat.name");
    if (!format_name.ok()) return format_name.status();
    if (*format_name != "onnx" && *format_name != "pytorch" && *format_name != "triton") {
      return reader.Error(
          format["name"], model_field + ".modelFormat.name",
          StrCat("berth serves onnx, pytorch (TorchScript) and triton models, not ", *format_name));
    }
  }
  const YAML::Node storage_uri = model["storageUri"];
  if (!storage_uri) return reader.Error(model, model_field + ".storageUri", "is required");
  auto uri = reader.String(storage_uri, model_field + ".storageUri");
  if (!uri.ok()) return uri.status();
  if (!IsModelUri(*uri)) {
    return reader.Error(storage_uri, model_field + ".storageUri",
                        "berth fetches file://, http://, https:// and s3:// URIs only");
  }
  document.model_to_add = ModelReference{document.name, *uri};
  document.spec = {{"name", document.name}, {"model", document.name}};

  if (const YAML::Node min_replicas = predictor["minReplicas"]) {
    auto value = reader.Integer(min_replicas, "spec.predictor.minReplicas", 0);
    if (!value.ok()) return value.status();
    document.spec["replicas"] = *value;
  }
  // maxReplicas above minReplicas (or a scaleTarget) asks for autoscaling, as in KServe:
  // scaleMetric concurrency (the default) with scaleTarget requests in flight a replica;
  // minReplicas 0 is KServe's scale to zero, which is autoscaling too.
  const YAML::Node max_replicas = predictor["maxReplicas"];
  const YAML::Node scale_target = predictor["scaleTarget"];
  const bool to_zero = document.spec.value("replicas", 1) == 0;
  if (max_replicas || scale_target || to_zero) {
    nlohmann::json autoscaling = nlohmann::json::object();
    if (document.spec.contains("replicas")) {
      autoscaling["min_replicas"] = document.spec["replicas"];
    }
    if (max_replicas) {
      auto value = reader.Integer(max_replicas, "spec.predictor.maxReplicas", 1);
      if (!value.ok()) return value.status();
      autoscaling["max_replicas"] = *value;
    }
    if (scale_target) {
      auto value = reader.Number(scale_target, "spec.predictor.scaleTarget");
      if (!value.ok()) return value.status();
      autoscaling["target"] = *value;
    }
    if (const YAML::Node metric = predictor["scaleMetric"]) {
      auto text = reader.String(metric, "spec.predictor.scaleMetric");
      if (!text.ok()) return text.status();
      autoscaling["metric"] = *text;
    }
    document.spec["autoscaling"] = std::move(autoscaling);
    // How many replicas the autoscaler's say, not a fixed count.
    if (to_zero) document.spec.erase("replicas");
  }
  if (const YAML::Node resources = model["resources"]) {
    const std::string field = model_field + ".resources";
    if (auto status = reader.Map(resources, field, {}); !status.ok()) return status;
    // Limits are what the worker is held to; requests stand in when there are no limits.
    const char* which =
        resources["limits"] ? "limits" : (resources["requests"] ? "requests" : nullptr);
    if (which != nullptr) {
      nlohmann::json json = nlohmann::json::object();
      if (auto status = ReadResources(reader, resources[which], StrCat(field, ".", which), json);
          !status.ok()) {
        return status;
      }
      if (!json.empty()) document.spec["resources"] = std::move(json);
    }
  }
  if (const YAML::Node batcher = predictor["batcher"]) {
    if (auto status = reader.Map(batcher, "spec.predictor.batcher", {}); !status.ok())
      return status;
    nlohmann::json json = nlohmann::json::object();
    if (const YAML::Node size = batcher["maxBatchSize"]) {
      auto value = reader.Integer(size, "spec.predictor.batcher.maxBatchSize", 1);
      if (!value.ok()) return value.status();
      json["max_batch_size"] = *value;
    }
    if (const YAML::Node latency = batcher["maxLatency"]) {  // milliseconds in KServe
      auto value = reader.Integer(latency, "spec.predictor.batcher.maxLatency", 0);
      if (!value.ok()) return value.status();
      json["max_queue_delay_us"] = *value * 1000;
    }
    if (!json.empty()) document.spec["batching"] = std::move(json);
  }
  return absl::OkStatus();
}

absl::StatusOr<ServiceDocument> ReadDocument(const FieldReader& reader, const YAML::Node& root) {
  ServiceDocument document;
  document.line = root.Mark().line + 1;
  if (!root.IsMap())
    return reader.Error(root, "document", "must be a mapping with kind, metadata and spec");
  std::string kind = "Service";
  if (const YAML::Node node = root["kind"]) {
    auto text = reader.String(node, "kind");
    if (!text.ok()) return text.status();
    kind = *text;
  }
  absl::Status status;
  if (kind == "Service") {
    status = ReadBerthService(reader, root, document);
  } else if (kind == "InferenceService") {
    status = ReadInferenceService(reader, root, document);
  } else {
    return reader.Error(
        root["kind"], "kind",
        StrCat("berth applies Service (berth's own) and InferenceService (KServe), not ", kind));
  }
  if (!status.ok()) return status;
  return document;
}

}  // namespace

absl::StatusOr<std::vector<ServiceDocument>> ParseServiceDocuments(std::string_view yaml,
                                                                   std::string_view source) {
  FieldReader reader(source);
  std::vector<YAML::Node> roots;
  try {
    roots = YAML::LoadAll(std::string(yaml));
  } catch (const YAML::Exception& error) {
    return absl::InvalidArgumentError(StrCat(source, ":", error.mark.line + 1, ":",
                                             error.mark.column + 1,
                                             ": malformed YAML: ", error.msg));
  }
  std::vector<ServiceDocument> documents;
  for (const YAML::Node& root : roots) {
    if (root.IsNull()) continue;  // an empty document between two ---
    absl::StatusOr<ServiceDocument> document;
    try {
      document = ReadDocument(reader, root);
    } catch (const YAML::Exception& error) {
      return absl::InvalidArgumentError(StrCat(source, ":", error.mark.line + 1, ": ", error.msg));
    }
    if (!document.ok()) return document.status();
    documents.push_back(*std::move(document));
  }
  if (documents.empty()) {
    return absl::InvalidArgumentError(
        StrCat(source,
               ": no documents: write a Service (kind: Service, "
               "metadata.name, spec.model) or a KServe InferenceService"));
  }
  return documents;
}

namespace {

// spec.rollout from the canary flags; {} when none is given. The server checks the ranges.
absl::StatusOr<nlohmann::json> BuildRollout(const DeploySpecFlags& flags) {
  nlohmann::json rollout = nlohmann::json::object();
  if (flags.canary && flags.canary_steps) {
    return absl::InvalidArgumentError(
        "--canary and --canary-steps: give one (--canary N is --canary-steps N)");
  }
  if (flags.canary) {
    // One step that waits for a person: no interval, so no gates (null clears what an earlier
    // rollout of the service had, in a merge patch).
    rollout["steps"] = nlohmann::json::array({*flags.canary});
    rollout["interval_s"] = 0;
    rollout["max_error_rate"] = nullptr;
    rollout["max_p99_ms"] = nullptr;
  }
  if (flags.canary_steps) {
    nlohmann::json steps = nlohmann::json::array();
    std::string_view text = *flags.canary_steps;
    while (!text.empty()) {
      const size_t comma = text.find(',');
      std::string_view item = text.substr(0, comma);
      text = comma == std::string_view::npos ? std::string_view() : text.substr(comma + 1);
      if (item.ends_with('%')) item.remove_suffix(1);
      int64_t percent = 0;
      const auto [end, ec] = std::from_chars(item.data(), item.data() + item.size(), percent);
      if (ec != std::errc() || end != item.data() + item.size()) {
        return absl::InvalidArgumentError(StrCat(
            "--canary-steps: '", item, "' is not a percent (e.g. --canary-steps 10,25,50)"));
      }
      // 100 is where every rollout ends: not a step of its own.
      if (percent != 100) steps.push_back(percent);
    }
    rollout["steps"] = std::move(steps);
  }
  if (flags.canary_interval) {
    auto interval = ParseDuration(*flags.canary_interval);
    if (!interval.ok()) {
      return absl::InvalidArgumentError(StrCat("--canary-interval: ", Msg(interval.status())));
    }
    rollout["interval_s"] = std::chrono::duration_cast<std::chrono::seconds>(*interval).count();
  }
  if (flags.max_error_rate) {
    std::string_view text = *flags.max_error_rate;
    const bool percent = text.ends_with('%');
    if (percent) text.remove_suffix(1);
    double value = 0;
    const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
    if (ec != std::errc() || end != text.data() + text.size()) {
      return absl::InvalidArgumentError(StrCat("--max-error-rate: '", *flags.max_error_rate,
                                               "' is not a rate (1% or 0.01)"));
    }
    rollout["max_error_rate"] = percent ? value / 100 : value;
  }
  if (flags.max_p99) {
    auto p99 = ParseDuration(*flags.max_p99);
    if (!p99.ok()) return absl::InvalidArgumentError(StrCat("--max-p99: ", Msg(p99.status())));
    rollout["max_p99_ms"] = p99->count();
  }
  if (flags.min_requests) rollout["min_requests"] = *flags.min_requests;
  if (flags.shadow) rollout["shadow_percent"] = *flags.shadow;
  if (flags.route_header) {
    const size_t eq = flags.route_header->find('=');
    if (eq == std::string::npos || eq == 0) {
      return absl::InvalidArgumentError(StrCat("--route-header: '", *flags.route_header,
                                               "' is not NAME=VALUE (e.g. X-Variant=b)"));
    }
    rollout["route_header"] = {{"name", flags.route_header->substr(0, eq)},
                               {"value", flags.route_header->substr(eq + 1)}};
  }
  if (!rollout.empty() && !rollout.contains("steps")) {
    return absl::InvalidArgumentError(
        "--canary-interval, --max-error-rate, --max-p99, --min-requests, --route-header and "
        "--shadow shape a canary rollout: give --canary PERCENT or --canary-steps too");
  }
  return rollout;
}

}  // namespace

absl::StatusOr<nlohmann::json> BuildDeploySpec(std::string_view name,
                                               const DeploySpecFlags& flags) {
  if (auto status = ValidateName(name, "--name"); !status.ok()) return status;
  if (flags.model.empty()) {
    return absl::InvalidArgumentError("--model: which model to serve is missing");
  }
  nlohmann::json spec = {{"name", name}, {"model", flags.model}};
  if (flags.model_version) {
    int64_t version = 0;
    const std::string& text = *flags.model_version;
    const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), version);
    if (text == "latest") {
      spec["model_version"] = "latest";
    } else if (ec == std::errc() && end == text.data() + text.size() && version >= 1) {
      spec["model_version"] = version;
    } else {
      return absl::InvalidArgumentError(
          StrCat("--model-version: '", text, "' is neither a version number (1, 2, ...) nor latest"));
    }
  }
  if (flags.model_name) spec["model_name"] = *flags.model_name;
  nlohmann::json autoscaling = nlohmann::json::object();
  if (flags.scale_metric) autoscaling["metric"] = *flags.scale_metric;
  if (flags.target) {
    if (!(*flags.target > 0)) return absl::InvalidArgumentError("--target: must be above 0");
    autoscaling["target"] = *flags.target;
  }
  if (flags.min_replicas) autoscaling["min_replicas"] = *flags.min_replicas;
  if (flags.max_replicas) autoscaling["max_replicas"] = *flags.max_replicas;
  if (flags.initial_replicas) autoscaling["initial_replicas"] = *flags.initial_replicas;
  for (const auto& [flag, key, text] :
       {std::tuple{"--scale-window", "window_s", &flags.scale_window},
        std::tuple{"--scale-down-delay", "scale_down_delay_s", &flags.scale_down_delay},
        std::tuple{"--scale-to-zero-after", "scale_to_zero_after_s", &flags.scale_to_zero_after},
        std::tuple{"--cold-start-timeout", "cold_start_timeout_s", &flags.cold_start_timeout}}) {
    if (!*text) continue;
    auto duration = ParseDuration(**text);
    if (!duration.ok()) {
      return absl::InvalidArgumentError(StrCat(flag, ": ", Msg(duration.status())));
    }
    autoscaling[key] = std::chrono::duration_cast<std::chrono::seconds>(*duration).count();
  }
  if (!autoscaling.empty()) spec["autoscaling"] = std::move(autoscaling);
  auto rollout = BuildRollout(flags);
  if (!rollout.ok()) return rollout.status();
  if (!rollout->empty()) spec["rollout"] = *std::move(rollout);
  if (flags.replicas) {
    if (*flags.replicas < 0) return absl::InvalidArgumentError("--replicas: must be 0 or more");
    spec["replicas"] = *flags.replicas;
  }
  nlohmann::json resources = nlohmann::json::object();
  if (flags.cpu) {
    auto cores = ParseCpu(*flags.cpu);
    if (!cores.ok()) return absl::InvalidArgumentError(StrCat("--cpu: ", Msg(cores.status())));
    resources["cpu"] = CpuJson(*cores);
  }
  if (flags.memory) {
    auto bytes = ParseMemory(*flags.memory);
    if (!bytes.ok()) return absl::InvalidArgumentError(StrCat("--memory: ", Msg(bytes.status())));
    resources["memory"] = *flags.memory;
  }
  if (!resources.empty()) spec["resources"] = std::move(resources);
  nlohmann::json batching = nlohmann::json::object();
  if (flags.max_batch_size) {
    if (*flags.max_batch_size < 0)
      return absl::InvalidArgumentError("--max-batch: must be 0 or more");
    batching["max_batch_size"] = *flags.max_batch_size;
  }
  if (flags.max_queue_delay_us) {
    if (*flags.max_queue_delay_us < 0) {
      return absl::InvalidArgumentError("--max-queue-delay-us: must be 0 or more");
    }
    batching["max_queue_delay_us"] = *flags.max_queue_delay_us;
  }
  if (!batching.empty()) spec["batching"] = std::move(batching);
  if (flags.image || flags.labels) {
    nlohmann::json image = {{"enabled", flags.image.value_or(true)}};
    if (flags.labels) image["labels"] = *flags.labels;
    spec["image"] = std::move(image);
  }
  for (const auto& [flag, key, list] : {std::tuple{"--model-input", "inputs", &flags.inputs},
                                        std::tuple{"--model-output", "outputs", &flags.outputs}}) {
    for (const std::string& text : *list) {
      auto tensor = ParseTensorFlag(text);
      if (!tensor.ok()) return absl::InvalidArgumentError(StrCat(flag, ": ", Msg(tensor.status())));
      spec[key].push_back(*std::move(tensor));
    }
  }
  return spec;
}

absl::StatusOr<nlohmann::json> ParseTensorFlag(std::string_view text) {
  // NAME:DATATYPE:SHAPE; the name may itself contain ':', so split from the right.
  const size_t last = text.rfind(':');
  const size_t middle = last == std::string_view::npos || last == 0
                            ? std::string_view::npos
                            : text.rfind(':', last - 1);
  if (middle == std::string_view::npos || middle == 0) {
    return absl::InvalidArgumentError(StrCat(
        "'", text, "' is not NAME:DATATYPE:SHAPE (e.g. input:FP32:-1x3x224x224)"));
  }
  nlohmann::json shape = nlohmann::json::array();
  std::string_view dims = text.substr(last + 1);
  while (true) {
    const size_t x = dims.find('x');
    const std::string_view part = dims.substr(0, x);
    int64_t value = 0;
    const auto r = std::from_chars(part.data(), part.data() + part.size(), value);
    if (part.empty() || r.ec != std::errc() || r.ptr != part.data() + part.size()) {
      return absl::InvalidArgumentError(StrCat(
          "'", text, "': the shape is sizes joined by 'x', -1 for a dynamic one (e.g. -1x3x224x224)"));
    }
    shape.push_back(value);
    if (x == std::string_view::npos) break;
    dims.remove_prefix(x + 1);
  }
  return nlohmann::json{{"name", std::string(text.substr(0, middle))},
                        {"datatype", std::string(text.substr(middle + 1, last - middle - 1))},
                        {"shape", std::move(shape)}};
}

absl::Status ValidateName(std::string_view name, std::string_view what) {
  const std::string problem = NameProblem(name);
  if (problem.empty()) return absl::OkStatus();
  return absl::InvalidArgumentError(StrCat(what, ": ", problem));
}

std::vector<std::string> ParseLabels(std::string_view text) {
  std::vector<std::string> labels;
  while (!text.empty()) {
    const size_t end = text.find('\n');
    std::string_view line = text.substr(0, end);
    while (!line.empty() && (line.back() == '\r' || line.back() == ' ' || line.back() == '\t')) {
      line.remove_suffix(1);
    }
    labels.emplace_back(line);
    if (end == std::string_view::npos) break;
    text.remove_prefix(end + 1);
  }
  while (!labels.empty() && labels.back().empty()) labels.pop_back();
  return labels;
}

bool IsModelUri(std::string_view text) {
  for (std::string_view scheme : {"file://", "http://", "https://", "s3://"}) {
    if (text.size() > scheme.size() && text.substr(0, scheme.size()) == scheme) return true;
  }
  return false;
}

namespace {

// Leaves of `value` by path; an empty object or list is a leaf of its own.
void Flatten(const nlohmann::json& value, const std::string& path,
             std::map<std::string, nlohmann::json>& out) {
  if (value.is_object() && !value.empty()) {
    for (const auto& [key, child] : value.items()) {
      Flatten(child, path.empty() ? key : StrCat(path, ".", key), out);
    }
  } else if (value.is_array() && !value.empty()) {
    for (size_t i = 0; i < value.size(); ++i) Flatten(value[i], StrCat(path, "[", i, "]"), out);
  } else {
    out[path] = value;
  }
}

}  // namespace

std::vector<SpecChange> DiffSpecs(const nlohmann::json& before, const nlohmann::json& after) {
  std::map<std::string, nlohmann::json> a, b;
  Flatten(before, "", a);
  Flatten(after, "", b);
  std::vector<SpecChange> changes;
  for (const auto& [path, value] : a) {
    auto it = b.find(path);
    if (it == b.end()) {
      changes.push_back({path, value, nullptr});
    } else if (it->second != value) {
      changes.push_back({path, value, it->second});
    }
  }
  for (const auto& [path, value] : b) {
    if (!a.contains(path)) changes.push_back({path, nullptr, value});
  }
  std::sort(changes.begin(), changes.end(),
            [](const SpecChange& x, const SpecChange& y) { return x.path < y.path; });
  return changes;
}

}  // namespace berth::cli
