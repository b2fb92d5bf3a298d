#include "worker/model_config_loader.h"

#include <cctype>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "common/strings.h"
#include "google/protobuf/io/tokenizer.h"
#include "google/protobuf/text_format.h"
#include "spdlog/spdlog.h"

namespace berth::worker {
namespace {

class CollectErrors : public google::protobuf::io::ErrorCollector {
 public:
  void AddError(int line, int column, const std::string& message) override {
    if (errors.empty()) errors = StrCat("line ", line + 1, ":", column + 1, ": ", message);
  }
  void AddWarning(int line, int column, const std::string& message) override {
    warnings.push_back(StrCat("line ", line + 1, ":", column + 1, ": ", message));
  }
  std::string errors;
  std::vector<std::string> warnings;
};

// Whether the text format `text` sets `field` (the name as a whole word, then a '{' or ':'
// after blanks), outside comments and strings as far as a line-wise look can tell.
bool NamesField(std::string_view text, std::string_view field) {
  const auto word = [](char c) { return std::isalnum(static_cast<unsigned char>(c)) || c == '_'; };
  for (size_t at = text.find(field); at != std::string_view::npos;
       at = text.find(field, at + 1)) {
    if (at > 0 && word(text[at - 1])) continue;
    size_t next = at + field.size();
    if (next < text.size() && word(text[next])) continue;
    const size_t line_start = text.rfind('\n', at) == std::string_view::npos
                                  ? 0 : text.rfind('\n', at) + 1;
    const std::string_view before = text.substr(line_start, at - line_start);
    if (before.find('#') != std::string_view::npos || before.find('"') != std::string_view::npos) {
      continue;  // in a comment or a string
    }
    while (next < text.size() && std::isspace(static_cast<unsigned char>(text[next]))) ++next;
    if (next < text.size() && (text[next] == '{' || text[next] == ':')) return true;
  }
  return false;
}

}  // namespace

absl::StatusOr<inference::ModelConfig> ParseModelConfig(const std::string& text,
                                                        const std::string& source) {
  inference::ModelConfig config;
  google::protobuf::TextFormat::Parser parser;
  CollectErrors errors;
  parser.RecordErrorsTo(&errors);
  parser.AllowUnknownField(true);
  // Unknown fields are skipped (configs written for newer Triton releases load), except the
  // schedulers whose absence would change the answers: a model that needs them is refused
  // (looked for before parsing, which cannot skip their list syntax).
  if (NamesField(text, "sequence_batching")) {
    return absl::InvalidArgumentError(StrCat(
        source, " asks for sequence_batching, which berth does not serve (it has no sequence "
                "batcher, so a stateful model would lose its state between requests)"));
  }
  if (NamesField(text, "ensemble_scheduling")) {
    return absl::InvalidArgumentError(StrCat(
        source, " is an ensemble (ensemble_scheduling), which berth does not serve: serve each "
                "model of it on its own and chain them in the client"));
  }
  if (!parser.ParseFromString(text, &config)) {
    return absl::InvalidArgumentError(StrCat(source, " is not a valid model config: ",
                                                   errors.errors));
  }
  for (const auto& warning : errors.warnings) spdlog::warn("{}: {}", source, warning);
  return config;
}

absl::StatusOr<inference::ModelConfig> LoadModelConfig(const std::string& model_dir,
                                                       const std::string& model_name) {
  const std::filesystem::path path = std::filesystem::path(model_dir) / "config.pbtxt";
  inference::ModelConfig config;
  std::error_code ec;
  if (std::filesystem::exists(path, ec)) {
    auto text = ReadSmallFile(path.string(), 1u << 20);
    if (!text.ok()) return text.status();
    auto parsed = ParseModelConfig(*text, path.string());
    if (!parsed.ok()) return parsed.status();
    config = *std::move(parsed);
  }
  if (config.name().empty()) {
    config.set_name(model_name);
  } else if (config.name() != model_name) {
    return absl::InvalidArgumentError(StrCat("config.pbtxt names the model '", config.name(),
                                                   "' but its directory is '", model_name, "'"));
  }
  return config;
}

absl::Status CheckServable(const inference::ModelConfig& config) {
  if (config.max_batch_size() < 0) {
    return absl::InvalidArgumentError("max_batch_size must not be negative");
  }
  for (const auto& group : config.instance_group()) {
    if (group.kind() == inference::ModelInstanceGroup::KIND_GPU) {
      return absl::FailedPreconditionError(
          "instance_group asks for KIND_GPU but this worker runs models on the CPU; use "
          "KIND_CPU or KIND_AUTO");
    }
    if (group.count() < 0 || group.count() > 64) {
      return absl::InvalidArgumentError("instance_group count must be between 0 and 64");
    }
  }
  if (config.has_dynamic_batching()) {
    for (int size : config.dynamic_batching().preferred_batch_size()) {
      if (size <= 0 || size > config.max_batch_size()) {
        return absl::InvalidArgumentError(StrCat(
            "preferred_batch_size ", size, " must be between 1 and max_batch_size (",
            config.max_batch_size(), ")"));
      }
    }
  }
  return absl::OkStatus();
}

int InstanceCount(const inference::ModelConfig& config) {
  int count = 0;
  for (const auto& group : config.instance_group()) count += group.count() > 0 ? group.count() : 1;
  return count > 0 ? count : 1;
}

absl::StatusOr<std::string> ReadSmallFile(const std::string& path, uint64_t max_bytes) {
  std::error_code ec;
  const auto size = std::filesystem::file_size(path, ec);
  std::ifstream in(path, std::ios::binary);
  if (ec || size > max_bytes || !in) {
    return absl::InvalidArgumentError(StrCat(path, " is missing, unreadable or larger than ",
                                             max_bytes, " bytes"));
  }
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

bool IsValidModelName(std::string_view name) {
  if (name.empty() || name.size() > 128 || name[0] == '.') return false;
  for (char c : name) {
    const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                    c == '_' || c == '-' || c == '.';
    if (!ok) return false;
  }
  return true;
}

}  // namespace berth::worker
