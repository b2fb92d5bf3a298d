#include "cli/session.h"

#include <exception>
#include <iostream>

#include "absl/strings/cord.h"
#include "cli/config.h"
#include "common/strings.h"

namespace berth::cli {
namespace {

constexpr char kUsagePayload[] = "berth/cli-usage";

}  // namespace

void AddCommonFlags(CLI::App* command, CommonFlags* flags) {
  command->add_option("--server", flags->server,
                      "berth server URL (default: $BERTH_SERVER, then berth login's config)");
  command->add_option("--key", flags->key,
                      "API key (default: $BERTH_API_KEY, then berth login's config)");
  command->add_option("-o,--output", flags->output, "output format: json or yaml (default: text)")
      ->check(CLI::IsMember({"", "table", "json", "yaml"}));
}

std::ostream& Session::progress() const {
  return format == OutputFormat::kHuman ? std::cout : std::cerr;
}

bool Session::PrintDocument(const nlohmann::json& document) const {
  if (format == OutputFormat::kHuman) return false;
  std::cout << RenderDocument(document, format) << std::flush;
  return true;
}

absl::StatusOr<Session> Connect(const CommonFlags& flags) {
  Session session;
  auto format = ParseOutputFormat(flags.output);
  if (!format.ok()) return UsageError(Msg(format.status()));
  session.format = *format;
  const EnvLookup env = ProcessEnv();
  auto path = DefaultConfigPath(env);
  auto resolved = ResolveConnection(flags.server, flags.key, env, path.ok() ? *path : "");
  if (!resolved.ok()) return resolved.status();
  if (resolved->readable_by_others) {
    std::cerr << "berth: warning: " << *path
              << " holds your API key and others can read it: chmod 600 " << *path << "\n";
  }
  ApiClient::Options options;
  options.server = resolved->config.server;
  options.key = resolved->config.key;
  auto client = ApiClient::Create(std::move(options));
  if (!client.ok()) return client.status();
  session.client = *std::move(client);
  return session;
}

absl::Status UsageError(std::string_view message) {
  absl::Status status = absl::InvalidArgumentError(std::string(message));
  status.SetPayload(kUsagePayload, absl::Cord("1"));
  return status;
}

int ReportResult(const absl::Status& status, std::string_view command_path,
                 std::string_view output) {
  if (status.ok()) return 0;
  const bool usage = status.GetPayload(kUsagePayload).has_value();
  const int http = HttpStatusOf(status);
  std::string hint;
  switch (http) {
    case 401:
      hint = "check the API key: run berth login --server URL --key KEY, or set BERTH_API_KEY";
      break;
    case 403:
      hint =
          "this key lacks the scope for that: ask an admin for a key with the right scope "
          "(berth keys create --name NAME --scope deploy)";
      break;
    default:
      break;
  }
  if (usage) hint = StrCat("see berth ", command_path, " --help");
  if (output == "json" || output == "yaml") {
    // A script that asked for a document gets one for the error too (JSON is valid YAML).
    nlohmann::json error = {{"error", std::string(Msg(status))},
                            {"status", http > 0 ? nlohmann::json(http) : nlohmann::json(nullptr)}};
    if (!hint.empty()) error["hint"] = hint;
    std::cerr << error.dump() << "\n";
  } else {
    std::cerr << "berth: " << Msg(status) << "\n";
    if (!hint.empty()) std::cerr << "  " << hint << "\n";
  }
  return usage ? 2 : 1;
}

void SetCommand(CLI::App* command, int* exit_code, std::function<absl::Status()> body) {
  command->callback([command, exit_code, body = std::move(body)] {
    std::string path = command->get_name();
    for (const CLI::App* parent = command->get_parent();
         parent != nullptr && parent->get_parent() != nullptr; parent = parent->get_parent()) {
      path = StrCat(parent->get_name(), " ", path);
    }
    absl::Status status;
    try {
      status = body();
    } catch (const std::exception& error) {
      status = absl::InternalError(StrCat("unexpected error: ", error.what()));
    }
    std::string output;
    if (const CLI::Option* option = command->get_option_no_throw("--output");
        option != nullptr && option->count() > 0) {
      output = option->as<std::string>();
    }
    *exit_code = ReportResult(status, path, output);
  });
}

std::string ApiPath(std::string_view collection) { return StrCat("/api/v1/", collection); }

std::string ApiPath(std::string_view collection, std::string_view name, std::string_view sub) {
  std::string path = StrCat("/api/v1/", collection, "/", UrlEncode(name));
  if (!sub.empty()) StrAppend(&path, "/", sub);
  return path;
}

std::string ShortDigest(std::string_view sha256) { return std::string(sha256.substr(0, 12)); }

}  // namespace berth::cli
