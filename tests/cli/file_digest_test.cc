#include "cli/file_digest.h"

#include <unistd.h>

#include <filesystem>
#include <fstream>

#include "gtest/gtest.h"

namespace berth::cli {
namespace {

std::filesystem::path WriteFile(const std::string& name, const std::string& contents) {
  auto path = std::filesystem::path(::testing::TempDir()) /
              ("berth_cli_digest_" + std::to_string(getpid()) + "_" + name);
  std::ofstream(path, std::ios::binary) << contents;
  return path;
}

TEST(Sha256OfFileTest, KnownVectors) {
  EXPECT_EQ(*Sha256OfFile(WriteFile("empty", "")),
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  EXPECT_EQ(*Sha256OfFile(WriteFile("abc", "abc")),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
}

TEST(Sha256OfFileTest, LargerThanOneChunk) {
  // 3 MiB of 'a' spans several reads (digest from Python's hashlib).
  EXPECT_EQ(*Sha256OfFile(WriteFile("large", std::string(3 << 20, 'a'))),
            "6f850bc94ae6f7de14297c01616c36d712d22864497b28a63b81d776b035e656");
}

TEST(Sha256OfFileTest, MissingFileIsNotFoundAndNamed) {
  auto digest = Sha256OfFile("/nonexistent/model.onnx");
  ASSERT_FALSE(digest.ok());
  EXPECT_EQ(digest.status().code(), absl::StatusCode::kNotFound);
  EXPECT_NE(digest.status().message().find("/nonexistent/model.onnx"), absl::string_view::npos);
}

}  // namespace
}  // namespace berth::cli
