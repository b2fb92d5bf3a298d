#include "net/http_framing.h"

#include <algorithm>
#include <atomic>
#include <cctype>
#include <iterator>
#include <string>

#include "common/error_mapping.h"
#include "common/strings.h"
#include "spdlog/spdlog.h"

namespace berth::net {
namespace {

namespace http = boost::beast::http;

std::atomic<uint64_t> unhandled_exceptions{0};

std::string_view Trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

bool EqualsIgnoreCase(std::string_view a, std::string_view b) {
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
           return std::tolower(static_cast<unsigned char>(x)) ==
                  std::tolower(static_cast<unsigned char>(y));
         });
}

}  // namespace

absl::Status CheckRequestFraming(const http::fields& header,
                                 boost::optional<uint64_t> content_length, uint64_t body_limit) {
  // Every Transfer-Encoding line, every comma-separated coding: exactly one, "chunked".
  const auto [first, last] = header.equal_range(http::field::transfer_encoding);
  if (first != last) {
    size_t codings = 0;
    std::string_view final_coding;
    for (auto it = first; it != last; ++it) {
      std::string_view value(it->value().data(), it->value().size());
      while (true) {
        const size_t comma = value.find(',');
        final_coding = Trim(value.substr(0, comma));
        ++codings;
        if (comma == std::string_view::npos) break;
        value.remove_prefix(comma + 1);
      }
    }
    const bool final_chunked = EqualsIgnoreCase(final_coding, "chunked");
    if (!final_chunked || codings > 1) {
      std::string shown;
      for (auto it = first; it != last && shown.size() <= 200; ++it) {
        if (!shown.empty()) shown += ", ";
        shown.append(it->value().data(), it->value().size());
      }
      if (shown.size() > 200) shown = shown.substr(0, 200) + "...";
      if (final_chunked) {
        return absl::UnimplementedError(
            StrCat("Transfer-Encoding '", shown,
                   "': berth decodes only 'chunked'; send the body uncompressed"));
      }
      return absl::InvalidArgumentError(
          StrCat("Transfer-Encoding '", shown,
                 "' is not supported: send the body with a Content-Length or with "
                 "'Transfer-Encoding: chunked'"));
    }
  }
  if (content_length && *content_length > body_limit) {
    return common::PayloadTooLargeError(StrCat("the request body is ", *content_length,
                                               " bytes, over this route's limit of ", body_limit,
                                               " bytes"));
  }
  return absl::OkStatus();
}

absl::Status TrailerRefusedError() {
  return absl::InvalidArgumentError(
      "the request carries trailer fields after its chunked body; berth accepts none (send "
      "every field in the header)");
}

absl::Status OversizeChunkLineError() {
  return absl::InvalidArgumentError(StrCat(
      "a chunk-size line or the trailer of the chunked body is over ", kReadBufferBytes, " bytes"));
}

size_t TrailerDetector::FieldCount(const http::fields& header) {
  return static_cast<size_t>(std::distance(header.begin(), header.end()));
}

void RunEventLoop(boost::asio::io_context& io, std::string_view what) {
  while (true) {
    try {
      io.run();
      return;
    } catch (const std::exception& e) {
      CountUnhandledException(what, e.what());
    } catch (...) {
      CountUnhandledException(what, "an exception of unknown type");
    }
  }
}

uint64_t UnhandledExceptionCount() { return unhandled_exceptions.load(std::memory_order_relaxed); }

void CountUnhandledException(std::string_view where, std::string_view what) {
  const uint64_t n = unhandled_exceptions.fetch_add(1, std::memory_order_relaxed) + 1;
  // Logged with a bound: the 1st, 2nd, 4th, 8th, ... so that a flood cannot fill the disk.
  if ((n & (n - 1)) == 0) {
    spdlog::error(
        "{}: a request handler threw ({}); the connection was closed and the process "
        "goes on ({} such failure(s) so far)",
        where, what, n);
  }
}

}  // namespace berth::net
