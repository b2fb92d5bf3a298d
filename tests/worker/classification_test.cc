// Triton's classification extension on tensors built here: ranking per row in the output's
// own datatype, labels, ties, NaN, counts past the row, and the refusals.
#include "worker/classification.h"

#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <limits>

namespace berth::worker {
namespace {

using protocol::DataType;
using protocol::OutputTensor;

template <typename T>
OutputTensor Tensor(DataType type, std::vector<int64_t> shape, const std::vector<T>& values) {
  OutputTensor t{.name = "scores", .datatype = type, .shape = std::move(shape)};
  t.data.resize(values.size() * sizeof(T));
  std::memcpy(t.data.data(), values.data(), t.data.size());
  return t;
}

// The BYTES elements of `t`.
std::vector<std::string> Elements(const OutputTensor& t) {
  std::vector<std::string> out;
  size_t at = 0;
  while (at + 4 <= t.data.size()) {
    uint32_t n;
    std::memcpy(&n, t.data.data() + at, 4);
    out.emplace_back(t.data.data() + at + 4, n);
    at += 4 + n;
  }
  return out;
}

TEST(ClassificationTest, TopClassesOfEachRowWithLabels) {
  auto classes = Classify(Tensor<float>(DataType::kFp32, {2, 4}, {1, 5, 10, 4, 0.5f, -1, 2, 3}),
                          2, /*batched=*/true, {"cat", "dog", "eel", "fox"});
  ASSERT_TRUE(classes.ok()) << classes.status();
  EXPECT_EQ(classes->datatype, DataType::kBytes);
  EXPECT_EQ(classes->shape, (std::vector<int64_t>{2, 2}));
  EXPECT_EQ(Elements(*classes), (std::vector<std::string>{"10.000000:2:eel", "5.000000:1:dog",
                                                          "3.000000:3:fox", "2.000000:2:eel"}));
}

TEST(ClassificationTest, IntegersCompareAsIntegersAndPrintWithoutDecimals) {
  // 2^53 + 1 and 2^53 differ as INT64 even though a double cannot tell them apart; the text
  // keeps the exact value.
  const int64_t big = (int64_t{1} << 53) + 1;
  auto classes = Classify(Tensor<int64_t>(DataType::kInt64, {4}, {-7, big - 1, big, 3}), 4,
                          /*batched=*/false, {});
  ASSERT_TRUE(classes.ok()) << classes.status();
  EXPECT_EQ(classes->shape, (std::vector<int64_t>{4}));
  EXPECT_EQ(Elements(*classes), (std::vector<std::string>{
                                    "9007199254740993:2", "9007199254740992:1", "3:3", "-7:0"}));
  auto bytes = Classify(Tensor<uint8_t>(DataType::kUint8, {1, 3}, {200, 7, 255}), 1, true, {});
  ASSERT_TRUE(bytes.ok());
  EXPECT_EQ(Elements(*bytes), (std::vector<std::string>{"255:2"}));
}

TEST(ClassificationTest, HalfFloatsTiesAndNaN) {
  // FP16 1.5 = 0x3E00, 2.0 = 0x4000, NaN = 0x7E00.
  auto half = Classify(Tensor<uint16_t>(DataType::kFp16, {1, 3}, {0x3E00, 0x7E00, 0x4000}), 3,
                       true, {});
  ASSERT_TRUE(half.ok()) << half.status();
  const auto elements = Elements(*half);
  ASSERT_EQ(elements.size(), 3u);
  EXPECT_EQ(elements[0], "2.000000:2");
  EXPECT_EQ(elements[1], "1.500000:0");
  EXPECT_EQ(elements[2].substr(elements[2].find(':')), ":1");  // NaN ranks last
  // Equal values: the lower index first.
  auto ties = Classify(Tensor<float>(DataType::kFp32, {4}, {1, 3, 3, 1}), 4, false, {});
  ASSERT_TRUE(ties.ok());
  EXPECT_EQ(Elements(*ties), (std::vector<std::string>{"3.000000:1", "3.000000:2",
                                                       "1.000000:0", "1.000000:3"}));
}

TEST(ClassificationTest, ACountPastTheRowReturnsTheWholeRow) {
  auto classes = Classify(Tensor<double>(DataType::kFp64, {1, 2}, {0.25, 0.75}), 1000, true,
                          {"only-one-label"});
  ASSERT_TRUE(classes.ok());
  EXPECT_EQ(classes->shape, (std::vector<int64_t>{1, 2}));
  EXPECT_EQ(Elements(*classes),
            (std::vector<std::string>{"0.750000:1", "0.250000:0:only-one-label"}));
}

TEST(ClassificationTest, RefusesWhatCannotBeRanked) {
  OutputTensor text{.name = "words", .datatype = DataType::kBytes, .shape = {1}};
  auto refused = Classify(text, 1, false, {});
  ASSERT_FALSE(refused.ok());
  EXPECT_NE(refused.status().message().find("numeric outputs only"), std::string_view::npos);
  auto uneven = Classify(Tensor<float>(DataType::kFp32, {2, 3}, {1, 2, 3, 4, 5}), 1, true, {});
  EXPECT_FALSE(uneven.ok());
  auto no_batch = Classify(Tensor<float>(DataType::kFp32, {}, {1}), 1, true, {});
  EXPECT_FALSE(no_batch.ok());
}

}  // namespace
}  // namespace berth::worker
