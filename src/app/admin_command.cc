#include "app/admin_command.h"

#include <cstdio>
#include <filesystem>
#include <memory>
#include <string>

#include "app/data_dir.h"
#include "common/clock.h"
#include "common/strings.h"
#include "control/api_key.h"
#include "control/auth.h"
#include "control/controller.h"
#include "control/sqlite_store.h"

namespace berth::app {
namespace {

namespace fs = std::filesystem;

struct ResetKeyFlags {
  std::string data_dir;
  std::string name = "admin";
};

int Fail(const std::string& message) {
  std::fprintf(stderr, "berth admin reset-key: %s\n", message.c_str());
  return 1;
}

int RunResetKey(ResetKeyFlags flags) {
  if (flags.data_dir.empty()) flags.data_dir = DefaultDataDir();
  std::error_code ec;
  const fs::path db = fs::path(flags.data_dir) / "berth.db";
  if (!fs::is_regular_file(db, ec)) {
    return Fail(StrCat("no berth data directory at ", flags.data_dir, " (", db.string(),
                       " does not exist); give the server's --data-dir"));
  }
  // The server keeps the keys in memory: a key changed behind a running one would not take
  // effect there.
  auto lock = DataDirLock::Acquire(flags.data_dir);
  if (!lock.ok()) {
    return Fail(StrCat(Msg(lock.status()),
                       "; stop it first (a running server's keys are managed with berth keys)"));
  }
  auto store = control::SqliteStore::Open(db.string());
  if (!store.ok()) return Fail(std::string(Msg(store.status())));
  auto keys = (*store)->ListKeys();
  if (!keys.ok()) return Fail(std::string(Msg(keys.status())));
  auto auth = control::Authenticator::Create({.store = store->get(), .flush_period_ms = 0});
  if (!auth.ok()) return Fail(std::string(Msg(auth.status())));

  const auto is_admin = [](const control::ApiKeyRecord& key) {
    for (const std::string& scope : key.scopes) {
      if (scope == "admin") return true;
    }
    return false;
  };
  // Names are unique among active keys: a key that stays must not have the new one's.
  for (const control::ApiKeyRecord& key : *keys) {
    if (key.revoked_at == 0 && !is_admin(key) && key.name == flags.name) {
      return Fail(StrCat("an active key named '", flags.name, "' exists (", key.id,
                         "); choose another --name"));
    }
  }
  std::vector<std::string> revoked;
  for (const control::ApiKeyRecord& key : *keys) {
    if (key.revoked_at != 0 || !is_admin(key)) continue;
    if (auto status = (*auth)->RevokeKey(key.id); !status.ok()) {
      return Fail(StrCat("cannot revoke key ", key.id, ": ", Msg(status)));
    }
    revoked.push_back(StrCat(key.name, " (", key.id, ", ", key.prefix, "...)"));
  }
  auto generated = control::GenerateApiKey();
  if (!generated.ok()) return Fail(std::string(Msg(generated.status())));
  control::ApiKeyRecord record;
  record.id = StrCat("key-", control::RandomName(10));
  record.name = flags.name;
  record.hash = generated->hash;
  record.prefix = generated->display;
  record.scopes = {"admin"};
  record.created_at = RealClock().WallMs();
  if (auto status = (*auth)->AddKey(record); !status.ok()) {
    return Fail(StrCat("cannot store the new key: ", Msg(status)));
  }
  for (const std::string& key : revoked) std::fprintf(stderr, "revoked admin key %s\n", key.c_str());
  if (revoked.empty()) std::fprintf(stderr, "no admin key was active\n");
  std::fprintf(stderr, "a new admin key '%s' (%s) was created; it is shown this once:\n",
               record.name.c_str(), record.id.c_str());
  std::printf("%s\n", generated->key.c_str());
  return 0;
}

}  // namespace

void AddAdminCommand(CLI::App& app, int* exit_code) {
  CLI::App* admin = app.add_subcommand(
      "admin", "Recovery on a data directory while its server is stopped (reset-key)");
  admin->require_subcommand(1);
  auto flags = std::make_shared<ResetKeyFlags>();
  CLI::App* reset = admin->add_subcommand(
      "reset-key",
      "Revoke every admin key of a data directory and print a new one (for a lost admin key; "
      "the server must be stopped)");
  reset->add_option("--data-dir", flags->data_dir,
                    "the server's data directory (default: $XDG_DATA_HOME/berth or "
                    "~/.local/share/berth)");
  reset->add_option("--name", flags->name, "the new key's name");
  reset->callback([flags, exit_code] { *exit_code = RunResetKey(*flags); });
}

}  // namespace berth::app
