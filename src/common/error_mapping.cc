#include "common/error_mapping.h"

#include <string>

#include "absl/strings/cord.h"

namespace berth::common {
namespace {
constexpr char kPayloadTooLargeKey[] = "berth/payload-too-large";
constexpr char kAllowKey[] = "berth/allow";
constexpr char kUnsupportedMediaKey[] = "berth/unsupported-media-type";
}  // namespace

absl::Status MethodNotAllowedError(std::string_view message, std::string_view allow) {
  absl::Status status = absl::InvalidArgumentError(std::string(message));
  status.SetPayload(kAllowKey, absl::Cord(std::string(allow)));
  return status;
}

absl::Status UnsupportedMediaTypeError(std::string_view message) {
  absl::Status status = absl::InvalidArgumentError(std::string(message));
  status.SetPayload(kUnsupportedMediaKey, absl::Cord("1"));
  return status;
}

std::string AllowedMethods(const absl::Status& status) {
  auto allow = status.GetPayload(kAllowKey);
  return allow ? std::string(*allow) : std::string();
}

absl::Status PayloadTooLargeError(std::string_view message) {
  absl::Status status = absl::ResourceExhaustedError(std::string(message));
  status.SetPayload(kPayloadTooLargeKey, absl::Cord("1"));
  return status;
}

int HttpStatusFromStatus(const absl::Status& status) {
  switch (status.code()) {
    case absl::StatusCode::kOk:
      return 200;
    case absl::StatusCode::kInvalidArgument:
      if (status.GetPayload(kAllowKey).has_value()) return 405;
      return status.GetPayload(kUnsupportedMediaKey).has_value() ? 415 : 400;
    case absl::StatusCode::kFailedPrecondition:
    case absl::StatusCode::kOutOfRange:
      return 400;
    case absl::StatusCode::kUnauthenticated:
      return 401;
    case absl::StatusCode::kPermissionDenied:
      return 403;
    case absl::StatusCode::kNotFound:
      return 404;
    case absl::StatusCode::kAlreadyExists:
    case absl::StatusCode::kAborted:
      return 409;
    case absl::StatusCode::kResourceExhausted:
      return status.GetPayload(kPayloadTooLargeKey).has_value() ? 413 : 429;
    case absl::StatusCode::kUnavailable:
      return 503;
    case absl::StatusCode::kDeadlineExceeded:
      return 504;
    case absl::StatusCode::kUnimplemented:
      return 501;
    default:
      return 500;
  }
}

bool IsRetryable(const absl::Status& status) {
  return status.code() == absl::StatusCode::kUnavailable ||
         (status.code() == absl::StatusCode::kResourceExhausted &&
          !status.GetPayload(kPayloadTooLargeKey).has_value());
}

}  // namespace berth::common
