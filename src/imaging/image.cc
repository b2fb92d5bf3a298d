#include "imaging/image.h"

#include <spng.h>
#include <turbojpeg.h>

#include <memory>

#include "common/strings.h"

namespace berth::imaging {
namespace {

bool IsJpeg(std::string_view b) {
  return b.size() >= 3 && static_cast<uint8_t>(b[0]) == 0xFF &&
         static_cast<uint8_t>(b[1]) == 0xD8 && static_cast<uint8_t>(b[2]) == 0xFF;
}

bool IsPng(std::string_view b) {
  static constexpr std::string_view kSignature("\x89PNG\r\n\x1a\n", 8);
  return b.substr(0, kSignature.size()) == kSignature;
}

absl::Status CheckPixels(uint64_t width, uint64_t height, const DecodeLimits& limits,
                         std::string_view kind) {
  if (width == 0 || height == 0) {
    return absl::InvalidArgumentError(StrCat("the ", kind, " image has no pixels"));
  }
  if (width * height > limits.max_pixels) {
    return absl::InvalidArgumentError(StrCat("the ", kind, " image is ", width, "x", height,
                                             " pixels, more than the limit of ",
                                             limits.max_pixels));
  }
  return absl::OkStatus();
}

void RgbToGray(Image* image) {
  const size_t n = static_cast<size_t>(image->width) * image->height;
  for (size_t i = 0; i < n; ++i) {
    const uint8_t* p = &image->pixels[i * 3];
    // ITU-R BT.601 luma, in fixed point.
    image->pixels[i] = static_cast<uint8_t>((p[0] * 299 + p[1] * 587 + p[2] * 114 + 500) / 1000);
  }
  image->pixels.resize(n);
  image->format = PixelFormat::kGray;
}

absl::StatusOr<Image> DecodeJpeg(std::string_view bytes, PixelFormat format,
                                 const DecodeLimits& limits) {
  std::unique_ptr<void, int (*)(tjhandle)> handle(tjInitDecompress(), tjDestroy);
  if (!handle) return absl::InternalError("cannot start the JPEG decoder");
  auto* data = reinterpret_cast<const unsigned char*>(bytes.data());
  int width = 0, height = 0, subsampling = 0, colorspace = 0;
  if (tjDecompressHeader3(handle.get(), data, bytes.size(), &width, &height, &subsampling,
                          &colorspace) != 0) {
    return absl::InvalidArgumentError(
        StrCat("not a readable JPEG: ", tjGetErrorStr2(handle.get())));
  }
  if (width < 0 || height < 0) return absl::InvalidArgumentError("the JPEG has a negative size");
  if (auto status = CheckPixels(width, height, limits, "JPEG"); !status.ok()) return status;
  Image image;
  image.width = width;
  image.height = height;
  image.format = format;
  image.pixels.resize(static_cast<size_t>(width) * height * image.channels());
  const int pixel_format = format == PixelFormat::kGray ? TJPF_GRAY : TJPF_RGB;
  // A truncated or damaged file only raises a warning in libjpeg; treat it as an error.
  if (tjDecompress2(handle.get(), data, bytes.size(), image.pixels.data(), width, 0, height,
                    pixel_format, TJFLAG_STOPONWARNING) != 0) {
    return absl::InvalidArgumentError(
        StrCat("the JPEG is truncated or corrupt: ", tjGetErrorStr2(handle.get())));
  }
  return image;
}

absl::StatusOr<Image> DecodePng(std::string_view bytes, PixelFormat format,
                                const DecodeLimits& limits) {
  std::unique_ptr<spng_ctx, void (*)(spng_ctx*)> ctx(spng_ctx_new(0), spng_ctx_free);
  if (!ctx) return absl::InternalError("cannot start the PNG decoder");
  // Bounds on ancillary chunks keep a hostile file from making the decoder allocate.
  spng_set_chunk_limits(ctx.get(), 1 << 20, 4 << 20);
  spng_set_crc_action(ctx.get(), SPNG_CRC_ERROR, SPNG_CRC_ERROR);
  if (int rc = spng_set_png_buffer(ctx.get(), bytes.data(), bytes.size()); rc != 0) {
    return absl::InvalidArgumentError(StrCat("not a readable PNG: ", spng_strerror(rc)));
  }
  spng_ihdr ihdr{};
  if (int rc = spng_get_ihdr(ctx.get(), &ihdr); rc != 0) {
    return absl::InvalidArgumentError(StrCat("not a readable PNG: ", spng_strerror(rc)));
  }
  if (auto status = CheckPixels(ihdr.width, ihdr.height, limits, "PNG"); !status.ok()) {
    return status;
  }
  size_t size = 0;
  if (int rc = spng_decoded_image_size(ctx.get(), SPNG_FMT_RGB8, &size); rc != 0) {
    return absl::InvalidArgumentError(StrCat("not a readable PNG: ", spng_strerror(rc)));
  }
  Image image;
  image.width = static_cast<int>(ihdr.width);
  image.height = static_cast<int>(ihdr.height);
  image.format = PixelFormat::kRgb;
  image.pixels.resize(size);
  if (int rc = spng_decode_image(ctx.get(), image.pixels.data(), size, SPNG_FMT_RGB8, 0);
      rc != 0) {
    return absl::InvalidArgumentError(
        StrCat("the PNG is truncated or corrupt: ", spng_strerror(rc)));
  }
  if (format == PixelFormat::kGray) RgbToGray(&image);
  return image;
}

}  // namespace

absl::StatusOr<Image> DecodeImage(std::string_view bytes, PixelFormat format,
                                  const DecodeLimits& limits) {
  if (IsJpeg(bytes)) return DecodeJpeg(bytes, format, limits);
  if (IsPng(bytes)) return DecodePng(bytes, format, limits);
  return absl::InvalidArgumentError("not an image: expected JPEG or PNG data");
}

}  // namespace berth::imaging
