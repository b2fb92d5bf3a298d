// berth models upload|add|list|describe|delete.
#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <iostream>
#include <memory>

#include "cli/commands.h"
#include "cli/service_spec.h"
#include "cli/units.h"
#include "common/status_macros.h"
#include "common/strings.h"

namespace berth::cli {
namespace {

// Redraws one line on stderr at most every 100 ms while an upload runs. Not thread-safe.
class UploadProgressBar {
 public:
  explicit UploadProgressBar(std::string label) : label_(std::move(label)) {}
  ~UploadProgressBar() {
    if (drawn_) std::cerr << "\n";
  }
  void Update(uint64_t sent, uint64_t total) {
    const auto now = std::chrono::steady_clock::now();
    const bool finished = sent >= total;
    if (!finished && drawn_ && now - last_draw_ < std::chrono::milliseconds(100)) return;
    if (finished && finished_drawn_) return;
    last_draw_ = now;
    drawn_ = true;
    finished_drawn_ = finished;
    std::cerr << "\r" << label_ << " " << RenderProgressBar(sent, total, 30)
              << (finished ? "  (the server is probing the model)" : "") << std::flush;
  }

 private:
  std::string label_;
  bool drawn_ = false;
  bool finished_drawn_ = false;
  std::chrono::steady_clock::time_point last_draw_;
};

std::string TensorSummary(const nlohmann::json& tensors, std::string_view noun) {
  if (!tensors.is_array()) return StrCat("? ", noun, "s");
  std::string out = StrCat(tensors.size(), " ", noun, tensors.size() == 1 ? "" : "s");
  if (tensors.empty() || tensors.size() > 3) return out;
  out += " (";
  for (size_t i = 0; i < tensors.size(); ++i) {
    if (i > 0) out += ", ";
    StrAppend(&out, Field(tensors[i], "name"), " ", Field(tensors[i], "datatype"), " ",
              FormatShape(tensors[i].value("shape", nlohmann::json())));
  }
  return out + ")";
}

std::string SizeCell(const nlohmann::json& model) {
  const auto it = model.find("size_bytes");
  return it != model.end() && it->is_number_unsigned() ? FormatBytes(it->get<uint64_t>()) : "-";
}

// "uploaded ... as version 2" or "... is version 1 already" for an upload's or add's answer.
void PrintRegistered(const nlohmann::json& model, std::string_view verb) {
  if (model.value("unchanged", false)) {
    std::cout << "model " << Field(model, "name") << ": " << Field(model, "message") << "\n";
    return;
  }
  std::cout << verb << " and probed model " << Field(model, "name") << " version "
            << Field(model, "version") << ": " << SummarizeModel(model) << "\n";
  if (model.value("version", 1) > 1) {
    std::cout << "services keep the version they serve; move one with berth deploy --model "
              << Field(model, "name") << " --model-version " << Field(model, "version")
              << " --name SERVICE\n";
  }
}

absl::Status RunUpload(const CommonFlags& common, const std::string& file,
                       const std::string& name) {
  if (auto status = ValidateName(name, "--name"); !status.ok()) return UsageError(Msg(status));
  ASSIGN_OR_RETURN(Session session, Connect(common));
  ASSIGN_OR_RETURN(nlohmann::json model, UploadModel(session, file, name));
  if (!session.PrintDocument(model)) PrintRegistered(model, "uploaded");
  return absl::OkStatus();
}

absl::Status RunAdd(const CommonFlags& common, const std::string& uri, const std::string& name) {
  if (auto status = ValidateName(name, "--name"); !status.ok()) return UsageError(Msg(status));
  if (!IsModelUri(uri)) {
    return UsageError(StrCat(uri, ": a model URI starts with file://, http://, https:// or s3:// ",
                             "(upload a local file with berth models upload FILE --name ", name,
                             ")"));
  }
  ASSIGN_OR_RETURN(Session session, Connect(common));
  ASSIGN_OR_RETURN(nlohmann::json model,
                   session.client->Post(ApiPath("models"), {{"name", name}, {"uri", uri}}));
  if (!session.PrintDocument(model)) PrintRegistered(model, "added");
  return absl::OkStatus();
}

absl::Status RunList(const CommonFlags& common) {
  ASSIGN_OR_RETURN(Session session, Connect(common));
  ASSIGN_OR_RETURN(nlohmann::json models, session.client->Get(ApiPath("models")));
  if (session.PrintDocument(models)) return absl::OkStatus();
  const auto now = std::chrono::system_clock::now();
  Table table({"NAME", "VERSION", "VERSIONS", "FORMAT", "SIZE", "INPUTS", "OUTPUTS", "SHA256",
               "AGE"});
  for (const auto& model : Items(models)) {
    const auto count = [&](const char* key) {
      const auto it = model.find(key);
      return it != model.end() && it->is_array() ? StrCat(it->size()) : std::string("-");
    };
    table.AddRow({Field(model, "name"), Field(model, "version"), Field(model, "versions"),
                  Field(model, "format"), SizeCell(model), count("inputs"),
                  count("outputs"), ShortDigest(Field(model, "sha256")),
                  FormatAge(Text(model, "created_at"), now)});
  }
  std::cout << table.Render();
  return absl::OkStatus();
}

std::string TensorTable(const nlohmann::json& tensors) {
  Table table({"NAME", "DATATYPE", "SHAPE"});
  if (tensors.is_array()) {
    for (const auto& tensor : tensors) {
      table.AddRow({Field(tensor, "name"), Field(tensor, "datatype"),
                    FormatShape(tensor.value("shape", nlohmann::json()))});
    }
  }
  return Indent(table.Render());
}

absl::Status RunDescribe(const CommonFlags& common, const std::string& name) {
  ASSIGN_OR_RETURN(Session session, Connect(common));
  ASSIGN_OR_RETURN(nlohmann::json model, session.client->Get(ApiPath("models", name)));
  if (session.PrintDocument(model)) return absl::OkStatus();
  std::cout << "Name:            " << Field(model, "name") << "\n"
            << "Latest version:  " << Field(model, "version") << "\n"
            << "Format:          " << Field(model, "format") << "\n"
            << "Size:            " << SizeCell(model) << "\n"
            << "SHA-256:         " << Field(model, "sha256") << "\n"
            << "Source:          " << Field(model, "source") << "\n"
            << "Max batch size:  " << Field(model, "max_batch_size") << "\n"
            << "Created:         " << Field(model, "created_at") << "\n"
            << "Inputs:\n"
            << TensorTable(model.value("inputs", nlohmann::json())) << "Outputs:\n"
            << TensorTable(model.value("outputs", nlohmann::json())) << "(shape -1 = any size)\n";
  const auto now = std::chrono::system_clock::now();
  Table versions({"VERSION", "SHA256", "SIZE", "AGE", "USED BY"});
  const nlohmann::json list = model.value("versions", nlohmann::json::array());
  for (const auto& v : list.is_array() ? list : nlohmann::json::array()) {
    std::string used;
    for (const auto& service : v.value("used_by", nlohmann::json::array())) {
      StrAppend(&used, used.empty() ? "" : ", ", service.get<std::string>());
    }
    versions.AddRow({Field(v, "version"), ShortDigest(Field(v, "sha256")), SizeCell(v),
                     FormatAge(Text(v, "created_at"), now), used.empty() ? "-" : used});
  }
  std::cout << "Versions:\n" << Indent(versions.Render());
  return absl::OkStatus();
}

absl::Status RunDelete(const CommonFlags& common, const std::string& name, int64_t version) {
  if (version < 0) return UsageError("--version: a version number (1, 2, ...)");
  ASSIGN_OR_RETURN(Session session, Connect(common));
  const std::string path = version > 0 ? StrCat(ApiPath("models", name, "versions"), "/", version)
                                       : ApiPath("models", name);
  auto deleted = session.client->Delete(path);
  if (!deleted.ok() && HttpStatusOf(deleted.status()) == 409) {
    return absl::FailedPreconditionError(StrCat(
        Msg(deleted.status()), " (see berth models describe ", name, ": delete the service, or ",
        "deploy it with another model or version first)"));
  }
  RETURN_IF_ERROR(deleted.status());
  nlohmann::json doc = {{"name", name}, {"deleted", true}};
  if (version > 0) doc["version"] = version;
  if (!session.PrintDocument(doc)) {
    if (version > 0) {
      std::cout << "version " << version << " of model " << name << " deleted\n";
    } else {
      std::cout << "model " << name << " deleted (every version)\n";
    }
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<nlohmann::json> UploadModel(const Session& session, const std::string& file,
                                           const std::string& name) {
  struct stat info {};
  if (stat(file.c_str(), &info) != 0 || !S_ISREG(info.st_mode)) {
    return UsageError(StrCat(file, ": no such file (a model URI starts with file://, http://, ",
                             "https:// or s3://)"));
  }
  std::unique_ptr<UploadProgressBar> bar;
  if (isatty(STDERR_FILENO)) bar = std::make_unique<UploadProgressBar>("uploading " + file);
  UploadProgress progress;
  if (bar != nullptr) {
    progress = [&bar](uint64_t sent, uint64_t total) { bar->Update(sent, total); };
  }
  auto model = session.client->UploadFile(StrCat(ApiPath("models"), "?name=", UrlEncode(name)),
                                          file, progress);
  bar.reset();
  return model;
}

std::string SummarizeModel(const nlohmann::json& model) {
  return StrCat(Field(model, "format"), ", ", SizeCell(model), ", ",
                TensorSummary(model.value("inputs", nlohmann::json()), "input"), ", ",
                TensorSummary(model.value("outputs", nlohmann::json()), "output"));
}

void AddModelCommands(CLI::App& app, int* exit_code) {
  CLI::App* models = app.add_subcommand("models", "Upload, add, list, describe and delete models");
  models->require_subcommand(1);

  struct Flags {
    CommonFlags common;
    std::string target;  // FILE, URI or NAME
    std::string name;
    int64_t version = 0;
  };
  auto upload_flags = std::make_shared<Flags>();
  CLI::App* upload = models->add_subcommand(
      "upload",
      "Upload a model file (ONNX or TorchScript) as the name's next version; the server probes it");
  upload->add_option("FILE", upload_flags->target, "the model file")->required();
  upload->add_option("--name", upload_flags->name, "the model's name (a DNS label)")->required();
  AddCommonFlags(upload, &upload_flags->common);
  SetCommand(upload, exit_code, [upload_flags] {
    return RunUpload(upload_flags->common, upload_flags->target, upload_flags->name);
  });

  auto add_flags = std::make_shared<Flags>();
  CLI::App* add = models->add_subcommand(
      "add", "Add a model by reference (file://, http(s)://, s3://); the server fetches it");
  add->add_option("URI", add_flags->target, "where the server finds the model")->required();
  add->add_option("--name", add_flags->name, "the model's name (a DNS label)")->required();
  AddCommonFlags(add, &add_flags->common);
  SetCommand(add, exit_code,
             [add_flags] { return RunAdd(add_flags->common, add_flags->target, add_flags->name); });

  auto list_flags = std::make_shared<CommonFlags>();
  CLI::App* list = models->add_subcommand("list", "List models");
  AddCommonFlags(list, list_flags.get());
  SetCommand(list, exit_code, [list_flags] { return RunList(*list_flags); });

  auto describe_flags = std::make_shared<Flags>();
  CLI::App* describe = models->add_subcommand(
      "describe", "Show a model, its inputs/outputs and its versions with the services using them");
  describe->add_option("NAME", describe_flags->target, "the model's name")->required();
  AddCommonFlags(describe, &describe_flags->common);
  SetCommand(describe, exit_code, [describe_flags] {
    return RunDescribe(describe_flags->common, describe_flags->target);
  });

  auto delete_flags = std::make_shared<Flags>();
  CLI::App* remove = models->add_subcommand(
      "delete", "Delete a model (every version) or one version of it that no service uses");
  remove->add_option("NAME", delete_flags->target, "the model's name")->required();
  remove->add_option("--version", delete_flags->version, "only this version");
  AddCommonFlags(remove, &delete_flags->common);
  SetCommand(remove, exit_code, [delete_flags] {
    return RunDelete(delete_flags->common, delete_flags->target, delete_flags->version);
  });
}

}  // namespace berth::cli
