#include "net/descriptor_limit.h"

#include <sys/resource.h>

#include <algorithm>

#include "spdlog/spdlog.h"

namespace berth::net {

uint64_t RaiseDescriptorLimit() {
  rlimit limit{};
  if (getrlimit(RLIMIT_NOFILE, &limit) != 0) return 0;
  if (limit.rlim_cur < limit.rlim_max) {
    const rlim_t before = limit.rlim_cur;
    limit.rlim_cur = limit.rlim_max;
    if (setrlimit(RLIMIT_NOFILE, &limit) != 0) {
      spdlog::warn("cannot raise the open-file limit from {} to {}", before, limit.rlim_max);
      limit.rlim_cur = before;
    }
  }
  return limit.rlim_cur == RLIM_INFINITY ? UINT64_MAX : static_cast<uint64_t>(limit.rlim_cur);
}

int CappedConnectionLimit(int wanted, const char* who) {
  rlimit limit{};
  if (getrlimit(RLIMIT_NOFILE, &limit) != 0 || limit.rlim_cur == RLIM_INFINITY) return wanted;
  const auto total = static_cast<int64_t>(limit.rlim_cur);
  const int64_t reserve = std::max<int64_t>(256, total / 4);
  const int64_t cap = std::max<int64_t>(16, total - reserve);
  if (wanted > cap) {
    spdlog::info("{}: --max-connections {} is capped at {} (open-file limit {})", who, wanted, cap,
                 total);
  }
  return static_cast<int>(std::min<int64_t>(wanted, cap));
}

bool IsOutOfDescriptorsOrMemory(const boost::system::error_code& ec) {
  return ec == boost::system::errc::too_many_files_open ||
         ec == boost::system::errc::too_many_files_open_in_system ||
         ec == boost::system::errc::no_buffer_space || ec == boost::system::errc::not_enough_memory;
}

std::chrono::milliseconds AcceptBackoff::Failed(const boost::system::error_code& ec) {
  const std::chrono::milliseconds pause = pause_;
  ++failures_;
  if ((failures_ & (failures_ - 1)) == 0) {
    spdlog::warn("{}: cannot accept a connection ({}); pausing {} ms ({} so far)", who_,
                 ec.message(), pause.count(), failures_);
  }
  pause_ = std::min(pause_ * 2, kLongestPause);
  return pause;
}

}  // namespace berth::net
