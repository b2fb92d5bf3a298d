#include "imaging/transform.h"

#include <algorithm>
#include <cmath>
#include <numeric>

#include "common/strings.h"

namespace berth::imaging {

absl::Status ImageToTensor(const Image& image, const TensorSpec& spec, std::span<float> out) {
  if (spec.channels != 1 && spec.channels != 3) {
    return absl::InvalidArgumentError("the tensor must have 1 or 3 channels");
  }
  if (spec.height <= 0 || spec.width <= 0) {
    return absl::InvalidArgumentError("the tensor size must be positive");
  }
  if (out.size() != TensorElements(spec)) {
    return absl::InvalidArgumentError(StrCat("the output holds ", out.size(), " floats, not ",
                                             TensorElements(spec)));
  }
  if (image.width <= 0 || image.height <= 0 ||
      image.pixels.size() != static_cast<size_t>(image.width) * image.height * image.channels()) {
    return absl::InvalidArgumentError("the image is empty or inconsistent");
  }
  // Size of the resized image before the centre crop.
  double resized_w = spec.width, resized_h = spec.height;
  if (spec.resize_shorter > 0) {
    const double factor =
        static_cast<double>(spec.resize_shorter) / std::min(image.width, image.height);
    resized_w = std::max<double>(spec.width, std::round(image.width * factor));
    resized_h = std::max<double>(spec.height, std::round(image.height * factor));
  }
  const double offset_x = (resized_w - spec.width) / 2.0;
  const double offset_y = (resized_h - spec.height) / 2.0;
  const double sx = image.width / resized_w;
  const double sy = image.height / resized_h;
  const int in_channels = image.channels();
  const size_t plane = static_cast<size_t>(spec.height) * spec.width;

  auto sample = [&](int x0, int y0, int c) -> float {
    const int source_c = in_channels == 1 ? 0 : c;
    return image.pixels[(static_cast<size_t>(y0) * image.width + x0) * in_channels + source_c];
  };
  for (int y = 0; y < spec.height; ++y) {
    // Pixel centres map to pixel centres.
    const double fy = std::clamp((y + offset_y + 0.5) * sy - 0.5, 0.0, image.height - 1.0);
    const int y0 = static_cast<int>(fy);
    const int y1 = std::min(y0 + 1, image.height - 1);
    const float wy = static_cast<float>(fy - y0);
    for (int x = 0; x < spec.width; ++x) {
      const double fx = std::clamp((x + offset_x + 0.5) * sx - 0.5, 0.0, image.width - 1.0);
      const int x0 = static_cast<int>(fx);
      const int x1 = std::min(x0 + 1, image.width - 1);
      const float wx = static_cast<float>(fx - x0);
      for (int c = 0; c < spec.channels; ++c) {
        float value;
        if (spec.channels == 1 && in_channels == 3) {
          auto luma = [&](int px, int py) {
            return 0.299f * sample(px, py, 0) + 0.587f * sample(px, py, 1) +
                   0.114f * sample(px, py, 2);
          };
          const float top = luma(x0, y0) + (luma(x1, y0) - luma(x0, y0)) * wx;
          const float bottom = luma(x0, y1) + (luma(x1, y1) - luma(x0, y1)) * wx;
          value = top + (bottom - top) * wy;
        } else {
          const int source = spec.channels == 3 && spec.bgr ? 2 - c : c;
          const float top = sample(x0, y0, source) + (sample(x1, y0, source) - sample(x0, y0, source)) * wx;
          const float bottom =
              sample(x0, y1, source) + (sample(x1, y1, source) - sample(x0, y1, source)) * wx;
          value = top + (bottom - top) * wy;
        }
        if (spec.invert) value = 255.0f - value;
        value = (value * spec.scale - spec.mean[c]) / spec.std[c];
        const size_t index = spec.nchw ? c * plane + static_cast<size_t>(y) * spec.width + x
                                       : (static_cast<size_t>(y) * spec.width + x) *
                                                 spec.channels + c;
        out[index] = value;
      }
    }
  }
  return absl::OkStatus();
}

std::vector<Prediction> TopK(std::span<const float> scores, int k, bool softmax,
                             const std::vector<std::string>& labels) {
  std::vector<float> values(scores.begin(), scores.end());
  if (softmax && !values.empty()) {
    const float max = *std::max_element(values.begin(), values.end());
    double sum = 0;
    for (float& v : values) {
      v = std::exp(v - max);
      sum += v;
    }
    for (float& v : values) v = static_cast<float>(v / sum);
  }
  std::vector<int> order(values.size());
  std::iota(order.begin(), order.end(), 0);
  const size_t count = std::min<size_t>(std::max(k, 0), order.size());
  std::partial_sort(order.begin(), order.begin() + count, order.end(),
                    [&](int a, int b) { return values[a] > values[b] || (values[a] == values[b] && a < b); });
  std::vector<Prediction> out;
  for (size_t i = 0; i < count; ++i) {
    const int index = order[i];
    out.push_back({index, values[index],
                   static_cast<size_t>(index) < labels.size() ? labels[index] : std::string()});
  }
  return out;
}

}  // namespace berth::imaging
