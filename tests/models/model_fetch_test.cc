#include "models/model_fetch.h"

#include <gtest/gtest.h>

#include "common/error_mapping.h"
#include "common/strings.h"
#include "tests/models/test_support.h"

namespace berth::models {
namespace {

namespace fs = std::filesystem;
using testing::ReadFile;
using testing::TempDir;
using testing::WriteFile;

constexpr char kHelloSha256[] = "5891b5b522d5df086d0ff0b110fbd9d21bb4fc7163af34d08286a2e846f6be03";

FetchOptions Limit(uint64_t max_bytes) { return testing::TestFetchOptions(max_bytes); }

std::string FileUri(const fs::path& path) { return "file://" + path.string(); }

TEST(Sha256StreamTest, MatchesKnownDigests) {
  Sha256Stream empty;
  EXPECT_EQ(empty.FinishHex(), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  Sha256Stream pieces;
  pieces.Update(std::string_view("hel"));
  const uint8_t rest[] = {'l', 'o', '\n'};
  pieces.Update(std::span<const uint8_t>(rest));
  EXPECT_EQ(pieces.FinishHex(), kHelloSha256);
}

TEST(FetchModelTest, CopiesAFileUriWithItsDigest) {
  TempDir dir;
  WriteFile(dir.path() / "in dir" / "model.onnx", "hello\n");
  auto result = FetchModel("file://" + (dir.path() / "in%20dir" / "model.onnx").string(),
                           dir.path() / "out", Limit(1024));
  ASSERT_TRUE(result.ok()) << result.status();
  EXPECT_EQ(result->size_bytes, 6u);
  EXPECT_EQ(result->sha256_hex, kHelloSha256);
  EXPECT_EQ(ReadFile(dir.path() / "out"), "hello\n");
}

TEST(FetchModelTest, CopiesALargerFileInChunks) {
  TempDir dir;
  std::string content(3u << 20, '\0');
  for (size_t i = 0; i < content.size(); ++i) content[i] = static_cast<char>(i * 7);
  WriteFile(dir.path() / "big", content);
  Sha256Stream expected;
  expected.Update(content);
  auto result = FetchModel(FileUri(dir.path() / "big"), dir.path() / "out", Limit(4u << 20));
  ASSERT_TRUE(result.ok()) << result.status();
  EXPECT_EQ(result->size_bytes, content.size());
  EXPECT_EQ(result->sha256_hex, expected.FinishHex());
}

TEST(FetchModelTest, FileOverTheLimitIsPayloadTooLargeAndLeavesNothing) {
  TempDir dir;
  WriteFile(dir.path() / "model", std::string(2000, 'x'));
  WriteFile(dir.path() / "out", "an older file at the destination");
  auto result = FetchModel(FileUri(dir.path() / "model"), dir.path() / "out", Limit(1999));
  ASSERT_FALSE(result.ok());
  EXPECT_EQ(common::HttpStatusFromStatus(result.status()), 413);
  EXPECT_NE(Msg(result.status()).find("1999 bytes"), std::string_view::npos) << result.status();
  EXPECT_TRUE(FetchModel(FileUri(dir.path() / "model"), dir.path() / "ok", Limit(2000)).ok());
}

TEST(FetchModelTest, FileUriErrorsSayWhatToDo) {
  TempDir dir;
  auto directory = FetchModel(FileUri(dir.path()), dir.path() / "out", Limit(100));
  EXPECT_EQ(directory.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(Msg(directory.status()).find("directories are not supported for upload"),
            std::string_view::npos)
      << directory.status();
  auto missing = FetchModel(FileUri(dir.path() / "nope"), dir.path() / "out", Limit(100));
  EXPECT_EQ(missing.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(Msg(missing.status()).find("No such file"), std::string_view::npos) << missing.status();
  auto relative = FetchModel("file://relative/model.onnx", dir.path() / "out", Limit(100));
  EXPECT_NE(Msg(relative.status()).find("absolute path"), std::string_view::npos)
      << relative.status();
  auto bad_escape = FetchModel("file:///tmp/%zz", dir.path() / "out", Limit(100));
  EXPECT_EQ(bad_escape.status().code(), absl::StatusCode::kInvalidArgument);
  auto device = FetchModel("file:///dev/null", dir.path() / "out", Limit(100));
  EXPECT_NE(Msg(device.status()).find("not a regular file"), std::string_view::npos)
      << device.status();
  EXPECT_FALSE(fs::exists(dir.path() / "out"));
}

TEST(FetchModelTest, UnwritableDestinationIsReportedAndLeavesNothing) {
  TempDir dir;
  WriteFile(dir.path() / "model", "hello\n");
  auto result =
      FetchModel(FileUri(dir.path() / "model"), dir.path() / "no" / "such" / "dir", Limit(100));
  EXPECT_EQ(result.status().code(), absl::StatusCode::kInternal);
  EXPECT_NE(Msg(result.status()).find("cannot create"), std::string_view::npos);
}

TEST(FetchModelTest, UnknownSchemesListTheSupportedOnes) {
  TempDir dir;
  for (const char* uri : {"ftp://host/model.onnx", "model.onnx", "gs://bucket/model.onnx"}) {
    auto result = FetchModel(uri, dir.path() / "out", Limit(100));
    EXPECT_EQ(result.status().code(), absl::StatusCode::kInvalidArgument) << uri;
    for (const char* scheme : {"file://", "http://", "https://", "s3://"}) {
      EXPECT_NE(Msg(result.status()).find(scheme), std::string_view::npos) << result.status();
    }
  }
  EXPECT_EQ(
      FetchModel("http://host/a\r\nInjected: 1", dir.path() / "out", Limit(100)).status().code(),
      absl::StatusCode::kInvalidArgument);
}

TEST(FetchModelTest, MalformedS3UrisAndOptionsAreInvalidArguments) {
  TempDir dir;
  FetchOptions options = Limit(100);
  for (const char* uri : {"s3://bucket", "s3://bucket/", "s3:///key", "s3://bad bucket/key"}) {
    EXPECT_EQ(FetchModel(uri, dir.path() / "out", options).status().code(),
              absl::StatusCode::kInvalidArgument)
        << uri;
  }
  options.s3.endpoint = "ftp://127.0.0.1:1";
  EXPECT_NE(Msg(FetchModel("s3://b/k", dir.path() / "out", options).status()).find("--s3-endpoint"),
            std::string_view::npos);
  options.s3.endpoint = "http://127.0.0.1:1";
  options.s3.region = "us-east-1:evil";
  EXPECT_NE(Msg(FetchModel("s3://b/k", dir.path() / "out", options).status()).find("--s3-region"),
            std::string_view::npos);
}

TEST(FetchModelTest, ConnectionFailuresAreUnavailableAndNeverShowCredentials) {
  TempDir dir;
  FetchOptions options = Limit(100);
  // Port 1 on loopback: nothing listens, the connection is refused at once.
  auto http = FetchModel("http://alice:hunter2@127.0.0.1:1/model.onnx?X-Amz-Signature=abc123",
                         dir.path() / "out", options);
  EXPECT_EQ(http.status().code(), absl::StatusCode::kUnavailable) << http.status();
  EXPECT_EQ(Msg(http.status()).find("hunter2"), std::string_view::npos) << http.status();
  EXPECT_EQ(Msg(http.status()).find("abc123"), std::string_view::npos) << http.status();
  EXPECT_NE(Msg(http.status()).find("127.0.0.1:1"), std::string_view::npos) << http.status();

  options.s3 = {.endpoint = "http://127.0.0.1:1",
                .access_key = "AKIDEXAMPLE",
                .secret_key = "wJalrXUtnFEMI-secret"};
  auto s3 = FetchModel("s3://bucket/model.onnx", dir.path() / "out", options);
  EXPECT_EQ(s3.status().code(), absl::StatusCode::kUnavailable) << s3.status();
  EXPECT_EQ(Msg(s3.status()).find("wJalrXUtnFEMI"), std::string_view::npos) << s3.status();
  EXPECT_FALSE(fs::exists(dir.path() / "out"));
}

}  // namespace
}  // namespace berth::models
