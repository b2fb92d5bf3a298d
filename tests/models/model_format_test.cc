#include "models/model_format.h"

#include <gtest/gtest.h>

#include <cstdio>
#include <cstring>

#include "common/strings.h"
#include "tests/models/test_support.h"

namespace berth::models {
namespace {

namespace fs = std::filesystem;
using testing::MakeTar;
using testing::MakeZip;
using testing::ReadFile;
using testing::TempDir;
using testing::WriteFile;

constexpr char kAddSub[] = "tests/fixtures/models/add_sub/1/model.onnx";
constexpr char kTinyCnn[] = "tests/fixtures/models/tiny_cnn/1/model.onnx";
constexpr char kTinyCnnPt[] = "tests/fixtures/models/tiny_cnn_pt/1/model.pt";

void ExpectNotAModel(const absl::StatusOr<DetectedModel>& detected, std::string_view detail = {}) {
  ASSERT_FALSE(detected.ok()) << detected->description;
  EXPECT_EQ(detected.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(Msg(detected.status())
                .find("not a model berth can serve: it serves ONNX files and TorchScript "
                      "archives (torch.jit.save); TensorFlow SavedModels and MLflow models are "
                      "recognised but not served yet"),
            std::string_view::npos)
      << detected.status();
  EXPECT_NE(Msg(detected.status()).find(detail), std::string_view::npos) << detected.status();
}

TEST(ModelFormatTest, RecognisesEveryOnnxFixture) {
  for (const char* path :
       {"tests/fixtures/models/add_sub/1/model.onnx",
        "tests/fixtures/models/identity_all/1/model.onnx",
        "tests/fixtures/models/tiny_cnn/1/model.onnx",
        "tests/fixtures/models/versioned/1/model.onnx",
        "tests/fixtures/models/versioned/3/model.onnx", "models/demo/digits/1/model.onnx"}) {
    auto detected = DetectModelFormat(path);
    ASSERT_TRUE(detected.ok()) << path << ": " << detected.status();
    EXPECT_EQ(detected->format, ModelFormat::kOnnx) << path;
    EXPECT_EQ(detected->description, "ONNX IR 7, opset 13") << path;
    EXPECT_FALSE(detected->servable_format.has_value());
    EXPECT_TRUE(CheckServable(*detected).ok());
  }
}

TEST(ModelFormatTest, RecognisesTheTorchScriptFixture) {
  auto detected = DetectModelFormat(kTinyCnnPt);
  ASSERT_TRUE(detected.ok()) << detected.status();
  EXPECT_EQ(detected->format, ModelFormat::kTorchScript);
  EXPECT_EQ(detected->description, "TorchScript archive");
  EXPECT_TRUE(CheckServable(*detected).ok());
}

TEST(ModelFormatTest, DecidesFromContentNotFileName) {
  TempDir dir;
  fs::copy_file(kAddSub, dir.path() / "weights.bin");
  fs::copy_file(kTinyCnnPt, dir.path() / "model.onnx");
  WriteFile(dir.path() / "model.pt", "definitely not a model\n");
  EXPECT_EQ(DetectModelFormat(dir.path() / "weights.bin")->format, ModelFormat::kOnnx);
  EXPECT_EQ(DetectModelFormat(dir.path() / "model.onnx")->format, ModelFormat::kTorchScript);
  ExpectNotAModel(DetectModelFormat(dir.path() / "model.pt"));
}

TEST(ModelFormatTest, RejectsGarbageEmptyFilesAndTheBrokenFixture) {
  TempDir dir;
  WriteFile(dir.path() / "garbage", std::string(4096, '\x5a'));
  WriteFile(dir.path() / "empty", "");
  ExpectNotAModel(DetectModelFormat(dir.path() / "garbage"));
  ExpectNotAModel(DetectModelFormat(dir.path() / "empty"), "empty");
  ExpectNotAModel(DetectModelFormat("tests/fixtures/models/broken/1/model.onnx"));
}

TEST(ModelFormatTest, RejectsTruncatedOnnxSayingWhere) {
  TempDir dir;
  const std::string model = ReadFile(kTinyCnn);
  WriteFile(dir.path() / "half.onnx", model.substr(0, model.size() / 2));
  ExpectNotAModel(DetectModelFormat(dir.path() / "half.onnx"), "truncated");
  // Cut inside the first field header's varint: still reported, never read out of bounds.
  WriteFile(dir.path() / "two_bytes.onnx", model.substr(0, 1) + "\x87");
  ExpectNotAModel(DetectModelFormat(dir.path() / "two_bytes.onnx"), "starts like an ONNX");
}

TEST(ModelFormatTest, RejectsAProtobufWithoutAGraph) {
  TempDir dir;
  // ir_version 7, producer_name "x": a ModelProto prefix with no graph (field 7).
  WriteFile(dir.path() / "nograph.onnx", std::string("\x08\x07\x12\x01x", 5));
  ExpectNotAModel(DetectModelFormat(dir.path() / "nograph.onnx"), "no graph");
}

TEST(ModelFormatTest, SavedModelDirectoryIsRecognisedButNotServable) {
  TempDir dir;
  WriteFile(dir.path() / "saved_model.pb", "\x08\x01");
  WriteFile(dir.path() / "variables" / "variables.index", "");
  auto detected = DetectModelFormat(dir.path());
  ASSERT_TRUE(detected.ok()) << detected.status();
  EXPECT_EQ(detected->format, ModelFormat::kSavedModel);
  const absl::Status servable = CheckServable(*detected);
  EXPECT_EQ(servable.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(Msg(servable).find("TensorFlow SavedModel"), std::string_view::npos) << servable;
  EXPECT_NE(Msg(servable).find("berth serves ONNX and TorchScript models on this server; export "
                               "the model to ONNX (e.g. tf2onnx / mlflow.onnx) and upload that"),
            std::string_view::npos)
      << servable;
}

constexpr char kSklearnMlmodel[] = R"(artifact_path: model
flavors:
  python_function:
    env: conda.yaml
    loader_module: mlflow.sklearn
    model_path: model.pkl
    python_version: 3.11.4
  sklearn:
    pickled_model: model.pkl
    serialization_format: cloudpickle
    sklearn_version: 1.3.0
mlflow_version: 2.8.0
)";

TEST(ModelFormatTest, MlflowDirectoryReportsItsFlavors) {
  TempDir dir;
  WriteFile(dir.path() / "MLmodel", kSklearnMlmodel);
  WriteFile(dir.path() / "model.pkl", "pickle");
  auto detected = DetectModelFormat(dir.path());
  ASSERT_TRUE(detected.ok()) << detected.status();
  EXPECT_EQ(detected->format, ModelFormat::kMlflow);
  EXPECT_EQ(detected->description, "MLflow model (flavors: python_function, sklearn)");
  EXPECT_FALSE(detected->servable_format.has_value());
  const absl::Status servable = CheckServable(*detected);
  EXPECT_EQ(servable.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(Msg(servable).find("mlflow"), std::string_view::npos) << servable;
}

TEST(ModelFormatTest, MlflowOnnxFlavorPointsAtTheInnerOnnxFile) {
  TempDir dir;
  WriteFile(dir.path() / "MLmodel", R"(flavors:
  onnx:
    code: null
    data: model.onnx
    onnx_version: 1.14.0
    providers: [CPUExecutionProvider]
  python_function:
    data: model.onnx
    loader_module: mlflow.onnx
)");
  fs::copy_file(kAddSub, dir.path() / "model.onnx");
  auto detected = DetectModelFormat(dir.path());
  ASSERT_TRUE(detected.ok()) << detected.status();
  EXPECT_EQ(detected->format, ModelFormat::kMlflow);
  EXPECT_EQ(detected->description, "MLflow model (flavors: onnx, python_function)");
  ASSERT_TRUE(detected->servable_format.has_value());
  EXPECT_EQ(*detected->servable_format, ModelFormat::kOnnx);
  EXPECT_EQ(detected->servable_path, dir.path() / "model.onnx");
  EXPECT_TRUE(CheckServable(*detected).ok());
}

TEST(ModelFormatTest, MlflowOnnxFlavorOutsideTheDirectoryOrNotOnnxIsNotServable) {
  TempDir dir;
  fs::copy_file(kAddSub, dir.path() / "outside.onnx");
  WriteFile(dir.path() / "m" / "MLmodel", "flavors:\n  onnx:\n    data: ../outside.onnx\n");
  auto escaped = DetectModelFormat(dir.path() / "m");
  ASSERT_TRUE(escaped.ok()) << escaped.status();
  EXPECT_FALSE(escaped->servable_format.has_value());
  EXPECT_NE(escaped->description.find("not an ONNX file inside"), std::string::npos);
  EXPECT_FALSE(CheckServable(*escaped).ok());

  fs::create_symlink(dir.path() / "outside.onnx", dir.path() / "m" / "link.onnx");
  WriteFile(dir.path() / "m" / "MLmodel", "flavors:\n  onnx:\n    model_data: link.onnx\n");
  auto linked = DetectModelFormat(dir.path() / "m");
  ASSERT_TRUE(linked.ok()) << linked.status();
  EXPECT_FALSE(linked->servable_format.has_value());

  WriteFile(dir.path() / "m" / "model.onnx", "not onnx");
  WriteFile(dir.path() / "m" / "MLmodel", "flavors:\n  onnx:\n    data: model.onnx\n");
  auto fake = DetectModelFormat(dir.path() / "m");
  ASSERT_TRUE(fake.ok()) << fake.status();
  EXPECT_FALSE(fake->servable_format.has_value());
}

TEST(ModelFormatTest, BadMlmodelYamlIsReportedNotThrown) {
  TempDir dir;
  WriteFile(dir.path() / "MLmodel", "flavors: [unclosed\n  - : :\n");
  ExpectNotAModel(DetectModelFormat(dir.path()), "not valid YAML");
  WriteFile(dir.path() / "MLmodel", "just a string\n");
  ExpectNotAModel(DetectModelFormat(dir.path()), "no 'flavors' mapping");
  WriteFile(dir.path() / "MLmodel", std::string(100, '[') + std::string(100, ']'));
  ExpectNotAModel(DetectModelFormat(dir.path()), "nests deeper");
}

TEST(ModelFormatTest, OtherDirectoriesAreNotModels) {
  TempDir dir;
  fs::copy_file(kAddSub, dir.path() / "model.onnx");
  ExpectNotAModel(DetectModelFormat(dir.path()), "neither an MLmodel file nor saved_model.pb");
}

TEST(ModelFormatTest, MissingPathIsNotFound) {
  EXPECT_EQ(DetectModelFormat("/nonexistent/berth/model.onnx").status().code(),
            absl::StatusCode::kNotFound);
}

TEST(ModelFormatTest, ArchivesOfEachFormat) {
  TempDir dir;
  const std::string torch_files[] = {"archive/data.pkl", "archive/code/__torch__/net.py",
                                     "archive/version"};
  testing::ArchiveFiles torch;
  for (const std::string& name : torch_files) torch.emplace_back(name, "x");
  WriteFile(dir.path() / "torch.zip", MakeZip(torch, false));
  WriteFile(dir.path() / "saved.zip",
            MakeZip({{"export/saved_model.pb", "pb"}, {"export/variables/v", "v"}}, true));
  WriteFile(dir.path() / "saved.tar", MakeTar({{"export/", ""}, {"export/saved_model.pb", "pb"}}));
  WriteFile(dir.path() / "mlflow.zip",
            MakeZip({{"model/MLmodel", kSklearnMlmodel}, {"model/model.pkl", "p"}}, true));
  WriteFile(dir.path() / "mlflow.tar", MakeTar({{"model/MLmodel", kSklearnMlmodel}}));
  // torch.save (not torch.jit.save) writes data.pkl without code/: a pickle, not TorchScript.
  WriteFile(dir.path() / "pickle.zip", MakeZip({{"archive/data.pkl", "x"}}, false));

  EXPECT_EQ(DetectModelFormat(dir.path() / "torch.zip")->format, ModelFormat::kTorchScript);
  auto saved = DetectModelFormat(dir.path() / "saved.zip");
  ASSERT_TRUE(saved.ok()) << saved.status();
  EXPECT_EQ(saved->format, ModelFormat::kSavedModel);
  EXPECT_EQ(saved->description, "TensorFlow SavedModel archive");
  EXPECT_EQ(DetectModelFormat(dir.path() / "saved.tar")->format, ModelFormat::kSavedModel);
  for (const char* name : {"mlflow.zip", "mlflow.tar"}) {
    auto mlflow = DetectModelFormat(dir.path() / name);
    ASSERT_TRUE(mlflow.ok()) << name << ": " << mlflow.status();
    EXPECT_EQ(mlflow->format, ModelFormat::kMlflow);
    EXPECT_EQ(mlflow->description, "MLflow model archive (flavors: python_function, sklearn)");
    EXPECT_FALSE(CheckServable(*mlflow).ok());
  }
  ExpectNotAModel(DetectModelFormat(dir.path() / "pickle.zip"), "ZIP archive without");
}

// Overwrites a little-endian field of a test archive.
void Patch(std::string* data, size_t pos, uint64_t value, int bytes) {
  for (int i = 0; i < bytes; ++i) (*data)[pos + i] = static_cast<char>((value >> (8 * i)) & 0xFF);
}

TEST(ModelFormatTest, ZipWithLyingSizesIsRejected) {
  TempDir dir;
  const std::string zip = MakeZip({{"archive/data.pkl", "x"}, {"archive/code/a.py", "y"}}, false);
  const size_t end = zip.size() - 22;
  const size_t directory = zip.find(std::string("PK\x01\x02", 4));
  ASSERT_NE(directory, std::string::npos);

  struct Lie {
    const char* name;
    size_t pos;
    uint64_t value;
    int bytes;
    const char* expected;
  };
  const Lie lies[] = {
      {"huge_entry", directory + 20, 0x7FFFFFFF, 4, "corrupt ZIP archive"},  // compressed size
      {"far_directory", end + 16, 0x40000000, 4, "outside the file"},   // central directory offset
      {"more_entries", end + 10, 500, 2, "malformed"},                  // total entries
      {"long_name", directory + 28, 0xFFFF, 2, "corrupt ZIP archive"},  // file name length
      {"zip64", end + 16, 0xFFFFFFFF, 4, "ZIP64"},  // says ZIP64 but has no locator
  };
  for (const Lie& lie : lies) {
    std::string lying = zip;
    Patch(&lying, lie.pos, lie.value, lie.bytes);
    const fs::path path = dir.path() / (std::string(lie.name) + ".zip");
    WriteFile(path, lying);
    SCOPED_TRACE(lie.name);
    ExpectNotAModel(DetectModelFormat(path), lie.expected);
  }
  WriteFile(dir.path() / "cut.zip", zip.substr(0, zip.size() / 2));
  ExpectNotAModel(DetectModelFormat(dir.path() / "cut.zip"), "corrupt ZIP archive");
}

TEST(ModelFormatTest, ZipEntryInflatingToOtherThanItsSizeIsRejected) {
  TempDir dir;
  std::string zip = MakeZip({{"MLmodel", kSklearnMlmodel}}, true);
  const size_t directory = zip.find(std::string("PK\x01\x02", 4));
  Patch(&zip, directory + 24, 20, 4);  // uncompressed size: smaller than the real content
  WriteFile(dir.path() / "mlflow.zip", zip);
  ExpectNotAModel(DetectModelFormat(dir.path() / "mlflow.zip"), "inflate");
}

TEST(ModelFormatTest, TarWithLyingSizeOrChecksumIsRejected) {
  TempDir dir;
  const std::string tar = MakeTar({{"model/MLmodel", kSklearnMlmodel}});
  std::string lying = tar;
  std::snprintf(lying.data() + 124, 12, "%011o", 07777777);  // size far past the end
  unsigned sum = 0;
  std::memset(lying.data() + 148, ' ', 8);
  for (size_t i = 0; i < 512; ++i) sum += static_cast<uint8_t>(lying[i]);
  std::snprintf(lying.data() + 148, 8, "%06o", sum);
  WriteFile(dir.path() / "lying.tar", lying);
  ExpectNotAModel(DetectModelFormat(dir.path() / "lying.tar"), "claims more bytes");

  std::string bad_checksum = tar;
  bad_checksum[0] = 'M';
  WriteFile(dir.path() / "checksum.tar", bad_checksum);
  ExpectNotAModel(DetectModelFormat(dir.path() / "checksum.tar"), "checksum");
}

TEST(ModelFormatTest, FormatNamesRoundTrip) {
  for (ModelFormat format : {ModelFormat::kOnnx, ModelFormat::kTorchScript,
                             ModelFormat::kSavedModel, ModelFormat::kMlflow}) {
    EXPECT_EQ(FormatFromName(FormatName(format)), format);
  }
  EXPECT_EQ(FormatName(ModelFormat::kOnnx), "onnx");
  EXPECT_EQ(FormatName(ModelFormat::kTorchScript), "torchscript");
  EXPECT_EQ(FormatName(ModelFormat::kSavedModel), "savedmodel");
  EXPECT_EQ(FormatName(ModelFormat::kMlflow), "mlflow");
  EXPECT_FALSE(FormatFromName("pickle").has_value());
}

}  // namespace
}  // namespace berth::models
