// `berth admin`: what someone with access to the data directory can do while no server runs
// on it. `berth admin reset-key --data-dir DIR` recovers a lost admin key: it revokes every
// key with the admin scope and prints a new one.
#pragma once

#include "CLI/CLI.hpp"

namespace berth::app {

void AddAdminCommand(CLI::App& app, int* exit_code);

}  // namespace berth::app
