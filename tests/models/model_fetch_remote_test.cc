// FetchModel against real local peers: Python's http.server, a chunked-encoding server (no
// Content-Length, so the limit is enforced while bytes arrive) and s3rver, an S3 API server.
#include <gtest/gtest.h>

#include "common/error_mapping.h"
#include "common/strings.h"
#include "models/model_fetch.h"
#include "tests/models/test_support.h"

namespace berth::models {
namespace {

namespace fs = std::filesystem;
using testing::ChildProcess;
using testing::ReadFile;
using testing::TempDir;
using testing::WaitForListeningPort;
using testing::WriteFile;

constexpr auto kStartTimeout = std::chrono::seconds(30);
constexpr char kAddSub[] = "tests/fixtures/models/add_sub/1/model.onnx";
constexpr char kS3rver[] = ".deps/s3rver/node_modules/s3rver/bin/s3rver.js";

FetchOptions Limit(uint64_t max_bytes) { return testing::TestFetchOptions(max_bytes); }

std::string Sha256Of(std::string_view content) {
  Sha256Stream sha;
  sha.Update(content);
  return sha.FinishHex();
}

// Python's http.server serving a temp directory on a free loopback port.
class HttpServerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    WriteFile(root_.path() / "models" / "add_sub.onnx", ReadFile(kAddSub));
    WriteFile(root_.path() / "sub" / "index.html", "<p>index</p>");
    auto started =
        ChildProcess::Start({testing::Python3(), "-u", "-m", "http.server", "0", "--bind",
                             "127.0.0.1", "--directory", root_.path().string()},
                            root_.path() / "server.log");
    ASSERT_TRUE(started.ok()) << started.status();
    server_ = *std::move(started);
    auto port =
        WaitForListeningPort(*server_, root_.path() / "server.log", " port ", kStartTimeout);
    ASSERT_TRUE(port.ok()) << port.status();
    base_ = StrCat("http://127.0.0.1:", *port);
  }

  TempDir root_, out_;
  std::unique_ptr<ChildProcess> server_;
  std::string base_;
};

TEST_F(HttpServerTest, FetchesWithTheRightDigest) {
  auto result = FetchModel(base_ + "/models/add_sub.onnx", out_.path() / "m", Limit(1 << 20));
  ASSERT_TRUE(result.ok()) << result.status();
  const std::string expected = ReadFile(kAddSub);
  EXPECT_EQ(result->size_bytes, expected.size());
  EXPECT_EQ(result->sha256_hex, Sha256Of(expected));
  EXPECT_EQ(ReadFile(out_.path() / "m"), expected);
}

TEST_F(HttpServerTest, FollowsRedirects) {
  // http.server answers /sub with a 301 to /sub/, which serves index.html.
  auto result = FetchModel(base_ + "/sub", out_.path() / "m", Limit(1 << 20));
  ASSERT_TRUE(result.ok()) << result.status();
  EXPECT_EQ(ReadFile(out_.path() / "m"), "<p>index</p>");
}

TEST_F(HttpServerTest, NotFoundNamesTheStatusAndLeavesNothing) {
  auto result = FetchModel(base_ + "/models/missing.onnx", out_.path() / "m", Limit(1 << 20));
  ASSERT_FALSE(result.ok());
  EXPECT_EQ(result.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(Msg(result.status()).find("HTTP 404"), std::string_view::npos) << result.status();
  EXPECT_NE(Msg(result.status()).find(base_), std::string_view::npos) << result.status();
  EXPECT_FALSE(fs::exists(out_.path() / "m"));
}

TEST_F(HttpServerTest, DeclaredLengthOverTheLimitIsRefusedBeforeWriting) {
  auto result = FetchModel(base_ + "/models/add_sub.onnx", out_.path() / "m", Limit(100));
  ASSERT_FALSE(result.ok());
  EXPECT_EQ(common::HttpStatusFromStatus(result.status()), 413) << result.status();
  EXPECT_FALSE(fs::exists(out_.path() / "m"));
}

constexpr char kChunkedServer[] = R"(
import http.server
class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    def do_GET(self):
        size = int(self.path.rsplit("/", 1)[1])
        self.send_response(200)
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        sent = 0
        while sent < size:
            part = b"x" * min(65536, size - sent)
            self.wfile.write(b"%x\r\n%s\r\n" % (len(part), part))
            sent += len(part)
        self.wfile.write(b"0\r\n\r\n")
    def log_message(self, *args):
        pass
server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
print("chunked server on port %d" % server.server_address[1], flush=True)
server.serve_forever()
)";

TEST(ChunkedHttpTest, LimitIsEnforcedWhileStreaming) {
  TempDir dir;
  auto server = ChildProcess::Start({testing::Python3(), "-u", "-c", kChunkedServer},
                                    dir.path() / "server.log");
  ASSERT_TRUE(server.ok()) << server.status();
  auto port = WaitForListeningPort(**server, dir.path() / "server.log", " port ", kStartTimeout);
  ASSERT_TRUE(port.ok()) << port.status();
  const std::string base = StrCat("http://127.0.0.1:", *port, "/bytes/");

  auto fits = FetchModel(base + "300000", dir.path() / "fits", Limit(300000));
  ASSERT_TRUE(fits.ok()) << fits.status();
  EXPECT_EQ(fits->size_bytes, 300000u);
  EXPECT_EQ(fits->sha256_hex, Sha256Of(std::string(300000, 'x')));

  auto over = FetchModel(base + "50000000", dir.path() / "over", Limit(300000));
  ASSERT_FALSE(over.ok());
  EXPECT_EQ(common::HttpStatusFromStatus(over.status()), 413) << over.status();
  EXPECT_FALSE(fs::exists(dir.path() / "over"));
}

// s3rver (installed by scripts/install-deps.sh) with a bucket "models" and one object.
class S3Test : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(fs::exists(kS3rver))
        << "s3rver is not installed (" << kS3rver << "): run scripts/install-deps.sh";
    auto started = ChildProcess::Start(
        {"node", kS3rver, "--directory", (root_.path() / "data").string(), "--address", "127.0.0.1",
         "--port", "0", "--configure-bucket", "models"},
        root_.path() / "s3rver.log");
    ASSERT_TRUE(started.ok()) << started.status();
    server_ = *std::move(started);
    auto port =
        WaitForListeningPort(*server_, root_.path() / "s3rver.log", "127.0.0.1:", kStartTimeout);
    ASSERT_TRUE(port.ok()) << port.status();
    endpoint_ = StrCat("http://127.0.0.1:", *port);
    // Upload with curl's own SigV4 signing, as a user would; the key has a space and a '+'.
    auto put =
        ChildProcess::Start({"curl", "-sS", "--fail", "--aws-sigv4", "aws:amz:us-east-1:s3", "-u",
                             "S3RVER:S3RVER", "-H", "x-amz-content-sha256: UNSIGNED-PAYLOAD", "-T",
                             kAddSub, endpoint_ + "/models/dir/add%20sub%2Bv1.onnx"},
                            root_.path() / "curl.log");
    ASSERT_TRUE(put.ok()) << put.status();
    auto exit = (*put)->Wait(std::chrono::seconds(30));
    ASSERT_TRUE(exit.ok()) << exit.status();
    ASSERT_EQ(*exit, 0) << ReadFile(root_.path() / "curl.log");
  }

  FetchOptions Options(std::string access_key, std::string secret_key) const {
    FetchOptions options = Limit(1 << 20);
    options.s3 = {.endpoint = endpoint_,
                  .access_key = std::move(access_key),
                  .secret_key = std::move(secret_key)};
    return options;
  }

  TempDir root_, out_;
  std::unique_ptr<ChildProcess> server_;
  std::string endpoint_;
};

TEST_F(S3Test, FetchesASignedObjectWithTheRightDigest) {
  auto result =
      FetchModel("s3://models/dir/add sub+v1.onnx", out_.path() / "m", Options("S3RVER", "S3RVER"));
  ASSERT_TRUE(result.ok()) << result.status();
  const std::string expected = ReadFile(kAddSub);
  EXPECT_EQ(result->size_bytes, expected.size());
  EXPECT_EQ(result->sha256_hex, Sha256Of(expected));
  EXPECT_EQ(ReadFile(out_.path() / "m"), expected);
}

// s3rver checks the access key but not SigV4 signatures, so the wrong credential here is the
// access key; the secret must stay out of the message either way.
TEST_F(S3Test, WrongCredentialsGiveAClear403) {
  auto result = FetchModel("s3://models/dir/add sub+v1.onnx", out_.path() / "m",
                           Options("NOT-A-KEY", "very-secret-value"));
  ASSERT_FALSE(result.ok());
  EXPECT_EQ(result.status().code(), absl::StatusCode::kInvalidArgument);
  const std::string_view message = Msg(result.status());
  EXPECT_NE(message.find(StrCat("s3://models/dir/add sub+v1.onnx: HTTP 403 from ", endpoint_)),
            std::string_view::npos)
      << message;
  EXPECT_NE(message.find("InvalidAccessKeyId"), std::string_view::npos) << message;
  EXPECT_NE(message.find("(check the S3 credentials: BERTH_S3_ACCESS_KEY / BERTH_S3_SECRET_KEY)"), std::string_view::npos)
      << message;
  EXPECT_EQ(message.find("very-secret-value"), std::string_view::npos) << message;
  EXPECT_FALSE(fs::exists(out_.path() / "m"));
}

TEST_F(S3Test, MissingKeyIs404WithS3sReason) {
  auto result =
      FetchModel("s3://models/dir/nothing.onnx", out_.path() / "m", Options("S3RVER", "S3RVER"));
  ASSERT_FALSE(result.ok());
  EXPECT_NE(Msg(result.status()).find("HTTP 404"), std::string_view::npos) << result.status();
  EXPECT_NE(Msg(result.status()).find("NoSuchKey"), std::string_view::npos) << result.status();
}

TEST_F(S3Test, LimitApplies) {
  FetchOptions options = Options("S3RVER", "S3RVER");
  options.max_bytes = 10;
  auto result = FetchModel("s3://models/dir/add sub+v1.onnx", out_.path() / "m", options);
  EXPECT_EQ(common::HttpStatusFromStatus(result.status()), 413) << result.status();
  EXPECT_FALSE(fs::exists(out_.path() / "m"));
}

}  // namespace
}  // namespace berth::models
