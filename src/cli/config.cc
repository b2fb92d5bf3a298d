#include "cli/config.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <filesystem>

#include "common/strings.h"
#include "nlohmann/json.hpp"

namespace berth::cli {
namespace {

constexpr std::string_view kLoginHint = "run berth login --server URL --key KEY";

absl::Status ErrnoError(std::string_view what, const std::string& path) {
  const int error = errno;
  return absl::FailedPreconditionError(StrCat(what, " ", path, ": ", std::strerror(error)));
}

// Creates `dir` and missing parents; the last component gets mode 0700 (tightened if it exists).
absl::Status MakePrivateDirectory(const std::filesystem::path& dir) {
  std::error_code error;
  std::filesystem::create_directories(dir.parent_path(), error);
  if (error) {
    return absl::FailedPreconditionError(
        StrCat("cannot create ", dir.parent_path().string(), ": ", error.message()));
  }
  if (mkdir(dir.c_str(), 0700) != 0 && errno != EEXIST) {
    return ErrnoError("cannot create", dir.string());
  }
  if (chmod(dir.c_str(), 0700) != 0) return ErrnoError("cannot set the mode of", dir.string());
  return absl::OkStatus();
}

bool NonEmpty(const char* value) { return value != nullptr && *value != '\0'; }

}  // namespace

EnvLookup ProcessEnv() {
  return [](const char* name) -> const char* { return std::getenv(name); };
}

absl::StatusOr<std::string> DefaultConfigPath(const EnvLookup& env) {
  if (const char* xdg = env("XDG_CONFIG_HOME"); NonEmpty(xdg)) {
    return StrCat(xdg, "/berth/config.json");
  }
  if (const char* home = env("HOME"); NonEmpty(home)) {
    return StrCat(home, "/.config/berth/config.json");
  }
  return absl::FailedPreconditionError(
      "neither XDG_CONFIG_HOME nor HOME is set, so berth has nowhere to keep its config: set "
      "one, or pass --server and --key (or BERTH_SERVER and BERTH_API_KEY)");
}

absl::StatusOr<std::optional<LoadedConfig>> ReadConfig(const std::string& path) {
  const int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    if (errno == ENOENT) return std::optional<LoadedConfig>();
    return ErrnoError("cannot read", path);
  }
  struct stat info {};
  const bool stat_ok = fstat(fd, &info) == 0;
  std::string text;
  char buffer[4096];
  ssize_t n = 0;
  while ((n = read(fd, buffer, sizeof(buffer))) > 0 && text.size() < (1 << 20)) {
    text.append(buffer, static_cast<size_t>(n));
  }
  close(fd);
  if (n < 0) return ErrnoError("cannot read", path);

  const auto invalid = [&](std::string_view why) {
    return absl::InvalidArgumentError(
        StrCat(path, ": ", why, "; ", kLoginHint, " to write it again"));
  };
  nlohmann::json document = nlohmann::json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (!document.is_object()) return invalid("not a JSON object");
  LoadedConfig loaded;
  for (auto [field, target] :
       {std::pair{"server", &loaded.config.server}, std::pair{"key", &loaded.config.key}}) {
    auto it = document.find(field);
    if (it == document.end() || !it->is_string()) {
      return invalid(StrCat("\"", field, "\" is missing or not a string"));
    }
    *target = it->get<std::string>();
  }
  loaded.readable_by_others = stat_ok && (info.st_mode & 077) != 0;
  return std::optional<LoadedConfig>(std::move(loaded));
}

absl::Status WriteConfig(const std::string& path, const CliConfig& config) {
  const std::filesystem::path file(path);
  if (auto status = MakePrivateDirectory(file.parent_path()); !status.ok()) return status;
  const std::string temporary = StrCat(path, ".tmp.", getpid());
  const int fd = open(temporary.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0) return ErrnoError("cannot write", temporary);
  const std::string text =
      nlohmann::json{{"server", config.server}, {"key", config.key}}.dump(2) + "\n";
  bool ok = fchmod(fd, 0600) == 0;
  for (size_t written = 0; ok && written < text.size();) {
    const ssize_t n = write(fd, text.data() + written, text.size() - written);
    if (n < 0 && errno == EINTR) continue;
    ok = n > 0;
    if (ok) written += static_cast<size_t>(n);
  }
  ok = ok && fsync(fd) == 0;
  if (!ok) {
    absl::Status status = ErrnoError("cannot write", temporary);
    close(fd);
    unlink(temporary.c_str());
    return status;
  }
  close(fd);
  if (rename(temporary.c_str(), path.c_str()) != 0) {
    absl::Status status = ErrnoError("cannot replace", path);
    unlink(temporary.c_str());
    return status;
  }
  return absl::OkStatus();
}

absl::StatusOr<std::string> NormalizeServerUrl(std::string_view url) {
  std::string out(url);
  if (out.empty()) {
    return absl::InvalidArgumentError(
        "the server URL is empty: pass it like --server http://localhost:8080");
  }
  size_t scheme_end = out.find("://");
  if (scheme_end == std::string::npos) {
    out = StrCat("http://", out);
    scheme_end = 4;
  }
  const std::string scheme = out.substr(0, scheme_end);
  if (scheme != "http" && scheme != "https") {
    return absl::InvalidArgumentError(
        StrCat("server URL ", out, ": only http:// and https:// are supported"));
  }
  while (out.size() > scheme_end + 3 && out.back() == '/') out.pop_back();
  if (out.size() == scheme_end + 3 || out[scheme_end + 3] == '/') {
    return absl::InvalidArgumentError(StrCat("server URL ", out, " has no host"));
  }
  return out;
}

absl::StatusOr<LoadedConfig> ResolveConnection(std::string_view flag_server,
                                               std::string_view flag_key, const EnvLookup& env,
                                               const std::string& config_path) {
  LoadedConfig resolved;
  std::string server(flag_server);
  std::string key(flag_key);
  if (server.empty() && NonEmpty(env("BERTH_SERVER"))) server = env("BERTH_SERVER");
  if (key.empty() && NonEmpty(env("BERTH_API_KEY"))) key = env("BERTH_API_KEY");
  if ((server.empty() || key.empty()) && !config_path.empty()) {
    auto file = ReadConfig(config_path);
    if (!file.ok()) return file.status();
    if (file->has_value()) {
      const LoadedConfig& loaded = **file;
      if (server.empty()) server = loaded.config.server;
      if (key.empty()) key = loaded.config.key;
      resolved.readable_by_others = loaded.readable_by_others;
    }
  }
  if (server.empty() || key.empty()) {
    return absl::FailedPreconditionError(
        StrCat("berth does not know ", server.empty() ? "which server to talk to" : "your API key",
               ": ", kLoginHint,
               " (or pass --server and --key, or set BERTH_SERVER and "
               "BERTH_API_KEY)"));
  }
  auto normalized = NormalizeServerUrl(server);
  if (!normalized.ok()) return normalized.status();
  resolved.config.server = *std::move(normalized);
  resolved.config.key = std::move(key);
  return resolved;
}

}  // namespace berth::cli
