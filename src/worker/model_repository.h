// The model repository and manager: scans `<repo>/<model>/<version>/`, applies each model's
// version policy, loads and unloads versions with explicit states, and answers lookups from a
// snapshot that readers take without locking. Thread-safe; Load/Unload block (run them off
// the network threads).
#pragma once

#include <atomic>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "backends/backend.h"
#include "model_config.pb.h"
#include "worker/dynamic_batcher.h"
#include "worker/load_overrides.h"
#include "worker/metrics.h"
#include "worker/model_stats.h"

namespace berth::worker {

enum class ModelState { kLoading, kReady, kUnloading, kUnavailable };
std::string_view ModelStateName(ModelState state);  // "LOADING", "READY", ...

// One loaded model version. Immutable once published, except for its stats.
class ModelVersion {
 public:
  ModelVersion(std::string name, int64_t version,
               std::shared_ptr<const inference::ModelConfig> config)
      : name_(std::move(name)), version_(version), version_text_(std::to_string(version)),
        config_(std::move(config)) {}

  const std::string& name() const { return name_; }
  int64_t version() const { return version_; }
  const std::string& version_text() const { return version_text_; }
  const inference::ModelConfig& config() const { return *config_; }
  std::shared_ptr<const inference::ModelConfig> shared_config() const { return config_; }
  ModelStats& stats() { return stats_; }
  DynamicBatcher& batcher() { return *batcher_; }
  void set_batcher(std::unique_ptr<DynamicBatcher> batcher) { batcher_ = std::move(batcher); }
  // Class labels of the first output (its config label_filename), one per line; may be empty.
  const std::vector<std::string>& labels() const { return labels_; }
  void set_labels(std::vector<std::string> labels) { labels_ = std::move(labels); }

 private:
  const std::string name_;
  const int64_t version_;
  const std::string version_text_;
  const std::shared_ptr<const inference::ModelConfig> config_;
  ModelStats stats_;
  std::vector<std::string> labels_;
  std::unique_ptr<DynamicBatcher> batcher_;
};

struct VersionStatus {
  ModelState state = ModelState::kUnavailable;
  std::string reason;
};

struct IndexEntry {
  std::string name;
  std::string version;  // empty for a model that failed before its versions were known
  std::string state;    // empty for a model that was never loaded
  std::string reason;
};

class ModelRepository {
 public:
  struct Options {
    std::string root;
    backends::BackendOptions backend;
    size_t max_queue_size = 1024;
  };

  static absl::StatusOr<std::unique_ptr<ModelRepository>> Create(Options options,
                                                                  WorkerMetrics* metrics);
  ~ModelRepository();

  // Loads every model directory under the root; failures are recorded, not returned.
  void LoadAll();
  // Loads (or reloads) one model's versions by its policy. `overrides` may replace the model's
  // config.pbtxt (then the model directory's files load with that config) and its files (then
  // the model loads from those files alone, written to a private directory that is removed
  // once the engine has read them; the model need not be in the repository).
  absl::Status Load(const std::string& name, const LoadOverrides& overrides = {});
  // Unloads every version of a model, draining queued requests first.
  absl::Status Unload(const std::string& name);
  // Unloads everything (shutdown).
  void UnloadAll();

  // A ready version; `version` empty means the highest ready one.
  absl::StatusOr<std::shared_ptr<ModelVersion>> Get(std::string_view name,
                                                    std::string_view version) const;
  // Ready versions of a model, ascending; NotFound for an unknown model.
  absl::StatusOr<std::vector<std::shared_ptr<ModelVersion>>> ReadyVersions(
      std::string_view name) const;
  // All loaded (ready) versions of all models.
  std::vector<std::shared_ptr<ModelVersion>> AllReady() const;
  // Status of each version of each model, plus model directories never loaded.
  std::vector<IndexEntry> Index() const;
  // The config of a model as last loaded (even if no version is ready); NotFound otherwise.
  absl::StatusOr<std::shared_ptr<const inference::ModelConfig>> Config(
      std::string_view name) const;

  const std::string& root() const { return options_.root; }

 private:
  struct ModelEntry {
    std::shared_ptr<const inference::ModelConfig> config;
    std::map<int64_t, std::shared_ptr<ModelVersion>> ready;
    std::map<int64_t, VersionStatus> versions;
    std::string model_reason;  // failure before any version (bad config, no versions)
  };
  using Snapshot = std::map<std::string, ModelEntry, std::less<>>;

  ModelRepository(Options options, WorkerMetrics* metrics)
      : options_(std::move(options)), metrics_(metrics) {}

  std::shared_ptr<const Snapshot> snapshot() const { return snapshot_.load(); }
  // Under control_mu_: replaces the snapshot with `next`.
  void Publish(Snapshot next);
  void SetState(const std::string& name, int64_t version, ModelState state,
                const std::string& reason);
  absl::StatusOr<std::shared_ptr<ModelVersion>> LoadVersion(
      const std::string& model_dir, const std::string& name, int64_t version,
      const inference::ModelConfig& base_config);
  absl::Status WarmUp(ModelVersion& model);

  const Options options_;
  WorkerMetrics* const metrics_;
  std::mutex control_mu_;  // serialises Load/Unload
  std::atomic<std::shared_ptr<const Snapshot>> snapshot_{std::make_shared<const Snapshot>()};
};

}  // namespace berth::worker
