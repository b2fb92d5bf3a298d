// libFuzzer target for HTTP/1.1 request framing as both listeners configure it: the bytes a
// socket receives, split into reads of a fuzzed size, through Beast's parser with berth's limits
// (header, read buffer, body), the framing check (Transfer-Encoding, Content-Length) and the
// trailer refusal, for as many pipelined requests as the bytes hold. Nothing may throw or crash.
//
// Input: what the socket receives. Every input is read both ways the listeners read (the
// worker's, the whole request through one parser; the gateway's, the header first and then the
// body through a second parser), in reads of 2^(size mod 16) bytes, so that the seed corpus is
// plain requests as clients send them.

#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http.hpp>
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "net/http_framing.h"
#include "tests/net/memory_stream.h"

namespace {

namespace beast = boost::beast;
namespace http = beast::http;
using berth::net::CheckRequestFraming;
using berth::net::TrailerDetector;

constexpr uint64_t kBodyLimit = 1 << 20;
constexpr int kMaxRequests = 64;

// Reads one request the worker's way; false when the connection would close.
bool ReadWhole(berth::testing::MemoryStream& stream, beast::flat_buffer& buffer) {
  http::request_parser<http::string_body> parser;
  berth::net::ConfigureRequestParser(parser);
  parser.body_limit(kBodyLimit);
  TrailerDetector trailers;
  trailers.Attach(parser);
  beast::error_code ec;
  http::read(stream, buffer, parser, ec);
  if (ec) return false;
  if (!CheckRequestFraming(parser.get(), parser.content_length(), kBodyLimit).ok()) return false;
  if (trailers.HasTrailer(parser.get())) return false;
  return parser.get().keep_alive();
}

// Reads one request the gateway's way; false when the connection would close.
bool ReadHeaderThenBody(berth::testing::MemoryStream& stream, beast::flat_buffer& buffer) {
  http::request_parser<http::empty_body> header;
  berth::net::ConfigureRequestParser(header);
  header.body_limit(boost::none);
  beast::error_code ec;
  http::read_header(stream, buffer, header, ec);
  if (ec) return false;
  if (!CheckRequestFraming(header.get(), header.content_length(), kBodyLimit).ok()) return false;
  if (header.is_done()) return header.get().keep_alive();
  http::request_parser<http::string_body> body(std::move(header));
  body.body_limit(kBodyLimit);
  TrailerDetector trailers;
  trailers.Attach(body);
  http::read(stream, buffer, body, ec);
  if (ec || trailers.HasTrailer(body.get())) return false;
  return body.get().keep_alive();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view bytes(reinterpret_cast<const char*>(data), size);
  const size_t chunk = size_t{1} << (size % 16);  // 1 byte .. 32 KiB per read
  for (const bool gateway : {false, true}) {
    berth::testing::MemoryStream stream(bytes, chunk);
    beast::flat_buffer buffer(berth::net::kReadBufferBytes);
    for (int i = 0; i < kMaxRequests; ++i) {
      const bool more = gateway ? ReadHeaderThenBody(stream, buffer) : ReadWhole(stream, buffer);
      if (!more) break;
    }
  }
  return 0;
}
