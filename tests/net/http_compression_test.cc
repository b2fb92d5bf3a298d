#include "net/http_compression.h"

#include <gtest/gtest.h>
#include <zlib.h>

#include <random>
#include <string>

#include "common/error_mapping.h"

namespace berth::net {
namespace {

using common::HttpStatusFromStatus;

// Compresses with zlib's one-shot API in the given window mode (31: gzip, 15: zlib, -15: raw),
// independently of the code under test.
std::string Compress(std::string_view data, int window_bits) {
  z_stream s{};
  EXPECT_EQ(deflateInit2(&s, 6, Z_DEFLATED, window_bits, 8, Z_DEFAULT_STRATEGY), Z_OK);
  std::string out(deflateBound(&s, data.size()) + 64, '\0');
  s.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(data.data()));
  s.avail_in = static_cast<uInt>(data.size());
  s.next_out = reinterpret_cast<Bytef*>(out.data());
  s.avail_out = static_cast<uInt>(out.size());
  EXPECT_EQ(deflate(&s, Z_FINISH), Z_STREAM_END);
  out.resize(out.size() - s.avail_out);
  deflateEnd(&s);
  return out;
}

std::string RandomBytes(size_t n) {
  std::mt19937 rng(7);
  std::string s(n, '\0');
  for (char& c : s) c = static_cast<char>(rng());
  return s;
}

TEST(HttpCompressionTest, ParsesTheCodingsItReads) {
  EXPECT_EQ(*ParseContentEncoding(""), ContentCoding::kIdentity);
  EXPECT_EQ(*ParseContentEncoding("identity"), ContentCoding::kIdentity);
  EXPECT_EQ(*ParseContentEncoding(" GZIP "), ContentCoding::kGzip);
  EXPECT_EQ(*ParseContentEncoding("x-gzip"), ContentCoding::kGzip);
  EXPECT_EQ(*ParseContentEncoding("Deflate"), ContentCoding::kDeflate);
  for (const char* bad : {"br", "zstd", "gzip, deflate", "compress"}) {
    auto parsed = ParseContentEncoding(bad);
    ASSERT_FALSE(parsed.ok()) << bad;
    EXPECT_EQ(HttpStatusFromStatus(parsed.status()), 415) << bad;
    EXPECT_NE(parsed.status().message().find("gzip or deflate"), std::string::npos);
  }
}

TEST(HttpCompressionTest, DecodesGzipZlibAndBareDeflate) {
  const std::string data = RandomBytes(100000) + std::string(50000, 'a');
  EXPECT_EQ(*Decode(ContentCoding::kGzip, Compress(data, 31), 1 << 20), data);
  EXPECT_EQ(*Decode(ContentCoding::kDeflate, Compress(data, 15), 1 << 20), data);
  EXPECT_EQ(*Decode(ContentCoding::kDeflate, Compress(data, -15), 1 << 20), data);
  EXPECT_EQ(*Decode(ContentCoding::kGzip, Compress("", 31), 10), "");
  EXPECT_EQ(*Decode(ContentCoding::kIdentity, "abc", 3), "abc");
}

TEST(HttpCompressionTest, ABombStopsAtTheLimit) {
  // 64 MiB of zeros compress to about 64 KiB.
  const std::string zeros(64 << 20, '\0');
  const std::string bomb = Compress(zeros, 31);
  ASSERT_LT(bomb.size(), 100u << 10);
  auto decoded = Decode(ContentCoding::kGzip, bomb, 1 << 20);
  ASSERT_FALSE(decoded.ok());
  EXPECT_EQ(HttpStatusFromStatus(decoded.status()), 413);
  EXPECT_NE(decoded.status().message().find("1048576"), std::string::npos);
  // Exactly at the limit is fine; one byte over is not.
  const std::string kib(1024, 'x');
  EXPECT_TRUE(Decode(ContentCoding::kGzip, Compress(kib, 31), 1024).ok());
  EXPECT_EQ(HttpStatusFromStatus(Decode(ContentCoding::kGzip, Compress(kib, 31), 1023).status()),
            413);
  EXPECT_EQ(HttpStatusFromStatus(Decode(ContentCoding::kIdentity, kib, 1023).status()), 413);
}

TEST(HttpCompressionTest, CorruptTruncatedAndTrailingDataAre400) {
  const std::string data = RandomBytes(5000);
  const std::string gz = Compress(data, 31);
  for (const std::string& bad :
       {std::string("not gzip at all"), gz.substr(0, gz.size() / 2), gz + "extra", std::string(),
        gz.substr(0, 10)}) {
    auto decoded = Decode(ContentCoding::kGzip, bad, 1 << 20);
    ASSERT_FALSE(decoded.ok());
    EXPECT_EQ(HttpStatusFromStatus(decoded.status()), 400) << decoded.status();
  }
  std::string flipped = gz;
  flipped[flipped.size() - 6] ^= 0x55;  // the CRC-32 no longer matches
  EXPECT_EQ(HttpStatusFromStatus(Decode(ContentCoding::kGzip, flipped, 1 << 20).status()), 400);
  // A zlib stream is not gzip.
  EXPECT_EQ(
      HttpStatusFromStatus(Decode(ContentCoding::kGzip, Compress(data, 15), 1 << 20).status()),
      400);
}

TEST(HttpCompressionTest, ChoosesTheResponseCodingFromAcceptEncoding) {
  EXPECT_EQ(ChooseResponseCoding(""), ContentCoding::kIdentity);
  EXPECT_EQ(ChooseResponseCoding("gzip"), ContentCoding::kGzip);
  EXPECT_EQ(ChooseResponseCoding("deflate"), ContentCoding::kDeflate);
  EXPECT_EQ(ChooseResponseCoding("gzip, deflate, br"), ContentCoding::kGzip);
  EXPECT_EQ(ChooseResponseCoding("deflate, gzip;q=0.5"), ContentCoding::kDeflate);
  EXPECT_EQ(ChooseResponseCoding("gzip;q=0, deflate"), ContentCoding::kDeflate);
  EXPECT_EQ(ChooseResponseCoding("gzip;q=0"), ContentCoding::kIdentity);
  EXPECT_EQ(ChooseResponseCoding("br, identity"), ContentCoding::kIdentity);
  EXPECT_EQ(ChooseResponseCoding("*"), ContentCoding::kGzip);
  EXPECT_EQ(ChooseResponseCoding("*;q=0"), ContentCoding::kIdentity);
  EXPECT_EQ(ChooseResponseCoding("GZIP;Q=0.8 , deflate;q=0.9"), ContentCoding::kDeflate);
  EXPECT_EQ(ChooseResponseCoding("gzip;q=bogus"), ContentCoding::kIdentity);
}

TEST(HttpCompressionTest, EncodeRoundTripsThroughZlib) {
  const std::string data = RandomBytes(3000) + std::string(3000, 'z');
  for (ContentCoding coding : {ContentCoding::kGzip, ContentCoding::kDeflate}) {
    absl::StatusOr<std::string> encoded = Encode(coding, data);
    ASSERT_TRUE(encoded.ok());
    // Decoded by zlib directly, with the window mode the coding implies.
    z_stream s{};
    ASSERT_EQ(inflateInit2(&s, coding == ContentCoding::kGzip ? 31 : 15), Z_OK);
    std::string out(data.size(), '\0');
    s.next_in = reinterpret_cast<Bytef*>(encoded->data());
    s.avail_in = static_cast<uInt>(encoded->size());
    s.next_out = reinterpret_cast<Bytef*>(out.data());
    s.avail_out = static_cast<uInt>(out.size());
    EXPECT_EQ(inflate(&s, Z_FINISH), Z_STREAM_END);
    inflateEnd(&s);
    EXPECT_EQ(out, data);
  }
  EXPECT_EQ(*Encode(ContentCoding::kIdentity, "abc"), "abc");
  EXPECT_EQ(CodingName(ContentCoding::kGzip), "gzip");
  EXPECT_EQ(CodingName(ContentCoding::kIdentity), "");
}

}  // namespace
}  // namespace berth::net
