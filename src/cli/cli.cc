#include "cli/cli.h"

#include <algorithm>
#include <iostream>
#include <memory>

#include "cli/commands.h"
#include "common/strings.h"

namespace berth::cli {

void AddCliCommands(CLI::App& app, int* exit_code) {
  AddAccessCommands(app, exit_code);
  AddModelCommands(app, exit_code);
  AddDeployCommands(app, exit_code);
  AddServiceCommands(app, exit_code);
  AddRolloutCommands(app, exit_code);

  auto shell = std::make_shared<std::string>();
  CLI::App* completion = app.add_subcommand(
      "completion", "Print a shell completion script: source <(berth completion bash)");
  completion->add_option("SHELL", *shell, "bash or zsh")->required()->check(
      CLI::IsMember({"bash", "zsh"}));
  // The root is walked when the command runs, so that every command added after this one is
  // in the script too.
  SetCommand(completion, exit_code, [&app, shell] {
    std::cout << CompletionScript(app, *shell);
    return absl::OkStatus();
  });
}

namespace {

// Each command path ("berth", "berth keys create") with the words that may follow it.
void CollectWords(const CLI::App& app, const std::string& path,
                  std::vector<std::pair<std::string, std::string>>& out) {
  std::string words;
  for (const CLI::App* sub : app.get_subcommands([](const CLI::App*) { return true; })) {
    if (sub->get_name().empty()) continue;
    StrAppend(&words, words.empty() ? "" : " ", sub->get_name());
  }
  for (const CLI::Option* option : app.get_options()) {
    for (const std::string& name : option->get_lnames()) {
      StrAppend(&words, words.empty() ? "" : " ", "--", name);
    }
    for (const std::string& name : option->get_snames()) {
      StrAppend(&words, words.empty() ? "" : " ", "-", name);
    }
  }
  out.emplace_back(path, words);
  for (const CLI::App* sub : app.get_subcommands([](const CLI::App*) { return true; })) {
    if (sub->get_name().empty()) continue;
    CollectWords(*sub, StrCat(path, " ", sub->get_name()), out);
  }
}

}  // namespace

std::string CompletionScript(const CLI::App& app, std::string_view shell) {
  std::vector<std::pair<std::string, std::string>> paths;
  CollectWords(app, "berth", paths);
  std::string script = StrCat("# berth ", shell, " completion: source <(berth completion ", shell,
                              ")\n");
  // zsh runs the bash function through its bash-completion layer.
  if (shell == "zsh") script += "autoload -U +X bashcompinit && bashcompinit\n";
  script += "declare -A _berth_words=(\n";
  for (const auto& [path, words] : paths) StrAppend(&script, "  [\"", path, "\"]=\"", words, "\"\n");
  script += R"()
_berth() {
  local cur=${COMP_WORDS[COMP_CWORD]} path=berth next w i
  for ((i = 1; i < COMP_CWORD; i++)); do
    w=${COMP_WORDS[i]}
    [[ $w == -* ]] && continue
    next="$path $w"
    [[ -n ${_berth_words[$next]+set} ]] && path=$next
  done
  COMPREPLY=($(compgen -W "${_berth_words[$path]}" -- "$cur"))
  # Arguments that are not words berth knows (files, names) complete as files.
  [[ ${#COMPREPLY[@]} -eq 0 && $cur != -* ]] && COMPREPLY=($(compgen -f -- "$cur"))
  return 0
}
complete -F _berth berth
)";
  return script;
}

std::string ClosestMatch(std::string_view typed, const std::vector<std::string>& candidates) {
  std::string best;
  size_t best_distance = std::max<size_t>(2, typed.size() / 3) + 1;
  for (const std::string& candidate : candidates) {
    // Levenshtein distance, one row at a time.
    std::vector<size_t> row(candidate.size() + 1);
    for (size_t j = 0; j <= candidate.size(); ++j) row[j] = j;
    for (size_t i = 1; i <= typed.size(); ++i) {
      size_t diagonal = row[0];
      row[0] = i;
      for (size_t j = 1; j <= candidate.size(); ++j) {
        const size_t above = row[j];
        row[j] = std::min({row[j] + 1, row[j - 1] + 1,
                           diagonal + (typed[i - 1] == candidate[j - 1] ? 0 : 1)});
        diagonal = above;
      }
    }
    if (row[candidate.size()] < best_distance) {
      best_distance = row[candidate.size()];
      best = candidate;
    }
  }
  return best;
}

namespace {

// The deepest subcommand the command line reached.
const CLI::App* Deepest(const CLI::App& app) {
  for (const CLI::App* sub : app.get_subcommands()) return Deepest(*sub);
  return &app;
}

std::vector<std::string> SubcommandNames(const CLI::App& app) {
  std::vector<std::string> names;
  for (const CLI::App* sub : app.get_subcommands([](const CLI::App*) { return true; })) {
    if (!sub->get_name().empty()) names.push_back(sub->get_name());
  }
  return names;
}

std::vector<std::string> FlagNames(const CLI::App& app) {
  std::vector<std::string> names;
  for (const CLI::Option* option : app.get_options()) {
    for (const std::string& name : option->get_lnames()) names.push_back("--" + name);
  }
  return names;
}

// "did you mean" for the first unexpected word of `extras`.
std::string Suggestion(const CLI::App& command, const std::vector<std::string>& extras) {
  for (const std::string& word : extras) {
    if (word.starts_with("--")) {
      const std::string flag = word.substr(0, word.find('='));
      if (std::string match = ClosestMatch(flag, FlagNames(command)); !match.empty()) {
        return "did you mean " + match + "?";
      }
    } else if (!word.starts_with("-")) {
      if (std::string match = ClosestMatch(word, SubcommandNames(command)); !match.empty()) {
        return "did you mean '" + match + "'?";
      }
    }
  }
  return "";
}

}  // namespace

std::optional<int> ParseCommandLine(CLI::App& app, int argc, char** argv) {
  try {
    app.parse(argc, argv);
    return std::nullopt;
  } catch (const CLI::CallForHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForAllHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForVersion& e) {
    return app.exit(e);
  } catch (const CLI::ParseError& e) {
    const CLI::App& command = *Deepest(app);
    std::string path = command.get_name();
    for (const CLI::App* p = command.get_parent(); p != nullptr; p = p->get_parent()) {
      path = p->get_name() + (path.empty() ? "" : " " + path);
    }
    std::vector<std::string> extras = command.remaining();
    if (extras.empty()) extras = app.remaining();
    const std::string suggestion = Suggestion(command, extras);
    std::string message = e.what();
    if (&command == &app && !extras.empty() && !extras.front().starts_with("-")) {
      message = "unknown command '" + extras.front() + "'";
    }
    std::cerr << "berth: " << message << (suggestion.empty() ? "" : "; " + suggestion) << "\n";
    if (&command == &app && app.get_subcommands().empty()) {
      std::cerr << "\ncommands:\n";
      for (const CLI::App* sub : app.get_subcommands([](const CLI::App*) { return true; })) {
        std::cerr << "  " << sub->get_name();
        for (size_t i = sub->get_name().size(); i < 12; ++i) std::cerr << ' ';
        std::cerr << sub->get_description() << "\n";
      }
    }
    std::cerr << "run `" << path << " --help` for the flags\n";
    return 2;
  }
}

}  // namespace berth::cli
