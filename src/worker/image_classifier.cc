#include "worker/image_classifier.h"

#include <charconv>
#include <cmath>
#include <cstring>

#include "absl/strings/escaping.h"
#include "common/status_macros.h"
#include "common/strings.h"
#include "worker/multipart.h"

namespace berth::worker {
namespace {

std::string Parameter(const inference::ModelConfig& config, const std::string& key) {
  auto it = config.parameters().find(key);
  return it == config.parameters().end() ? std::string() : it->second.string_value();
}

absl::Status ParseFloats(const std::string& text, std::array<float, 3>* out,
                         std::string_view what) {
  size_t i = 0;
  const char* p = text.data();
  const char* end = text.data() + text.size();
  while (p < end && i < 3) {
    float value;
    auto result = std::from_chars(p, end, value);
    if (result.ec != std::errc()) break;
    (*out)[i++] = value;
    p = result.ptr;
    if (p < end && *p == ',') ++p;
  }
  if (i == 0 || p != end) {
    return absl::InvalidArgumentError(StrCat("config parameter ", what,
                                             " must be 1 or 3 comma-separated numbers"));
  }
  for (size_t j = i; j < 3; ++j) (*out)[j] = (*out)[0];
  return absl::OkStatus();
}

absl::StatusOr<std::string> DecodeBase64(std::string_view text) {
  // Accept data URIs: data:image/png;base64,....
  if (text.substr(0, 5) == "data:") {
    const size_t comma = text.find(',');
    if (comma == std::string_view::npos || text.substr(0, comma).find(";base64") ==
                                               std::string_view::npos) {
      return absl::InvalidArgumentError("image_base64 is a data URI without ';base64,'");
    }
    text = text.substr(comma + 1);
  }
  std::string out;
  if (!absl::Base64Unescape(ToAbsl(text), &out)) {
    return absl::InvalidArgumentError("image_base64 is not valid base64");
  }
  return out;
}

}  // namespace

absl::StatusOr<ClassifierSpec> ClassifierSpecFromConfig(const inference::ModelConfig& config) {
  if (config.input_size() != 1 || config.output_size() != 1) {
    return absl::InvalidArgumentError(StrCat(
        "model '", config.name(), "' is not an image classifier: it needs exactly one input and "
        "one output (it has ", config.input_size(), " and ", config.output_size(), ")"));
  }
  const auto& in = config.input(0);
  if (in.data_type() != inference::TYPE_FP32 || in.dims_size() != 3) {
    return absl::InvalidArgumentError(StrCat(
        "model '", config.name(), "' is not an image classifier: its input must be FP32 with "
        "three dims ([C,H,W] or [H,W,C]) after the batch dimension"));
  }
  ClassifierSpec spec;
  spec.input_name = in.name();
  auto& t = spec.tensor;
  const int64_t d0 = in.dims(0), d1 = in.dims(1), d2 = in.dims(2);
  if ((d0 == 1 || d0 == 3) && d1 > 0 && d2 > 0) {
    t.nchw = true;
    t.channels = static_cast<int>(d0);
    t.height = static_cast<int>(d1);
    t.width = static_cast<int>(d2);
  } else if ((d2 == 1 || d2 == 3) && d0 > 0 && d1 > 0) {
    t.nchw = false;
    t.channels = static_cast<int>(d2);
    t.height = static_cast<int>(d0);
    t.width = static_cast<int>(d1);
  } else {
    return absl::InvalidArgumentError(StrCat(
        "model '", config.name(), "' is not an image classifier: its input dims must be fixed "
        "[1|3,H,W] or [H,W,1|3]"));
  }
  if (t.height > 4096 || t.width > 4096) {
    return absl::InvalidArgumentError("the model's image input is larger than 4096x4096");
  }
  if (t.channels == 3) {  // ImageNet conventions
    t.mean = {0.485f, 0.456f, 0.406f};
    t.std = {0.229f, 0.224f, 0.225f};
    t.resize_shorter = static_cast<int>(std::min(t.height, t.width) / 0.875 + 0.5);
  } else {  // grey: 0..1, straight resize
    t.mean = {0, 0, 0};
    t.std = {1, 1, 1};
    t.resize_shorter = 0;
  }
  if (auto v = Parameter(config, "berth.image.mean"); !v.empty()) {
    if (auto s = ParseFloats(v, &t.mean, "berth.image.mean"); !s.ok()) return s;
  }
  if (auto v = Parameter(config, "berth.image.std"); !v.empty()) {
    if (auto s = ParseFloats(v, &t.std, "berth.image.std"); !s.ok()) return s;
  }
  if (auto v = Parameter(config, "berth.image.color_order"); !v.empty()) {
    if (v != "RGB" && v != "BGR") {
      return absl::InvalidArgumentError("berth.image.color_order must be RGB or BGR");
    }
    t.bgr = v == "BGR";
  }
  if (auto v = Parameter(config, "berth.image.resize_shorter"); !v.empty()) {
    int value = -1;
    auto r = std::from_chars(v.data(), v.data() + v.size(), value);
    if (r.ec != std::errc() || r.ptr != v.data() + v.size() || value < 0 || value > 8192) {
      return absl::InvalidArgumentError("berth.image.resize_shorter must be 0..8192");
    }
    t.resize_shorter = value;
  }
  if (auto v = Parameter(config, "berth.image.invert"); !v.empty()) {
    if (v == "true") {
      spec.invert = ClassifierSpec::Invert::kYes;
    } else if (v == "auto") {
      spec.invert = ClassifierSpec::Invert::kAuto;
    } else if (v != "false") {
      return absl::InvalidArgumentError("berth.image.invert must be true, false or auto");
    }
  }
  return spec;
}

absl::StatusOr<std::vector<char>> ImagesToBatch(const std::vector<std::string>& images,
                                                const ClassifierSpec& spec, uint64_t max_pixels) {
  const size_t per_image = imaging::TensorElements(spec.tensor);
  std::vector<char> batch(images.size() * per_image * sizeof(float));
  // One pixel budget for the whole request, not only per image, so that a batch of large
  // images cannot hold the pre-processing pool many times longer than one.
  uint64_t budget = max_pixels;
  for (size_t i = 0; i < images.size(); ++i) {
    const auto format =
        spec.tensor.channels == 1 ? imaging::PixelFormat::kGray : imaging::PixelFormat::kRgb;
    imaging::DecodeLimits limits;
    limits.max_pixels = std::min(limits.max_pixels, budget);
    auto image = imaging::DecodeImage(images[i], format, limits);
    if (!image.ok()) {
      return absl::InvalidArgumentError(StrCat(
          "image ", i, ": ", Msg(image.status()),
          budget < max_pixels
              ? StrCat(" (the images of one request may hold ", max_pixels, " pixels in all)")
              : ""));
    }
    budget -= std::min(budget, static_cast<uint64_t>(image->width) * image->height);
    imaging::TensorSpec tensor = spec.tensor;
    if (spec.invert == ClassifierSpec::Invert::kYes) {
      tensor.invert = true;
    } else if (spec.invert == ClassifierSpec::Invert::kAuto) {
      // Dark marks on a light background (a digit on paper) are flipped to what models
      // trained on light-on-dark data expect.
      uint64_t sum = 0;
      for (uint8_t p : image->pixels) sum += p;
      tensor.invert = sum > image->pixels.size() * 127;
    }
    auto* out = reinterpret_cast<float*>(batch.data()) + i * per_image;
    absl::Status status = imaging::ImageToTensor(*image, tensor, std::span<float>(out, per_image));
    if (!status.ok()) return status;
  }
  return batch;
}

namespace {

absl::StatusOr<int> ParseTopK(const nlohmann::json& value) {
  if (!value.is_number_integer() || value.get<int64_t>() < 1 || value.get<int64_t>() > 1000) {
    return absl::InvalidArgumentError("\"top_k\" must be an integer from 1 to 1000");
  }
  return value.get<int>();
}

absl::Status TooManyImages(size_t count, size_t max_images) {
  return absl::InvalidArgumentError(StrCat("the request has ", count,
                                           " images; this model takes at most ", max_images,
                                           " per request"));
}

absl::StatusOr<ClassifyRequest> ParseFormRequest(std::string_view content_type,
                                                 const std::string& body, size_t max_images) {
  ASSIGN_OR_RETURN(auto parts, ParseFormData(content_type, body, max_images + 8));
  ClassifyRequest request;
  for (const FormPart& part : parts) {
    if (part.name == "top_k" && part.filename.empty()) {
      auto value = nlohmann::json::parse(part.body, nullptr, false);
      ASSIGN_OR_RETURN(request.top_k, ParseTopK(value));
    } else if (part.name == "image_url" && part.filename.empty()) {
      request.urls.emplace_back(request.images.size(), std::string(part.body));
      request.images.emplace_back();
    } else if (!part.filename.empty() || part.content_type.starts_with("image/") ||
               part.content_type == "application/octet-stream") {
      request.images.emplace_back(part.body);
    } else {
      return absl::InvalidArgumentError(StrCat(
          "multipart field '", part.name, "' is not understood: send image files (curl -F "
          "image=@cat.jpg), \"image_url\" fields and an optional \"top_k\""));
    }
  }
  if (request.images.empty()) {
    return absl::InvalidArgumentError(
        "the multipart body has no image: add a file part (curl -F image=@cat.jpg) or an "
        "\"image_url\" field");
  }
  if (request.images.size() > max_images) return TooManyImages(request.images.size(), max_images);
  request.instances = request.images.size() > 1;
  return request;
}

}  // namespace

absl::StatusOr<ClassifyRequest> ParseClassifyRequest(std::string_view content_type,
                                                     const std::string& body, size_t max_images) {
  ClassifyRequest request;
  if (content_type.substr(0, 6) == "image/") {
    if (body.empty()) return absl::InvalidArgumentError("the image body is empty");
    request.images.push_back(body);
    return request;
  }
  if (content_type.substr(0, 19) == "multipart/form-data") {
    return ParseFormRequest(content_type, body, max_images);
  }
  nlohmann::json doc = nlohmann::json::parse(body, nullptr, /*allow_exceptions=*/false);
  if (doc.is_discarded() || !doc.is_object()) {
    return absl::InvalidArgumentError(
        "send JSON with \"image_url\", \"image_base64\" or \"instances\", a JPEG/PNG body "
        "(Content-Type image/jpeg or image/png), or multipart/form-data (curl -F image=@cat.jpg)");
  }
  if (doc.contains("top_k")) {
    ASSIGN_OR_RETURN(request.top_k, ParseTopK(doc["top_k"]));
  }
  auto take = [&](const nlohmann::json& item, size_t index) -> absl::Status {
    if (item.is_object() && item.contains("image_url")) {
      if (!item["image_url"].is_string() || item["image_url"].get_ref<const std::string&>().empty()) {
        return absl::InvalidArgumentError(
            StrCat("instance ", index, ": \"image_url\" must be an http:// or https:// URL"));
      }
      request.urls.emplace_back(request.images.size(), item["image_url"].get<std::string>());
      request.images.emplace_back();
      return absl::OkStatus();
    }
    if (!item.is_object() || !item.contains("image_base64") || !item["image_base64"].is_string()) {
      return absl::InvalidArgumentError(
          StrCat("instance ", index, " needs an \"image_url\" or \"image_base64\" string"));
    }
    auto bytes = DecodeBase64(item["image_base64"].get_ref<const std::string&>());
    if (!bytes.ok()) {
      return absl::InvalidArgumentError(StrCat("instance ", index, ": ", Msg(bytes.status())));
    }
    request.images.push_back(*std::move(bytes));
    return absl::OkStatus();
  };
  if (doc.contains("instances")) {
    const auto& instances = doc["instances"];
    if (!instances.is_array() || instances.empty()) {
      return absl::InvalidArgumentError("\"instances\" must be a non-empty array");
    }
    if (instances.size() > max_images) return TooManyImages(instances.size(), max_images);
    for (size_t i = 0; i < instances.size(); ++i) {
      if (auto status = take(instances[i], i); !status.ok()) return status;
    }
    request.instances = true;
    return request;
  }
  if (auto status = take(doc, 0); !status.ok()) return status;
  return request;
}

std::vector<std::string> ImageUrls(const ClassifyRequest& request) {
  std::vector<std::string> urls;
  for (const auto& [index, url] : request.urls) urls.push_back(url);
  return urls;
}

absl::Status TakeFetchedImages(ClassifyRequest* request, net::GetResults results) {
  if (results.size() != request->urls.size()) {
    return absl::InternalError("the downloads do not match the request's image URLs");
  }
  for (size_t i = 0; i < results.size(); ++i) {
    const size_t index = request->urls[i].first;
    if (!results[i].ok()) {
      // Every fetch problem is the caller's URL, so 400, also for an image over the limit
      // (413 would blame the request body); no free download slot is the server's (503).
      const std::string where = StrCat(
          request->instances ? StrCat("instance ", index, ": ") : std::string(), "image_url ",
          Msg(results[i].status()));
      return absl::IsUnavailable(results[i].status()) ? absl::UnavailableError(where)
                                                      : absl::InvalidArgumentError(where);
    }
    request->images[index] = std::move(results[i]->body);
  }
  return absl::OkStatus();
}

nlohmann::json PredictionsJson(std::span<const float> scores, size_t images, int top_k,
                               const std::vector<std::string>& labels, bool instances) {
  const size_t per_image = images ? scores.size() / images : 0;
  bool probabilities = !scores.empty();
  for (size_t i = 0; probabilities && i < images; ++i) {
    double sum = 0;
    for (float v : scores.subspan(i * per_image, per_image)) {
      probabilities = probabilities && v >= 0.0f && v <= 1.0f;
      sum += v;
    }
    probabilities = probabilities && std::abs(sum - 1.0) < 1e-3;
  }
  nlohmann::json all = nlohmann::json::array();
  for (size_t i = 0; i < images; ++i) {
    nlohmann::json list = nlohmann::json::array();
    for (const auto& p : imaging::TopK(scores.subspan(i * per_image, per_image), top_k,
                                       !probabilities, labels)) {
      nlohmann::json item = {{"index", p.index}, {"score", p.score}};
      item["label"] = p.label.empty() ? std::to_string(p.index) : p.label;
      list.push_back(std::move(item));
    }
    all.push_back(std::move(list));
  }
  return instances ? all : (all.empty() ? nlohmann::json::array() : all[0]);
}

}  // namespace berth::worker
