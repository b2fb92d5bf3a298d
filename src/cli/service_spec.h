// The service spec of PUT /api/v1/services/{name} (docs/api.md), built from `berth deploy`
// flags or from the YAML documents of `berth apply -f`: berth's own `kind: Service` and KServe's
// `InferenceService` (serving.kserve.io/v1beta1).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "nlohmann/json.hpp"

namespace berth::cli {

// A model to register by URI (POST /api/v1/models {name, uri}) before the service is applied.
struct ModelReference {
  std::string name;
  std::string uri;
};

// One applied document.
struct ServiceDocument {
  std::string kind;  // "Service" or "InferenceService"
  std::string name;  // the service's name
  nlohmann::json spec;
  std::optional<ModelReference> model_to_add;
  int line = 0;  // 1-based line where the document starts
};

// Every document of a YAML stream, in order (empty documents are skipped). Malformed YAML or a
// bad field is InvalidArgument: "SOURCE:LINE: FIELD: what is wrong and what is expected".
absl::StatusOr<std::vector<ServiceDocument>> ParseServiceDocuments(std::string_view yaml,
                                                                   std::string_view source);

// What `berth deploy` was told; unset members are left to the server's defaults.
struct DeploySpecFlags {
  std::string model;
  std::optional<std::string> model_version;  // a number or "latest"
  // The V2 model name the service answers to besides its own (a Triton model name).
  std::optional<std::string> model_name;
  // Autoscaling (spec.autoscaling); durations as the CLI takes them ("60s", "5m").
  std::optional<std::string> scale_metric;
  std::optional<double> target;
  std::optional<int64_t> min_replicas, max_replicas, initial_replicas;
  std::optional<std::string> scale_window, scale_down_delay, scale_to_zero_after,
      cold_start_timeout;
  // A canary rollout (spec.rollout): --canary PERCENT is one manual step; --canary-steps
  // with --canary-interval advance by the gates.
  std::optional<int64_t> canary;
  std::optional<std::string> canary_steps, canary_interval, max_error_rate, max_p99;
  std::optional<std::string> route_header;  // NAME=VALUE: those requests go to the canary
  std::optional<int64_t> shadow;            // percent of requests copied to the canary
  std::optional<int64_t> min_requests;
  std::optional<int64_t> replicas;
  std::optional<std::string> cpu;
  std::optional<std::string> memory;
  std::optional<int64_t> max_batch_size;
  std::optional<int64_t> max_queue_delay_us;
  std::optional<bool> image;
  std::optional<std::vector<std::string>> labels;  // from --labels FILE; implies image
  // --model-input / --model-output NAME:DATATYPE:SHAPE, a declared signature (TorchScript needs one).
  std::vector<std::string> inputs, outputs;
};

// {"name", "datatype", "shape"} from NAME:DATATYPE:SHAPE (shape: sizes joined by 'x', -1 for
// a dynamic one), or InvalidArgument naming the expected form.
absl::StatusOr<nlohmann::json> ParseTensorFlag(std::string_view text);

// The spec for `berth deploy`; InvalidArgument naming the flag when a value is out of range.
absl::StatusOr<nlohmann::json> BuildDeploySpec(std::string_view name, const DeploySpecFlags& flags);

// OK for a DNS label ([a-z0-9]([-a-z0-9]*[a-z0-9])?, at most 63 characters); otherwise
// InvalidArgument that starts with `what` (a field or flag name).
absl::Status ValidateName(std::string_view name, std::string_view what);

// Class labels, one a line (Triton's label file): trailing blanks and trailing empty lines go.
std::vector<std::string> ParseLabels(std::string_view text);

// True for the URIs the server fetches itself: file://, http://, https://, s3://.
bool IsModelUri(std::string_view text);

// One field that differs between two specs: its path ("batching.max_batch_size",
// "inputs[0].shape") and its value in each (null where a spec lacks it).
struct SpecChange {
  std::string path;
  nlohmann::json before;
  nlohmann::json after;
};
// What differs between two specs, leaf by leaf, in path order.
std::vector<SpecChange> DiffSpecs(const nlohmann::json& before, const nlohmann::json& after);

}  // namespace berth::cli
