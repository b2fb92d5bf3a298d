// `berth worker`: flags and the process lifecycle of a standalone model server.
#pragma once

#include "CLI/CLI.hpp"

namespace berth::app {

// Registers the `worker` subcommand; the callback runs the worker until SIGINT/SIGTERM.
void AddWorkerCommand(CLI::App& app, int* exit_code);

}  // namespace berth::app
