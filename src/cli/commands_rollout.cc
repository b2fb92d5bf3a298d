// berth rollout status|promote|abort|set: a service's canary rollout (docs/api.md, spec.rollout).
#include <charconv>
#include <iostream>

#include "cli/commands.h"
#include "cli/output.h"
#include "common/status_macros.h"
#include "common/strings.h"

namespace berth::cli {
namespace {

struct RolloutFlags {
  CommonFlags common;
  std::string service;
  std::string weights;  // set: "2=50,3=50"
};

std::string Percent(const nlohmann::json& fraction) {
  if (!fraction.is_number()) return "-";
  return StrCat(Fixed(fraction.get<double>() * 100), "%");
}

std::string FiguresLine(const nlohmann::json& figures) {
  if (!figures.is_object()) return "-";
  return StrCat(figures.value("requests", 0), " requests, ", Percent(figures["error_rate"]),
                " errors, p99 ", Fixed(figures.value("p99_ms", 0.0)), " ms");
}

void PrintRollout(const nlohmann::json& r) {
  const int weight = r.value("weight", 0);
  std::cout << "Canary:      revision " << Field(r, "revision") << " (" << weight << "%)\n"
            << "Stable:      revision " << Field(r, "stable_revision") << " (" << 100 - weight
            << "%)\n"
            << "Phase:       " << Field(r, "phase") << "\n";
  std::string steps;
  const nlohmann::json& list = r.value("steps", nlohmann::json::array());
  for (size_t i = 0; i < list.size(); ++i) {
    const bool current = static_cast<int>(i) == r.value("step", 0);
    StrAppend(&steps, i > 0 ? " -> " : "", current ? "[" : "", list[i].dump(), "%",
              current ? "]" : "");
  }
  std::cout << "Steps:       " << steps << " -> 100%";
  const int interval = r.value("interval_s", 0);
  std::cout << (interval > 0 ? StrCat(", every ", interval, " s") : ", each on berth rollout promote")
            << "\n";
  const nlohmann::json& gates = r.value("gates", nlohmann::json::object());
  std::string gate_text;
  if (gates.contains("max_error_rate")) {
    StrAppend(&gate_text, "error rate <= ", Percent(gates["max_error_rate"]));
  }
  if (gates.contains("max_p99_ms")) {
    StrAppend(&gate_text, gate_text.empty() ? "" : ", ", "p99 <= ", gates["max_p99_ms"].dump(),
              " ms");
  }
  if (!gate_text.empty()) {
    StrAppend(&gate_text, " (judged from ", gates.value("min_requests", 20), " requests)");
    std::cout << "Gates:       " << gate_text << "\n";
  }
  if (r.contains("next_step_at") && r["next_step_at"].is_string()) {
    std::cout << "Next check:  " << r["next_step_at"].get<std::string>() << "\n";
  }
  if (r.contains("last_check") && r["last_check"].is_object()) {
    const nlohmann::json& check = r["last_check"];
    const std::string verdict = check["passed"].is_boolean()
                                    ? (check["passed"].get<bool>() ? "passed" : "failed")
                                    : "not judged";
    std::cout << "Last check:  " << verdict << " at " << Field(check, "at") << "\n"
              << "  canary:    " << FiguresLine(check["canary"]) << "\n"
              << "  stable:    " << FiguresLine(check["stable"]) << "\n";
  }
  std::cout << "Message:     " << Field(r, "message") << "\n";
}

// {"2": 50, "3": 50} from "2=50,3=50".
absl::StatusOr<nlohmann::json> ParseWeights(std::string_view text) {
  nlohmann::json weights = nlohmann::json::object();
  while (!text.empty()) {
    const size_t comma = text.find(',');
    const std::string_view item = text.substr(0, comma);
    text = comma == std::string_view::npos ? std::string_view() : text.substr(comma + 1);
    const size_t eq = item.find('=');
    int64_t revision = 0, percent = 0;
    const auto whole = [](std::string_view s, int64_t* out) {
      const auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), *out);
      return ec == std::errc() && end == s.data() + s.size();
    };
    if (eq == std::string_view::npos || !whole(item.substr(0, eq), &revision) ||
        !whole(item.substr(eq + 1), &percent) || revision < 1) {
      return absl::InvalidArgumentError(StrCat(
          "--weights: '", item, "' is not REVISION=PERCENT (e.g. --weights 2=50,3=50)"));
    }
    weights[std::to_string(revision)] = percent;
  }
  return weights;
}

absl::Status RunRollout(const RolloutFlags& flags, const std::string& action) {
  ASSIGN_OR_RETURN(Session session, Connect(flags.common));
  const std::string path = ApiPath("services", flags.service, "rollout");
  absl::StatusOr<nlohmann::json> rollout;
  if (action == "status") {
    rollout = session.client->Get(path);
  } else if (action == "set") {
    ASSIGN_OR_RETURN(nlohmann::json weights, ParseWeights(flags.weights));
    rollout = session.client->Put(path + "/weights", {{"weights", weights}});
  } else {
    rollout = session.client->Post(StrCat(path, "/", action), nlohmann::json::object());
  }
  if (!rollout.ok()) return rollout.status();
  if (session.PrintDocument(*rollout)) return absl::OkStatus();
  PrintRollout(*rollout);
  return absl::OkStatus();
}

}  // namespace

void AddRolloutCommands(CLI::App& app, int* exit_code) {
  CLI::App* rollout = app.add_subcommand(
      "rollout", "A service's canary rollout: status, promote, abort, set --weights");
  rollout->require_subcommand(1);
  const struct {
    const char* name;
    const char* help;
  } actions[] = {
      {"status", "Show the rollout: weights, step, gates and the last check's figures"},
      {"promote", "Promote the canary now: it gets the full replica count, then all the traffic"},
      {"abort", "Abort the rollout: the stable revision takes all the traffic again"},
      {"set", "Set the split by hand (pauses the steps until promote or abort)"},
  };
  for (const auto& a : actions) {
    auto flags = std::make_shared<RolloutFlags>();
    CLI::App* command = rollout->add_subcommand(a.name, a.help);
    command->add_option("SERVICE", flags->service, "the service")->required();
    if (std::string_view(a.name) == "set") {
      command->add_option("--weights", flags->weights, "REVISION=PERCENT,...: 2=50,3=50")
          ->required();
    }
    AddCommonFlags(command, &flags->common);
    const std::string action = a.name;
    SetCommand(command, exit_code, [flags, action] { return RunRollout(*flags, action); });
  }
}

}  // namespace berth::cli
