#include "net/http_compression.h"

#include <zlib.h>

#include <algorithm>
#include <cctype>
#include <limits>

#include "common/error_mapping.h"
#include "common/strings.h"

namespace berth::net {
namespace {

std::string_view Trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

bool EqualsIgnoreCase(std::string_view a, std::string_view b) {
  return a.size() == b.size() &&
         std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
           return std::tolower(static_cast<unsigned char>(x)) ==
                  std::tolower(static_cast<unsigned char>(y));
         });
}

// HTTP's "deflate" is the zlib format (RFC 1950); some clients send a bare deflate stream
// (RFC 1951) instead. A zlib stream starts with a header whose 16 bits are a multiple of 31
// and whose method is 8.
bool HasZlibHeader(std::string_view body) {
  if (body.size() < 2) return false;
  const unsigned b0 = static_cast<unsigned char>(body[0]);
  const unsigned b1 = static_cast<unsigned char>(body[1]);
  return (b0 & 0x0f) == 8 && (b0 * 256 + b1) % 31 == 0;
}

// The q-value of one Accept-Encoding element's parameters ("q=0.5"); 1 without one.
double QValue(std::string_view params) {
  while (!params.empty()) {
    const size_t semi = params.find(';');
    std::string_view param = Trim(params.substr(0, semi));
    params = semi == std::string_view::npos ? std::string_view() : params.substr(semi + 1);
    if (param.size() >= 2 && (param[0] == 'q' || param[0] == 'Q') && param[1] == '=') {
      std::string_view value = param.substr(2);
      // q is 0, 1 or a decimal up to three places; anything else counts as 0 (not accepted).
      if (value.empty() || (value[0] != '0' && value[0] != '1')) return 0;
      if (value == "1" || value.starts_with("1.")) return 1;
      double q = 0;
      int place = 10;
      for (char c : value.substr(std::min<size_t>(2, value.size()))) {
        if (c < '0' || c > '9') return 0;
        q += static_cast<double>(c - '0') / place;
        place *= 10;
      }
      return q;
    }
  }
  return 1;
}

}  // namespace

absl::StatusOr<ContentCoding> ParseContentEncoding(std::string_view value) {
  const std::string_view token = Trim(value);
  if (token.empty() || EqualsIgnoreCase(token, "identity")) return ContentCoding::kIdentity;
  if (EqualsIgnoreCase(token, "gzip") || EqualsIgnoreCase(token, "x-gzip")) {
    return ContentCoding::kGzip;
  }
  if (EqualsIgnoreCase(token, "deflate")) return ContentCoding::kDeflate;
  return common::UnsupportedMediaTypeError(
      StrCat("Content-Encoding '", token.substr(0, 64),
             "' is not supported: send the body as it is, or with gzip or deflate"));
}

absl::StatusOr<std::string> Decode(ContentCoding coding, std::string_view body, size_t limit) {
  if (coding == ContentCoding::kIdentity) {
    if (body.size() > limit) {
      return common::PayloadTooLargeError(
          StrCat("the request body is larger than the limit of ", limit, " bytes"));
    }
    return std::string(body);
  }
  const std::string_view name = CodingName(coding);
  // 15 + 16: gzip only; 15: zlib; -15: a bare deflate stream.
  const int window_bits =
      coding == ContentCoding::kGzip ? 15 + 16 : (HasZlibHeader(body) ? 15 : -15);
  z_stream stream{};
  if (inflateInit2(&stream, window_bits) != Z_OK) {
    return absl::ResourceExhaustedError("the server is out of memory to decompress the body");
  }
  std::string out;
  // Grow the output as it fills, never past the limit (plus one byte, to tell "exactly the
  // limit" from "over it").
  out.resize(std::min(limit + 1, std::max<size_t>(body.size() * 4, 4096)));
  stream.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(body.data()));
  size_t in_left = body.size();
  size_t produced = 0;
  int rc = Z_OK;
  while (true) {
    const uInt in_chunk = static_cast<uInt>(std::min<size_t>(in_left, 1u << 30));
    stream.avail_in = in_chunk;
    const size_t room = std::min<size_t>(out.size() - produced, 1u << 30);
    stream.next_out = reinterpret_cast<Bytef*>(out.data() + produced);
    stream.avail_out = static_cast<uInt>(room);
    rc = inflate(&stream, Z_NO_FLUSH);
    produced += room - stream.avail_out;
    in_left -= in_chunk - stream.avail_in;
    if (rc == Z_STREAM_END) break;
    if (rc != Z_OK && rc != Z_BUF_ERROR) break;
    if (produced > limit) break;
    if (stream.avail_out == 0) {
      if (out.size() > limit) break;
      out.resize(std::min(limit + 1, out.size() * 2));
      continue;
    }
    if (in_left == 0) {  // all input used, output not full, and no end of stream
      rc = Z_DATA_ERROR;
      break;
    }
  }
  inflateEnd(&stream);
  if (produced > limit) {
    return common::PayloadTooLargeError(StrCat("the ", name,
                                               "-compressed request body decompresses to more "
                                               "than the limit of ",
                                               limit, " bytes"));
  }
  if (rc != Z_STREAM_END) {
    return absl::InvalidArgumentError(
        StrCat("the request body is not valid ", name, " data (Content-Encoding: ", name, ")",
               rc == Z_DATA_ERROR && stream.msg != nullptr ? StrCat(": ", stream.msg) : ""));
  }
  if (in_left != 0) {
    return absl::InvalidArgumentError(
        StrCat("the request body has ", in_left, " bytes after the end of its ", name, " data"));
  }
  out.resize(produced);
  return out;
}

ContentCoding ChooseResponseCoding(std::string_view accept_encoding) {
  double gzip = -1, deflate = -1, any = -1;
  while (!accept_encoding.empty()) {
    const size_t comma = accept_encoding.find(',');
    std::string_view element = accept_encoding.substr(0, comma);
    accept_encoding = comma == std::string_view::npos ? std::string_view()
                                                      : accept_encoding.substr(comma + 1);
    const size_t semi = element.find(';');
    const std::string_view token = Trim(element.substr(0, semi));
    const double q =
        semi == std::string_view::npos ? 1.0 : QValue(element.substr(semi + 1));
    if (EqualsIgnoreCase(token, "gzip") || EqualsIgnoreCase(token, "x-gzip")) {
      gzip = std::max(gzip, q);
    } else if (EqualsIgnoreCase(token, "deflate")) {
      deflate = std::max(deflate, q);
    } else if (token == "*") {
      any = q;
    }
  }
  if (gzip < 0) gzip = any;
  if (gzip > 0 && gzip >= deflate) return ContentCoding::kGzip;
  if (deflate > 0) return ContentCoding::kDeflate;
  return ContentCoding::kIdentity;
}

absl::StatusOr<std::string> Encode(ContentCoding coding, std::string_view body) {
  if (coding == ContentCoding::kIdentity) return std::string(body);
  if (body.size() > std::numeric_limits<uInt>::max() / 2) {
    return absl::ResourceExhaustedError("the answer is too large to compress");
  }
  z_stream stream{};
  // Level 1: answers are compressed on the request's path, where speed matters more than
  // the last few percent of size.
  if (deflateInit2(&stream, 1, Z_DEFLATED, coding == ContentCoding::kGzip ? 15 + 16 : 15, 8,
                   Z_DEFAULT_STRATEGY) != Z_OK) {
    return absl::ResourceExhaustedError("zlib could not start a stream");
  }
  std::string out(deflateBound(&stream, body.size()) + 32, '\0');
  stream.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(body.data()));
  stream.avail_in = static_cast<uInt>(body.size());
  stream.next_out = reinterpret_cast<Bytef*>(out.data());
  stream.avail_out = static_cast<uInt>(out.size());
  const int rc = deflate(&stream, Z_FINISH);
  out.resize(out.size() - stream.avail_out);
  deflateEnd(&stream);
  if (rc != Z_STREAM_END) return absl::InternalError("zlib could not compress the answer");
  return out;
}

std::string_view CodingName(ContentCoding coding) {
  switch (coding) {
    case ContentCoding::kGzip:
      return "gzip";
    case ContentCoding::kDeflate:
      return "deflate";
    case ContentCoding::kIdentity:
      break;
  }
  return "";
}

}  // namespace berth::net
