// The rules both HTTP/1.1 listeners (the server's gateway and the worker) apply to a request's
// framing before they act on it: how large a header and a read buffer may be, which
// Transfer-Encoding is accepted, a declared body length against the route's limit, and no
// trailer fields. One definition, so that the two listeners cannot drift apart; the framing fuzz
// target drives the same code. See docs/security.md for why each limit is what it is.
#pragma once

#include <boost/asio/io_context.hpp>
#include <boost/beast/http.hpp>
#include <boost/optional.hpp>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <string_view>

#include "absl/status/status.h"

namespace berth::net {

// Request line plus header fields. Beast keeps a field's value in 16 bits and throws past
// 65,535 bytes; this limit (and the read buffer's, which bounds trailers) stays well below it.
inline constexpr size_t kMaxHeaderBytes = 32 * 1024;
// The most bytes a connection's read buffer holds that the parser has not consumed yet: a
// header, a chunk-size line or a trailer larger than this ends the request with an error.
inline constexpr size_t kReadBufferBytes = 48 * 1024;

// How long a connection may wait between requests for the first byte of the next one, and how
// long a request may take from its first byte to the end of its header. A client that trickles
// a header (slowloris) is cut off after kHeaderTimeout, not after the idle timeout.
inline constexpr std::chrono::seconds kIdleTimeout{120};
inline constexpr std::chrono::seconds kHeaderTimeout{10};
// Once more than three quarters of a listener's connections are open, an idle connection gets
// only this long before its next request begins, so that held-open connections make room.
inline constexpr std::chrono::seconds kIdleTimeoutUnderPressure{5};

// The idle timeout for a connection of a listener with `open` of `limit` connections open.
inline std::chrono::seconds IdleTimeout(int open, int limit) {
  return static_cast<int64_t>(open) * 4 > static_cast<int64_t>(limit) * 3
             ? kIdleTimeoutUnderPressure
             : kIdleTimeout;
}

// Sets the limits both listeners give every request parser they create.
template <class Parser>
void ConfigureRequestParser(Parser& parser) {
  parser.header_limit(kMaxHeaderBytes);
}

// Checks a request whose header has been read, before any of its body is: the Transfer-Encoding
// must be absent or exactly "chunked" (RFC 9112 6.1: anything else is refused, so that no body
// is ever taken for the next request), and a declared Content-Length must not exceed
// `body_limit`. Errors: InvalidArgument (400), Unimplemented (501) for a transfer coding other
// than chunked, PayloadTooLarge (413). In every error case the connection must be closed.
absl::Status CheckRequestFraming(const boost::beast::http::fields& header,
                                 boost::optional<uint64_t> content_length, uint64_t body_limit);

// The error for a request that carried trailer fields (no berth route uses them; they are
// refused rather than merged into the header or forwarded).
absl::Status TrailerRefusedError();

// The error for a chunked body whose chunk-size line or trailer outgrew the read buffer.
absl::Status OversizeChunkLineError();

// Tells whether a chunked request carried trailer fields, which Beast merges into the header:
// it counts the fields when the last chunk begins, before any trailer is parsed. Attach it to
// the parser that reads the body; it must outlive the parser. Not thread-safe.
class TrailerDetector {
 public:
  template <class Parser>
  void Attach(Parser& parser) {
    callback_ = [this, &parser](uint64_t size, boost::beast::string_view,
                                boost::beast::error_code&) {
      if (size == 0) fields_at_last_chunk_ = FieldCount(parser.get());
    };
    fields_at_last_chunk_ = SIZE_MAX;
    parser.on_chunk_header(callback_);
  }

  // True when `header` (read to the end with the attached parser) holds trailer fields.
  bool HasTrailer(const boost::beast::http::fields& header) const {
    return fields_at_last_chunk_ != SIZE_MAX && FieldCount(header) > fields_at_last_chunk_;
  }

  static size_t FieldCount(const boost::beast::http::fields& header);

 private:
  std::function<void(uint64_t, boost::beast::string_view, boost::beast::error_code&)> callback_;
  size_t fields_at_last_chunk_ = SIZE_MAX;
};

// Runs `io` on the calling thread until it is stopped or out of work. An exception that escapes
// a handler (a library throwing where it should not) is logged and counted, and the loop goes
// on: one request never takes the process down. `what` names the loop in the log.
void RunEventLoop(boost::asio::io_context& io, std::string_view what);

// Exceptions caught by RunEventLoop and by the listeners' last-resort handlers, process-wide.
uint64_t UnhandledExceptionCount();
void CountUnhandledException(std::string_view where, std::string_view what);

}  // namespace berth::net
