// berth services, describe, revisions, diff, scale, events, logs, delete, rollback, predict.
#include <chrono>
#include <cmath>
#include <fstream>
#include <iostream>
#include <memory>
#include <sstream>
#include <thread>

#include "cli/commands.h"
#include "cli/log_follow.h"
#include "cli/service_spec.h"
#include "cli/units.h"
#include "common/status_macros.h"
#include "common/strings.h"

namespace berth::cli {
namespace {

using Clock = std::chrono::system_clock;
constexpr auto kWatchInterval = std::chrono::seconds(1);
constexpr int kEventPage = 500;
constexpr size_t kDescribeEvents = 20;

std::string ReplicasCell(const nlohmann::json& service) {
  return StrCat(Field(service, "ready_replicas"), "/", Field(service, "replicas"));
}

std::string RevisionCell(const nlohmann::json& service) {
  std::string current = Field(service, "current_revision");
  const std::string latest = Field(service, "latest_revision");
  if (current == "0") current = "-";  // nothing serves yet
  return latest == current || latest == "-" ? current
                                            : StrCat(current, " (", latest, " rolling out)");
}

// A revision's share of the traffic ("90%"), empty when it takes none.
std::string TrafficCell(const nlohmann::json& revision) {
  const int percent = revision.value("traffic_percent", 0);
  return percent > 0 ? StrCat(percent, "%") : "";
}

std::string EventId(const nlohmann::json& event) {
  const auto it = event.find("id");
  if (it == event.end()) return "";
  return it->is_string() ? it->get<std::string>() : it->dump();
}

// Events after `after` (all when empty) for one service (all when empty), oldest first.
absl::StatusOr<nlohmann::json> FetchEvents(const Session& session, const std::string& service,
                                           std::string after) {
  nlohmann::json all = nlohmann::json::array();
  while (true) {
    std::string path = StrCat(ApiPath("events"), "?limit=", kEventPage);
    if (!service.empty()) StrAppend(&path, "&service=", UrlEncode(service));
    if (!after.empty()) StrAppend(&path, "&after=", UrlEncode(after));
    ASSIGN_OR_RETURN(nlohmann::json page, session.client->Get(path));
    const nlohmann::json& items = Items(page);
    for (const auto& event : items) all.push_back(event);
    if (items.size() < static_cast<size_t>(kEventPage)) break;
    after = EventId(items.back());
    if (after.empty()) break;
  }
  return all;
}

std::string EventsTable(const nlohmann::json& events, bool with_service) {
  const auto now = Clock::now();
  Table table(with_service
                  ? std::vector<std::string>{"AGE", "SERVICE", "OBJECT", "REASON", "MESSAGE"}
                  : std::vector<std::string>{"AGE", "OBJECT", "REASON", "MESSAGE"});
  for (const auto& event : events) {
    std::vector<std::string> row = {FormatAge(Text(event, "time"), now)};
    if (with_service) row.push_back(Field(event, "service"));
    for (const char* key : {"object", "reason", "message"}) row.push_back(Field(event, key));
    table.AddRow(std::move(row));
  }
  return table.Render();
}

absl::Status RunServices(const CommonFlags& common) {
  ASSIGN_OR_RETURN(Session session, Connect(common));
  ASSIGN_OR_RETURN(nlohmann::json services, session.client->Get(ApiPath("services")));
  if (session.PrintDocument(services)) return absl::OkStatus();
  const auto now = Clock::now();
  Table table({"NAME", "STATUS", "REPLICAS", "REVISION", "ENDPOINT", "AGE"});
  for (const auto& service : Items(services)) {
    table.AddRow({Field(service, "name"), Field(service, "status"), ReplicasCell(service),
                  RevisionCell(service), Field(service, "endpoint"),
                  FormatAge(Text(service, "created_at"), now)});
  }
  if (table.empty()) {
    std::cout << "no services yet: deploy one with berth deploy MODEL_FILE --name NAME "
                 "(or berth deploy --demo)\n";
    return absl::OkStatus();
  }
  std::cout << table.Render();
  return absl::OkStatus();
}

absl::Status RunDescribe(const CommonFlags& common, const std::string& name) {
  ASSIGN_OR_RETURN(Session session, Connect(common));
  ASSIGN_OR_RETURN(nlohmann::json service, session.client->Get(ApiPath("services", name)));
  ASSIGN_OR_RETURN(nlohmann::json revisions,
                   session.client->Get(ApiPath("services", name, "revisions")));
  ASSIGN_OR_RETURN(nlohmann::json replicas,
                   session.client->Get(ApiPath("services", name, "replicas")));
  ASSIGN_OR_RETURN(nlohmann::json events, FetchEvents(session, name, ""));
  if (events.size() > kDescribeEvents) {
    events.erase(events.begin(), events.end() - static_cast<std::ptrdiff_t>(kDescribeEvents));
  }
  if (session.PrintDocument({{"service", service},
                             {"revisions", Items(revisions)},
                             {"replicas", Items(replicas)},
                             {"events", events}})) {
    return absl::OkStatus();
  }
  const auto now = Clock::now();
  std::cout << "Name:        " << Field(service, "name") << "\n"
            << "Model:       " << Field(service, "model") << " version "
            << Field(service, "model_version") << "\n"
            << "Status:      " << Field(service, "status") << "\n";
  if (Field(service, "reason") != "-")
    std::cout << "Reason:      " << Field(service, "reason") << "\n";
  std::cout << "Endpoint:    " << Field(service, "endpoint") << "\n"
            << "gRPC:        " << Field(service, "grpc_endpoint") << "\n";
  if (service.contains("spec") && service["spec"].contains("model_name")) {
    std::cout << "V2 name:     " << service["spec"].value("model_name", "")
              << " (the model name V2 clients may use as well)\n";
  }
  if (const std::string v2 = Field(service, "v2_endpoint");
      v2 != "-" && v2 != Field(service, "endpoint")) {
    std::cout << "V2 infer:    " << v2 << "\n";
  }
  std::cout << "Revision:    " << RevisionCell(service) << "\n"
            << "Replicas:    " << ReplicasCell(service) << " ready\n";
  if (service.contains("autoscaler") && service["autoscaler"].is_object()) {
    const nlohmann::json& a = service["autoscaler"];
    std::cout << "Autoscaler:  " << Field(a, "desired_replicas") << " replicas"
              << (a.value("panicking", false) ? " (panicking)" : "") << ": "
              << Field(a, "reason") << "\n";
  }
  std::cout
            << "Created:     " << Field(service, "created_at") << " ("
            << FormatAge(Text(service, "created_at"), now) << " ago)\n"
            << "Spec:\n"
            << Indent(RenderDocument(service.value("spec", nlohmann::json::object()),
                                     OutputFormat::kYaml));
  Table revision_table({"REVISION", "STATUS", "SERVING", "TRAFFIC", "MODEL", "REASON", "AGE"});
  for (const auto& revision : Items(revisions)) {
    const nlohmann::json spec = revision.value("spec", nlohmann::json::object());
    revision_table.AddRow({Field(revision, "number"), Field(revision, "status"),
                           revision.value("serving", false) ? "yes" : "", TrafficCell(revision),
                           StrCat(Field(spec, "model"), ":", Field(spec, "model_version")),
                           Field(revision, "reason"),
                           FormatAge(Text(revision, "created_at"), now)});
  }
  std::cout << "Revisions:\n" << Indent(revision_table.Render());
  Table replica_table({"ID", "REVISION", "STATE", "PID", "RESTARTS", "REASON", "AGE"});
  for (const auto& replica : Items(replicas)) {
    replica_table.AddRow({Field(replica, "id"), Field(replica, "revision"), Field(replica, "state"),
                          Field(replica, "pid"), Field(replica, "restarts"),
                          Field(replica, "reason"),
                          FormatAge(Text(replica, "created_at"), now)});
  }
  std::cout << "Replicas:\n" << Indent(replica_table.Render());
  std::cout << "Events:\n" << (events.empty() ? "  <none>\n" : Indent(EventsTable(events, false)));
  if (Field(service, "sample_curl") != "-") {
    std::cout << "Try it:\n" << Indent(Field(service, "sample_curl"));
  }
  return absl::OkStatus();
}

absl::Status RunEvents(const CommonFlags& common, const std::string& service, bool watch) {
  ASSIGN_OR_RETURN(Session session, Connect(common));
  ASSIGN_OR_RETURN(nlohmann::json events, FetchEvents(session, service, ""));
  if (!watch) {
    if (session.PrintDocument({{"items", events}})) return absl::OkStatus();
    std::cout << (events.empty() ? "no events\n" : EventsTable(events, service.empty()));
    return absl::OkStatus();
  }
  // Watching: one line per event as it comes (JSON lines with -o json).
  std::string after;
  while (true) {
    for (const auto& event : events) {
      if (session.format == OutputFormat::kJson) {
        std::cout << event.dump() << "\n";
      } else if (session.format == OutputFormat::kYaml) {
        std::cout << "---\n" << RenderDocument(event, OutputFormat::kYaml);
      } else {
        std::cout << Field(event, "time") << "  "
                  << (service.empty() ? Field(event, "service") + "  " : "")
                  << Field(event, "object") << "  " << Field(event, "reason") << "  "
                  << Field(event, "message") << "\n";
      }
      after = EventId(event);
    }
    std::cout << std::flush;
    std::this_thread::sleep_for(kWatchInterval);
    ASSIGN_OR_RETURN(events, FetchEvents(session, service, after));
  }
}

struct LogsFlags {
  CommonFlags common;
  std::string service;
  std::string replica;
  int64_t tail = -1;
  bool follow = false;
  bool requests = false;
};

// One request-log entry as table cells.
std::vector<std::string> RequestCells(const nlohmann::json& e) {
  const double ms = e.value("latency_ms", 0.0);
  return {Field(e, "time"), Field(e, "method"), Field(e, "route"), Field(e, "status"),
          StrCat(ms < 10 ? std::round(ms * 100) / 100 : std::round(ms), " ms"),
          Field(e, "revision"), Field(e, "replica"), Field(e, "key"),
          FormatBytes(e.value("bytes_in", uint64_t{0})),
          FormatBytes(e.value("bytes_out", uint64_t{0}))};
}

const std::vector<std::string>& RequestHeaders() {
  static const std::vector<std::string> headers = {"TIME",     "METHOD",  "ROUTE", "STATUS",
                                                   "LATENCY",  "REVISION", "REPLICA", "KEY",
                                                   "IN",       "OUT"};
  return headers;
}

// -f: one line per request as it comes, in fixed columns (a table cannot know the widths of
// rows to come).
void PrintFollowedRow(const std::vector<std::string>& cells) {
  static constexpr size_t kWidths[] = {24, 6, 36, 6, 10, 8, 22, 16, 8, 8};
  std::string line;
  for (size_t i = 0; i < cells.size(); ++i) {
    line += cells[i];
    if (i + 1 == cells.size()) break;
    const size_t width = i < std::size(kWidths) ? kWidths[i] : 0;
    line.append(cells[i].size() < width ? width - cells[i].size() + 1 : 1, ' ');
  }
  std::cout << line << std::endl;
}

// berth logs SERVICE --requests: the gateway's request log of the service, oldest first like
// a log (the API answers newest first); with -f, then every request as it is logged.
absl::Status RunRequestLog(const LogsFlags& flags) {
  if (!flags.replica.empty()) {
    return UsageError("--requests is the gateway's log of the whole service: leave out --replica");
  }
  ASSIGN_OR_RETURN(Session session, Connect(flags.common));
  const int64_t limit = flags.tail > 0 ? std::min<int64_t>(flags.tail, 1000) : 100;
  const std::string path = ApiPath("services", flags.service, "requests");
  ASSIGN_OR_RETURN(nlohmann::json answer, session.client->Get(StrCat(path, "?limit=", limit)));
  const nlohmann::json items = Items(answer);
  uint64_t last_seq = 0;
  for (const auto& e : items) last_seq = std::max(last_seq, e.value("seq", uint64_t{0}));
  if (!flags.follow) {
    if (session.PrintDocument(answer)) return absl::OkStatus();
    Table table(RequestHeaders());
    for (auto it = items.rbegin(); it != items.rend(); ++it) table.AddRow(RequestCells(*it));
    if (table.empty()) {
      std::cout << "no requests yet (the gateway keeps the last 1000 of each service, in memory)\n";
      return absl::OkStatus();
    }
    std::cout << table.Render();
    return absl::OkStatus();
  }
  // With -o json (or yaml), one JSON object per line, as a stream of documents is read.
  const bool json = session.format != OutputFormat::kHuman;
  const auto print = [json](const nlohmann::json& e) {
    if (json) {
      std::cout << e.dump() << std::endl;
    } else {
      PrintFollowedRow(RequestCells(e));
    }
  };
  if (!json) PrintFollowedRow(RequestHeaders());
  for (auto it = items.rbegin(); it != items.rend(); ++it) print(*it);
  while (true) {
    std::this_thread::sleep_for(kWatchInterval);
    ASSIGN_OR_RETURN(nlohmann::json more,
                     session.client->Get(StrCat(path, "?limit=1000&after=", last_seq)));
    const nlohmann::json fresh = Items(more);
    for (auto it = fresh.rbegin(); it != fresh.rend(); ++it) {
      last_seq = std::max(last_seq, it->value("seq", uint64_t{0}));
      print(*it);
    }
  }
}

absl::Status RunLogs(const LogsFlags& flags) {
  if (flags.requests) return RunRequestLog(flags);
  ASSIGN_OR_RETURN(Session session, Connect(flags.common));
  const auto path = [&](int64_t tail) {
    std::string query;
    if (!flags.replica.empty()) StrAppend(&query, "replica=", UrlEncode(flags.replica));
    if (tail >= 0) StrAppend(&query, query.empty() ? "" : "&", "tail=", tail);
    return StrCat(ApiPath("services", flags.service, "logs"), query.empty() ? "" : "?", query);
  };
  if (!flags.follow) {
    ASSIGN_OR_RETURN(std::string text, session.client->GetText(path(flags.tail)));
    std::cout << text;
    if (!text.empty() && text.back() != '\n') std::cout << "\n";
    return absl::OkStatus();
  }
  // Every fetch takes the same window, so that lines are matched against the same stretch of
  // each replica's log; the first prints only the tail asked for.
  ServiceLogFollower follower;
  const int64_t follow_tail = std::max<int64_t>(flags.tail, 1000);
  size_t first = flags.tail >= 0 ? static_cast<size_t>(flags.tail) : 200;
  while (true) {
    ASSIGN_OR_RETURN(std::string text, session.client->GetText(path(follow_tail)));
    for (const std::string& line : follower.NewLines(text, first)) std::cout << line << "\n";
    first = std::string::npos;
    std::cout << std::flush;
    std::this_thread::sleep_for(kWatchInterval);
  }
}

absl::Status RunDelete(const CommonFlags& common, const std::string& name) {
  ASSIGN_OR_RETURN(Session session, Connect(common));
  ASSIGN_OR_RETURN(nlohmann::json answer, session.client->Delete(ApiPath("services", name)));
  if (session.PrintDocument(answer.is_null() ? nlohmann::json{{"name", name}, {"deleting", true}}
                                             : answer)) {
    return absl::OkStatus();
  }
  std::cout << "service " << name
            << " is being deleted: its replicas drain, then it disappears (berth services)\n";
  return absl::OkStatus();
}

// "revision N" for a revision that a rollback made to restore revision N's spec; "" otherwise.
std::string Restores(const nlohmann::json& revision) {
  const auto it = revision.find("rollback_of");
  return it == revision.end() || it->is_null() ? "" : StrCat("revision ", it->dump());
}

absl::Status RunRevisions(const CommonFlags& common, const std::string& name) {
  ASSIGN_OR_RETURN(Session session, Connect(common));
  ASSIGN_OR_RETURN(nlohmann::json revisions,
                   session.client->Get(ApiPath("services", name, "revisions")));
  if (session.PrintDocument(revisions)) return absl::OkStatus();
  const auto now = Clock::now();
  Table table({"REVISION", "STATUS", "SERVING", "TRAFFIC", "MODEL", "RESTORES", "AGE", "REASON"});
  for (const auto& rev : Items(revisions)) {
    const nlohmann::json& spec = rev.contains("spec") ? rev["spec"] : nlohmann::json::object();
    table.AddRow({Field(rev, "number"), Field(rev, "status"),
                  rev.value("serving", false) ? "yes" : "", TrafficCell(rev), Field(spec, "model"),
                  Restores(rev),
                  FormatAge(Text(rev, "created_at"), now), Field(rev, "reason")});
  }
  std::cout << table.Render();
  return absl::OkStatus();
}

absl::Status RunDiff(const CommonFlags& common, const std::string& name, int64_t a, int64_t b) {
  ASSIGN_OR_RETURN(Session session, Connect(common));
  ASSIGN_OR_RETURN(nlohmann::json revisions,
                   session.client->Get(ApiPath("services", name, "revisions")));
  const auto spec_of = [&](int64_t number) -> absl::StatusOr<nlohmann::json> {
    for (const auto& rev : Items(revisions)) {
      if (rev.value("number", int64_t{0}) == number) {
        return rev.value("spec", nlohmann::json::object());
      }
    }
    return absl::NotFoundError(StrCat("service ", name, " has no revision ", number,
                                      " (berth revisions ", name, " lists them)"));
  };
  ASSIGN_OR_RETURN(nlohmann::json before, spec_of(a));
  ASSIGN_OR_RETURN(nlohmann::json after, spec_of(b));
  const std::vector<SpecChange> changes = DiffSpecs(before, after);
  nlohmann::json doc = {{"service", name}, {"from", a}, {"to", b},
                        {"changes", nlohmann::json::array()}};
  for (const SpecChange& c : changes) {
    doc["changes"].push_back({{"path", c.path}, {"from", c.before}, {"to", c.after}});
  }
  if (session.PrintDocument(doc)) return absl::OkStatus();
  if (changes.empty()) {
    std::cout << "revisions " << a << " and " << b << " of " << name << " have the same spec\n";
    return absl::OkStatus();
  }
  const auto cell = [](const nlohmann::json& v) {
    return v.is_null() ? std::string("-") : v.is_string() ? v.get<std::string>() : v.dump();
  };
  Table table({"FIELD", StrCat("REVISION ", a), StrCat("REVISION ", b)});
  for (const SpecChange& c : changes) table.AddRow({c.path, cell(c.before), cell(c.after)});
  std::cout << table.Render();
  return absl::OkStatus();
}

absl::Status RunRollback(const CommonFlags& common, const std::string& name, int64_t to) {
  ASSIGN_OR_RETURN(Session session, Connect(common));
  nlohmann::json body = nlohmann::json::object();
  if (to > 0) body["revision"] = to;
  ASSIGN_OR_RETURN(nlohmann::json service,
                   session.client->Post(ApiPath("services", name, "rollback"), body));
  if (session.PrintDocument(service)) return absl::OkStatus();
  if (service.value("change", "") == "unchanged") {
    std::cout << "service " << name << ": already at that spec (revision "
              << Field(service, "latest_revision") << ")\n";
    return absl::OkStatus();
  }
  // Which revision it restores is in the new revision's record.
  std::string restored = "an earlier revision";
  if (auto revisions = session.client->Get(ApiPath("services", name, "revisions"));
      revisions.ok()) {
    for (const auto& rev : Items(*revisions)) {
      if (Field(rev, "number") == Field(service, "latest_revision") && !Restores(rev).empty()) {
        restored = Restores(rev);
      }
    }
  }
  std::cout << "service " << name << ": revision " << Field(service, "latest_revision")
            << " restores the spec of " << restored << " (follow it with berth describe " << name
            << ")\n";
  return absl::OkStatus();
}

absl::Status RunScale(const CommonFlags& common, const std::string& name, int64_t replicas) {
  ASSIGN_OR_RETURN(Session session, Connect(common));
  ASSIGN_OR_RETURN(nlohmann::json service,
                   session.client->Patch(ApiPath("services", name),
                                         nlohmann::json{{"replicas", replicas}}));
  if (session.PrintDocument(service)) return absl::OkStatus();
  std::cout << "scaled " << name << " to " << replicas << " replica"
            << (replicas == 1 ? "" : "s") << " (berth describe " << name << " shows them)\n";
  return absl::OkStatus();
}

absl::Status RunPredict(const CommonFlags& common, const std::string& service, std::string data) {
  std::string source = "--data";
  if (!data.empty() && data.front() == '@') {
    source = data.substr(1);
    std::ifstream file(source, std::ios::binary);
    if (!file) return UsageError(StrCat("--data ", data, ": cannot read ", source));
    std::ostringstream contents;
    contents << file.rdbuf();
    data = contents.str();
  }
  nlohmann::json request = nlohmann::json::parse(data, nullptr, /*allow_exceptions=*/false);
  if (!request.is_object()) {
    return UsageError(StrCat(source, ": not a JSON object; write a V2 inference request like ",
                             R"({"inputs": [{"name": "x", "datatype": "FP32", "shape": [1, 2], )",
                             R"("data": [1, 2]}]})"));
  }
  ASSIGN_OR_RETURN(Session session, Connect(common));
  ASSIGN_OR_RETURN(
      nlohmann::json answer,
      session.client->Post(StrCat("/v2/models/", UrlEncode(service), "/infer"), request));
  if (!session.PrintDocument(answer)) std::cout << answer.dump(2) << "\n";
  return absl::OkStatus();
}

struct NamedFlags {
  CommonFlags common;
  std::string name;
};

// A command that takes one NAME argument and the common flags.
CLI::App* AddNamedCommand(CLI::App& app, int* exit_code, const char* command,
                          const char* description, const char* argument_help,
                          absl::Status (*run)(const CommonFlags&, const std::string&)) {
  auto flags = std::make_shared<NamedFlags>();
  CLI::App* sub = app.add_subcommand(command, description);
  sub->add_option("SERVICE", flags->name, argument_help)->required();
  AddCommonFlags(sub, &flags->common);
  SetCommand(sub, exit_code, [flags, run] { return run(flags->common, flags->name); });
  return sub;
}

struct NumberedFlags {
  CommonFlags common;
  std::string name;
  int64_t number = 0;
};

// A command that takes one SERVICE argument, a whole-number option and the common flags.
// Returns the option, for its checks.
CLI::Option* AddNumberedCommand(CLI::App& app, int* exit_code, const char* command,
                                const char* description, const char* option,
                                const char* option_help,
                                absl::Status (*run)(const CommonFlags&, const std::string&,
                                                    int64_t)) {
  auto flags = std::make_shared<NumberedFlags>();
  CLI::App* sub = app.add_subcommand(command, description);
  sub->add_option("SERVICE", flags->name, "the service")->required();
  CLI::Option* number = sub->add_option(option, flags->number, option_help);
  AddCommonFlags(sub, &flags->common);
  SetCommand(sub, exit_code,
             [flags, run] { return run(flags->common, flags->name, flags->number); });
  return number;
}

}  // namespace

void AddServiceCommands(CLI::App& app, int* exit_code) {
  auto services_flags = std::make_shared<CommonFlags>();
  CLI::App* services = app.add_subcommand("services", "List services");
  AddCommonFlags(services, services_flags.get());
  SetCommand(services, exit_code, [services_flags] { return RunServices(*services_flags); });

  AddNamedCommand(app, exit_code, "describe",
                  "Show a service: spec, revisions, replicas, recent events", "the service",
                  &RunDescribe);
  AddNamedCommand(app, exit_code, "delete", "Delete a service (its replicas drain first)",
                  "the service", &RunDelete);
  AddNamedCommand(app, exit_code, "revisions",
                  "List a service's revisions: status, which serves, which a rollback restored",
                  "the service", &RunRevisions);
  AddNumberedCommand(
      app, exit_code, "rollback",
      "Roll a service back to the revision that last served all traffic, or --to-revision N",
      "--to-revision", "the revision whose spec to restore (berth revisions lists them)",
      &RunRollback)
      ->check(CLI::PositiveNumber);
  struct DiffFlags {
    CommonFlags common;
    std::string service;
    int64_t from = 0, to = 0;
  };
  auto diff_flags = std::make_shared<DiffFlags>();
  CLI::App* diff = app.add_subcommand(
      "diff", "Show what differs between the specs of two revisions of a service");
  diff->add_option("SERVICE", diff_flags->service, "the service")->required();
  diff->add_option("A", diff_flags->from, "a revision (berth revisions lists them)")
      ->required()
      ->check(CLI::PositiveNumber);
  diff->add_option("B", diff_flags->to, "the revision to compare it with")
      ->required()
      ->check(CLI::PositiveNumber);
  AddCommonFlags(diff, &diff_flags->common);
  SetCommand(diff, exit_code, [diff_flags] {
    return RunDiff(diff_flags->common, diff_flags->service, diff_flags->from, diff_flags->to);
  });
  AddNumberedCommand(app, exit_code, "scale",
                     "Set a service's replica count (no new revision; 0 stops every replica)",
                     "--replicas", "how many replicas, 0 to 64", &RunScale)
      ->required()
      ->check(CLI::Range(int64_t{0}, int64_t{64}));

  struct EventsFlags {
    CommonFlags common;
    std::string service;
    bool watch = false;
  };
  auto events_flags = std::make_shared<EventsFlags>();
  CLI::App* events = app.add_subcommand("events", "Show events, oldest first (of one service)");
  events->add_option("SERVICE", events_flags->service, "only this service's events");
  events->add_flag("-w,--watch", events_flags->watch, "keep printing new events as they come");
  AddCommonFlags(events, &events_flags->common);
  SetCommand(events, exit_code, [events_flags] {
    return RunEvents(events_flags->common, events_flags->service, events_flags->watch);
  });

  auto logs_flags = std::make_shared<LogsFlags>();
  CLI::App* logs = app.add_subcommand(
      "logs", "Print the logs of a service's replicas, or its last requests (--requests)");
  logs->add_option("SERVICE", logs_flags->service, "the service")->required();
  logs->add_option("--replica", logs_flags->replica, "only this replica (see berth describe)");
  logs->add_option("--tail", logs_flags->tail, "only the last N lines (at most 10000)")
      ->check(CLI::Range(int64_t{0}, int64_t{10000}));
  logs->add_flag("-f,--follow", logs_flags->follow, "keep printing new lines");
  logs->add_flag("--requests", logs_flags->requests,
                 "the service's last requests through the gateway (time, route, status, "
                 "latency, replica, key name, bytes) instead of the replicas' logs");
  AddCommonFlags(logs, &logs_flags->common);
  SetCommand(logs, exit_code, [logs_flags] { return RunLogs(*logs_flags); });

  struct PredictFlags {
    CommonFlags common;
    std::string service;
    std::string data;
  };
  auto predict_flags = std::make_shared<PredictFlags>();
  CLI::App* predict = app.add_subcommand(
      "predict", "Send one V2 inference request to a service and print the answer");
  predict->add_option("SERVICE", predict_flags->service, "the service")->required();
  predict->add_option("--data", predict_flags->data, "the request as JSON, or @FILE")->required();
  AddCommonFlags(predict, &predict_flags->common);
  SetCommand(predict, exit_code, [predict_flags] {
    return RunPredict(predict_flags->common, predict_flags->service, predict_flags->data);
  });
}

}  // namespace berth::cli
