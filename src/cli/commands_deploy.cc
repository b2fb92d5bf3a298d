// berth deploy and berth apply -f: register the model, send the service (deploy patches one
// that exists, apply replaces its spec), wait for the rollout.
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <fstream>
#include <iostream>
#include <memory>
#include <set>
#include <sstream>
#include <thread>

#include "cli/commands.h"
#include "cli/file_digest.h"
#include "cli/service_spec.h"
#include "cli/units.h"
#include "common/status_macros.h"
#include "common/strings.h"

namespace berth::cli {
namespace {

using SteadyClock = std::chrono::steady_clock;
constexpr auto kPollInterval = std::chrono::milliseconds(100);
constexpr std::string_view kDemoModel = "digits";

// The model of that name, or null when there is none.
absl::StatusOr<nlohmann::json> FindModel(const Session& session, const std::string& name) {
  auto model = session.client->Get(ApiPath("models", name));
  if (!model.ok() && HttpStatusOf(model.status()) == 404) return nlohmann::json();
  return model;
}

// The version of model `name` (null when there is none) whose `field` is `value`, the latest
// such version.
nlohmann::json VersionWith(const nlohmann::json& model, const char* field,
                           const std::string& value) {
  nlohmann::json found;
  if (model.is_null()) return found;
  for (const auto& v : model.value("versions", nlohmann::json::array())) {
    if (v.is_object() && Text(v, field) == value) found = v;
  }
  return found;
}

// Uploads `file` as the next version of model `name`, unless a version has the same SHA-256
// already; returns the version that holds the file.
absl::StatusOr<int64_t> EnsureUploaded(const Session& session, const std::string& file,
                                       const std::string& name) {
  ASSIGN_OR_RETURN(std::string digest, Sha256OfFile(file));
  ASSIGN_OR_RETURN(nlohmann::json existing, FindModel(session, name));
  if (const nlohmann::json same = VersionWith(existing, "sha256", digest); !same.is_null()) {
    session.progress() << "model " << name << " version " << Field(same, "version")
                       << " has this file already (sha256 " << ShortDigest(digest)
                       << "), not uploading it again\n";
    return same.value("version", int64_t{0});
  }
  ASSIGN_OR_RETURN(nlohmann::json model, UploadModel(session, file, name));
  session.progress() << "uploaded " << file << " as model " << name << " version "
                     << Field(model, "version") << "\n"
                     << "probed model " << name << ": " << SummarizeModel(model) << "\n";
  return model.value("version", int64_t{0});
}

// Adds the model at `uri` as the next version of `name`, unless a version came from that URI
// already; returns the version.
absl::StatusOr<int64_t> EnsureAdded(const Session& session, const std::string& uri,
                                    const std::string& name) {
  ASSIGN_OR_RETURN(nlohmann::json existing, FindModel(session, name));
  if (const nlohmann::json same = VersionWith(existing, "source", uri); !same.is_null()) {
    session.progress() << "model " << name << " version " << Field(same, "version")
                       << " came from " << uri << " already\n";
    return same.value("version", int64_t{0});
  }
  ASSIGN_OR_RETURN(nlohmann::json model,
                   session.client->Post(ApiPath("models"), {{"name", name}, {"uri", uri}}));
  session.progress() << "added model " << name << " version " << Field(model, "version")
                     << " from " << uri << "\n"
                     << "probed model " << name << ": " << SummarizeModel(model) << "\n";
  return model.value("version", int64_t{0});
}

int64_t IntField(const nlohmann::json& object, const char* key) {
  const auto it = object.find(key);
  return it != object.end() && it->is_number_integer() ? it->get<int64_t>() : -1;
}

// Polls the service until revision `revision` takes traffic with status Ready, fails, or the
// deadline passes. Progress lines go to session.progress().
absl::StatusOr<nlohmann::json> WaitForRevision(const Session& session, const std::string& name,
                                               int64_t revision,
                                               std::chrono::milliseconds timeout) {
  const auto deadline = SteadyClock::now() + timeout;
  std::string last_progress;
  std::set<std::string> reported_problems;
  while (true) {
    ASSIGN_OR_RETURN(nlohmann::json service, session.client->Get(ApiPath("services", name)));
    if (IntField(service, "current_revision") == revision &&
        Text(service, "status") == "Ready") {
      return service;
    }
    // A canary is deployed once it takes its share; its rollout goes on without the CLI.
    if (const auto it = service.find("rollout_status");
        it != service.end() && it->is_object() && IntField(*it, "revision") == revision) {
      const std::string phase = Text(*it, "phase");
      if (phase == "progressing" || phase == "waiting" || phase == "paused" ||
          phase == "promoting" || phase == "promoted") {
        return service;
      }
      if (phase == "halted" || phase == "aborted") {
        return absl::FailedPreconditionError(
            StrCat("the canary revision ", revision, " of service ", name, " stopped: ",
                   Field(*it, "message"), "; see berth rollout status ", name));
      }
    }
    ASSIGN_OR_RETURN(nlohmann::json revisions,
                     session.client->Get(ApiPath("services", name, "revisions")));
    for (const auto& item : Items(revisions)) {
      if (IntField(item, "number") != revision) continue;
      const std::string status = Text(item, "status");
      if (status == "Failed") {
        return absl::FailedPreconditionError(StrCat(
            "revision ", revision, " of service ", name, " failed: ", Field(item, "reason"),
            IntField(service, "current_revision") > 0
                ? StrCat(" (revision ", IntField(service, "current_revision"), " keeps serving)")
                : "",
            "; see berth logs ", name, " and berth describe ", name));
      }
      if (status == "Retired") {
        return absl::AbortedError(StrCat("revision ", revision, " of service ", name,
                                         " was replaced by a newer one before it was ready"));
      }
    }
    ASSIGN_OR_RETURN(nlohmann::json replicas,
                     session.client->Get(ApiPath("services", name, "replicas")));
    int64_t ready = 0;
    for (const auto& replica : Items(replicas)) {
      if (IntField(replica, "revision") != revision) continue;
      const std::string state = Text(replica, "state");
      if (state == "Ready") ++ready;
      if (state == "Failed" || state == "CrashLoopBackOff") {
        const std::string problem =
            StrCat("replica ", Field(replica, "id"), ": ", state, ": ", Field(replica, "reason"));
        if (reported_problems.insert(problem).second) session.progress() << problem << "\n";
      }
    }
    const std::string progress =
        StrCat("replicas ready ", ready, "/", std::max<int64_t>(IntField(service, "replicas"), 0));
    if (progress != last_progress) {
      session.progress() << progress << "\n" << std::flush;
      last_progress = progress;
    }
    const auto now = SteadyClock::now();
    if (now >= deadline) {
      return absl::DeadlineExceededError(
          StrCat("revision ", revision, " of service ", name, " is not ready after ",
                 FormatDuration(timeout), " (status ", Field(service, "status"), ", ", progress,
                 "): see berth describe ", name, " and berth logs ", name,
                 ", or wait longer with --timeout"));
    }
    std::this_thread::sleep_for(std::min<SteadyClock::duration>(kPollInterval, deadline - now));
  }
}

struct WaitOptions {
  bool wait = true;
  std::chrono::milliseconds timeout{300'000};
};

// How a spec reaches an existing service: replacing it whole (berth apply -f, like kubectl
// apply) or changing only the fields given (berth deploy on a name that exists).
enum class Update { kReplace, kPatch };

// Sends the spec and, unless told not to, waits for the revision it made. Returns the service.
absl::StatusOr<nlohmann::json> ApplyService(const Session& session, const std::string& name,
                                            const nlohmann::json& spec, Update update,
                                            const WaitOptions& options) {
  // PUT creates or replaces; a patch needs the service to exist (else it is created whole).
  bool exists = false;
  if (update == Update::kPatch) {
    auto before = session.client->Get(ApiPath("services", name));
    if (before.ok()) {
      exists = true;
    } else if (HttpStatusOf(before.status()) != 404) {
      return before.status();
    }
  }
  nlohmann::json patch = spec;
  patch.erase("name");
  ASSIGN_OR_RETURN(nlohmann::json service,
                   exists ? session.client->Patch(ApiPath("services", name), patch)
                          : session.client->Put(ApiPath("services", name), spec));
  const int64_t revision = IntField(service, "latest_revision");
  const std::string change = service.value("change", "");
  if (change == "scaled") {
    session.progress() << "service " << name << ": scaled to " << IntField(service, "replicas")
                       << " replica(s), revision " << revision << " keeps serving\n";
  } else if (change == "unchanged") {
    session.progress() << "service " << name << ": spec unchanged, revision " << revision << "\n";
  } else {
    session.progress() << "service " << name << ": revision " << revision << " created\n";
  }
  if (!options.wait) {
    session.progress() << "not waiting: follow it with berth describe " << name << "\n";
    return service;
  }
  ASSIGN_OR_RETURN(service, WaitForRevision(session, name, revision, options.timeout));
  return service;
}

void PrintReady(const Session& session, const nlohmann::json& service) {
  if (session.PrintDocument(service)) return;
  if (const auto it = service.find("rollout_status");
      it != service.end() && it->is_object() &&
      IntField(*it, "revision") == IntField(service, "latest_revision") &&
      IntField(service, "current_revision") != IntField(service, "latest_revision")) {
    std::cout << "service " << Field(service, "name") << ": canary revision "
              << Field(*it, "revision") << " takes " << Field(*it, "weight")
              << "% of the traffic (revision " << Field(*it, "stable_revision")
              << " the rest): " << Field(*it, "message") << "\n"
              << "follow it with berth rollout status " << Field(service, "name")
              << "; berth rollout promote or abort ends it\n";
    return;
  }
  std::cout << "service " << Field(service, "name") << " is ready\n"
            << "endpoint: " << Field(service, "endpoint") << "\n";
  if (const std::string v2 = Field(service, "v2_endpoint");
      v2 != "-" && v2 != Field(service, "endpoint")) {
    std::cout << "V2 infer: " << v2 << "\n";
  }
  if (Field(service, "sample_curl") != "-") {
    // The key stays a variable: a key printed in clear lands in scrollback and CI logs.
    std::cout << "try it:\n" << Field(service, "sample_curl") << "\n";
    const char* env = std::getenv("BERTH_API_KEY");
    if (env == nullptr || *env == '\0') {
      std::cout << "(set the key first: export BERTH_API_KEY=brth_... with a key that may call "
                << Field(service, "name") << ", e.g. from berth keys create --name app --scope "
                << "invoke:" << Field(service, "name") << ")\n";
    }
  }
}

absl::StatusOr<WaitOptions> ReadWaitOptions(bool no_wait, const std::string& timeout) {
  WaitOptions options;
  options.wait = !no_wait;
  auto parsed = ParseDuration(timeout);
  if (!parsed.ok()) return UsageError(StrCat("--timeout: ", Msg(parsed.status())));
  options.timeout = *parsed;
  return options;
}

struct DeployFlags {
  CommonFlags common;
  std::string target;  // PATH_OR_URI
  std::string name;
  std::string model;
  std::string model_version;
  bool demo = false;
  std::string labels_file;
  std::vector<std::string> inputs, outputs;
  bool no_wait = false;
  std::string timeout = "300s";
  // Options whose presence matters (their values land in `spec`).
  CLI::Option* replicas = nullptr;
  CLI::Option* model_name = nullptr;
  CLI::Option* scale_metric = nullptr;
  CLI::Option* scale_target = nullptr;
  CLI::Option* min_replicas = nullptr;
  CLI::Option* max_replicas = nullptr;
  CLI::Option* initial_replicas = nullptr;
  CLI::Option* scale_window = nullptr;
  CLI::Option* scale_down_delay = nullptr;
  CLI::Option* scale_to_zero_after = nullptr;
  CLI::Option* cold_start_timeout = nullptr;
  std::string scale_metric_value, scale_window_value, scale_down_delay_value,
      scale_to_zero_after_value, cold_start_timeout_value;
  double scale_target_value = 0;
  int64_t min_replicas_value = 0, max_replicas_value = 0, initial_replicas_value = 0;
  CLI::Option* canary = nullptr;
  CLI::Option* canary_steps = nullptr;
  CLI::Option* canary_interval = nullptr;
  CLI::Option* max_error_rate = nullptr;
  CLI::Option* max_p99 = nullptr;
  CLI::Option* min_requests = nullptr;
  CLI::Option* route_header = nullptr;
  CLI::Option* shadow = nullptr;
  int64_t canary_value = 0, min_requests_value = 0, shadow_value = 0;
  std::string canary_steps_value, canary_interval_value, max_error_rate_value, max_p99_value,
      route_header_value;
  CLI::Option* cpu = nullptr;
  CLI::Option* memory = nullptr;
  CLI::Option* max_batch = nullptr;
  CLI::Option* max_queue_delay = nullptr;
  CLI::Option* image = nullptr;
  CLI::Option* no_image = nullptr;
  int64_t replicas_value = 0, max_batch_value = 0, max_queue_delay_value = 0;
  std::string cpu_value, memory_value, model_name_value;
  bool image_value = false, no_image_value = false;
};

absl::StatusOr<DeploySpecFlags> CollectSpecFlags(const DeployFlags& flags) {
  DeploySpecFlags spec;
  if (flags.replicas->count() > 0) spec.replicas = flags.replicas_value;
  if (flags.model_name->count() > 0) spec.model_name = flags.model_name_value;
  if (flags.scale_metric->count() > 0) spec.scale_metric = flags.scale_metric_value;
  if (flags.scale_target->count() > 0) spec.target = flags.scale_target_value;
  if (flags.min_replicas->count() > 0) spec.min_replicas = flags.min_replicas_value;
  if (flags.max_replicas->count() > 0) spec.max_replicas = flags.max_replicas_value;
  if (flags.initial_replicas->count() > 0) spec.initial_replicas = flags.initial_replicas_value;
  if (flags.scale_window->count() > 0) spec.scale_window = flags.scale_window_value;
  if (flags.scale_down_delay->count() > 0) spec.scale_down_delay = flags.scale_down_delay_value;
  if (flags.scale_to_zero_after->count() > 0) {
    spec.scale_to_zero_after = flags.scale_to_zero_after_value;
  }
  if (flags.cold_start_timeout->count() > 0) {
    spec.cold_start_timeout = flags.cold_start_timeout_value;
  }
  if (flags.canary->count() > 0) spec.canary = flags.canary_value;
  if (flags.canary_steps->count() > 0) spec.canary_steps = flags.canary_steps_value;
  if (flags.canary_interval->count() > 0) spec.canary_interval = flags.canary_interval_value;
  if (flags.max_error_rate->count() > 0) spec.max_error_rate = flags.max_error_rate_value;
  if (flags.max_p99->count() > 0) spec.max_p99 = flags.max_p99_value;
  if (flags.min_requests->count() > 0) spec.min_requests = flags.min_requests_value;
  if (flags.route_header->count() > 0) spec.route_header = flags.route_header_value;
  if (flags.shadow->count() > 0) spec.shadow = flags.shadow_value;
  if (flags.cpu->count() > 0) spec.cpu = flags.cpu_value;
  if (flags.memory->count() > 0) spec.memory = flags.memory_value;
  if (flags.max_batch->count() > 0) spec.max_batch_size = flags.max_batch_value;
  if (flags.max_queue_delay->count() > 0) spec.max_queue_delay_us = flags.max_queue_delay_value;
  if (flags.image->count() > 0) spec.image = true;
  if (flags.no_image->count() > 0) spec.image = false;
  spec.inputs = flags.inputs;
  spec.outputs = flags.outputs;
  if (!flags.labels_file.empty()) {
    std::ifstream file(flags.labels_file);
    if (!file) return UsageError(StrCat("--labels: cannot read ", flags.labels_file));
    std::ostringstream contents;
    contents << file.rdbuf();
    spec.labels = ParseLabels(contents.str());
  }
  return spec;
}

absl::Status RunDeploy(const DeployFlags& flags) {
  ASSIGN_OR_RETURN(DeploySpecFlags spec_flags, CollectSpecFlags(flags));
  ASSIGN_OR_RETURN(WaitOptions wait, ReadWaitOptions(flags.no_wait, flags.timeout));
  std::string name = flags.name;
  if (!flags.model_version.empty()) spec_flags.model_version = flags.model_version;
  if (flags.demo) {
    if (!flags.target.empty() || !flags.model.empty()) {
      return UsageError("--demo deploys the built-in model; leave out PATH_OR_URI and --model");
    }
    if (name.empty()) name = "demo";
    spec_flags.model = kDemoModel;
  } else {
    if (name.empty()) return UsageError("--name: the service's name is required");
    if (flags.target.empty() && flags.model.empty()) {
      return UsageError(
          "what to deploy is missing: give a model file or URI, --model EXISTING_MODEL, or --demo");
    }
    spec_flags.model = flags.model.empty() ? name : flags.model;
  }
  ASSIGN_OR_RETURN(nlohmann::json spec, [&]() -> absl::StatusOr<nlohmann::json> {
    auto built = BuildDeploySpec(name, spec_flags);
    if (!built.ok()) return UsageError(Msg(built.status()));
    return built;
  }());
  if (!flags.target.empty() && !IsModelUri(flags.target) &&
      access(flags.target.c_str(), R_OK) != 0) {
    return UsageError(StrCat(flags.target, ": no such file (a model URI starts with file://, ",
                             "http://, https:// or s3://)"));
  }

  ASSIGN_OR_RETURN(Session session, Connect(flags.common));
  if (!flags.target.empty()) {
    // The service serves the version that holds what was named on the command line.
    ASSIGN_OR_RETURN(const int64_t version,
                     IsModelUri(flags.target)
                         ? EnsureAdded(session, flags.target, spec_flags.model)
                         : EnsureUploaded(session, flags.target, spec_flags.model));
    if (version > 0) spec["model_version"] = version;
  }
  // On a service that exists, only the flags given change something (--max-batch alone keeps
  // the replicas, labels and resources).
  ASSIGN_OR_RETURN(nlohmann::json service,
                   ApplyService(session, name, spec, Update::kPatch, wait));
  if (wait.wait) {
    PrintReady(session, service);
  } else {
    session.PrintDocument(service);
  }
  return absl::OkStatus();
}

struct ApplyFlags {
  CommonFlags common;
  std::vector<std::string> files;
  bool no_wait = false;
  std::string timeout = "300s";
};

absl::StatusOr<std::string> ReadSpecFile(const std::string& path) {
  std::ostringstream contents;
  if (path == "-") {
    contents << std::cin.rdbuf();
  } else {
    std::ifstream file(path);
    if (!file) return UsageError(StrCat("-f ", path, ": cannot read the file"));
    contents << file.rdbuf();
  }
  return contents.str();
}

absl::Status RunApply(const ApplyFlags& flags) {
  ASSIGN_OR_RETURN(WaitOptions wait, ReadWaitOptions(flags.no_wait, flags.timeout));
  // Every document is checked before any is applied.
  std::vector<ServiceDocument> documents;
  for (const std::string& path : flags.files) {
    ASSIGN_OR_RETURN(std::string text, ReadSpecFile(path));
    auto parsed = ParseServiceDocuments(text, path == "-" ? "<stdin>" : path);
    if (!parsed.ok()) return UsageError(Msg(parsed.status()));
    for (ServiceDocument& document : *parsed) documents.push_back(std::move(document));
  }
  ASSIGN_OR_RETURN(Session session, Connect(flags.common));
  nlohmann::json applied = nlohmann::json::array();
  for (const ServiceDocument& document : documents) {
    nlohmann::json spec = document.spec;
    if (document.model_to_add) {
      ASSIGN_OR_RETURN(const int64_t version, EnsureAdded(session, document.model_to_add->uri,
                                                          document.model_to_add->name));
      if (version > 0 && !spec.contains("model_version")) spec["model_version"] = version;
    }
    ASSIGN_OR_RETURN(nlohmann::json service,
                     ApplyService(session, document.name, spec, Update::kReplace, wait));
    if (session.format != OutputFormat::kHuman) {
      applied.push_back(std::move(service));
    } else if (wait.wait) {
      PrintReady(session, service);
    }
  }
  if (session.format != OutputFormat::kHuman) {
    session.PrintDocument(applied.size() == 1 ? applied[0] : nlohmann::json{{"items", applied}});
  }
  return absl::OkStatus();
}

}  // namespace

void AddDeployCommands(CLI::App& app, int* exit_code) {
  auto flags = std::make_shared<DeployFlags>();
  CLI::App* deploy = app.add_subcommand(
      "deploy",
      "Deploy a model file, a model URI or an existing model as a service, and wait "
      "until it is ready");
  deploy->add_option("PATH_OR_URI", flags->target,
                     "a model file to upload, or a file://, http(s):// or s3:// URI");
  deploy->add_option("--name", flags->name, "the service's name (default with --demo: demo)");
  deploy->add_option("--model", flags->model,
                     "the model's name (default: the service's name); alone: an existing model");
  deploy->add_option("--model-version", flags->model_version,
                     "the model version to serve: a number or latest (default: the one the "
                     "service serves, or the latest for a new service or another model)");
  deploy->add_flag("--demo", flags->demo, "deploy the server's built-in digits model");
  flags->model_name = deploy->add_option(
      "--model-name", flags->model_name_value,
      "the V2 model name the service answers to as well, for clients that name models as "
      "Triton does (e.g. densenet_onnx)");
  flags->replicas = deploy->add_option("--replicas", flags->replicas_value, "number of replicas");
  flags->min_replicas = deploy->add_option(
      "--min-replicas", flags->min_replicas_value,
      "autoscale: the fewest replicas (with --max-replicas and --target); 0 scales to zero "
      "when idle, and the gateway holds requests while the first replica starts");
  flags->max_replicas =
      deploy->add_option("--max-replicas", flags->max_replicas_value, "autoscale: the most replicas");
  flags->initial_replicas = deploy->add_option(
      "--initial-replicas", flags->initial_replicas_value,
      "autoscale: replicas a new revision starts with and keeps for its first window "
      "(default: the minimum, at least 1)");
  flags->scale_metric = deploy->add_option("--scale-metric", flags->scale_metric_value,
                                           "autoscale on: concurrency (requests in flight, the "
                                           "default), rps (requests per second) or cpu (percent "
                                           "of the --cpu limit)");
  flags->scale_target = deploy->add_option(
      "--target", flags->scale_target_value,
      "autoscale: what one replica should carry: requests in flight (default 1), requests "
      "per second (default 10) or CPU percent of its limit (default 80)");
  flags->scale_window = deploy->add_option(
      "--scale-window", flags->scale_window_value,
      "autoscale: the window the load is averaged over (default 60s; panic: a tenth of it)");
  flags->scale_down_delay = deploy->add_option(
      "--scale-down-delay", flags->scale_down_delay_value,
      "autoscale: how long a lower load must last before replicas go (default 0s)");
  flags->scale_to_zero_after = deploy->add_option(
      "--scale-to-zero-after", flags->scale_to_zero_after_value,
      "with --min-replicas 0: how long without a request before the last replica goes "
      "(default 60s)");
  flags->cold_start_timeout = deploy->add_option(
      "--cold-start-timeout", flags->cold_start_timeout_value,
      "with --min-replicas 0: how long a request waits for a replica to start (default 60s)");
  flags->canary = deploy->add_option(
      "--canary", flags->canary_value,
      "roll new revisions out as a canary taking this percent of the traffic until berth "
      "rollout promote (or abort)");
  flags->canary_steps = deploy->add_option(
      "--canary-steps", flags->canary_steps_value,
      "canary percents to step through, e.g. 10,25,50 (then 100%), with --canary-interval");
  flags->canary_interval = deploy->add_option(
      "--canary-interval", flags->canary_interval_value,
      "how long each canary step lasts before its gates are judged (e.g. 30s)");
  flags->max_error_rate = deploy->add_option(
      "--max-error-rate", flags->max_error_rate_value,
      "canary gate: the most server errors it may answer, e.g. 1% (and more than the stable)");
  flags->max_p99 = deploy->add_option(
      "--max-p99", flags->max_p99_value,
      "canary gate: its highest p99 latency, e.g. 250ms (and more than the stable's)");
  flags->min_requests = deploy->add_option(
      "--min-requests", flags->min_requests_value,
      "canary gate: requests a step needs before its gates are judged (default 20)");
  flags->route_header = deploy->add_option(
      "--route-header", flags->route_header_value,
      "A/B: requests with this header value go to the canary, e.g. X-Variant=b");
  flags->shadow = deploy->add_option(
      "--shadow", flags->shadow_value,
      "copy this percent of the stable's requests to the canary, whose answers are measured "
      "for its gates and discarded (HTTP)");
  flags->cpu = deploy->add_option("--cpu", flags->cpu_value, "CPU per replica: 1, 0.5 or 500m");
  flags->memory = deploy->add_option("--memory", flags->memory_value, "memory per replica: 2Gi");
  flags->max_batch =
      deploy->add_option("--max-batch", flags->max_batch_value, "largest batch the batcher forms");
  flags->max_queue_delay = deploy->add_option("--max-queue-delay-us", flags->max_queue_delay_value,
                                              "longest wait for a batch to fill, in microseconds");
  flags->image = deploy->add_flag("--image", flags->image_value,
                                  "serve /services/NAME/v1/classify (image model)");
  flags->no_image =
      deploy->add_flag("--no-image", flags->no_image_value, "no image classification endpoint");
  flags->image->excludes(flags->no_image);
  deploy->add_option("--labels", flags->labels_file, "class labels, one a line (implies --image)");
  deploy->add_option("--model-input", flags->inputs,
                     "a model input as NAME:DATATYPE:SHAPE, e.g. x:FP32:-1x3x224x224 (repeatable; "
                     "TorchScript models need --model-input and --model-output; -1 first for "
                     "batching)")
      ->type_name("NAME:DATATYPE:SHAPE");
  deploy->add_option("--model-output", flags->outputs, "a model output as NAME:DATATYPE:SHAPE")
      ->type_name("NAME:DATATYPE:SHAPE");
  deploy->add_option("--timeout", flags->timeout, "how long to wait for the service (300s, 5m)");
  deploy->add_flag("--no-wait", flags->no_wait, "return once the new revision is created");
  AddCommonFlags(deploy, &flags->common);
  SetCommand(deploy, exit_code, [flags] { return RunDeploy(*flags); });

  auto apply_flags = std::make_shared<ApplyFlags>();
  CLI::App* apply = app.add_subcommand(
      "apply", "Apply service specs from YAML (berth's kind: Service or KServe InferenceService)");
  apply->add_option("-f,--filename", apply_flags->files, "a YAML file (- for stdin); repeatable")
      ->required();
  apply->add_option("--timeout", apply_flags->timeout, "how long to wait for each service");
  apply->add_flag("--no-wait", apply_flags->no_wait, "do not wait for the services to be ready");
  AddCommonFlags(apply, &apply_flags->common);
  SetCommand(apply, exit_code, [apply_flags] { return RunApply(*apply_flags); });
}

}  // namespace berth::cli
