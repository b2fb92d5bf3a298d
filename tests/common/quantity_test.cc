#include "common/quantity.h"

#include "gtest/gtest.h"

namespace berth {
namespace {

TEST(ParseMemoryTest, KubernetesQuantities) {
  EXPECT_EQ(*ParseMemory("2Gi"), 2ull << 30);
  EXPECT_EQ(*ParseMemory("512Mi"), 512ull << 20);
  EXPECT_EQ(*ParseMemory("1G"), 1'000'000'000ull);
  EXPECT_EQ(*ParseMemory("1500k"), 1'500'000ull);
  EXPECT_EQ(*ParseMemory("1.5Gi"), 3ull << 29);
  EXPECT_EQ(*ParseMemory("1073741824"), 1ull << 30);
  EXPECT_EQ(*ParseMemory("1T"), 1'000'000'000'000ull);
  EXPECT_EQ(*ParseMemory("1Ti"), 1ull << 40);
  for (const char* bad : {"", "2GB", "Gi", "-1Gi", "0", "2 Gi", "2gi"}) {
    EXPECT_FALSE(ParseMemory(bad).ok()) << bad;
  }
}

TEST(ParseCpuTest, CoresAndMillicores) {
  EXPECT_DOUBLE_EQ(*ParseCpu("1"), 1.0);
  EXPECT_DOUBLE_EQ(*ParseCpu("0.5"), 0.5);
  EXPECT_DOUBLE_EQ(*ParseCpu("500m"), 0.5);
  EXPECT_DOUBLE_EQ(*ParseCpu("2.25"), 2.25);
  for (const char* bad : {"", "0", "0m", "-1", "1 core", "m", "1k"}) {
    EXPECT_FALSE(ParseCpu(bad).ok()) << bad;
  }
}

}  // namespace
}  // namespace berth
