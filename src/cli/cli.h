// The client commands of the `berth` binary (login, keys, models, deploy, apply, services,
// describe, events, logs, delete, predict): thin clients of the server's /api/v1.
#pragma once

#include "CLI/CLI.hpp"

namespace berth::cli {

// Registers every client command on `app`. A command's callback stores its exit status in
// `*exit_code`: 0 on success, 1 when the operation failed, 2 for a usage error (a bad flag value,
// malformed YAML). Errors go to stderr with what to do next.
void AddCliCommands(CLI::App& app, int* exit_code);

}  // namespace berth::cli
