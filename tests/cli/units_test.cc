#include "cli/units.h"

#include "gtest/gtest.h"

namespace berth::cli {
namespace {

using std::chrono::milliseconds;

TEST(ParseDurationTest, AcceptsUnitsAndCombinations) {
  EXPECT_EQ(*ParseDuration("300s"), milliseconds(300'000));
  EXPECT_EQ(*ParseDuration("5m"), milliseconds(300'000));
  EXPECT_EQ(*ParseDuration("1h30m"), milliseconds(5'400'000));
  EXPECT_EQ(*ParseDuration("250ms"), milliseconds(250));
  EXPECT_EQ(*ParseDuration("1.5s"), milliseconds(1500));
  EXPECT_EQ(*ParseDuration("300"), milliseconds(300'000));  // bare number: seconds
  EXPECT_EQ(*ParseDuration("0s"), milliseconds(0));
}

TEST(ParseDurationTest, RejectsWithAnExample) {
  for (const char* bad : {"", "s", "5x", "-5s", "1m30", "5 s", "abc", "1e3s"}) {
    auto parsed = ParseDuration(bad);
    ASSERT_FALSE(parsed.ok()) << bad;
    EXPECT_NE(parsed.status().message().find("300s"), absl::string_view::npos) << bad;
  }
}

TEST(ParseRfc3339Test, UtcFractionsAndOffsets) {
  const auto epoch = std::chrono::system_clock::from_time_t(0);
  EXPECT_EQ(*ParseRfc3339("1970-01-01T00:00:00Z"), epoch);
  EXPECT_EQ(*ParseRfc3339("1970-01-01T00:00:01.5Z"), epoch + milliseconds(1500));
  EXPECT_EQ(*ParseRfc3339("1970-01-01T02:00:00+02:00"), epoch);
  EXPECT_EQ(*ParseRfc3339("1969-12-31T23:00:00-01:00"), epoch);
  EXPECT_EQ(*ParseRfc3339("2024-02-29T12:00:00Z"),
            std::chrono::system_clock::from_time_t(1709208000));
  for (const char* bad : {"", "2024-02-29", "2024-02-29T12:00:00", "2024-13-01T00:00:00Z",
                          "2024-02-29T12:00:00.Z", "yesterday"}) {
    EXPECT_FALSE(ParseRfc3339(bad).ok()) << bad;
  }
}

TEST(FormatAgeTest, KubectlStyle) {
  const auto now = *ParseRfc3339("2024-05-01T12:00:00Z");
  EXPECT_EQ(FormatAge("2024-05-01T11:59:15Z", now), "45s");
  EXPECT_EQ(FormatAge("2024-05-01T11:48:00Z", now), "12m");
  EXPECT_EQ(FormatAge("2024-05-01T07:00:00Z", now), "5h");
  EXPECT_EQ(FormatAge("2024-04-28T12:00:00Z", now), "3d");
  EXPECT_EQ(FormatAge("2024-05-01T12:00:05Z", now), "0s");  // clocks a little apart
  EXPECT_EQ(FormatAge("", now), "-");
  EXPECT_EQ(FormatAge("garbage", now), "-");
}

TEST(FormatBytesTest, BinaryUnits) {
  EXPECT_EQ(FormatBytes(0), "0 B");
  EXPECT_EQ(FormatBytes(812), "812 B");
  EXPECT_EQ(FormatBytes(1536), "1.5 KiB");
  EXPECT_EQ(FormatBytes(2ull << 30), "2.0 GiB");
}

TEST(FormatDurationTest, InvertsParseDuration) {
  EXPECT_EQ(FormatDuration(milliseconds(300'000)), "5m");
  EXPECT_EQ(FormatDuration(milliseconds(90'000)), "1m30s");
  EXPECT_EQ(FormatDuration(milliseconds(3'600'000)), "1h");
  EXPECT_EQ(FormatDuration(milliseconds(250)), "250ms");
  EXPECT_EQ(FormatDuration(milliseconds(0)), "0s");
  for (const char* text : {"5m", "1h30m", "45s", "250ms"}) {
    EXPECT_EQ(FormatDuration(*ParseDuration(text)), text);
  }
}

}  // namespace
}  // namespace berth::cli
