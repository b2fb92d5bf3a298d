// Turns a decoded image into a model's input tensor (resize, centre crop, scale, normalise,
// channel order and layout) and a model's scores into top-k labelled predictions.
#pragma once

#include <array>
#include <span>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "imaging/image.h"

namespace berth::imaging {

struct TensorSpec {
  int height = 224;
  int width = 224;
  int channels = 3;  // 1 (grey) or 3
  bool nchw = true;  // else NHWC
  bool bgr = false;  // channel order for 3 channels
  // The shorter side is first resized to this (then centre-cropped to height x width);
  // 0 resizes straight to height x width.
  int resize_shorter = 256;
  bool invert = false;  // 255 - value before scaling (dark-on-light images for such models)
  float scale = 1.0f / 255.0f;
  std::array<float, 3> mean = {0.485f, 0.456f, 0.406f};  // per output channel, after scale
  std::array<float, 3> std = {0.229f, 0.224f, 0.225f};
};

// Number of floats the tensor of one image takes.
inline size_t TensorElements(const TensorSpec& spec) {
  return static_cast<size_t>(spec.height) * spec.width * spec.channels;
}

// Writes TensorElements(spec) floats to `out` (bilinear sampling).
absl::Status ImageToTensor(const Image& image, const TensorSpec& spec, std::span<float> out);

struct Prediction {
  int index = 0;
  float score = 0;
  std::string label;  // empty when no label is known for the index
};

// The k best entries of `scores`, best first; with `softmax`, scores become probabilities.
std::vector<Prediction> TopK(std::span<const float> scores, int k, bool softmax,
                             const std::vector<std::string>& labels);

}  // namespace berth::imaging
