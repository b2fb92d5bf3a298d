#include "app/probe_command.h"

#include <cstdio>
#include <memory>
#include <string>

#include "common/strings.h"
#include "models/model_format.h"
#include "models/model_probe.h"

namespace berth::app {
namespace {

struct ProbeFlags {
  std::string model;
  std::string format;
};

int RunProbe(const ProbeFlags& flags) {
  const auto format = models::FormatFromName(flags.format);
  if (!format) {
    std::fprintf(stderr, "berth probe: unknown --format '%s'\n", flags.format.c_str());
    return 1;
  }
  auto described = models::DescribeModel(flags.model, *format);
  if (!described.ok()) {
    std::fprintf(stderr, "%s\n", std::string(Msg(described.status())).c_str());
    return 1;
  }
  std::printf("%s\n", described->dump().c_str());
  return 0;
}

}  // namespace

void AddProbeCommand(CLI::App& app, int* exit_code) {
  auto flags = std::make_shared<ProbeFlags>();
  CLI::App* cmd = app.add_subcommand("probe", "Load a model file and print its signature (JSON)");
  cmd->group("");  // hidden: the server's tool, not a user command
  cmd->add_option("--model", flags->model, "Model file")->required();
  cmd->add_option("--format", flags->format, "Model format")
      ->required()
      ->check(CLI::IsMember({"onnx", "torchscript"}));
  cmd->callback([flags, exit_code] { *exit_code = RunProbe(*flags); });
}

}  // namespace berth::app
