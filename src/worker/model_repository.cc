#include "worker/model_repository.h"

#include <fcntl.h>
#include <malloc.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include <algorithm>
#include <charconv>
#include <filesystem>
#include <sstream>
#include <random>

#include "common/strings.h"
#include "common/status_macros.h"
#include "spdlog/spdlog.h"
#include "worker/model_config_loader.h"

namespace berth::worker {
namespace fs = std::filesystem;

std::string_view ModelStateName(ModelState state) {
  switch (state) {
    case ModelState::kLoading: return "LOADING";
    case ModelState::kReady: return "READY";
    case ModelState::kUnloading: return "UNLOADING";
    case ModelState::kUnavailable: return "UNAVAILABLE";
  }
  return "UNAVAILABLE";
}

namespace {

// Numeric subdirectories of a model directory, ascending.
std::vector<int64_t> AvailableVersions(const fs::path& model_dir) {
  std::vector<int64_t> versions;
  std::error_code ec;
  for (const auto& entry : fs::directory_iterator(model_dir, ec)) {
    if (!entry.is_directory(ec)) continue;
    const std::string name = entry.path().filename().string();
    int64_t v = 0;
    auto result = std::from_chars(name.data(), name.data() + name.size(), v);
    if (result.ec == std::errc() && result.ptr == name.data() + name.size() && v > 0) {
      versions.push_back(v);
    }
  }
  std::sort(versions.begin(), versions.end());
  return versions;
}

std::vector<int64_t> SelectVersions(const inference::ModelConfig& config,
                                    const std::vector<int64_t>& available) {
  if (config.has_version_policy() && config.version_policy().has_all()) return available;
  if (config.has_version_policy() && config.version_policy().has_specific()) {
    std::vector<int64_t> chosen;
    for (int64_t v : config.version_policy().specific().versions()) {
      if (std::find(available.begin(), available.end(), v) != available.end()) {
        chosen.push_back(v);
      }
    }
    std::sort(chosen.begin(), chosen.end());
    return chosen;
  }
  uint32_t latest = 1;
  if (config.has_version_policy() && config.version_policy().has_latest()) {
    latest = std::max<uint32_t>(1, config.version_policy().latest().num_versions());
  }
  const size_t keep = std::min<size_t>(latest, available.size());
  return std::vector<int64_t>(available.end() - static_cast<std::ptrdiff_t>(keep),
                              available.end());
}

// A zero- or random-filled request matching `inputs` with `batch` rows.
absl::StatusOr<std::unique_ptr<QueuedRequest>> WarmupRequest(
    const inference::ModelConfig& config, const inference::ModelWarmup& warmup,
    std::mt19937& rng) {
  auto queued = std::make_unique<QueuedRequest>();
  queued->request.model_name = config.name();
  queued->request.id = "warmup:" + warmup.name();
  const int batch = std::max(1, static_cast<int>(warmup.batch_size()));
  queued->rows = config.max_batch_size() > 0 ? batch : 1;
  queued->arrival = Clock::now();
  for (const auto& in : config.input()) {
    auto it = warmup.inputs().find(in.name());
    if (it == warmup.inputs().end()) {
      return absl::InvalidArgumentError(StrCat("warm-up '", warmup.name(),
                                                     "' has no data for input '", in.name(), "'"));
    }
    const auto& spec = it->second;
    if (spec.has_input_data_file()) {
      return absl::UnimplementedError("warm-up input_data_file is not supported; use "
                                      "zero_data or random_data");
    }
    auto type = protocol::DataTypeFromConfigName(inference::DataType_Name(in.data_type()));
    if (!type) return absl::InvalidArgumentError("warm-up input has an invalid datatype");
    protocol::InputTensor& tensor = queued->request.inputs.emplace_back();
    tensor.name = in.name();
    tensor.datatype = *type;
    if (config.max_batch_size() > 0) tensor.shape.push_back(batch);
    for (int64_t d : spec.dims()) tensor.shape.push_back(d);
    uint64_t count;
    RETURN_IF_ERROR(protocol::ElementCount(tensor.shape, 1ull << 28, &count));
    std::vector<char> bytes;
    if (*type == protocol::DataType::kBytes) {
      for (uint64_t i = 0; i < count; ++i) protocol::AppendBytesElement("", &bytes);
    } else {
      bytes.resize(count * protocol::ElementSize(*type));
      if (spec.random_data()) {
        // Small integers are valid values for every numeric type.
        std::uniform_int_distribution<int> dist(0, 3);
        const size_t size = protocol::ElementSize(*type);
        for (uint64_t i = 0; i < count; ++i) bytes[i * size] = static_cast<char>(dist(rng));
      }
    }
    tensor.SetOwned(std::move(bytes));
  }
  return queued;
}

// The default warm-up when the config has none: one zero-filled sample with batch 1, when
// every input is numeric with fixed dims (else there is no shape to guess, and no BYTES value
// that every model would take: a model that parses its strings fails on empty ones).
bool DefaultWarmup(const inference::ModelConfig& config, inference::ModelWarmup* warmup) {
  warmup->set_name("default");
  warmup->set_batch_size(1);
  warmup->set_count(1);
  for (const auto& in : config.input()) {
    if (in.data_type() == inference::TYPE_STRING) return false;
    for (int64_t d : in.dims()) {
      if (d < 0) return false;
    }
    auto& spec = (*warmup->mutable_inputs())[in.name()];
    spec.set_data_type(in.data_type());
    spec.mutable_dims()->CopyFrom(in.dims());
    spec.set_zero_data(true);
  }
  return config.input_size() > 0;
}

// Reads a labels file (one label per line) that sits in the model's directory.
absl::StatusOr<std::vector<std::string>> ReadLabels(const fs::path& model_dir,
                                                    const std::string& filename) {
  if (!IsValidModelName(filename)) {
    return absl::InvalidArgumentError(
        StrCat("label_filename '", filename, "' must be a plain file name in the model directory"));
  }
  ASSIGN_OR_RETURN(std::string text, ReadSmallFile((model_dir / filename).string(), 4u << 20));
  std::istringstream in(text);
  std::vector<std::string> labels;
  for (std::string line; std::getline(in, line);) {
    if (!line.empty() && line.back() == '\r') line.pop_back();
    labels.push_back(std::move(line));
  }
  return labels;
}

}  // namespace

namespace {

// A private directory holding a load request's file overrides as a model directory, removed
// when the load is over (the engines read a model's files while they load it).
class OverrideDirectory {
 public:
  static absl::StatusOr<OverrideDirectory> Write(
      const std::vector<std::pair<std::string, std::string>>& files) {
    std::string pattern = (fs::temp_directory_path() / "berth-load-XXXXXX").string();
    if (mkdtemp(pattern.data()) == nullptr) {
      return absl::InternalError(StrCat("cannot make a directory for the load request's files: ",
                                        std::strerror(errno)));
    }
    OverrideDirectory dir(pattern);
    for (const auto& [relative, content] : files) {
      // The path was checked to be a version number and plain names (LoadOverrides).
      const fs::path target = dir.path_ / relative;
      std::error_code ec;
      fs::create_directories(target.parent_path(), ec);
      const int fd = ec ? -1 : ::open(target.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC,
                                      0600);
      bool ok = fd >= 0;
      for (size_t done = 0; ok && done < content.size();) {
        const ssize_t n = ::write(fd, content.data() + done, content.size() - done);
        if (n < 0 && errno == EINTR) continue;
        ok = n > 0;
        if (ok) done += static_cast<size_t>(n);
      }
      if (fd >= 0 && ::close(fd) != 0) ok = false;
      if (!ok) {
        return absl::InternalError(StrCat("cannot write the load request's file '", relative,
                                          "': ", std::strerror(errno)));
      }
    }
    return dir;
  }
  OverrideDirectory(OverrideDirectory&& other) noexcept : path_(std::move(other.path_)) {
    other.path_.clear();
  }
  OverrideDirectory& operator=(OverrideDirectory&&) = delete;
  ~OverrideDirectory() {
    std::error_code ec;
    if (!path_.empty()) fs::remove_all(path_, ec);
  }
  const fs::path& path() const { return path_; }

 private:
  explicit OverrideDirectory(fs::path path) : path_(std::move(path)) {}
  fs::path path_;
};

}  // namespace

absl::StatusOr<std::unique_ptr<ModelRepository>> ModelRepository::Create(Options options,
                                                                          WorkerMetrics* metrics) {
  std::error_code ec;
  if (!fs::is_directory(options.root, ec)) {
    return absl::NotFoundError(StrCat("model repository '", options.root,
                                            "' is not a directory"));
  }
  options.root = fs::canonical(options.root, ec).string();
  return std::unique_ptr<ModelRepository>(new ModelRepository(std::move(options), metrics));
}

ModelRepository::~ModelRepository() { UnloadAll(); }

void ModelRepository::Publish(Snapshot next) {
  snapshot_.store(std::make_shared<const Snapshot>(std::move(next)));
}

void ModelRepository::SetState(const std::string& name, int64_t version, ModelState state,
                               const std::string& reason) {
  Snapshot next = *snapshot();
  next[name].versions[version] = {state, reason};
  Publish(std::move(next));
  metrics_->SetModelState(name, std::to_string(version), std::string(ModelStateName(state)));
}

void ModelRepository::LoadAll() {
  std::vector<std::string> names;
  std::error_code ec;
  for (const auto& entry : fs::directory_iterator(options_.root, ec)) {
    if (!entry.is_directory(ec)) continue;
    std::string name = entry.path().filename().string();
    if (IsValidModelName(name)) names.push_back(std::move(name));
  }
  std::sort(names.begin(), names.end());
  for (const auto& name : names) {
    absl::Status status = Load(name);
    if (!status.ok()) spdlog::error("model '{}' did not load: {}", name, Msg(status));
  }
}

absl::StatusOr<std::shared_ptr<ModelVersion>> ModelRepository::LoadVersion(
    const std::string& model_dir, const std::string& name, int64_t version,
    const inference::ModelConfig& base_config) {
  const fs::path version_dir = fs::path(model_dir) / std::to_string(version);
  auto config = std::make_shared<inference::ModelConfig>(base_config);
  RETURN_IF_ERROR(backends::DetectPlatform(version_dir.string(), config.get()));
  const std::string filename = backends::DefaultModelFilename(*config);
  if (!IsValidModelName(filename)) {
    return absl::InvalidArgumentError(
        StrCat("default_model_filename '", filename, "' is not a plain file name"));
  }
  const fs::path model_path = version_dir / filename;
  std::error_code ec;
  if (!fs::exists(model_path, ec)) {
    return absl::NotFoundError(StrCat("model file ", model_path.string(), " is missing"));
  }
  RETURN_IF_ERROR(CheckServable(*config));
  const int count = InstanceCount(*config);
  std::vector<std::unique_ptr<backends::ModelInstance>> instances;
  for (int i = 0; i < count; ++i) {
    ASSIGN_OR_RETURN(auto instance, backends::CreateModelInstance(
                                        model_path.string(), options_.backend, i == 0,
                                        config.get()));
    instances.push_back(std::move(instance));
  }
  RETURN_IF_ERROR(CheckServable(*config));
  auto model = std::make_shared<ModelVersion>(name, version, config);
  if (config->output_size() > 0 && !config->output(0).label_filename().empty()) {
    ASSIGN_OR_RETURN(auto labels, ReadLabels(fs::path(model_dir),
                                             config->output(0).label_filename()));
    model->set_labels(std::move(labels));
  }
  auto batcher = std::make_unique<DynamicBatcher>(
      DynamicBatcher::OptionsFromConfig(*config, options_.max_queue_size), config,
      model->version_text(), std::move(instances), &model->stats(),
      metrics_->ForModel(name, model->version_text()));
  model->set_batcher(std::move(batcher));
  RETURN_IF_ERROR(WarmUp(*model));
  return model;
}

absl::Status ModelRepository::WarmUp(ModelVersion& model) {
  const auto& config = model.config();
  std::vector<inference::ModelWarmup> warmups(config.model_warmup().begin(),
                                              config.model_warmup().end());
  // The config's own warm-ups must pass for the model to load; the implicit one only helps the
  // first request's latency, so its failure is logged and the load goes on.
  const bool implicit = warmups.empty();
  if (implicit) {
    inference::ModelWarmup warmup;
    if (DefaultWarmup(config, &warmup)) warmups.push_back(std::move(warmup));
  }
  std::mt19937 rng(42);
  for (const auto& warmup : warmups) {
    const uint32_t repeat = std::max<uint32_t>(1, warmup.count());
    for (uint32_t i = 0; i < repeat; ++i) {
      ASSIGN_OR_RETURN(auto request, WarmupRequest(config, warmup, rng));
      std::vector<std::unique_ptr<QueuedRequest>> batch;
      request->done = [](absl::StatusOr<protocol::InferResponse>) {};
      batch.push_back(std::move(request));
      absl::Status status = model.batcher().RunDirect(std::move(batch));
      if (!status.ok() && implicit) {
        spdlog::warn("model '{}': the default warm-up (zeros, batch 1) failed, so the first "
                     "request may be slower; give the model a model_warmup in config.pbtxt: {}",
                     config.name(), Msg(status));
        return absl::OkStatus();
      }
      if (!status.ok()) {
        return absl::Status(status.code(), StrCat("warm-up '", warmup.name(), "' failed: ",
                                                        status.message()));
      }
    }
  }
  return absl::OkStatus();
}

absl::Status ModelRepository::Load(const std::string& name, const LoadOverrides& overrides) {
  if (!IsValidModelName(name)) {
    return absl::InvalidArgumentError(StrCat(
        "'", name, "' is not a valid model name (letters, digits, '_', '-', '.')"));
  }
  std::lock_guard<std::mutex> control(control_mu_);
  fs::path model_dir = fs::path(options_.root) / name;
  std::optional<OverrideDirectory> written;
  if (!overrides.files.empty()) {
    absl::StatusOr<OverrideDirectory> dir = OverrideDirectory::Write(overrides.files);
    if (!dir.ok()) return dir.status();
    written.emplace(*std::move(dir));
    model_dir = written->path();
  }
  std::error_code ec;
  if (!fs::is_directory(model_dir, ec)) {
    return absl::NotFoundError(
        StrCat("no model '", name, "' in the repository ", options_.root));
  }
  auto fail_model = [&](const absl::Status& status) {
    Snapshot next = *snapshot();
    next[name].model_reason = std::string(status.message());
    Publish(std::move(next));
    return status;
  };
  auto base = overrides.config ? absl::StatusOr<inference::ModelConfig>(*overrides.config)
                                : LoadModelConfig(model_dir.string(), name);
  if (!base.ok()) return fail_model(base.status());
  const std::vector<int64_t> available = AvailableVersions(model_dir);
  const std::vector<int64_t> wanted = SelectVersions(*base, available);
  if (wanted.empty()) {
    return fail_model(absl::NotFoundError(StrCat(
        "model '", name, "' has no version directory that its version policy selects")));
  }
  {
    Snapshot next = *snapshot();
    next[name].model_reason.clear();
    next[name].config = std::make_shared<const inference::ModelConfig>(*base);
    Publish(std::move(next));
  }
  std::string first_error;
  for (int64_t version : wanted) {
    SetState(name, version, ModelState::kLoading, "");
    spdlog::info("loading model '{}' version {}", name, version);
    const auto start = Clock::now();
    auto loaded = LoadVersion(model_dir.string(), name, version, *base);
    if (!loaded.ok()) {
      spdlog::error("model '{}' version {} failed to load: {}", name, version,
                    Msg(loaded.status()));
      const std::string reason(loaded.status().message());
      const auto snap = snapshot();
      const auto current = snap->find(name);
      if (current != snap->end() && current->second.ready.contains(version)) {
        // A failed reload keeps the version that was serving.
        SetState(name, version, ModelState::kReady, "reload failed, still serving: " + reason);
      } else {
        SetState(name, version, ModelState::kUnavailable, reason);
      }
      if (first_error.empty()) first_error = reason;
      continue;
    }
    std::shared_ptr<ModelVersion> previous;
    {
      Snapshot next = *snapshot();
      ModelEntry& entry = next[name];
      auto it = entry.ready.find(version);
      if (it != entry.ready.end()) previous = it->second;
      entry.ready[version] = *loaded;
      entry.config = (*loaded)->shared_config();
      entry.versions[version] = {ModelState::kReady, ""};
      Publish(std::move(next));
    }
    metrics_->SetModelState(name, std::to_string(version), "READY");
    if (previous) previous->batcher().Stop();
    spdlog::info("model '{}' version {} is ready ({} ms)", name, version,
                 std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - start)
                     .count());
  }
  // Versions the policy no longer selects are unloaded.
  std::vector<std::shared_ptr<ModelVersion>> retired;
  {
    Snapshot next = *snapshot();
    ModelEntry& entry = next[name];
    for (auto it = entry.ready.begin(); it != entry.ready.end();) {
      if (std::find(wanted.begin(), wanted.end(), it->first) == wanted.end()) {
        retired.push_back(it->second);
        entry.versions[it->first] = {ModelState::kUnavailable, "unloaded: not selected by the "
                                                               "version policy"};
        it = entry.ready.erase(it);
      } else {
        ++it;
      }
    }
    Publish(std::move(next));
  }
  for (auto& model : retired) model->batcher().Stop();
  if (!first_error.empty()) {
    return absl::InvalidArgumentError(
        StrCat("model '", name, "' did not fully load: ", first_error));
  }
  return absl::OkStatus();
}

absl::Status ModelRepository::Unload(const std::string& name) {
  std::lock_guard<std::mutex> control(control_mu_);
  std::vector<std::shared_ptr<ModelVersion>> retired;
  {
    Snapshot next = *snapshot();
    auto it = next.find(name);
    if (it == next.end()) {
      return absl::NotFoundError(StrCat("model '", name, "' is not loaded"));
    }
    for (auto& [version, model] : it->second.ready) {
      retired.push_back(model);
      it->second.versions[version] = {ModelState::kUnloading, ""};
    }
    it->second.ready.clear();
    Publish(std::move(next));
  }
  for (auto& model : retired) {
    metrics_->SetModelState(name, model->version_text(), "UNLOADING");
    model->batcher().Stop();  // runs what was queued, then joins
  }
  {
    Snapshot next = *snapshot();
    for (auto& [version, status] : next[name].versions) {
      status = {ModelState::kUnavailable, "unloaded"};
      metrics_->SetModelState(name, std::to_string(version), "UNAVAILABLE");
    }
    Publish(std::move(next));
  }
  // Requests that still hold the versions finish first; memory is released with the last one.
  const size_t held = retired.size();
  retired.clear();
  malloc_trim(0);
  spdlog::info("model '{}' unloaded ({} versions)", name, held);
  return absl::OkStatus();
}

void ModelRepository::UnloadAll() {
  std::vector<std::string> names;
  for (const auto& [name, entry] : *snapshot()) {
    if (!entry.ready.empty()) names.push_back(name);
  }
  for (const auto& name : names) (void)Unload(name);
}

absl::StatusOr<std::shared_ptr<ModelVersion>> ModelRepository::Get(
    std::string_view name, std::string_view version) const {
  auto snap = snapshot();
  auto it = snap->find(name);
  if (it == snap->end()) {
    return absl::NotFoundError(StrCat("unknown model '", name, "'"));
  }
  const ModelEntry& entry = it->second;
  if (version.empty()) {
    if (entry.ready.empty()) {
      std::string reason = entry.model_reason;
      for (const auto& [v, status] : entry.versions) {
        if (reason.empty() && !status.reason.empty()) reason = status.reason;
      }
      return absl::UnavailableError(StrCat("model '", name, "' has no ready version",
                                                 reason.empty() ? "" : ": ", reason));
    }
    return entry.ready.rbegin()->second;
  }
  int64_t v = 0;
  auto result = std::from_chars(version.data(), version.data() + version.size(), v);
  if (result.ec != std::errc() || result.ptr != version.data() + version.size()) {
    return absl::NotFoundError(StrCat("model '", name, "' has no version '", version,
                                            "' (versions are positive integers)"));
  }
  auto ready = entry.ready.find(v);
  if (ready != entry.ready.end()) return ready->second;
  auto status = entry.versions.find(v);
  if (status == entry.versions.end()) {
    return absl::NotFoundError(StrCat("model '", name, "' has no version ", v,
                                            " being served"));
  }
  return absl::UnavailableError(StrCat("model '", name, "' version ", v, " is ",
                                             ModelStateName(status->second.state),
                                             status->second.reason.empty() ? "" : ": ",
                                             status->second.reason));
}

absl::StatusOr<std::vector<std::shared_ptr<ModelVersion>>> ModelRepository::ReadyVersions(
    std::string_view name) const {
  auto snap = snapshot();
  auto it = snap->find(name);
  if (it == snap->end()) return absl::NotFoundError(StrCat("unknown model '", name, "'"));
  std::vector<std::shared_ptr<ModelVersion>> out;
  for (const auto& [v, model] : it->second.ready) out.push_back(model);
  return out;
}

std::vector<std::shared_ptr<ModelVersion>> ModelRepository::AllReady() const {
  std::vector<std::shared_ptr<ModelVersion>> out;
  for (const auto& [name, entry] : *snapshot()) {
    for (const auto& [v, model] : entry.ready) out.push_back(model);
  }
  return out;
}

absl::StatusOr<std::shared_ptr<const inference::ModelConfig>> ModelRepository::Config(
    std::string_view name) const {
  auto snap = snapshot();
  auto it = snap->find(name);
  if (it == snap->end() || !it->second.config) {
    return absl::NotFoundError(StrCat("unknown model '", name, "'"));
  }
  if (!it->second.ready.empty()) return it->second.ready.rbegin()->second->shared_config();
  return it->second.config;
}

std::vector<IndexEntry> ModelRepository::Index() const {
  auto snap = snapshot();
  std::vector<IndexEntry> out;
  for (const auto& [name, entry] : *snap) {
    if (entry.versions.empty()) {
      out.push_back({name, "", "UNAVAILABLE", entry.model_reason});
      continue;
    }
    for (const auto& [v, status] : entry.versions) {
      out.push_back({name, std::to_string(v), std::string(ModelStateName(status.state)),
                     status.reason});
    }
  }
  std::error_code ec;
  for (const auto& dir : fs::directory_iterator(options_.root, ec)) {
    if (!dir.is_directory(ec)) continue;
    const std::string name = dir.path().filename().string();
    if (IsValidModelName(name) && snap->find(name) == snap->end()) {
      out.push_back({name, "", "", ""});
    }
  }
  std::sort(out.begin(), out.end(), [](const IndexEntry& a, const IndexEntry& b) {
    return std::tie(a.name, a.version) < std::tie(b.name, b.version);
  });
  return out;
}

}  // namespace berth::worker
