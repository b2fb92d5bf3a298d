// The process's open-descriptor limit: raised from the inherited soft limit to the hard one at
// start, so that a listener under load runs out of memory budget before it runs out of sockets.
#pragma once

#include <boost/system/error_code.hpp>
#include <chrono>
#include <cstdint>
#include <string>

namespace berth::net {

// Raises RLIMIT_NOFILE's soft limit to its hard limit; returns the soft limit now in force
// (0 where it cannot be read).
uint64_t RaiseDescriptorLimit();

// `wanted` client connections, capped so that they cannot take the descriptors that replicas,
// probes, upstream connections and the store need: a quarter of the limit, at least 256, stays
// in reserve. `who` names the listener in the log line that says it was capped.
int CappedConnectionLimit(int wanted, const char* who);

// True for the errors that mean this process (not its peer) is out of descriptors or memory:
// EMFILE, ENFILE, ENOBUFS, ENOMEM. A failure for these reasons is never a peer's fault.
bool IsOutOfDescriptorsOrMemory(const boost::system::error_code& ec);

// Paces a listener's accept() once it fails for want of descriptors or memory: the pending
// connection stays in the backlog, and accepting again at once would spin a core on it. The
// pause starts at 5 ms and doubles up to 1 s; a success resets it. Not thread-safe: one per
// acceptor, used by its one outstanding accept.
class AcceptBackoff {
 public:
  explicit AcceptBackoff(std::string who) : who_(std::move(who)) {}

  // Records a failure (logged at the 1st, 2nd, 4th, ...) and returns the pause to wait.
  std::chrono::milliseconds Failed(const boost::system::error_code& ec);
  void Succeeded() { pause_ = kFirstPause; }

 private:
  static constexpr std::chrono::milliseconds kFirstPause{5};
  static constexpr std::chrono::milliseconds kLongestPause{1000};
  std::string who_;
  std::chrono::milliseconds pause_ = kFirstPause;
  uint64_t failures_ = 0;
};

}  // namespace berth::net
