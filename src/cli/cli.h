// The client commands of the `berth` binary (login, keys, models, deploy, apply, services,
// describe, events, logs, delete, predict): thin clients of the server's /api/v1.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "CLI/CLI.hpp"

namespace berth::cli {

// Registers every client command on `app`. A command's callback stores its exit status in
// `*exit_code`: 0 on success, 1 when the operation failed, 2 for a usage error (a bad flag value,
// malformed YAML). Errors go to stderr with what to do next.
void AddCliCommands(CLI::App& app, int* exit_code);

// A completion script for `shell` ("bash" or "zsh") of every command, subcommand and flag
// under `app`.
std::string CompletionScript(const CLI::App& app, std::string_view shell);

// Parses the command line. Help and --version print and return 0. Any other parse error is
// printed as `berth: MESSAGE` with a "did you mean" for a mistyped subcommand or flag (and the
// command list when no command was given) and returns 2. nullopt: parsed, the command ran.
std::optional<int> ParseCommandLine(CLI::App& app, int argc, char** argv);

// The candidate closest to `typed` by edit distance, when it is close enough to be a typo
// (at most a third of its length, and 2 at least); empty otherwise.
std::string ClosestMatch(std::string_view typed, const std::vector<std::string>& candidates);

}  // namespace berth::cli
