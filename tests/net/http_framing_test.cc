#include "net/http_framing.h"

#include <gtest/gtest.h>

#include <boost/beast/core/flat_buffer.hpp>
#include <string>

#include "common/error_mapping.h"
#include "tests/net/memory_stream.h"

namespace berth::net {
namespace {

namespace beast = boost::beast;
namespace http = beast::http;

int FramingStatus(const std::string& transfer_encoding, boost::optional<uint64_t> length = {},
                  uint64_t limit = 1000) {
  http::fields header;
  if (!transfer_encoding.empty()) header.insert(http::field::transfer_encoding, transfer_encoding);
  return common::HttpStatusFromStatus(CheckRequestFraming(header, length, limit));
}

TEST(HttpFramingTest, AcceptsOnlyALoneChunkedCoding) {
  EXPECT_EQ(FramingStatus(""), 200);
  EXPECT_EQ(FramingStatus("chunked"), 200);
  EXPECT_EQ(FramingStatus("Chunked "), 200);
  EXPECT_EQ(FramingStatus("identity"), 400);
  EXPECT_EQ(FramingStatus("xchunked"), 400);
  EXPECT_EQ(FramingStatus("chunked, gzip"), 400);
  EXPECT_EQ(FramingStatus("chunked, chunked"), 501);
  EXPECT_EQ(FramingStatus("gzip, chunked"), 501);
  EXPECT_EQ(FramingStatus(","), 400);
}

TEST(HttpFramingTest, CountsEveryTransferEncodingLine) {
  http::fields header;
  header.insert(http::field::transfer_encoding, "gzip");
  header.insert(http::field::host, "x");
  header.insert(http::field::transfer_encoding, "chunked");
  EXPECT_EQ(common::HttpStatusFromStatus(CheckRequestFraming(header, {}, 10)), 501);
}

TEST(HttpFramingTest, RefusesADeclaredLengthOverTheLimitBeforeTheBody) {
  EXPECT_EQ(FramingStatus("", 1000, 1000), 200);
  EXPECT_EQ(FramingStatus("", 1001, 1000), 413);
  EXPECT_EQ(FramingStatus("", 100000000000ull, 64u << 20), 413);
}

// Reads one request the way the worker does; returns the read's error.
beast::error_code ReadRequest(const std::string& bytes, size_t chunk, bool* trailer,
                              std::string* body = nullptr) {
  testing::MemoryStream stream(bytes, chunk);
  beast::flat_buffer buffer(kReadBufferBytes);
  http::request_parser<http::string_body> parser;
  ConfigureRequestParser(parser);
  parser.body_limit(1 << 20);
  TrailerDetector trailers;
  trailers.Attach(parser);
  beast::error_code ec;
  http::read(stream, buffer, parser, ec);
  *trailer = !ec && trailers.HasTrailer(parser.get());
  if (body != nullptr && !ec) *body = parser.get().body();
  return ec;
}

TEST(HttpFramingTest, TellsTrailersApart) {
  const std::string head =
      "POST /x HTTP/1.1\r\nHost: x\r\nA: 1\r\nTransfer-Encoding: chunked\r\n\r\n";
  for (size_t chunk : {1, 7, 4096}) {
    bool trailer = true;
    std::string body;
    EXPECT_FALSE(ReadRequest(head + "3\r\nabc\r\n2\r\nde\r\n0\r\n\r\n", chunk, &trailer, &body));
    EXPECT_FALSE(trailer);
    EXPECT_EQ(body, "abcde");
    EXPECT_FALSE(ReadRequest(head + "1\r\na\r\n0\r\nX-T: abc\r\n\r\n", chunk, &trailer));
    EXPECT_TRUE(trailer) << chunk;
  }
  bool trailer = true;
  EXPECT_FALSE(ReadRequest("POST /x HTTP/1.1\r\nContent-Length: 2\r\n\r\nab", 5, &trailer));
  EXPECT_FALSE(trailer);
}

TEST(HttpFramingTest, AHugeTrailerFieldIsAnErrorNotAnException) {
  // One trailer field of 70,000 bytes: past Beast's 65,535-byte field ceiling, where it would
  // throw; the bounded read buffer stops it first.
  const std::string request =
      "POST /x HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
      "1\r\na\r\n0\r\nX-T: " +
      std::string(70000, 't') + "\r\n\r\n";
  bool trailer = false;
  beast::error_code ec;
  EXPECT_NO_THROW(ec = ReadRequest(request, 65536, &trailer));
  EXPECT_EQ(ec, http::error::buffer_overflow);
  // Trailers just under the buffer: many small fields, also refused without an exception.
  std::string fields;
  while (fields.size() < kReadBufferBytes - 2000)
    fields += "X-A: " + std::string(100, 'a') + "\r\n";
  EXPECT_NO_THROW(ec = ReadRequest("POST /x HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n" +
                                       fields + "\r\n",
                                   4096, &trailer));
  EXPECT_FALSE(ec);
  EXPECT_TRUE(trailer);
}

TEST(HttpFramingTest, AHeaderOverTheLimitIsAnError) {
  const std::string request =
      "GET / HTTP/1.1\r\nX-Big: " + std::string(kMaxHeaderBytes, 'b') + "\r\n\r\n";
  bool trailer = false;
  beast::error_code ec;
  EXPECT_NO_THROW(ec = ReadRequest(request, 65536, &trailer));
  EXPECT_EQ(ec, http::error::header_limit);
}

TEST(HttpFramingTest, AChunkSizeLineOverTheBufferIsAnError) {
  const std::string request = "POST /x HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n1;" +
                              std::string(100000, 'e') + "\r\na\r\n0\r\n\r\n";
  bool trailer = false;
  beast::error_code ec;
  EXPECT_NO_THROW(ec = ReadRequest(request, 65536, &trailer));
  EXPECT_TRUE(ec);
}

}  // namespace
}  // namespace berth::net
