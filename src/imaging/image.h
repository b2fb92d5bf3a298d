// Image decoding (JPEG with libturbojpeg, PNG with libspng) into 8-bit pixels, with the pixel
// count checked against a limit before anything is allocated for the pixels.
#pragma once

#include <cstdint>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"

namespace berth::imaging {

enum class PixelFormat { kGray, kRgb };

struct Image {
  int width = 0;
  int height = 0;
  PixelFormat format = PixelFormat::kRgb;
  std::vector<uint8_t> pixels;  // row-major, channels interleaved

  int channels() const { return format == PixelFormat::kGray ? 1 : 3; }
};

struct DecodeLimits {
  uint64_t max_pixels = 50'000'000;  // width * height
};

// Decodes a JPEG or PNG (recognised by content, not name) into `format`. InvalidArgument for
// anything else, for truncated or corrupt data, and for images over the pixel limit.
absl::StatusOr<Image> DecodeImage(std::string_view bytes, PixelFormat format,
                                  const DecodeLimits& limits = {});

}  // namespace berth::imaging
