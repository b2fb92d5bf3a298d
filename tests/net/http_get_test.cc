// GetAll and Fetcher against a real local HTTP server (Python's http.server with a few routes):
// address policy (also after a redirect), trusted prefixes, content type, size limit, time
// limit, parallel downloads, and the fetcher's per-host and per-caller limits.
#include "net/http_get.h"

#include <gtest/gtest.h>

#include <atomic>
#include <condition_variable>
#include <map>
#include <mutex>
#include <thread>

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

// Collects the results of Fetcher::Fetch calls, for a test to wait on.
class Results {
 public:
  std::function<void(GetResults)> Callback(std::string name) {
    return [this, name](GetResults results) {
      std::lock_guard<std::mutex> lock(mu_);
      order_.push_back(name);
      done_[name] = std::move(results);
      cv_.notify_all();
    };
  }
  GetResults Wait(const std::string& name) {
    std::unique_lock<std::mutex> lock(mu_);
    const bool got = cv_.wait_for(lock, std::chrono::seconds(30), [&] { return done_.count(name); });
    EXPECT_TRUE(got) << name << " did not finish within 30 s";
    return got ? done_[name] : GetResults{};
  }
  std::vector<std::string> order() {
    std::lock_guard<std::mutex> lock(mu_);
    return order_;
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  std::map<std::string, GetResults> done_;
  std::vector<std::string> order_;
};

// Polls `counts` until `check` holds (30 s at most).
template <class Check>
bool PollCounts(const Fetcher& fetcher, Check check) {
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
  while (std::chrono::steady_clock::now() < deadline) {
    if (check(fetcher.counts())) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  return false;
}

TEST_F(HttpGetTest, OneCallersSlowUrlsDoNotDelayAnother) {
  options_.total_timeout = std::chrono::milliseconds(10000);
  FetchLimits limits;
  limits.max_per_caller = 2;
  Fetcher fetcher(limits);
  Results results;
  // Caller A asks for eight slow downloads (2 s each on the server); two run, six wait.
  fetcher.Fetch(std::vector<std::string>(8, base_ + "/slow"), "A", options_,
                results.Callback("A"));
  ASSERT_TRUE(PollCounts(fetcher, [](Fetcher::Counts c) {
    return c.running == 2 && c.waiting == 6;
  })) << "running " << fetcher.counts().running << ", waiting " << fetcher.counts().waiting;
  // Caller B's download starts at once in a slot of its own and ends long before A's.
  fetcher.Fetch({base_ + "/img.png"}, "B", options_, results.Callback("B"));
  GetResults b = results.Wait("B");
  ASSERT_EQ(b.size(), 1u);
  ASSERT_TRUE(b[0].ok()) << b[0].status();
  EXPECT_EQ(b[0]->body, "\x89PNG-bytes");
  EXPECT_EQ(results.order(), std::vector<std::string>{"B"});
  GetResults a = results.Wait("A");
  ASSERT_EQ(a.size(), 8u);
  for (const auto& r : a) EXPECT_TRUE(r.ok()) << r.status();
}

TEST_F(HttpGetTest, OneHostGetsAtMostItsLimit) {
  options_.total_timeout = std::chrono::milliseconds(10000);
  FetchLimits limits;
  limits.max_per_host = 1;
  Fetcher fetcher(limits);
  Results results;
  fetcher.Fetch({base_ + "/slow", base_ + "/slow", base_ + "/slow"}, "A", options_,
                results.Callback("A"));
  EXPECT_TRUE(PollCounts(fetcher, [](Fetcher::Counts c) {
    return c.running == 1 && c.waiting == 2;
  })) << "running " << fetcher.counts().running << ", waiting " << fetcher.counts().waiting;
  GetResults a = results.Wait("A");
  ASSERT_EQ(a.size(), 3u);
  for (const auto& r : a) EXPECT_TRUE(r.ok()) << r.status();
}

TEST_F(HttpGetTest, ADownloadWaitsForASlotAtMostItsTimeout) {
  FetchLimits limits;
  limits.max_running = 1;
  Fetcher fetcher(limits);
  Results results;
  GetOptions slow = options_;
  slow.total_timeout = std::chrono::milliseconds(10000);
  fetcher.Fetch({base_ + "/slow"}, "A", slow, results.Callback("slow"));
  ASSERT_TRUE(PollCounts(fetcher, [](Fetcher::Counts c) { return c.running == 1; }));
  GetOptions quick = options_;
  quick.total_timeout = std::chrono::milliseconds(300);
  fetcher.Fetch({base_ + "/img.png?token=abc"}, "B", quick, results.Callback("quick"));
  GetResults q = results.Wait("quick");
  ASSERT_EQ(q.size(), 1u);
  ASSERT_FALSE(q[0].ok());
  EXPECT_EQ(q[0].status().code(), absl::StatusCode::kUnavailable) << q[0].status();
  EXPECT_NE(q[0].status().message().find("no download slot within 300 ms"), std::string::npos)
      << q[0].status();
  EXPECT_EQ(q[0].status().message().find("abc"), std::string::npos) << q[0].status();
  GetResults s = results.Wait("slow");
  ASSERT_EQ(s.size(), 1u);
  EXPECT_TRUE(s[0].ok()) << s[0].status();
}

TEST_F(HttpGetTest, StoppingFailsWhatIsQueuedOrRunning) {
  options_.total_timeout = std::chrono::milliseconds(10000);
  Results results;
  {
    FetchLimits limits;
    limits.max_running = 1;
    Fetcher fetcher(limits);
    fetcher.Fetch({base_ + "/slow", base_ + "/slow"}, "A", options_, results.Callback("A"));
    ASSERT_TRUE(PollCounts(fetcher, [](Fetcher::Counts c) { return c.running == 1; }));
  }
  GetResults a = results.Wait("A");
  ASSERT_EQ(a.size(), 2u);
  for (const auto& r : a) {
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.status().code(), absl::StatusCode::kUnavailable) << r.status();
  }
}

}  // namespace
}  // namespace berth::net
