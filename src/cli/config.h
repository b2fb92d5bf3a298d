// Where the CLI finds its server and key: `--server`/`--key` flags, then the environment
// (BERTH_SERVER, BERTH_API_KEY), then the file `berth login` writes
// ($XDG_CONFIG_HOME/berth/config.json, default ~/.config/berth/config.json, mode 0600).
#pragma once

#include <functional>
#include <optional>
#include <string>
#include <string_view>

#include "absl/status/statusor.h"

namespace berth::cli {

struct CliConfig {
  std::string server;  // base URL, e.g. http://localhost:8080
  std::string key;     // API key; never printed
};

// Reads an environment variable; nullptr when unset. Tests pass a fake.
using EnvLookup = std::function<const char*(const char*)>;
EnvLookup ProcessEnv();

// $XDG_CONFIG_HOME/berth/config.json or $HOME/.config/berth/config.json; FailedPrecondition
// when neither variable is set.
absl::StatusOr<std::string> DefaultConfigPath(const EnvLookup& env);

struct LoadedConfig {
  CliConfig config;
  bool readable_by_others = false;  // the file's mode grants group/other any access
};

// nullopt when the file does not exist; InvalidArgument (naming the file) when it is not a
// JSON object with string "server" and "key".
absl::StatusOr<std::optional<LoadedConfig>> ReadConfig(const std::string& path);

// Writes atomically (temporary file + rename), creating the directory with mode 0700; the file
// gets mode 0600 whatever the umask.
absl::Status WriteConfig(const std::string& path, const CliConfig& config);

// "localhost:8080" -> "http://localhost:8080"; trailing slashes dropped; only http and https.
absl::StatusOr<std::string> NormalizeServerUrl(std::string_view url);

// The server and key for a command: flags win over the environment, which wins over the file.
// With neither, FailedPrecondition telling the user to run `berth login`. `readable_by_others`
// is set when the config file was used and its mode is too open.
absl::StatusOr<LoadedConfig> ResolveConnection(std::string_view flag_server,
                                               std::string_view flag_key, const EnvLookup& env,
                                               const std::string& config_path);

}  // namespace berth::cli
