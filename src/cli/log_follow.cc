#include "cli/log_follow.h"

#include <algorithm>

namespace berth::cli {
namespace {

std::vector<std::string> SplitLines(std::string_view text) {
  std::vector<std::string> lines;
  while (!text.empty()) {
    const size_t end = text.find('\n');
    lines.emplace_back(text.substr(0, end));
    if (end == std::string_view::npos) break;
    text.remove_prefix(end + 1);
  }
  return lines;
}

}  // namespace

std::vector<std::string> LogFollower::NewLines(std::string_view fetched) {
  std::vector<std::string> lines = SplitLines(fetched);
  // Where the lines already seen end in `lines`: preferably the earliest place where all of
  // them stand (the previous fetch reached no further), else the longest run at the start of
  // `lines` that ends what was seen (the window moved past the rest).
  const auto seen_ends_at = [&](size_t end) {
    const size_t overlap = std::min(end, seen_.size());
    return std::equal(lines.begin() + static_cast<std::ptrdiff_t>(end - overlap),
                      lines.begin() + static_cast<std::ptrdiff_t>(end),
                      seen_.end() - static_cast<std::ptrdiff_t>(overlap));
  };
  size_t first_new = 0;
  if (!seen_.empty()) {
    bool found = false;
    for (size_t end = seen_.size(); end <= lines.size() && !found; ++end) {
      if (seen_ends_at(end)) {
        first_new = end;
        found = true;
      }
    }
    for (size_t end = std::min(seen_.size() - 1, lines.size()); end > 0 && !found; --end) {
      if (seen_ends_at(end)) {
        first_new = end;
        found = true;
      }
    }
  }
  std::vector<std::string> fresh(lines.begin() + static_cast<std::ptrdiff_t>(first_new),
                                 lines.end());
  for (const std::string& line : fresh) {
    seen_.push_back(line);
    if (seen_.size() > memory_) seen_.pop_front();
  }
  return fresh;
}

std::vector<std::string> ServiceLogFollower::NewLines(std::string_view fetched,
                                                      size_t per_replica) {
  // Each replica's block, in the order the blocks come.
  std::vector<std::pair<std::string, std::string>> blocks;
  for (const std::string& line : SplitLines(fetched)) {
    std::string replica;
    if (line.starts_with('[')) {
      const size_t end = line.find("] ");
      if (end != std::string::npos) replica = line.substr(1, end - 1);
    }
    if (blocks.empty() || blocks.back().first != replica) blocks.emplace_back(replica, "");
    blocks.back().second.append(line).push_back('\n');
  }
  std::vector<std::string> fresh;
  for (const auto& [replica, text] : blocks) {
    std::vector<std::string> lines = replicas_[replica].NewLines(text);
    const size_t from = lines.size() > per_replica ? lines.size() - per_replica : 0;
    for (size_t i = from; i < lines.size(); ++i) fresh.push_back(std::move(lines[i]));
  }
  return fresh;
}

}  // namespace berth::cli
