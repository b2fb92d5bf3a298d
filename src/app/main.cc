// berth: one binary for the worker, the server and the CLI.
#include "CLI/CLI.hpp"
#include "app/admin_command.h"
#include "app/probe_command.h"
#include "app/server_command.h"
#include "app/worker_command.h"
#include "cli/cli.h"
#include "worker/worker.h"

int main(int argc, char** argv) {
  CLI::App app{"berth: from a model file to a production inference endpoint", "berth"};
  app.require_subcommand(1);
  app.set_version_flag("--version", berth::worker::ServerVersion());
  int exit_code = 0;
  berth::app::AddWorkerCommand(app, &exit_code);
  berth::app::AddServerCommand(app, &exit_code);
  berth::app::AddProbeCommand(app, &exit_code);
  berth::app::AddAdminCommand(app, &exit_code);
  berth::cli::AddCliCommands(app, &exit_code);
  if (std::optional<int> status = berth::cli::ParseCommandLine(app, argc, argv)) return *status;
  return exit_code;
}
