#include "models/model_format.h"

#include <algorithm>
#include <set>
#include <vector>

#include "common/status_macros.h"
#include "common/strings.h"
#include "models/archive_index.h"
#include "models/random_access_file.h"
#include "yaml-cpp/yaml.h"

namespace berth::models {
namespace {

namespace fs = std::filesystem;

// Names what berth serves first; the formats it recognises without serving them come after,
// with what to do about them.
constexpr char kNotAModel[] =
    "not a model berth can serve: it serves ONNX files and TorchScript archives "
    "(torch.jit.save); TensorFlow SavedModels and MLflow models are recognised but not served "
    "yet (no engine for them here: export to ONNX with tf2onnx or mlflow.onnx, or use an "
    "MLflow model with an onnx flavor)";
// MLmodel files are a few KiB; the cap also bounds how deep YAML can nest.
constexpr uint64_t kMaxMlmodelBytes = 256u << 10;
constexpr int kMaxYamlFlowDepth = 64;
// The ONNX walk reads field headers only; these bound the work a hostile file can cause.
constexpr uint64_t kMaxOnnxHeaderBytes = 4u << 20;
constexpr int kMaxOnnxTopLevelFields = 1 << 16;
constexpr uint64_t kMaxOpsetImportBytes = 4096;

absl::Status NotAModel(std::string_view detail = {}) {
  if (detail.empty()) return absl::InvalidArgumentError(kNotAModel);
  return absl::InvalidArgumentError(StrCat(kNotAModel, " (", detail, ")"));
}

// ---- ONNX: the top-level fields of a protobuf ModelProto ---------------------------------

struct OnnxSummary {
  uint64_t ir_version = 0;
  std::optional<uint64_t> opset;  // of the default domain
  bool has_graph = false;
};

std::optional<uint64_t> ReadVarint(std::string_view buffer, size_t* pos) {
  uint64_t value = 0;
  for (int shift = 0; shift < 64 && *pos < buffer.size(); shift += 7) {
    const auto byte = static_cast<uint8_t>(buffer[(*pos)++]);
    value |= static_cast<uint64_t>(byte & 0x7F) << shift;
    if (!(byte & 0x80)) return value;
  }
  return std::nullopt;
}

// The wire type ModelProto gives a field number; -1 for numbers it does not define.
int ModelProtoWireType(uint64_t field) {
  switch (field) {
    case 1:
    case 5:
      return 0;  // ir_version, model_version
    case 2:
    case 3:
    case 4:
    case 6:
    case 7:
    case 8:
    case 14:
    case 20:  // strings, graph, ...
    case 25:
      return 2;  // functions
    default:
      return -1;
  }
}

// The version in an OperatorSetIdProto when its domain is the default ONNX one.
std::optional<uint64_t> DefaultOpsetVersion(std::string_view message) {
  std::string_view domain;
  std::optional<uint64_t> version;
  size_t pos = 0;
  while (pos < message.size()) {
    const auto tag = ReadVarint(message, &pos);
    if (!tag) return std::nullopt;
    if ((*tag & 7) == 0) {
      const auto value = ReadVarint(message, &pos);
      if (!value) return std::nullopt;
      if (*tag >> 3 == 2) version = value;
    } else if ((*tag & 7) == 2) {
      const auto length = ReadVarint(message, &pos);
      if (!length || *length > message.size() - pos) return std::nullopt;
      if (*tag >> 3 == 1) domain = message.substr(pos, *length);
      pos += *length;
    } else {
      return std::nullopt;
    }
  }
  if (domain.empty() || domain == "ai.onnx") return version;
  return std::nullopt;
}

// Walks the top-level fields of the file as a ModelProto, seeking over length-delimited
// fields. The error message says where the file stops being one.
absl::StatusOr<OnnxSummary> WalkOnnx(RandomAccessFile& file) {
  OnnxSummary summary;
  uint64_t pos = 0;
  uint64_t header_bytes = 0;
  for (int fields = 0; pos < file.size(); ++fields) {
    if (fields >= kMaxOnnxTopLevelFields || header_bytes > kMaxOnnxHeaderBytes) {
      return absl::InvalidArgumentError("too many top-level fields");
    }
    ASSIGN_OR_RETURN(const std::string window, file.ReadUpTo(pos, 20));
    size_t at = 0;
    const auto tag = ReadVarint(window, &at);
    if (!tag) return absl::InvalidArgumentError(StrCat("it ends inside a field at byte ", pos));
    const uint64_t field = *tag >> 3;
    const int wire_type = static_cast<int>(*tag & 7);
    const int expected = ModelProtoWireType(field);
    if (field == 0 || (expected >= 0 && wire_type != expected) || (fields == 0 && field != 1)) {
      return absl::InvalidArgumentError(StrCat("byte ", pos, " is not a ModelProto field"));
    }
    uint64_t length = 0;
    if (wire_type == 0) {
      const auto value = ReadVarint(window, &at);
      if (!value) return absl::InvalidArgumentError(StrCat("bad varint at byte ", pos));
      if (field == 1) summary.ir_version = *value;
    } else if (wire_type == 1 || wire_type == 5) {
      length = wire_type == 1 ? 8 : 4;
    } else if (wire_type == 2) {
      const auto value = ReadVarint(window, &at);
      if (!value) return absl::InvalidArgumentError(StrCat("bad length at byte ", pos));
      length = *value;
    } else {
      return absl::InvalidArgumentError(StrCat("byte ", pos, " is not a ModelProto field"));
    }
    const uint64_t start = pos + at;
    if (start > file.size() || length > file.size() - start) {
      return absl::InvalidArgumentError(
          StrCat("field ", field, " at byte ", pos, " needs ", length, " bytes but the file ends ",
                 file.size() - std::min(start, file.size()), " bytes later: truncated?"));
    }
    if (field == 7) summary.has_graph = true;
    if (field == 8 && length <= kMaxOpsetImportBytes && !summary.opset) {
      ASSIGN_OR_RETURN(const std::string opset, file.ReadExact(start, length));
      summary.opset = DefaultOpsetVersion(opset);
    }
    header_bytes += at;
    pos = start + length;
  }
  if (summary.ir_version == 0) return absl::InvalidArgumentError("it has no ir_version");
  if (!summary.has_graph) return absl::InvalidArgumentError("it has no graph");
  return summary;
}

absl::StatusOr<DetectedModel> DetectOnnx(RandomAccessFile& file) {
  auto summary = WalkOnnx(file);
  if (!summary.ok()) {
    return NotAModel(StrCat("the file starts like an ONNX model, but ", Msg(summary.status())));
  }
  std::string description = StrCat("ONNX IR ", summary->ir_version);
  if (summary->opset) StrAppend(&description, ", opset ", *summary->opset);
  return DetectedModel{.format = ModelFormat::kOnnx, .description = std::move(description)};
}

// ---- MLflow: the MLmodel YAML file --------------------------------------------------------

struct MlflowModel {
  std::vector<std::string> flavors;
  std::optional<std::string> onnx_file;  // the onnx flavor's model file, relative
};

// Flow collections ([...], {...}) nested deeper than yaml-cpp can safely recurse.
bool NestsTooDeep(std::string_view text) {
  int depth = 0;
  for (char c : text) {
    if (c == '[' || c == '{') ++depth;
    if (c == ']' || c == '}') depth = std::max(0, depth - 1);
    if (depth > kMaxYamlFlowDepth) return true;
  }
  return false;
}

absl::StatusOr<MlflowModel> ParseMlmodel(const std::string& text, std::string_view source) {
  if (NestsTooDeep(text)) {
    return absl::InvalidArgumentError(StrCat(source, " nests deeper than an MLmodel file does"));
  }
  MlflowModel model;
  try {
    const YAML::Node root = YAML::Load(text);
    // Looking up a missing key gives an invalid node, which throws unless tested first.
    const YAML::Node flavors = root.IsMap() ? root["flavors"] : YAML::Node();
    if (!flavors || !flavors.IsMap() || flavors.size() == 0) {
      return absl::InvalidArgumentError(
          StrCat(source, " has no 'flavors' mapping, so it is not an MLflow MLmodel file"));
    }
    for (const auto& flavor : flavors) model.flavors.push_back(flavor.first.as<std::string>());
    const YAML::Node onnx = flavors["onnx"];
    if (onnx && onnx.IsMap()) {
      for (const char* key : {"data", "model_data"}) {
        const YAML::Node file = onnx[key];
        if (file && file.IsScalar()) {
          model.onnx_file = file.as<std::string>();
          break;
        }
      }
    }
  } catch (const std::exception& e) {  // YAML::Exception and conversions
    return absl::InvalidArgumentError(StrCat(source, " is not valid YAML: ", e.what()));
  }
  return model;
}

std::string FlavorList(const std::vector<std::string>& flavors) {
  std::string list;
  for (const std::string& flavor : flavors) StrAppend(&list, list.empty() ? "" : ", ", flavor);
  return list;
}

// The onnx flavor's file inside `dir` when it is an ONNX model there.
std::optional<fs::path> InnerOnnxFile(const fs::path& dir, const std::string& relative) {
  const fs::path rel = fs::path(relative).lexically_normal();
  if (rel.empty() || rel.is_absolute() || *rel.begin() == "..") return std::nullopt;
  std::error_code ec;
  const fs::path file = fs::weakly_canonical(dir / rel, ec);
  const fs::path root = fs::weakly_canonical(dir, ec);
  if (ec || !fs::is_regular_file(file, ec)) return std::nullopt;
  const auto [root_end, unused] = std::mismatch(root.begin(), root.end(), file.begin(), file.end());
  if (root_end != root.end()) return std::nullopt;  // a link out of the model directory
  auto opened = RandomAccessFile::Open(file);
  if (!opened.ok()) return std::nullopt;
  if (!DetectOnnx(*opened).ok()) return std::nullopt;
  return dir / rel;
}

absl::StatusOr<DetectedModel> DetectMlflowDirectory(const fs::path& dir) {
  const fs::path mlmodel = dir / "MLmodel";
  ASSIGN_OR_RETURN(RandomAccessFile file, RandomAccessFile::Open(mlmodel));
  if (file.size() > kMaxMlmodelBytes) {
    return NotAModel(StrCat(mlmodel.string(), " is larger than ", kMaxMlmodelBytes, " bytes"));
  }
  ASSIGN_OR_RETURN(const std::string text, file.ReadExact(0, file.size()));
  auto parsed = ParseMlmodel(text, mlmodel.string());
  if (!parsed.ok()) return NotAModel(Msg(parsed.status()));
  DetectedModel model{
      .format = ModelFormat::kMlflow,
      .description = StrCat("MLflow model (flavors: ", FlavorList(parsed->flavors), ")")};
  if (parsed->onnx_file) {
    if (auto inner = InnerOnnxFile(dir, *parsed->onnx_file)) {
      model.servable_format = ModelFormat::kOnnx;
      model.servable_path = *inner;
    } else {
      StrAppend(&model.description, "; its onnx flavor names '", *parsed->onnx_file,
                "', which is not an ONNX file inside the model directory");
    }
  }
  return model;
}

absl::StatusOr<DetectedModel> DetectDirectory(const fs::path& dir) {
  std::error_code ec;
  if (fs::is_regular_file(dir / "MLmodel", ec)) return DetectMlflowDirectory(dir);
  if (fs::is_regular_file(dir / "saved_model.pb", ec)) {
    return DetectedModel{.format = ModelFormat::kSavedModel,
                         .description = "TensorFlow SavedModel"};
  }
  return NotAModel("the directory has neither an MLmodel file nor saved_model.pb");
}

// ---- Archives ------------------------------------------------------------------------------

std::string_view BaseName(std::string_view name) {
  const size_t slash = name.rfind('/');
  return slash == std::string_view::npos ? name : name.substr(slash + 1);
}

// torch.jit.save writes `<dir>/data.pkl` and the model's code under `<dir>/code/`.
bool IsTorchScriptArchive(const std::vector<ArchiveEntry>& entries) {
  std::set<std::string_view> pickle_dirs;
  for (const ArchiveEntry& entry : entries) {
    std::string_view name = entry.name;
    const size_t slash = name.find('/');
    if (slash != std::string_view::npos && name.substr(slash) == "/data.pkl") {
      pickle_dirs.insert(name.substr(0, slash));
    }
  }
  for (const ArchiveEntry& entry : entries) {
    std::string_view name = entry.name;
    const size_t slash = name.find('/');
    if (slash != std::string_view::npos && name.substr(slash).starts_with("/code/") &&
        pickle_dirs.contains(name.substr(0, slash))) {
      return true;
    }
  }
  return false;
}

// The entry called `base_name` nearest the archive's root, if any.
const ArchiveEntry* ShallowestEntry(const std::vector<ArchiveEntry>& entries,
                                    std::string_view base_name) {
  const ArchiveEntry* best = nullptr;
  for (const ArchiveEntry& entry : entries) {
    if (BaseName(entry.name) != base_name) continue;
    if (!best || std::count(entry.name.begin(), entry.name.end(), '/') <
                     std::count(best->name.begin(), best->name.end(), '/')) {
      best = &entry;
    }
  }
  return best;
}

absl::StatusOr<DetectedModel> DetectArchive(const fs::path& path, ArchiveKind kind) {
  auto index = ArchiveIndex::Open(path, kind);
  if (!index.ok()) return NotAModel(Msg(index.status()));
  const std::vector<ArchiveEntry>& entries = index->entries();
  if (IsTorchScriptArchive(entries)) {
    return DetectedModel{.format = ModelFormat::kTorchScript, .description = "TorchScript archive"};
  }
  if (const ArchiveEntry* mlmodel = ShallowestEntry(entries, "MLmodel")) {
    auto text = index->Read(*mlmodel, kMaxMlmodelBytes);
    if (!text.ok()) return NotAModel(Msg(text.status()));
    auto parsed = ParseMlmodel(*text, mlmodel->name);
    if (!parsed.ok()) return NotAModel(Msg(parsed.status()));
    return DetectedModel{
        .format = ModelFormat::kMlflow,
        .description = StrCat("MLflow model archive (flavors: ", FlavorList(parsed->flavors), ")")};
  }
  if (ShallowestEntry(entries, "saved_model.pb")) {
    return DetectedModel{.format = ModelFormat::kSavedModel,
                         .description = "TensorFlow SavedModel archive"};
  }
  return NotAModel(StrCat(kind == ArchiveKind::kZip ? "a ZIP" : "a tar",
                          " archive without data.pkl and code/ (TorchScript), an MLmodel file "
                          "or saved_model.pb"));
}

absl::StatusOr<DetectedModel> DetectFile(const fs::path& path) {
  ASSIGN_OR_RETURN(RandomAccessFile file, RandomAccessFile::Open(path));
  if (file.size() == 0) return NotAModel("the file is empty");
  ASSIGN_OR_RETURN(const std::string head, file.ReadUpTo(0, 512));
  if (auto kind = ArchiveIndex::Sniff(head)) return DetectArchive(path, *kind);
  if (head[0] == 0x08) return DetectOnnx(file);  // field 1 (ir_version), varint
  return NotAModel();
}

}  // namespace

absl::StatusOr<DetectedModel> DetectModelFormat(const fs::path& path) {
  std::error_code ec;
  const fs::file_status status = fs::status(path, ec);
  if (!fs::exists(status)) {
    return absl::NotFoundError(StrCat(path.string(), ": no such file or directory"));
  }
  if (fs::is_directory(status)) return DetectDirectory(path);
  if (!fs::is_regular_file(status)) return NotAModel("not a regular file or a directory");
  return DetectFile(path);
}

absl::Status CheckServable(const DetectedModel& model) {
  const auto servable = [](ModelFormat f) {
    return f == ModelFormat::kOnnx || f == ModelFormat::kTorchScript;
  };
  if (servable(model.format) || (model.servable_format && servable(*model.servable_format))) {
    return absl::OkStatus();
  }
  return absl::InvalidArgumentError(
      StrCat(model.description, " (format ", FormatName(model.format),
             "): berth serves ONNX and TorchScript models on this server; export the model to ONNX "
             "(e.g. tf2onnx / mlflow.onnx) and upload that"));
}

std::string_view FormatName(ModelFormat format) {
  switch (format) {
    case ModelFormat::kOnnx:
      return "onnx";
    case ModelFormat::kTorchScript:
      return "torchscript";
    case ModelFormat::kSavedModel:
      return "savedmodel";
    case ModelFormat::kMlflow:
      return "mlflow";
  }
  return "unknown";
}

std::optional<ModelFormat> FormatFromName(std::string_view name) {
  for (ModelFormat format : {ModelFormat::kOnnx, ModelFormat::kTorchScript,
                             ModelFormat::kSavedModel, ModelFormat::kMlflow}) {
    if (FormatName(format) == name) return format;
  }
  return std::nullopt;
}

}  // namespace berth::models
