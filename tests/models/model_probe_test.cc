#include "models/model_probe.h"

#include <gtest/gtest.h>

#include <set>

#include "common/strings.h"
#include "tests/models/test_support.h"

namespace berth::models {
namespace {

using testing::ReadFile;
using testing::TempDir;
using testing::WriteFile;

TEST(DescribeModelTest, DescribesTheAddSubFixture) {
  auto described = DescribeModel("tests/fixtures/models/add_sub/1/model.onnx", ModelFormat::kOnnx);
  ASSERT_TRUE(described.ok()) << described.status();
  const nlohmann::json& json = *described;
  EXPECT_EQ(json["max_batch_size"], 8);
  ASSERT_EQ(json["inputs"].size(), 2u);
  EXPECT_EQ(json["inputs"][0]["name"], "INPUT0");
  EXPECT_EQ(json["inputs"][1]["name"], "INPUT1");
  for (const auto& tensor : json["inputs"]) {
    EXPECT_EQ(tensor["datatype"], "FP32");
    EXPECT_EQ(tensor["shape"], nlohmann::json::parse("[-1, 16]"));
  }
  ASSERT_EQ(json["outputs"].size(), 2u);
  EXPECT_EQ(json["outputs"][0]["name"], "OUTPUT0");
  EXPECT_EQ(json["outputs"][1]["datatype"], "FP32");
}

TEST(DescribeModelTest, UsesV2DatatypeNames) {
  auto described =
      DescribeModel("tests/fixtures/models/identity_all/1/model.onnx", ModelFormat::kOnnx);
  ASSERT_TRUE(described.ok()) << described.status();
  std::set<std::string> datatypes;
  for (const auto& tensor : (*described)["inputs"]) datatypes.insert(tensor["datatype"]);
  for (const char* expected : {"BOOL", "UINT8", "INT64", "FP16", "FP32", "FP64", "BYTES"}) {
    EXPECT_TRUE(datatypes.contains(expected)) << expected;
  }
}

TEST(DescribeModelTest, TorchScriptLoadsButDeclaresNoSignature) {
  auto described =
      DescribeModel("tests/fixtures/models/tiny_cnn_pt/1/model.pt", ModelFormat::kTorchScript);
#ifdef BERTH_WITH_TORCH
  ASSERT_TRUE(described.ok()) << described.status();
  EXPECT_TRUE((*described)["inputs"].empty());
  EXPECT_TRUE((*described)["outputs"].empty());
  EXPECT_NE((*described)["note"].get<std::string>().find("config.pbtxt"), std::string::npos);
#else
  EXPECT_FALSE(described.ok());
#endif
}

TEST(DescribeModelTest, CorruptFilesReportTheEnginesReason) {
  TempDir dir;
  const std::string model = ReadFile("tests/fixtures/models/tiny_cnn/1/model.onnx");
  WriteFile(dir.path() / "cut.onnx", model.substr(0, model.size() / 2));
  auto onnx = DescribeModel(dir.path() / "cut.onnx", ModelFormat::kOnnx);
  ASSERT_FALSE(onnx.ok());
  EXPECT_EQ(onnx.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(Msg(onnx.status()).find("ONNX Runtime cannot load"), std::string_view::npos)
      << onnx.status();
  EXPECT_NE(Msg(onnx.status()).find("Protobuf parsing failed"), std::string_view::npos)
      << onnx.status();

#ifdef BERTH_WITH_TORCH
  const std::string pt = ReadFile("tests/fixtures/models/tiny_cnn_pt/1/model.pt");
  WriteFile(dir.path() / "cut.pt", pt.substr(0, pt.size() / 2));
  auto torch = DescribeModel(dir.path() / "cut.pt", ModelFormat::kTorchScript);
  ASSERT_FALSE(torch.ok());
  EXPECT_NE(Msg(torch.status()).find("libtorch cannot load"), std::string_view::npos)
      << torch.status();
#endif
}

TEST(DescribeModelTest, OnlyServableFormatsAreDescribed) {
  auto described =
      DescribeModel("tests/fixtures/models/add_sub/1/model.onnx", ModelFormat::kSavedModel);
  EXPECT_EQ(described.status().code(), absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace berth::models
