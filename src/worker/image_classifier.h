// The image-classification stage of a worker: images in (JPEG/PNG bytes), top-k labelled
// predictions out, around any model with one image input ([C,H,W] or [H,W,C], C = 1 or 3,
// FP32) and one score output. Pre-processing follows the model's shape, with overrides in its
// config parameters (berth.image.*; see docs/worker.md).
#pragma once

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "imaging/transform.h"
#include "model_config.pb.h"
#include "net/http_get.h"
#include "nlohmann/json.hpp"

namespace berth::worker {

struct ClassifierSpec {
  std::string input_name;
  imaging::TensorSpec tensor;
  enum class Invert { kNo, kYes, kAuto } invert = Invert::kNo;
};

// How to feed images to the model, or InvalidArgument naming why it is not an image
// classifier.
absl::StatusOr<ClassifierSpec> ClassifierSpecFromConfig(const inference::ModelConfig& config);

// The pixels (width x height, summed) that the images of one classify request may hold.
inline constexpr uint64_t kMaxPixelsPerRequest = 50'000'000;

// Decodes and converts `images` into one FP32 batch [N, ...] for the model; InvalidArgument
// when they hold more than `max_pixels` in all.
absl::StatusOr<std::vector<char>> ImagesToBatch(const std::vector<std::string>& images,
                                                const ClassifierSpec& spec,
                                                uint64_t max_pixels = kMaxPixelsPerRequest);

struct ClassifyRequest {
  // Encoded JPEG/PNG bytes, one per image; empty for an image still to be fetched.
  std::vector<std::string> images;
  // (index into images, URL) for each "image_url".
  std::vector<std::pair<size_t, std::string>> urls;
  int top_k = 5;
  bool instances = false;  // sent as "instances": answer with one list per image
};

// Reads a classify request body, with at most `max_images` images:
//   - a raw JPEG/PNG (`content_type` image/...);
//   - multipart/form-data with image file parts, "image_url" fields and an optional "top_k";
//   - JSON with "image_url", "image_base64" (plain or a data URI) or "instances": [{...}, ...],
//     and an optional "top_k".
absl::StatusOr<ClassifyRequest> ParseClassifyRequest(std::string_view content_type,
                                                     const std::string& body, size_t max_images);

// The request's image URLs, in the order TakeFetchedImages expects their downloads.
std::vector<std::string> ImageUrls(const ClassifyRequest& request);

// Puts the downloads of ImageUrls(*request) into `request->images`. An error names the
// instance and the URL: InvalidArgument for the URL's fault, Unavailable for the server's.
absl::Status TakeFetchedImages(ClassifyRequest* request, net::GetResults results);

// The top-k predictions of each of `images` rows of `scores`: one list, or a list of lists
// when `instances`. Scores that are already probabilities (each row in [0,1], summing to 1)
// are kept; anything else is treated as logits and goes through a softmax.
nlohmann::json PredictionsJson(std::span<const float> scores, size_t images, int top_k,
                               const std::vector<std::string>& labels, bool instances);

}  // namespace berth::worker
