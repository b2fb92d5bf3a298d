// GetAll against a real local HTTP server (Python's http.server with a few routes): address
// policy (also after a redirect), trusted prefixes, content type, size limit, time limit, and
// parallel downloads.
#include "net/http_get.h"

#include <gtest/gtest.h>

#include "common/error_mapping.h"
#include "common/strings.h"
#include "tests/models/test_support.h"

namespace berth::net {
namespace {

using models::testing::ChildProcess;
using models::testing::TempDir;
using models::testing::WaitForListeningPort;
using models::testing::WriteFile;

constexpr char kServer[] = R"(
import http.server, sys, time
class Handler(http.server.BaseHTTPRequestHandler):
    def answer(self, code, body=b"", kind="image/png", headers=()):
        self.send_response(code)
        self.send_header("Content-Type", kind)
        self.send_header("Content-Length", str(len(body)))
        for k, v in headers:
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(body)
    def do_GET(self):
        p = self.path
        if p == "/img.png": self.answer(200, b"\x89PNG-bytes")
        elif p == "/octet": self.answer(200, b"raw", "application/octet-stream")
        elif p == "/page": self.answer(200, b"<html>", "text/html; charset=utf-8")
        elif p == "/big": self.answer(200, b"x" * 5000)
        elif p == "/slow":
            time.sleep(2); self.answer(200, b"late")
        elif p.startswith("/to/"): self.answer(302, b"", "text/plain", [("Location", p[3:])])
        elif p.startswith("/redirect-to-other-host"):
            self.answer(302, b"", "text/plain", [("Location", "http://127.0.0.2:%d/img.png" % self.server.server_port)])
        else: self.answer(404, b"no", "text/plain")
    def log_message(self, *args): pass
server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
print("serving on port", server.server_port, flush=True)
server.serve_forever()
)";

class HttpGetTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto started = ChildProcess::Start({"/usr/bin/python3", "-u", "-c", kServer},
                                       dir_.path() / "server.log");
    ASSERT_TRUE(started.ok()) << started.status();
    server_ = *std::move(started);
    auto port = WaitForListeningPort(*server_, dir_.path() / "server.log", " port ",
                                     std::chrono::seconds(30));
    ASSERT_TRUE(port.ok()) << port.status();
    base_ = StrCat("http://127.0.0.1:", *port);
    auto policy = DestinationPolicy::Parse("127.0.0.1");
    ASSERT_TRUE(policy.ok());
    loopback_ = *std::move(policy);
    options_.policy = &loopback_;
    options_.content_types = {"image/", "application/octet-stream"};
    options_.max_bytes = 1000;
    options_.total_timeout = std::chrono::milliseconds(1000);
  }

  absl::StatusOr<GetResult> Get(const std::string& url) {
    std::vector<std::string> urls = {url};
    return std::move(GetAll(urls, options_)[0]);
  }

  TempDir dir_;
  std::unique_ptr<ChildProcess> server_;
  std::string base_;
  DestinationPolicy loopback_;
  GetOptions options_;
};

TEST_F(HttpGetTest, FetchesSeveralInOrder) {
  std::vector<std::string> urls = {base_ + "/img.png", base_ + "/octet", base_ + "/nope"};
  auto results = GetAll(urls, options_);
  ASSERT_EQ(results.size(), 3u);
  ASSERT_TRUE(results[0].ok()) << results[0].status();
  EXPECT_EQ(results[0]->body, "\x89PNG-bytes");
  EXPECT_EQ(results[0]->content_type, "image/png");
  ASSERT_TRUE(results[1].ok()) << results[1].status();
  EXPECT_EQ(results[1]->body, "raw");
  ASSERT_FALSE(results[2].ok());
  EXPECT_NE(results[2].status().message().find("HTTP 404"), std::string::npos);
}

TEST_F(HttpGetTest, LoopbackIsRefusedWithoutTheAllowList) {
  DestinationPolicy strict;
  options_.policy = &strict;
  auto result = Get(base_ + "/img.png");
  ASSERT_FALSE(result.ok());
  EXPECT_EQ(result.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(result.status().message().find("127.0.0.1 is a loopback address"), std::string::npos)
      << result.status();
  EXPECT_NE(result.status().message().find("--fetch-allow"), std::string::npos);
}

TEST_F(HttpGetTest, RedirectToARefusedAddressIsRefused) {
  // 127.0.0.1 is allowed, 127.0.0.2 (where the redirect points) is not.
  auto result = Get(base_ + "/redirect-to-other-host");
  ASSERT_FALSE(result.ok());
  EXPECT_NE(result.status().message().find("127.0.0.2 is a loopback address"), std::string::npos)
      << result.status();
  // A redirect within the allowed host is followed.
  auto followed = Get(base_ + "/to/img.png");
  ASSERT_TRUE(followed.ok()) << followed.status();
  EXPECT_EQ(followed->body, "\x89PNG-bytes");
}

TEST_F(HttpGetTest, TooManyRedirectsAreRefused) {
  options_.max_redirects = 2;
  auto result = Get(base_ + "/to/to/to/to/img.png");
  ASSERT_FALSE(result.ok());
  EXPECT_NE(result.status().message().find("more than 2 redirects"), std::string::npos)
      << result.status();
}

TEST_F(HttpGetTest, TrustedPrefixSkipsThePolicyButNotDotSegments) {
  DestinationPolicy strict;
  options_.policy = &strict;
  options_.trusted_prefixes = {base_ + "/img"};
  auto trusted = Get(base_ + "/img.png");
  ASSERT_TRUE(trusted.ok()) << trusted.status();
  // "/img/../page" normalises to "/page", outside the prefix: the policy applies again.
  auto escaped = Get(base_ + "/img/../octet");
  ASSERT_FALSE(escaped.ok());
  EXPECT_NE(escaped.status().message().find("loopback"), std::string::npos) << escaped.status();
}

TEST_F(HttpGetTest, WrongContentTypeIsNamed) {
  auto result = Get(base_ + "/page");
  ASSERT_FALSE(result.ok());
  EXPECT_NE(result.status().message().find("'text/html'"), std::string::npos) << result.status();
}

TEST_F(HttpGetTest, SizeLimitHolds) {
  auto result = Get(base_ + "/big");
  ASSERT_FALSE(result.ok());
  EXPECT_EQ(common::HttpStatusFromStatus(result.status()), 413) << result.status();
  EXPECT_NE(result.status().message().find("1000 bytes"), std::string::npos);
}

TEST_F(HttpGetTest, TimeLimitHolds) {
  options_.total_timeout = std::chrono::milliseconds(300);
  auto result = Get(base_ + "/slow");
  ASSERT_FALSE(result.ok());
  EXPECT_NE(result.status().message().find("timed out"), std::string::npos) << result.status();
}

TEST_F(HttpGetTest, OnlyHttpSchemesAndCredentialsAreHidden) {
  auto file = Get("file:///etc/passwd");
  ASSERT_FALSE(file.ok());
  EXPECT_NE(file.status().message().find("only http:// and https://"), std::string::npos)
      << file.status();
  auto secret = Get("http://user:hunter2@127.0.0.1:1/x?token=abc");
  ASSERT_FALSE(secret.ok());
  EXPECT_EQ(secret.status().message().find("hunter2"), std::string::npos) << secret.status();
  EXPECT_EQ(secret.status().message().find("abc"), std::string::npos) << secret.status();
}

}  // namespace
}  // namespace berth::net
