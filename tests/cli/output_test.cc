#include "cli/output.h"

#include "gtest/gtest.h"
#include "yaml-cpp/yaml.h"

namespace berth::cli {
namespace {

TEST(TableTest, AlignsColumnsWithoutTrailingBlanks) {
  Table table({"NAME", "STATUS", "AGE"});
  table.AddRow({"demo", "Ready", "5m"});
  table.AddRow({"resnet-large", "Deploying"});  // a missing cell prints empty
  EXPECT_EQ(table.Render(),
            "NAME           STATUS      AGE\n"
            "demo           Ready       5m\n"
            "resnet-large   Deploying\n");
}

TEST(TableTest, HeadersOnlyWhenEmpty) {
  Table table({"ID", "NAME"});
  EXPECT_TRUE(table.empty());
  EXPECT_EQ(table.Render(), "ID   NAME\n");
}

TEST(RenderDocumentTest, JsonIsPretty) {
  EXPECT_EQ(RenderDocument({{"a", 1}}, OutputFormat::kJson), "{\n  \"a\": 1\n}\n");
}

TEST(RenderDocumentTest, YamlRoundTripsTypes) {
  const nlohmann::json document = {{"name", "demo"},       {"replicas", 2},
                                   {"cpu", 0.5},           {"ready", true},
                                   {"reason", nullptr},    {"version", "1"},
                                   {"flag", "yes"},        {"empty", ""},
                                   {"labels", {"0", "1"}}, {"spec", {{"memory", "2Gi"}}}};
  const YAML::Node parsed = YAML::Load(RenderDocument(document, OutputFormat::kYaml));
  EXPECT_EQ(parsed["name"].as<std::string>(), "demo");
  EXPECT_EQ(parsed["replicas"].as<int>(), 2);
  EXPECT_DOUBLE_EQ(parsed["cpu"].as<double>(), 0.5);
  EXPECT_TRUE(parsed["ready"].as<bool>());
  EXPECT_TRUE(parsed["reason"].IsNull());
  EXPECT_EQ(parsed["spec"]["memory"].as<std::string>(), "2Gi");
  // Strings that would read as numbers, booleans or null stay quoted strings.
  const std::string yaml = RenderDocument(document, OutputFormat::kYaml);
  EXPECT_NE(yaml.find("version: \"1\""), std::string::npos) << yaml;
  EXPECT_NE(yaml.find("flag: \"yes\""), std::string::npos) << yaml;
  EXPECT_NE(yaml.find("empty: \"\""), std::string::npos) << yaml;
  EXPECT_NE(yaml.find("- \"0\""), std::string::npos) << yaml;
}

TEST(CellTest, ShortForms) {
  EXPECT_EQ(Cell(nullptr), "-");
  EXPECT_EQ(Cell(""), "-");
  EXPECT_EQ(Cell("x"), "x");
  EXPECT_EQ(Cell(3), "3");
  EXPECT_EQ(Cell(nlohmann::json{"deploy", "read"}), "deploy,read");
  EXPECT_EQ(Cell(nlohmann::json::array()), "-");
  EXPECT_EQ(Field({{"a", 1}}, "a"), "1");
  EXPECT_EQ(Field({{"a", 1}}, "b"), "-");
  EXPECT_EQ(Field(nlohmann::json::array(), "a"), "-");
  EXPECT_EQ(FormatShape({-1, 1, 28, 28}), "[-1, 1, 28, 28]");
}

TEST(IndentTest, EveryLine) {
  EXPECT_EQ(Indent("a\nb\n"), "  a\n  b\n");
  EXPECT_EQ(Indent("a"), "  a\n");
  EXPECT_EQ(Indent(""), "");
}

TEST(ItemsTest, ToleratesOtherShapes) {
  EXPECT_EQ(Items({{"items", {1, 2}}}).size(), 2u);
  EXPECT_TRUE(Items(nullptr).empty());
  EXPECT_TRUE(Items({{"items", "no"}}).empty());
}

TEST(ProgressBarTest, FillsWithProgress) {
  EXPECT_EQ(RenderProgressBar(0, 100, 10), "[----------]   0%  0 B / 100 B");
  EXPECT_EQ(RenderProgressBar(50, 100, 10), "[#####-----]  50%  50 B / 100 B");
  EXPECT_EQ(RenderProgressBar(100, 100, 10), "[##########] 100%  100 B / 100 B");
}

TEST(ParseOutputFormatTest, KnownFormats) {
  EXPECT_EQ(*ParseOutputFormat(""), OutputFormat::kHuman);
  EXPECT_EQ(*ParseOutputFormat("json"), OutputFormat::kJson);
  EXPECT_EQ(*ParseOutputFormat("yaml"), OutputFormat::kYaml);
  EXPECT_FALSE(ParseOutputFormat("xml").ok());
}

}  // namespace
}  // namespace berth::cli
