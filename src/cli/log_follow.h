// `berth logs -f` without a streaming route: each poll fetches the last lines again, and this
// finds where the lines already printed end in the new fetch.
#pragma once

#include <deque>
#include <map>
#include <string>
#include <string_view>
#include <vector>

namespace berth::cli {

// Remembers the last lines printed and picks the new ones out of each fetch. Not thread-safe.
class LogFollower {
 public:
  explicit LogFollower(size_t memory = 200) : memory_(memory) {}

  // The lines of `fetched` (the latest tail of the log) not printed before. When nothing printed
  // before can be found in `fetched` (more lines came than one fetch holds), all of it is new.
  std::vector<std::string> NewLines(std::string_view fetched);

 private:
  size_t memory_;
  std::deque<std::string> seen_;
};

// The same for the server's log of a service, where each replica's tail comes in its own block
// of lines prefixed "[REPLICA] ": each replica's lines are followed on their own, so that a
// larger fetch of one replica does not make the others' lines look new.
class ServiceLogFollower {
 public:
  // At most `per_replica` of each replica's new lines are returned (the last ones); all of them
  // count as seen.
  std::vector<std::string> NewLines(std::string_view fetched,
                                    size_t per_replica = std::string::npos);

 private:
  std::map<std::string, LogFollower, std::less<>> replicas_;
};

}  // namespace berth::cli
