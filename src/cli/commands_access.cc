// berth login, logout, whoami, version, berth keys create|list|revoke.
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <iostream>
#include <memory>

#include "cli/commands.h"
#include "cli/config.h"
#include "cli/units.h"
#include "common/status_macros.h"
#include "common/strings.h"
#include "common/version.h"

namespace berth::cli {
namespace {

struct LoginFlags {
  std::string server;
  std::string key;
};

absl::Status RunLogin(const LoginFlags& flags) {
  const EnvLookup env = ProcessEnv();
  std::string server = flags.server;
  std::string key = flags.key;
  if (server.empty() && env("BERTH_SERVER") != nullptr) server = env("BERTH_SERVER");
  if (key.empty() && env("BERTH_API_KEY") != nullptr) key = env("BERTH_API_KEY");
  if (key == "-") {  // read from stdin, so the key stays out of the shell's history
    if (isatty(STDIN_FILENO)) std::cerr << "API key: " << std::flush;
    key.clear();
    std::getline(std::cin, key);
    while (!key.empty() && (key.back() == '\r' || key.back() == ' ')) key.pop_back();
  }
  if (server.empty() || key.empty()) {
    return UsageError(
        "berth login needs --server URL and --key KEY (or --key - to read the key from stdin)");
  }
  auto normalized = NormalizeServerUrl(server);
  if (!normalized.ok()) return UsageError(Msg(normalized.status()));
  ASSIGN_OR_RETURN(std::unique_ptr<ApiClient> client,
                   ApiClient::Create({.server = *normalized, .key = key}));
  auto whoami = client->Get(ApiPath("whoami"));
  // 403: the server knows the key, which lacks the read scope (an invoke-only key).
  if (!whoami.ok() && HttpStatusOf(whoami.status()) != 403) return whoami.status();
  ASSIGN_OR_RETURN(std::string path, DefaultConfigPath(env));
  RETURN_IF_ERROR(WriteConfig(path, {.server = *normalized, .key = key}));
  if (whoami.ok()) {
    std::cout << "logged in to " << *normalized << " with key " << Field(*whoami, "name") << " ("
              << Field(*whoami, "prefix") << ", scopes " << Field(*whoami, "scopes") << ")\n";
  } else {
    std::cout << "logged in to " << *normalized
              << " with a key that cannot read the API (no read scope)\n";
  }
  std::cout << "saved to " << path << "\n";
  return absl::OkStatus();
}

absl::Status RunLogout() {
  const EnvLookup env = ProcessEnv();
  ASSIGN_OR_RETURN(std::string path, DefaultConfigPath(env));
  std::error_code ec;
  const bool removed = std::filesystem::remove(path, ec);
  if (ec) return absl::InternalError(StrCat("cannot remove ", path, ": ", ec.message()));
  std::cout << (removed ? StrCat("logged out: removed ", path)
                        : StrCat("not logged in (no ", path, ")"))
            << "\n";
  if (env("BERTH_API_KEY") != nullptr) {
    std::cout << "BERTH_API_KEY is still set in this shell, and commands use it: unset it too\n";
  }
  return absl::OkStatus();
}

absl::Status RunWhoami(const CommonFlags& common) {
  ASSIGN_OR_RETURN(Session session, Connect(common));
  ASSIGN_OR_RETURN(nlohmann::json me, session.client->Get(ApiPath("whoami")));
  me["server"] = session.client->server();
  if (session.PrintDocument(me)) return absl::OkStatus();
  std::cout << "key " << Field(me, "name") << " (" << Field(me, "prefix") << ", scopes "
            << Field(me, "scopes") << ") on " << session.client->server() << "\n";
  return absl::OkStatus();
}

// The client's version, and the server's when it can be asked (any valid key may read /v2).
absl::Status RunVersion(const CommonFlags& common) {
  nlohmann::json doc = {{"client", kVersion}, {"server", nullptr}};
  std::string server_line;
  auto session = Connect(common);
  if (!session.ok()) {
    server_line = StrCat("unknown (", Msg(session.status()), ")");
  } else if (auto metadata = session->client->Get("/v2"); !metadata.ok()) {
    server_line = StrCat("unknown (", Msg(metadata.status()), ")");
  } else {
    doc["server"] = metadata->value("version", "");
    server_line = StrCat(doc["server"].get<std::string>(), " at ", session->client->server());
  }
  if (session.ok() && session->PrintDocument(doc)) return absl::OkStatus();
  if (!session.ok() && !common.output.empty()) {
    std::cout << doc.dump(2) << "\n";
    return absl::OkStatus();
  }
  std::cout << "client: berth " << kVersion << "\nserver: " << server_line << "\n";
  return absl::OkStatus();
}

struct KeyCreateFlags {
  CommonFlags common;
  std::string name;
  std::vector<std::string> scopes;
  int64_t expires_in_days = 0;
};

std::string ExpiryCell(const nlohmann::json& key) {
  const std::string expires = Field(key, "expires_at");
  return expires == "-" ? "never" : expires;
}

absl::Status RunKeyCreate(const KeyCreateFlags& flags) {
  if (flags.expires_in_days < 0) return UsageError("--expires-in-days: must be 0 (never) or more");
  if (flags.scopes.empty()) {
    return UsageError(
        "--scope is required: admin, deploy, read, invoke or invoke:SERVICE (e.g. --scope "
        "invoke:demo for a key that may only call the service demo)");
  }
  ASSIGN_OR_RETURN(Session session, Connect(flags.common));
  nlohmann::json body = {{"name", flags.name}, {"scopes", flags.scopes}};
  if (flags.expires_in_days > 0) body["expires_in_days"] = flags.expires_in_days;
  ASSIGN_OR_RETURN(nlohmann::json key, session.client->Post(ApiPath("keys"), body));
  if (!session.PrintDocument(key)) {
    std::cerr << "created key " << Field(key, "name") << " (id " << Field(key, "id") << ", scopes "
              << Field(key, "scopes") << ", expires " << ExpiryCell(key) << "):\n";
    std::cout << Field(key, "key") << "\n" << std::flush;
  }
  std::cerr << "This is the only time the key is shown: store it now (a secret manager, or "
               "berth login --key -).\n";
  return absl::OkStatus();
}

absl::Status RunKeyList(const CommonFlags& common) {
  ASSIGN_OR_RETURN(Session session, Connect(common));
  ASSIGN_OR_RETURN(nlohmann::json keys, session.client->Get(ApiPath("keys")));
  if (session.PrintDocument(keys)) return absl::OkStatus();
  const auto now = std::chrono::system_clock::now();
  Table table({"ID", "NAME", "SCOPES", "PREFIX", "AGE", "EXPIRES", "LAST USED"});
  for (const auto& key : Items(keys)) {
    const std::string last_used = FormatAge(Text(key, "last_used_at"), now);
    table.AddRow({Field(key, "id"), Field(key, "name"), Field(key, "scopes"), Field(key, "prefix"),
                  FormatAge(Text(key, "created_at"), now), ExpiryCell(key),
                  last_used == "-" ? "never" : last_used + " ago"});
  }
  std::cout << table.Render();
  return absl::OkStatus();
}

absl::Status RunKeyRevoke(const CommonFlags& common, const std::string& id) {
  ASSIGN_OR_RETURN(Session session, Connect(common));
  RETURN_IF_ERROR(session.client->Delete(ApiPath("keys", id)).status());
  if (!session.PrintDocument({{"id", id}, {"revoked", true}})) {
    std::cout << "key " << id << " revoked\n";
  }
  return absl::OkStatus();
}

}  // namespace

void AddAccessCommands(CLI::App& app, int* exit_code) {
  auto login_flags = std::make_shared<LoginFlags>();
  CLI::App* login = app.add_subcommand(
      "login", "Check an API key against a berth server and save both for the other commands");
  login->add_option("--server", login_flags->server,
                    "berth server URL, e.g. http://localhost:8080");
  login->add_option("--key", login_flags->key, "API key (brth_...); - reads it from stdin");
  SetCommand(login, exit_code, [login_flags] { return RunLogin(*login_flags); });

  CLI::App* logout = app.add_subcommand(
      "logout", "Forget the server and key that berth login saved (the config file)");
  SetCommand(logout, exit_code, [] { return RunLogout(); });

  auto whoami_flags = std::make_shared<CommonFlags>();
  CLI::App* whoami = app.add_subcommand("whoami", "Show the key the CLI uses: name, scopes, server");
  AddCommonFlags(whoami, whoami_flags.get());
  SetCommand(whoami, exit_code, [whoami_flags] { return RunWhoami(*whoami_flags); });

  auto version_flags = std::make_shared<CommonFlags>();
  CLI::App* version = app.add_subcommand("version", "Show the CLI's and the server's versions");
  AddCommonFlags(version, version_flags.get());
  SetCommand(version, exit_code, [version_flags] { return RunVersion(*version_flags); });

  CLI::App* keys = app.add_subcommand("keys", "Create, list and revoke API keys (admin scope)");
  keys->require_subcommand(1);

  auto create_flags = std::make_shared<KeyCreateFlags>();
  CLI::App* create = keys->add_subcommand("create", "Create an API key; it is shown only once");
  create->add_option("--name", create_flags->name, "a name for people, e.g. ci")->required();
  create
      ->add_option("--scope", create_flags->scopes,
                   "admin, deploy, read, invoke or invoke:SERVICE (repeat or comma-separate)")
      ->delimiter(',');
  create->add_option("--expires-in-days", create_flags->expires_in_days,
                     "days until the key expires (0: never)");
  AddCommonFlags(create, &create_flags->common);
  SetCommand(create, exit_code, [create_flags] { return RunKeyCreate(*create_flags); });

  auto list_flags = std::make_shared<CommonFlags>();
  CLI::App* list = keys->add_subcommand("list", "List API keys (never the keys themselves)");
  AddCommonFlags(list, list_flags.get());
  SetCommand(list, exit_code, [list_flags] { return RunKeyList(*list_flags); });

  auto revoke_flags = std::make_shared<CommonFlags>();
  auto revoke_id = std::make_shared<std::string>();
  CLI::App* revoke = keys->add_subcommand("revoke", "Revoke an API key at once");
  revoke->add_option("KEY", *revoke_id, "the key's id or name (see berth keys list)")->required();
  AddCommonFlags(revoke, revoke_flags.get());
  SetCommand(revoke, exit_code,
             [revoke_flags, revoke_id] { return RunKeyRevoke(*revoke_flags, *revoke_id); });
}

}  // namespace berth::cli
