// The one place where a Status becomes an HTTP status code (the gRPC code is the Status code).
#pragma once

#include <string>
#include <string_view>

#include "absl/status/status.h"

namespace berth::common {

// HTTP status for a failed Status; 200 for OK.
//   InvalidArgument, FailedPrecondition, OutOfRange -> 400 (405 for MethodNotAllowedError,
//     415 for UnsupportedMediaTypeError)   Unauthenticated -> 401
//   PermissionDenied -> 403   NotFound -> 404   AlreadyExists, Aborted -> 409
//   ResourceExhausted -> 429 (quota)   Unavailable -> 503 (with Retry-After)
//   DeadlineExceeded -> 504   Unimplemented -> 501   others -> 500.
// A body over the size limit is ResourceExhausted carrying kPayloadTooLarge, which maps to 413.
int HttpStatusFromStatus(const absl::Status& status);

// Marks a ResourceExhausted status as "request body too large" (HTTP 413).
absl::Status PayloadTooLargeError(std::string_view message);

// A body in a content coding the server does not read (HTTP 415; InvalidArgument elsewhere).
absl::Status UnsupportedMediaTypeError(std::string_view message);

// A method the path does not take (HTTP 405 with an Allow header of `allow`, e.g. "GET, PUT";
// InvalidArgument elsewhere).
absl::Status MethodNotAllowedError(std::string_view message, std::string_view allow);
// The Allow value of a MethodNotAllowedError; empty for any other status.
std::string AllowedMethods(const absl::Status& status);

// True for statuses a client should retry after a pause (answers carry Retry-After).
bool IsRetryable(const absl::Status& status);

}  // namespace berth::common
