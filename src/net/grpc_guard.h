// The last-resort handler around a gRPC service method: an exception that escapes the method is
// logged and counted, and the call ends with INTERNAL instead of taking the process down.
// Also the one conversion of a Status to a gRPC status. Header-only, for the targets that link gRPC (the worker and the gateway).
#pragma once

#include <grpcpp/grpcpp.h>

#include <algorithm>
#include <cstdint>
#include <string>
#include <string_view>

#include "absl/status/status.h"

#include "net/http_framing.h"

namespace berth::net {

// A Status as a gRPC status: absl and gRPC share the canonical code numbering.
inline grpc::Status ToGrpc(const absl::Status& status) {
  return grpc::Status(static_cast<grpc::StatusCode>(status.code()), std::string(status.message()));
}

inline grpc::Status UnhandledExceptionStatus() {
  return grpc::Status(grpc::StatusCode::INTERNAL,
                      "the server failed while handling this call (it is logged); retry, and "
                      "report it if it persists");
}

// Runs `body` (which returns the call's reactor); on an exception, finishes the call with
// INTERNAL.
template <class Body>
grpc::ServerUnaryReactor* GuardUnary(grpc::CallbackServerContext* context, std::string_view where,
                                     Body&& body) {
  try {
    return body();
  } catch (const std::exception& e) {
    CountUnhandledException(where, e.what());
  } catch (...) {
    CountUnhandledException(where, "an exception of unknown type");
  }
  grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
  reactor->Finish(UnhandledExceptionStatus());
  return reactor;
}

// Runs `body` inside a streaming reactor's callback; on an exception, calls `fail`.
template <class Body, class Fail>
void GuardStream(std::string_view where, Body&& body, Fail&& fail) {
  try {
    body();
    return;
  } catch (const std::exception& e) {
    CountUnhandledException(where, e.what());
  } catch (...) {
    CountUnhandledException(where, "an exception of unknown type");
  }
  fail();
}

// HTTP/2 limits for a gRPC server that faces untrusted clients: concurrent streams per
// connection, a memory quota for the whole server (past it gRPC refuses new calls rather than
// growing), and a cap on the age of a connection, so that one that opens and resets streams at
// a high rate (CVE-2023-44487) is sent GOAWAY and closed in bounded time. gRPC 1.51 has no
// per-connection reset counter; docs/security.md says what remains.
inline constexpr int kMaxConcurrentStreams = 128;
inline constexpr int64_t kMaxConnectionAgeMs = 30 * 60 * 1000;
inline constexpr int64_t kConnectionAgeGraceMs = 60 * 1000;

inline void LimitGrpcServer(grpc::ServerBuilder& builder, const char* name,
                            size_t max_message_bytes) {
  builder.AddChannelArgument(GRPC_ARG_MAX_CONCURRENT_STREAMS, kMaxConcurrentStreams);
  builder.AddChannelArgument(GRPC_ARG_MAX_CONNECTION_AGE_MS, static_cast<int>(kMaxConnectionAgeMs));
  builder.AddChannelArgument(GRPC_ARG_MAX_CONNECTION_AGE_GRACE_MS,
                             static_cast<int>(kConnectionAgeGraceMs));
  // Room for a few messages of the largest size in flight, at least 512 MiB.
  const size_t quota_bytes = std::max<size_t>(size_t{512} << 20, 4 * max_message_bytes);
  grpc::ResourceQuota quota(name);
  quota.Resize(quota_bytes);
  builder.SetResourceQuota(quota);
}

}  // namespace berth::net
