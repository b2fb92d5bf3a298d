// What every client command shares: the --server/--key/-o flags, the connection they resolve
// to, and how a failed command reports itself (message, hint, exit status).
#pragma once

#include <functional>
#include <iosfwd>
#include <memory>
#include <string>
#include <string_view>

#include "CLI/CLI.hpp"
#include "absl/status/statusor.h"
#include "cli/api_client.h"
#include "cli/output.h"

namespace berth::cli {

struct CommonFlags {
  std::string server;  // --server, else BERTH_SERVER, else the config file
  std::string key;     // --key, else BERTH_API_KEY, else the config file
  std::string output;  // -o: "", "json" or "yaml"
};

// Adds --server, --key and -o/--output to a command.
void AddCommonFlags(CLI::App* command, CommonFlags* flags);

// A connected command. Not thread-safe.
struct Session {
  std::unique_ptr<ApiClient> client;
  OutputFormat format = OutputFormat::kHuman;
  // Progress lines: stdout for people, stderr when stdout carries a JSON/YAML document.
  std::ostream& progress() const;
  // Prints `document` in the chosen format and returns true, or returns false for kHuman.
  bool PrintDocument(const nlohmann::json& document) const;
};

absl::StatusOr<Session> Connect(const CommonFlags& flags);

// A usage problem (bad flag value, malformed spec): exit status 2.
absl::Status UsageError(std::string_view message);

// Prints `berth: MESSAGE` and a hint to stderr; returns the exit status (0, 1 or 2).
// With `output` json or yaml, the error is one JSON document on stderr instead:
// {"error", "status" (the HTTP status, or null), "hint"}.
int ReportResult(const absl::Status& status, std::string_view command_path,
                 std::string_view output = "");

// Makes `body` the command's callback: its Status becomes `*exit_code`; exceptions are caught.
void SetCommand(CLI::App* command, int* exit_code, std::function<absl::Status()> body);

// Path helpers for /api/v1: ApiPath("services", name, "replicas") =
// "/api/v1/services/NAME/replicas".
std::string ApiPath(std::string_view collection);
std::string ApiPath(std::string_view collection, std::string_view name, std::string_view sub = {});

// The first 12 characters of a SHA-256 (for people).
std::string ShortDigest(std::string_view sha256);

}  // namespace berth::cli
