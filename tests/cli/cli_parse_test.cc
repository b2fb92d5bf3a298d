// The command line's own errors: "did you mean" for a mistyped command or flag, exit status 2.
#include "cli/cli.h"

#include "gtest/gtest.h"

namespace berth::cli {
namespace {

TEST(ClosestMatchTest, SuggestsOnlyWhatIsCloseEnoughToBeATypo) {
  const std::vector<std::string> commands = {"services", "scale", "describe", "deploy", "delete"};
  EXPECT_EQ(ClosestMatch("servics", commands), "services");
  EXPECT_EQ(ClosestMatch("delpoy", commands), "deploy");
  EXPECT_EQ(ClosestMatch("scael", commands), "scale");
  EXPECT_EQ(ClosestMatch("frobnicate", commands), "");
  EXPECT_EQ(ClosestMatch("--ouput", {"--output", "--server", "--key"}), "--output");
  EXPECT_EQ(ClosestMatch("--replica", {"--replicas", "--name"}), "--replicas");
  EXPECT_EQ(ClosestMatch("x", {}), "");
}

// A small app shaped like berth's: the real parser, the real messages.
struct TestApp {
  TestApp() {
    app.require_subcommand(1);
    CLI::App* scale = app.add_subcommand("scale", "scale it");
    scale->add_option("--replicas", replicas, "how many");
    app.add_subcommand("services", "list them");
  }
  std::optional<int> Parse(std::vector<std::string> words) {
    std::vector<char*> argv = {const_cast<char*>("berth")};
    for (std::string& w : words) argv.push_back(w.data());
    return ParseCommandLine(app, static_cast<int>(argv.size()), argv.data());
  }
  CLI::App app{"test", "berth"};
  int replicas = 0;
};

TEST(ParseCommandLineTest, UsageErrorsExitTwoWithASuggestion) {
  {
    TestApp t;
    testing::internal::CaptureStderr();
    EXPECT_EQ(t.Parse({"servics"}), 2);
    const std::string err = testing::internal::GetCapturedStderr();
    EXPECT_NE(err.find("unknown command 'servics'; did you mean 'services'?"), std::string::npos)
        << err;
  }
  {
    TestApp t;
    testing::internal::CaptureStderr();
    EXPECT_EQ(t.Parse({"scale", "--replica", "3"}), 2);
    const std::string err = testing::internal::GetCapturedStderr();
    EXPECT_NE(err.find("did you mean --replicas?"), std::string::npos) << err;
    EXPECT_NE(err.find("berth scale --help"), std::string::npos) << err;
  }
  {
    TestApp t;
    testing::internal::CaptureStderr();
    EXPECT_EQ(t.Parse({}), 2);
    const std::string err = testing::internal::GetCapturedStderr();
    EXPECT_NE(err.find("commands:"), std::string::npos) << err;
    EXPECT_NE(err.find("services"), std::string::npos) << err;
  }
  TestApp ok;
  EXPECT_EQ(ok.Parse({"scale", "--replicas", "3"}), std::nullopt);
  EXPECT_EQ(ok.replicas, 3);
}

}  // namespace
}  // namespace berth::cli
