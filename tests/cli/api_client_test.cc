#include "cli/api_client.h"

#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include "gtest/gtest.h"

namespace berth::cli {
namespace {

TEST(StatusFromHttpErrorTest, CarriesTheServersMessageAndStatus) {
  const absl::Status status =
      StatusFromHttpError(400, R"({"error": "spec.replicas: must be between 0 and 64"})");
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(status.message(), "spec.replicas: must be between 0 and 64");
  EXPECT_EQ(HttpStatusOf(status), 400);
}

TEST(StatusFromHttpErrorTest, MapsStatusCodes) {
  const std::pair<int, absl::StatusCode> cases[] = {
      {401, absl::StatusCode::kUnauthenticated},   {403, absl::StatusCode::kPermissionDenied},
      {404, absl::StatusCode::kNotFound},          {409, absl::StatusCode::kAlreadyExists},
      {413, absl::StatusCode::kResourceExhausted}, {415, absl::StatusCode::kInvalidArgument},
      {429, absl::StatusCode::kResourceExhausted}, {503, absl::StatusCode::kUnavailable},
      {504, absl::StatusCode::kDeadlineExceeded},  {500, absl::StatusCode::kInternal},
      {418, absl::StatusCode::kFailedPrecondition}};
  for (const auto& [http, code] : cases) {
    const absl::Status status = StatusFromHttpError(http, R"({"error": "x"})");
    EXPECT_EQ(status.code(), code) << http;
    EXPECT_EQ(HttpStatusOf(status), http);
  }
}

TEST(StatusFromHttpErrorTest, NonJsonBodiesKeepTheirFirstLine) {
  EXPECT_EQ(StatusFromHttpError(502, "<html>Bad Gateway</html>\nmore").message(),
            "the server answered HTTP 502: <html>Bad Gateway</html>");
  EXPECT_EQ(StatusFromHttpError(404, "").message(), "the server answered HTTP 404");
}

TEST(HttpStatusOfTest, ZeroWithoutAnAnswer) {
  EXPECT_EQ(HttpStatusOf(absl::UnavailableError("x")), 0);
}

TEST(UrlEncodeTest, ReservedCharacters) {
  EXPECT_EQ(UrlEncode("demo-1_a.b~"), "demo-1_a.b~");
  EXPECT_EQ(UrlEncode("a b/c?d&e"), "a%20b%2Fc%3Fd%26e");
}

// A port on localhost that nothing listens on (bound, then closed).
int ClosedPort() {
  const int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t length = sizeof(address);
  EXPECT_EQ(bind(fd, reinterpret_cast<sockaddr*>(&address), sizeof(address)), 0);
  EXPECT_EQ(getsockname(fd, reinterpret_cast<sockaddr*>(&address), &length), 0);
  close(fd);
  return ntohs(address.sin_port);
}

TEST(ApiClientTest, ConnectionRefusedSaysStartTheServer) {
  const std::string server = "http://127.0.0.1:" + std::to_string(ClosedPort());
  auto client = ApiClient::Create({.server = server, .key = "brth_secret_key"});
  ASSERT_TRUE(client.ok());
  auto answer = (*client)->Get("/api/v1/whoami");
  ASSERT_FALSE(answer.ok());
  EXPECT_EQ(answer.status().code(), absl::StatusCode::kUnavailable);
  EXPECT_EQ(answer.status().message(),
            "cannot reach the berth server at " + server + ": is `berth server` running?");
  EXPECT_EQ(std::string(answer.status().message()).find("brth_secret_key"), std::string::npos);
}

}  // namespace
}  // namespace berth::cli
