// `berth server`: control plane, gateway and console in one process.
#pragma once

#include "CLI/CLI.hpp"

namespace berth::app {

void AddServerCommand(CLI::App& app, int* exit_code);

}  // namespace berth::app
