#include "cli/config.h"

#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <map>

#include "gtest/gtest.h"

namespace berth::cli {
namespace {

class ConfigTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::path(::testing::TempDir()) /
           ("berth_cli_config_" + std::to_string(getpid()) + "_" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    std::filesystem::remove_all(dir_);
    std::filesystem::create_directories(dir_);
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }

  EnvLookup Env() const {
    return [this](const char* name) -> const char* {
      auto it = env_.find(name);
      return it == env_.end() ? nullptr : it->second.c_str();
    };
  }

  static mode_t Mode(const std::filesystem::path& path) {
    struct stat info {};
    EXPECT_EQ(stat(path.c_str(), &info), 0) << path;
    return info.st_mode & 0777;
  }

  std::filesystem::path dir_;
  std::map<std::string, std::string> env_;
};

TEST_F(ConfigTest, DefaultPathFollowsXdgThenHome) {
  env_["HOME"] = "/home/ada";
  EXPECT_EQ(*DefaultConfigPath(Env()), "/home/ada/.config/berth/config.json");
  env_["XDG_CONFIG_HOME"] = "/xdg";
  EXPECT_EQ(*DefaultConfigPath(Env()), "/xdg/berth/config.json");
  env_.clear();
  EXPECT_FALSE(DefaultConfigPath(Env()).ok());
}

TEST_F(ConfigTest, WriteThenReadWithPrivateModes) {
  const auto path = dir_ / "xdg" / "berth" / "config.json";
  const mode_t old_umask = umask(0);  // the modes must not depend on the umask
  ASSERT_TRUE(WriteConfig(path, {.server = "http://localhost:8080", .key = "brth_secret"}).ok());
  umask(old_umask);
  EXPECT_EQ(Mode(path), 0600u);
  EXPECT_EQ(Mode(path.parent_path()), 0700u);
  auto loaded = ReadConfig(path);
  ASSERT_TRUE(loaded.ok()) << loaded.status();
  ASSERT_TRUE(loaded->has_value());
  EXPECT_EQ((*loaded)->config.server, "http://localhost:8080");
  EXPECT_EQ((*loaded)->config.key, "brth_secret");
  EXPECT_FALSE((*loaded)->readable_by_others);
}

TEST_F(ConfigTest, RewriteTightensLooseModes) {
  const auto path = dir_ / "berth" / "config.json";
  std::filesystem::create_directories(path.parent_path());
  chmod(path.parent_path().c_str(), 0755);
  std::ofstream(path) << R"({"server": "http://a", "key": "k"})";
  chmod(path.c_str(), 0644);
  auto loaded = ReadConfig(path);
  ASSERT_TRUE(loaded.ok() && loaded->has_value());
  EXPECT_TRUE((*loaded)->readable_by_others);
  ASSERT_TRUE(WriteConfig(path, {.server = "http://b", .key = "k2"}).ok());
  EXPECT_EQ(Mode(path), 0600u);
  EXPECT_EQ(Mode(path.parent_path()), 0700u);
  EXPECT_EQ((*ReadConfig(path))->config.server, "http://b");
}

TEST_F(ConfigTest, MissingFileIsNoConfig) {
  auto loaded = ReadConfig(dir_ / "none.json");
  ASSERT_TRUE(loaded.ok());
  EXPECT_FALSE(loaded->has_value());
}

TEST_F(ConfigTest, MalformedFileNamesItAndTheFix) {
  const auto path = dir_ / "config.json";
  std::ofstream(path) << R"({"server": 1})";
  auto loaded = ReadConfig(path);
  ASSERT_FALSE(loaded.ok());
  const std::string message(loaded.status().message());
  EXPECT_NE(message.find(path.string()), std::string::npos) << message;
  EXPECT_NE(message.find("berth login"), std::string::npos) << message;
}

TEST_F(ConfigTest, FlagsBeatEnvironmentBeatFile) {
  const auto path = dir_ / "config.json";
  ASSERT_TRUE(WriteConfig(path, {.server = "http://file:1", .key = "file-key"}).ok());
  auto resolved = ResolveConnection("", "", Env(), path);
  ASSERT_TRUE(resolved.ok()) << resolved.status();
  EXPECT_EQ(resolved->config.server, "http://file:1");
  EXPECT_EQ(resolved->config.key, "file-key");

  env_["BERTH_SERVER"] = "env:2";
  env_["BERTH_API_KEY"] = "env-key";
  resolved = ResolveConnection("", "", Env(), path);
  EXPECT_EQ(resolved->config.server, "http://env:2");
  EXPECT_EQ(resolved->config.key, "env-key");

  resolved = ResolveConnection("https://flag:3/", "flag-key", Env(), path);
  EXPECT_EQ(resolved->config.server, "https://flag:3");
  EXPECT_EQ(resolved->config.key, "flag-key");
}

TEST_F(ConfigTest, EnvironmentAloneNeedsNoConfigFile) {
  env_["BERTH_SERVER"] = "http://127.0.0.1:9";
  env_["BERTH_API_KEY"] = "k";
  auto resolved = ResolveConnection("", "", Env(), "");
  ASSERT_TRUE(resolved.ok()) << resolved.status();
  EXPECT_EQ(resolved->config.server, "http://127.0.0.1:9");
}

TEST_F(ConfigTest, NothingConfiguredSaysRunLogin) {
  auto resolved = ResolveConnection("", "", Env(), dir_ / "none.json");
  ASSERT_FALSE(resolved.ok());
  EXPECT_NE(resolved.status().message().find("run berth login --server URL --key KEY"),
            absl::string_view::npos)
      << resolved.status();
  // A server without a key is not enough either, and the message never echoes a key.
  resolved = ResolveConnection("http://x", "", Env(), dir_ / "none.json");
  ASSERT_FALSE(resolved.ok());
  EXPECT_NE(resolved.status().message().find("API key"), absl::string_view::npos);
}

TEST(NormalizeServerUrlTest, SchemesAndSlashes) {
  EXPECT_EQ(*NormalizeServerUrl("localhost:8080"), "http://localhost:8080");
  EXPECT_EQ(*NormalizeServerUrl("https://berth.example.com/"), "https://berth.example.com");
  EXPECT_FALSE(NormalizeServerUrl("").ok());
  EXPECT_FALSE(NormalizeServerUrl("ftp://x").ok());
  EXPECT_FALSE(NormalizeServerUrl("http://").ok());
}

}  // namespace
}  // namespace berth::cli
