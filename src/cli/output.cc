#include "cli/output.h"

#include <algorithm>
#include <cctype>

#include "cli/units.h"
#include "common/strings.h"
#include "yaml-cpp/yaml.h"

namespace berth::cli {
namespace {

// A string that a YAML reader would take for something else (a number, a boolean, null) or
// that starts with a YAML indicator needs quotes to stay a string.
bool NeedsQuotes(const std::string& text) {
  if (text.empty()) return true;
  std::string lower(text);
  std::transform(lower.begin(), lower.end(), lower.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  static constexpr std::string_view kSpecial[] = {"true", "false", "yes", "no", "on",
                                                  "off",  "null",  "~",   "y",  "n"};
  for (std::string_view word : kSpecial) {
    if (lower == word) return true;
  }
  const char first = text.front();
  if ((first >= '0' && first <= '9') || first == '-' || first == '+' || first == '.') {
    return true;  // could read as a number (or a date); quoting is always safe
  }
  return false;
}

void Emit(YAML::Emitter& out, const nlohmann::json& value) {
  switch (value.type()) {
    case nlohmann::json::value_t::object:
      out << YAML::BeginMap;
      for (const auto& [key, member] : value.items()) {
        out << YAML::Key << key << YAML::Value;
        Emit(out, member);
      }
      out << YAML::EndMap;
      break;
    case nlohmann::json::value_t::array:
      out << YAML::BeginSeq;
      for (const auto& element : value) Emit(out, element);
      out << YAML::EndSeq;
      break;
    case nlohmann::json::value_t::string: {
      const auto& text = value.get_ref<const std::string&>();
      if (NeedsQuotes(text)) out << YAML::DoubleQuoted;
      out << text;
      break;
    }
    case nlohmann::json::value_t::boolean:
      out << value.get<bool>();
      break;
    case nlohmann::json::value_t::null:
    case nlohmann::json::value_t::discarded:
      out << YAML::Null;
      break;
    default:  // numbers: JSON's own spelling is valid YAML
      out << value.dump();
      break;
  }
}

}  // namespace

absl::StatusOr<OutputFormat> ParseOutputFormat(std::string_view text) {
  if (text.empty() || text == "table" || text == "wide") return OutputFormat::kHuman;
  if (text == "json") return OutputFormat::kJson;
  if (text == "yaml") return OutputFormat::kYaml;
  return absl::InvalidArgumentError(
      StrCat("-o ", text, ": unknown output format; use -o json, -o yaml or leave it out"));
}

Table::Table(std::vector<std::string> headers) : headers_(std::move(headers)) {}

void Table::AddRow(std::vector<std::string> cells) {
  cells.resize(headers_.size());
  rows_.push_back(std::move(cells));
}

std::string Table::Render() const {
  std::vector<size_t> widths(headers_.size(), 0);
  const auto measure = [&](const std::vector<std::string>& cells) {
    for (size_t i = 0; i < cells.size(); ++i) widths[i] = std::max(widths[i], cells[i].size());
  };
  measure(headers_);
  for (const auto& row : rows_) measure(row);
  std::string out;
  const auto append = [&](const std::vector<std::string>& cells) {
    std::string line;
    for (size_t i = 0; i < cells.size(); ++i) {
      line += cells[i];
      if (i + 1 < cells.size()) line.append(widths[i] - cells[i].size() + 3, ' ');
    }
    while (!line.empty() && line.back() == ' ') line.pop_back();
    out += line;
    out += '\n';
  };
  append(headers_);
  for (const auto& row : rows_) append(row);
  return out;
}

std::string RenderDocument(const nlohmann::json& document, OutputFormat format) {
  if (format != OutputFormat::kYaml) return document.dump(2) + "\n";
  YAML::Emitter out;
  Emit(out, document);
  return std::string(out.c_str()) + "\n";
}

std::string Cell(const nlohmann::json& value) {
  if (value.is_null()) return "-";
  if (value.is_string()) {
    const auto& text = value.get_ref<const std::string&>();
    return text.empty() ? "-" : text;
  }
  if (value.is_array()) {
    std::string out;
    for (const auto& element : value) {
      if (!out.empty()) out += ',';
      out += element.is_string() ? element.get<std::string>() : element.dump();
    }
    return out.empty() ? "-" : out;
  }
  return value.dump();
}

std::string Field(const nlohmann::json& object, std::string_view key) {
  if (!object.is_object()) return "-";
  auto it = object.find(key);
  return it == object.end() ? "-" : Cell(*it);
}

std::string Text(const nlohmann::json& object, std::string_view key) {
  if (!object.is_object()) return "";
  auto it = object.find(key);
  return it != object.end() && it->is_string() ? it->get<std::string>() : "";
}

const nlohmann::json& Items(const nlohmann::json& list) {
  static const nlohmann::json kEmpty = nlohmann::json::array();
  if (!list.is_object()) return kEmpty;
  auto it = list.find("items");
  return it != list.end() && it->is_array() ? *it : kEmpty;
}

std::string RenderProgressBar(uint64_t done, uint64_t total, size_t width) {
  if (total == 0) total = 1;
  if (done > total) done = total;
  const size_t filled = static_cast<size_t>(static_cast<double>(done) / total * width);
  const int percent = static_cast<int>(done * 100 / total);
  std::string bar = "[" + std::string(filled, '#') + std::string(width - filled, '-') + "] ";
  if (percent < 100) bar += ' ';
  if (percent < 10) bar += ' ';
  return StrCat(bar, percent, "%  ", FormatBytes(done), " / ", FormatBytes(total));
}

std::string Indent(std::string_view text) {
  std::string out;
  while (!text.empty()) {
    const size_t end = text.find('\n');
    StrAppend(&out, "  ", text.substr(0, end), "\n");
    if (end == std::string_view::npos) break;
    text.remove_prefix(end + 1);
  }
  return out;
}

std::string FormatShape(const nlohmann::json& shape) {
  if (!shape.is_array()) return "-";
  std::string out = "[";
  for (size_t i = 0; i < shape.size(); ++i) {
    if (i > 0) out += ", ";
    out += shape[i].dump();
  }
  return out + "]";
}

}  // namespace berth::cli
