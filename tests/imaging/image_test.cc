#include "imaging/image.h"

#include <gtest/gtest.h>
#include <turbojpeg.h>
#include <zlib.h>

#include <fstream>
#include <sstream>

namespace berth::imaging {
namespace {

std::string ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

// A 16x8 RGB gradient compressed to JPEG at high quality.
std::string GradientJpeg() {
  std::vector<unsigned char> rgb(16 * 8 * 3);
  for (int y = 0; y < 8; ++y) {
    for (int x = 0; x < 16; ++x) {
      unsigned char* p = &rgb[(y * 16 + x) * 3];
      p[0] = static_cast<unsigned char>(x * 16);
      p[1] = static_cast<unsigned char>(y * 32);
      p[2] = 128;
    }
  }
  tjhandle handle = tjInitCompress();
  unsigned char* jpeg = nullptr;
  unsigned long size = 0;
  EXPECT_EQ(tjCompress2(handle, rgb.data(), 16, 0, 8, TJPF_RGB, &jpeg, &size, TJSAMP_444, 100,
                        0),
            0);
  std::string out(reinterpret_cast<char*>(jpeg), size);
  tjFree(jpeg);
  tjDestroy(handle);
  return out;
}

void Be32(uint32_t v, std::string* out) {
  for (int shift = 24; shift >= 0; shift -= 8) out->push_back(static_cast<char>(v >> shift));
}

// A PNG whose header claims width x height but carries one tiny (wrong) data chunk.
std::string PngClaiming(uint32_t width, uint32_t height) {
  std::string png("\x89PNG\r\n\x1a\n", 8);
  auto chunk = [&](const std::string& type, const std::string& data) {
    Be32(static_cast<uint32_t>(data.size()), &png);
    std::string body = type + data;
    png += body;
    Be32(static_cast<uint32_t>(crc32(0, reinterpret_cast<const Bytef*>(body.data()),
                                     static_cast<uInt>(body.size()))),
         &png);
  };
  std::string ihdr;
  Be32(width, &ihdr);
  Be32(height, &ihdr);
  ihdr += std::string("\x08\x02\x00\x00\x00", 5);  // 8-bit RGB
  chunk("IHDR", ihdr);
  chunk("IDAT", std::string("\x78\x9c\x03\x00\x00\x00\x00\x01", 8));
  chunk("IEND", "");
  return png;
}

TEST(ImageTest, DecodesThePngDigitFixtureAsGrey) {
  auto image = DecodeImage(ReadFile("tests/fixtures/digits/7.png"), PixelFormat::kGray);
  ASSERT_TRUE(image.ok()) << image.status();
  EXPECT_EQ(image->width, 28);
  EXPECT_EQ(image->height, 28);
  EXPECT_EQ(image->pixels.size(), 28u * 28u);
  // A white-on-black digit: dark corners, some bright strokes.
  EXPECT_EQ(image->pixels[0], 0);
  EXPECT_GT(*std::max_element(image->pixels.begin(), image->pixels.end()), 200);
}

TEST(ImageTest, DecodesJpegCloseToItsSource) {
  auto image = DecodeImage(GradientJpeg(), PixelFormat::kRgb);
  ASSERT_TRUE(image.ok()) << image.status();
  EXPECT_EQ(image->width, 16);
  EXPECT_EQ(image->height, 8);
  const uint8_t* p = &image->pixels[(3 * 16 + 10) * 3];
  EXPECT_NEAR(p[0], 160, 8);
  EXPECT_NEAR(p[1], 96, 8);
  EXPECT_NEAR(p[2], 128, 8);
}

TEST(ImageTest, RefusesTruncatedJpeg) {
  std::string jpeg = GradientJpeg();
  jpeg.resize(jpeg.size() / 2);
  auto image = DecodeImage(jpeg, PixelFormat::kRgb);
  EXPECT_EQ(image.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(std::string(image.status().message()).find("JPEG"), std::string::npos);
}

TEST(ImageTest, RefusesAHugePngFromItsHeaderAlone) {
  auto image = DecodeImage(PngClaiming(20000, 20000), PixelFormat::kRgb, {.max_pixels = 50'000'000});
  ASSERT_EQ(image.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(std::string(image.status().message()).find("20000x20000"), std::string::npos)
      << image.status();
}

TEST(ImageTest, RefusesCorruptPngData) {
  auto image = DecodeImage(PngClaiming(4, 4), PixelFormat::kRgb);
  EXPECT_EQ(image.status().code(), absl::StatusCode::kInvalidArgument);
}

TEST(ImageTest, RefusesWhatIsNotAnImage) {
  for (std::string bytes : {std::string(), std::string("GIF89a"), std::string("\xFF\xD8", 2),
                            std::string("\x89PNG\r\n\x1a\n", 8)}) {
    EXPECT_EQ(DecodeImage(bytes, PixelFormat::kRgb).status().code(),
              absl::StatusCode::kInvalidArgument);
  }
}

}  // namespace
}  // namespace berth::imaging
