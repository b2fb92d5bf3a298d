#include "imaging/transform.h"

#include <gtest/gtest.h>

namespace berth::imaging {
namespace {

Image Solid(int width, int height, uint8_t r, uint8_t g, uint8_t b) {
  Image image;
  image.width = width;
  image.height = height;
  for (int i = 0; i < width * height; ++i) image.pixels.insert(image.pixels.end(), {r, g, b});
  return image;
}

TEST(TransformTest, NormalisesWithMeanAndStdInNchw) {
  TensorSpec spec;
  spec.height = spec.width = 4;
  spec.resize_shorter = 0;
  std::vector<float> out(TensorElements(spec));
  ASSERT_TRUE(ImageToTensor(Solid(9, 7, 255, 0, 51), spec, out).ok());
  EXPECT_NEAR(out[0], (1.0f - 0.485f) / 0.229f, 1e-5);        // R plane
  EXPECT_NEAR(out[16], (0.0f - 0.456f) / 0.224f, 1e-5);       // G plane
  EXPECT_NEAR(out[47], (0.2f - 0.406f) / 0.225f, 1e-5);       // last B value
}

TEST(TransformTest, BgrAndNhwcReorder) {
  TensorSpec spec;
  spec.height = spec.width = 2;
  spec.resize_shorter = 0;
  spec.nchw = false;
  spec.bgr = true;
  spec.mean = {0, 0, 0};
  spec.std = {1, 1, 1};
  spec.scale = 1;
  std::vector<float> out(TensorElements(spec));
  ASSERT_TRUE(ImageToTensor(Solid(2, 2, 10, 20, 30), spec, out).ok());
  EXPECT_EQ(std::vector<float>(out.begin(), out.begin() + 3), (std::vector<float>{30, 20, 10}));
}

TEST(TransformTest, CentreCropKeepsTheMiddle) {
  // Left half black, right half white, 8x4; resize shorter side 4 -> crop 4x4 from the middle.
  Image image;
  image.width = 8;
  image.height = 4;
  image.format = PixelFormat::kGray;
  for (int y = 0; y < 4; ++y) {
    for (int x = 0; x < 8; ++x) image.pixels.push_back(x < 4 ? 0 : 255);
  }
  TensorSpec spec;
  spec.height = spec.width = 4;
  spec.channels = 1;
  spec.resize_shorter = 4;
  spec.mean = {0, 0, 0};
  spec.std = {1, 1, 1};
  std::vector<float> out(TensorElements(spec));
  ASSERT_TRUE(ImageToTensor(image, spec, out).ok());
  EXPECT_NEAR(out[0], 0.0f, 1e-6);  // column 2 of the source
  EXPECT_NEAR(out[3], 1.0f, 1e-6);  // column 5 of the source
}

TEST(TransformTest, InvertAndGreyFromRgb) {
  TensorSpec spec;
  spec.height = spec.width = 1;
  spec.channels = 1;
  spec.resize_shorter = 0;
  spec.invert = true;
  spec.mean = {0, 0, 0};
  spec.std = {1, 1, 1};
  std::vector<float> out(1);
  ASSERT_TRUE(ImageToTensor(Solid(3, 3, 255, 255, 255), spec, out).ok());
  EXPECT_NEAR(out[0], 0.0f, 1e-5);
}

TEST(TransformTest, RefusesAWrongOutputSize) {
  TensorSpec spec;
  std::vector<float> out(10);
  EXPECT_EQ(ImageToTensor(Solid(4, 4, 0, 0, 0), spec, out).code(),
            absl::StatusCode::kInvalidArgument);
}

TEST(TopKTest, SoftmaxThenBestFirstWithLabels) {
  std::vector<float> logits = {1.0f, 3.0f, 2.0f};
  auto top = TopK(logits, 2, true, {"cat", "dog", "fox"});
  ASSERT_EQ(top.size(), 2u);
  EXPECT_EQ(top[0].index, 1);
  EXPECT_EQ(top[0].label, "dog");
  EXPECT_EQ(top[1].label, "fox");
  EXPECT_NEAR(top[0].score, 0.66524f, 1e-4);
  EXPECT_EQ(TopK(logits, 10, false, {}).size(), 3u);
  EXPECT_TRUE(TopK(logits, 0, false, {}).empty());
}

}  // namespace
}  // namespace berth::imaging
