// What the control-plane tests share: a scratch directory of their own (named after the test,
// removed afterwards) and API keys made for a test.
#pragma once

#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <string>
#include <vector>

#include "common/clock.h"
#include "common/strings.h"
#include "control/api_key.h"
#include "control/auth.h"

namespace berth::control {

// An empty directory under the test temp dir, unique to this process and test; removed with
// everything in it when the object goes.
class ScratchDir {
 public:
  explicit ScratchDir(std::string_view prefix) {
    const auto* test = ::testing::UnitTest::GetInstance()->current_test_info();
    std::string name = test ? StrCat(test->test_suite_name(), ".", test->name()) : "none";
    for (char& c : name) {
      if (c == '/') c = '_';  // parameterised tests
    }
    path_ = std::filesystem::path(::testing::TempDir()) / StrCat(prefix, "_", getpid(), "_", name);
    std::filesystem::remove_all(path_);
    std::filesystem::create_directories(path_);
  }
  ~ScratchDir() {
    std::error_code ignored;
    std::filesystem::remove_all(path_, ignored);
  }
  ScratchDir(const ScratchDir&) = delete;
  ScratchDir& operator=(const ScratchDir&) = delete;

  const std::filesystem::path& path() const { return path_; }
  std::string operator/(std::string_view file) const { return (path_ / file).string(); }

 private:
  std::filesystem::path path_;
};

// Adds a key named `id` + "-name" with `scopes` through `auth`; returns the key itself.
inline std::string AddTestKey(Authenticator& auth, const Clock& clock, const std::string& id,
                              std::vector<std::string> scopes, TimeMs expires_at = 0) {
  auto key = GenerateApiKey();
  EXPECT_TRUE(key.ok());
  ApiKeyRecord record;
  record.id = id;
  record.name = id + "-name";
  record.hash = key->hash;
  record.prefix = key->display;
  record.scopes = std::move(scopes);
  record.created_at = clock.WallMs();
  record.expires_at = expires_at;
  EXPECT_TRUE(auth.AddKey(record).ok());
  return key->key;
}

}  // namespace berth::control
