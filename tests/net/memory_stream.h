// A synchronous read stream over bytes in memory, handing out at most `chunk` bytes per read,
// so that tests and the framing fuzz target drive Beast's own read loop over any split of a
// request into packets.
#pragma once

#include <algorithm>
#include <boost/asio/buffer.hpp>
#include <boost/asio/error.hpp>
#include <boost/beast/core/error.hpp>
#include <boost/throw_exception.hpp>
#include <cstddef>
#include <cstring>
#include <string_view>

namespace berth::testing {

class MemoryStream {
 public:
  MemoryStream(std::string_view bytes, size_t chunk)
      : bytes_(bytes), chunk_(std::max<size_t>(1, chunk)) {}

  template <class MutableBuffers>
  size_t read_some(const MutableBuffers& buffers, boost::beast::error_code& ec) {
    ec = {};
    if (bytes_.empty()) {
      ec = boost::asio::error::eof;
      return 0;
    }
    size_t total = 0;
    for (auto it = boost::asio::buffer_sequence_begin(buffers);
         it != boost::asio::buffer_sequence_end(buffers) && total < chunk_ && !bytes_.empty();
         ++it) {
      boost::asio::mutable_buffer b = *it;
      const size_t n = std::min({b.size(), chunk_ - total, bytes_.size()});
      std::memcpy(b.data(), bytes_.data(), n);
      bytes_.remove_prefix(n);
      total += n;
    }
    return total;
  }

  template <class MutableBuffers>
  size_t read_some(const MutableBuffers& buffers) {
    boost::beast::error_code ec;
    const size_t n = read_some(buffers, ec);
    if (ec) BOOST_THROW_EXCEPTION(boost::beast::system_error{ec});
    return n;
  }

  size_t remaining() const { return bytes_.size(); }

 private:
  std::string_view bytes_;
  size_t chunk_;
};

}  // namespace berth::testing
