// How the CLI prints: aligned tables for people, JSON or YAML documents for scripts (-o).
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "nlohmann/json.hpp"

namespace berth::cli {

enum class OutputFormat { kHuman, kJson, kYaml };

// A text bar for an upload: "[#######-------------]  35%  12.0 MiB / 34.3 MiB", `width`
// characters between the brackets.
std::string RenderProgressBar(uint64_t done, uint64_t total, size_t width);

// "" or "table" -> kHuman, "json", "yaml"; anything else is InvalidArgument.
absl::StatusOr<OutputFormat> ParseOutputFormat(std::string_view text);

// A kubectl-style table: upper-case headers, columns separated by three spaces, no trailing
// blanks. Not thread-safe.
class Table {
 public:
  explicit Table(std::vector<std::string> headers);
  // Missing cells print empty; extra cells are dropped.
  void AddRow(std::vector<std::string> cells);
  bool empty() const { return rows_.empty(); }
  std::string Render() const;

 private:
  std::vector<std::string> headers_;
  std::vector<std::vector<std::string>> rows_;
};

// The document as pretty JSON (2-space indent) or block YAML, ending in a newline.
std::string RenderDocument(const nlohmann::json& document, OutputFormat format);

// A JSON value as a short cell: strings unquoted, null as "-", arrays joined with ",".
std::string Cell(const nlohmann::json& value);

// Member `key` of an object as a cell ("-" when absent or null).
std::string Field(const nlohmann::json& object, std::string_view key);

// Member `key` of an object when it is a string; "" when it is absent, null or not a string.
// Answers render fields that may be null (a key never used), so tables never use value().
std::string Text(const nlohmann::json& object, std::string_view key);

// The "items" array of a list answer ({"items": [...]}); an empty array when there is none.
const nlohmann::json& Items(const nlohmann::json& list);

// Every line of `text` indented by two spaces (each ends in a newline).
std::string Indent(std::string_view text);

// A tensor shape [1, -1, 28] as "[1, -1, 28]".
std::string FormatShape(const nlohmann::json& shape);

}  // namespace berth::cli
