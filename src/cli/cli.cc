#include "cli/cli.h"

#include "cli/commands.h"

namespace berth::cli {

void AddCliCommands(CLI::App& app, int* exit_code) {
  AddAccessCommands(app, exit_code);
  AddModelCommands(app, exit_code);
  AddDeployCommands(app, exit_code);
  AddServiceCommands(app, exit_code);
}

}  // namespace berth::cli
