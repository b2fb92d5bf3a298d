// The seam between the worker and inference engines: a model instance runs one batch at a
// time. Engines (ONNX Runtime, libtorch) live behind it; the batcher and tests use only this.
#pragma once

#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "model_config.pb.h"
#include "protocol/infer.h"

namespace berth::backends {

// An input of a whole batch. `data` is the gathered, contiguous bytes of all requests.
struct TensorView {
  std::string_view name;
  protocol::DataType datatype;
  std::span<const int64_t> shape;
  std::string_view data;
};

struct BackendOptions {
  int intra_op_threads = 0;        // 0: the engine's default (all cores)
  int default_max_batch_size = 8;  // for models without a config whose first dim is dynamic
  bool spin_wait = true;           // engine threads spin between parallel sections
};

// One loaded copy of a model. Not thread-safe: the batcher gives each instance one executor.
class ModelInstance {
 public:
  virtual ~ModelInstance() = default;
  // Runs one batch; returns every output named in the model config, in config order.
  virtual absl::StatusOr<std::vector<protocol::OutputTensor>> Execute(
      std::span<const TensorView> inputs) = 0;
};

// Loads the model file at `path` for the platform in `config` (filled in from the file name
// when empty). On the first instance (`complete_config`), fills in inputs, outputs and
// batching from the model when the config leaves them out, and checks them otherwise.
absl::StatusOr<std::unique_ptr<ModelInstance>> CreateModelInstance(
    const std::string& path, const BackendOptions& options, bool complete_config,
    inference::ModelConfig* config);

// The model file name a platform uses when the config names none: model.onnx, model.pt.
std::string DefaultModelFilename(const inference::ModelConfig& config);

// Fills `config->platform`/`backend` from the files present in a version directory;
// error when nothing recognisable is there.
absl::Status DetectPlatform(const std::string& version_dir, inference::ModelConfig* config);

// Platforms this build can run, for error messages.
std::string SupportedPlatforms();

}  // namespace berth::backends

namespace berth::backends {

// An input or output as the model file declares it (full shape, -1 for dynamic dims).
struct DeclaredTensor {
  std::string name;
  protocol::DataType datatype;
  std::vector<int64_t> shape;
};

// Fills the config's inputs/outputs/batching from what the model declares when the config
// has none, and checks the config against the model otherwise (names, types, ranks, dims).
absl::Status CompleteConfig(const std::vector<DeclaredTensor>& inputs,
                            const std::vector<DeclaredTensor>& outputs,
                            const BackendOptions& options, inference::ModelConfig* config);

}  // namespace berth::backends
