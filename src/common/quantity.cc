#include "common/quantity.h"

#include <charconv>
#include <cmath>

#include "common/strings.h"

namespace berth {
bool ConsumeDecimal(std::string_view& text, double* value) {
  size_t end = 0;
  while (end < text.size() && ((text[end] >= '0' && text[end] <= '9') || text[end] == '.')) ++end;
  if (end == 0) return false;
  auto [ptr, ec] = std::from_chars(text.data(), text.data() + end, *value);
  if (ec != std::errc() || ptr != text.data() + end || !std::isfinite(*value)) return false;
  text.remove_prefix(end);
  return true;
}

absl::StatusOr<uint64_t> ParseMemory(std::string_view text) {
  std::string_view rest = text;
  double value = 0;
  if (!ConsumeDecimal(rest, &value)) {
    return absl::InvalidArgumentError(
        StrCat("\"", text, "\" is not a memory size: write it like 512Mi, 2Gi or 1G"));
  }
  struct Suffix {
    std::string_view name;
    double factor;
  };
  static constexpr Suffix kSuffixes[] = {{"", 1},
                                         {"k", 1e3},
                                         {"K", 1e3},
                                         {"M", 1e6},
                                         {"G", 1e9},
                                         {"T", 1e12},
                                         {"Ki", 1024.0},
                                         {"Mi", 1048576.0},
                                         {"Gi", 1073741824.0},
                                         {"Ti", 1099511627776.0}};
  for (const Suffix& suffix : kSuffixes) {
    if (rest != suffix.name) continue;
    const double bytes = value * suffix.factor;
    if (bytes < 1 || bytes > 1.8e19) break;
    return static_cast<uint64_t>(std::llround(bytes));
  }
  return absl::InvalidArgumentError(StrCat(
      "\"", text, "\" is not a memory size: write it like 512Mi, 2Gi or 1G (at least 1 byte)"));
}

absl::StatusOr<double> ParseCpu(std::string_view text) {
  std::string_view rest = text;
  double value = 0;
  if (ConsumeDecimal(rest, &value) && (rest.empty() || rest == "m")) {
    if (rest == "m") value /= 1000;
    if (value > 0) return value;
  }
  return absl::InvalidArgumentError(
      StrCat("\"", text, "\" is not a CPU amount: write cores like 1, 0.5 or 500m"));
}

}  // namespace berth
