// Fuzz target for image decoding and the tensor transform: any bytes must give an image or a
// clear error, never a crash, and a decoded image must always transform.
#include <cstddef>
#include <cstdint>
#include <string_view>
#include <vector>

#include "imaging/image.h"
#include "imaging/transform.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view bytes(reinterpret_cast<const char*>(data), size);
  const auto format = size % 2 == 0 ? berth::imaging::PixelFormat::kRgb
                                    : berth::imaging::PixelFormat::kGray;
  auto image = berth::imaging::DecodeImage(bytes, format, {.max_pixels = 1 << 22});
  if (!image.ok()) return 0;
  berth::imaging::TensorSpec spec;
  spec.height = spec.width = 32;
  spec.resize_shorter = 36;
  std::vector<float> out(berth::imaging::TensorElements(spec));
  if (!berth::imaging::ImageToTensor(*image, spec, out).ok()) __builtin_trap();
  return 0;
}
