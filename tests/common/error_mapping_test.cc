#include "common/error_mapping.h"

#include <gtest/gtest.h>

namespace berth::common {
namespace {

TEST(ErrorMappingTest, MapsEachStatusToItsHttpCode) {
  EXPECT_EQ(HttpStatusFromStatus(absl::OkStatus()), 200);
  EXPECT_EQ(HttpStatusFromStatus(absl::InvalidArgumentError("x")), 400);
  EXPECT_EQ(HttpStatusFromStatus(absl::UnauthenticatedError("x")), 401);
  EXPECT_EQ(HttpStatusFromStatus(absl::PermissionDeniedError("x")), 403);
  EXPECT_EQ(HttpStatusFromStatus(absl::NotFoundError("x")), 404);
  EXPECT_EQ(HttpStatusFromStatus(absl::AlreadyExistsError("x")), 409);
  EXPECT_EQ(HttpStatusFromStatus(absl::ResourceExhaustedError("x")), 429);
  EXPECT_EQ(HttpStatusFromStatus(PayloadTooLargeError("x")), 413);
  EXPECT_EQ(HttpStatusFromStatus(UnsupportedMediaTypeError("x")), 415);
  EXPECT_EQ(HttpStatusFromStatus(MethodNotAllowedError("x", "GET")), 405);
  EXPECT_EQ(HttpStatusFromStatus(absl::UnavailableError("x")), 503);
  EXPECT_EQ(HttpStatusFromStatus(absl::DeadlineExceededError("x")), 504);
  EXPECT_EQ(HttpStatusFromStatus(absl::InternalError("x")), 500);
}

TEST(ErrorMappingTest, OnlyOverloadIsRetryable) {
  EXPECT_TRUE(IsRetryable(absl::UnavailableError("x")));
  EXPECT_TRUE(IsRetryable(absl::ResourceExhaustedError("x")));
  EXPECT_FALSE(IsRetryable(PayloadTooLargeError("x")));
  EXPECT_FALSE(IsRetryable(absl::InvalidArgumentError("x")));
}

}  // namespace
}  // namespace berth::common
