#include "cli/units.h"

#include <charconv>
#include <cmath>
#include <cstdio>
#include <ctime>

#include "common/strings.h"

namespace berth::cli {
namespace {

std::string_view ConsumeLetters(std::string_view& text) {
  size_t end = 0;
  while (end < text.size() &&
         ((text[end] >= 'a' && text[end] <= 'z') || (text[end] >= 'A' && text[end] <= 'Z'))) {
    ++end;
  }
  std::string_view letters = text.substr(0, end);
  text.remove_prefix(end);
  return letters;
}

bool ParseDigits(std::string_view text, int* value) {
  if (text.empty()) return false;
  auto [ptr, ec] = std::from_chars(text.data(), text.data() + text.size(), *value);
  return ec == std::errc() && ptr == text.data() + text.size();
}

}  // namespace

absl::StatusOr<std::chrono::milliseconds> ParseDuration(std::string_view text) {
  const auto invalid = [&] {
    return absl::InvalidArgumentError(
        StrCat("\"", text, "\" is not a duration: write it like 300s, 5m, 1h30m or 500ms"));
  };
  std::string_view rest = text;
  double total_ms = 0;
  bool bare_number = true;
  while (!rest.empty()) {
    double value = 0;
    if (!ConsumeDecimal(rest, &value)) return invalid();
    std::string_view unit = ConsumeLetters(rest);
    double unit_ms = 0;
    if (unit.empty()) {
      if (!rest.empty() || !bare_number || total_ms != 0) return invalid();
      unit_ms = 1000;  // a bare number is seconds
    } else if (unit == "ms") {
      unit_ms = 1;
    } else if (unit == "s") {
      unit_ms = 1000;
    } else if (unit == "m") {
      unit_ms = 60'000;
    } else if (unit == "h") {
      unit_ms = 3'600'000;
    } else {
      return invalid();
    }
    bare_number = bare_number && unit.empty();
    total_ms += value * unit_ms;
  }
  if (text.empty() || total_ms > 1e12) return invalid();
  return std::chrono::milliseconds(static_cast<int64_t>(std::llround(total_ms)));
}

absl::StatusOr<std::chrono::system_clock::time_point> ParseRfc3339(std::string_view text) {
  const auto invalid = [&] {
    return absl::InvalidArgumentError(StrCat("\"", text, "\" is not an RFC 3339 time"));
  };
  // YYYY-MM-DDTHH:MM:SS
  if (text.size() < 20 || text[4] != '-' || text[7] != '-' ||
      (text[10] != 'T' && text[10] != 't' && text[10] != ' ') || text[13] != ':' ||
      text[16] != ':') {
    return invalid();
  }
  std::tm tm{};
  int year = 0, month = 0, day = 0;
  if (!ParseDigits(text.substr(0, 4), &year) || !ParseDigits(text.substr(5, 2), &month) ||
      !ParseDigits(text.substr(8, 2), &day) || !ParseDigits(text.substr(11, 2), &tm.tm_hour) ||
      !ParseDigits(text.substr(14, 2), &tm.tm_min) ||
      !ParseDigits(text.substr(17, 2), &tm.tm_sec)) {
    return invalid();
  }
  if (month < 1 || month > 12 || day < 1 || day > 31 || tm.tm_hour > 23 || tm.tm_min > 59 ||
      tm.tm_sec > 60) {
    return invalid();
  }
  tm.tm_year = year - 1900;
  tm.tm_mon = month - 1;
  tm.tm_mday = day;
  std::string_view rest = text.substr(19);
  int64_t micros = 0;
  if (!rest.empty() && rest[0] == '.') {
    rest.remove_prefix(1);
    int64_t scale = 100'000;
    size_t digits = 0;
    while (digits < rest.size() && rest[digits] >= '0' && rest[digits] <= '9') {
      micros += (rest[digits] - '0') * scale;
      scale /= 10;
      ++digits;
    }
    if (digits == 0) return invalid();
    rest.remove_prefix(digits);
  }
  int offset_minutes = 0;
  if (rest == "Z" || rest == "z") {
    offset_minutes = 0;
  } else if (rest.size() == 6 && (rest[0] == '+' || rest[0] == '-') && rest[3] == ':') {
    int hours = 0, minutes = 0;
    if (!ParseDigits(rest.substr(1, 2), &hours) || !ParseDigits(rest.substr(4, 2), &minutes)) {
      return invalid();
    }
    offset_minutes = (rest[0] == '-' ? -1 : 1) * (hours * 60 + minutes);
  } else {
    return invalid();
  }
  const time_t seconds = timegm(&tm) - offset_minutes * 60;
  return std::chrono::system_clock::from_time_t(seconds) + std::chrono::microseconds(micros);
}

std::string FormatAge(std::string_view rfc3339, std::chrono::system_clock::time_point now) {
  auto then = ParseRfc3339(rfc3339);
  if (!then.ok()) return "-";
  int64_t seconds = std::chrono::duration_cast<std::chrono::seconds>(now - *then).count();
  if (seconds < 0) seconds = 0;
  if (seconds < 120) return StrCat(seconds, "s");
  if (seconds < 120 * 60) return StrCat(seconds / 60, "m");
  if (seconds < 48 * 3600) return StrCat(seconds / 3600, "h");
  return StrCat(seconds / 86400, "d");
}

std::string FormatBytes(uint64_t bytes) {
  static constexpr const char* kUnits[] = {"B", "KiB", "MiB", "GiB", "TiB", "PiB"};
  if (bytes < 1024) return StrCat(bytes, " B");
  double value = static_cast<double>(bytes);
  size_t unit = 0;
  while (value >= 1024 && unit + 1 < std::size(kUnits)) {
    value /= 1024;
    ++unit;
  }
  char buffer[32];
  std::snprintf(buffer, sizeof(buffer), "%.1f %s", value, kUnits[unit]);
  return buffer;
}

std::string FormatDuration(std::chrono::milliseconds duration) {
  int64_t ms = duration.count();
  if (ms % 1000 != 0) return StrCat(ms, "ms");
  int64_t seconds = ms / 1000;
  std::string out;
  if (seconds >= 3600) StrAppend(&out, seconds / 3600, "h");
  if (seconds % 3600 >= 60) StrAppend(&out, seconds % 3600 / 60, "m");
  if (seconds % 60 != 0 || out.empty()) StrAppend(&out, seconds % 60, "s");
  return out;
}

}  // namespace berth::cli
