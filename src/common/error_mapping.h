// The one place where a Status becomes an HTTP status code (the gRPC code is the Status code).
#pragma once

#include "absl/status/status.h"

namespace berth::common {

// HTTP status for a failed Status; 200 for OK.
//   InvalidArgument, FailedPrecondition, OutOfRange -> 400   Unauthenticated -> 401
//   PermissionDenied -> 403   NotFound -> 404   AlreadyExists, Aborted -> 409
//   ResourceExhausted -> 429 (quota)   Unavailable -> 503 (with Retry-After)
//   DeadlineExceeded -> 504   Unimplemented -> 501   others -> 500.
// A body over the size limit is ResourceExhausted carrying kPayloadTooLarge, which maps to 413.
int HttpStatusFromStatus(const absl::Status& status);

// Marks a ResourceExhausted status as "request body too large" (HTTP 413).
absl::Status PayloadTooLargeError(std::string_view message);

// True for statuses a client should retry after a pause (answers carry Retry-After).
bool IsRetryable(const absl::Status& status);

}  // namespace berth::common
