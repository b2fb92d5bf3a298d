// `berth probe` (hidden): loads one model file in this process and prints its signature as
// JSON. The server runs it as a child process so that an engine crash on a hostile or broken
// model takes down only the probe.
#pragma once

#include "CLI/CLI.hpp"

namespace berth::app {

// Registers `probe --model FILE --format onnx|torchscript`: prints DescribeModel's JSON on
// stdout and exits 0, or prints the reason on stderr and exits 1.
void AddProbeCommand(CLI::App& app, int* exit_code);

}  // namespace berth::app
