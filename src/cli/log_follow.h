// `berth logs -f` without a streaming route: each poll fetches the last lines again, and this
// finds where the lines already printed end in the new fetch.
#pragma once

#include <deque>
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

}  // namespace berth::cli
