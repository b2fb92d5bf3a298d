#include "worker/image_classifier.h"

#include <gtest/gtest.h>

#include <fstream>
#include <iterator>

namespace berth::worker {
namespace {

inference::ModelConfig Classifier(std::vector<int64_t> dims) {
  inference::ModelConfig config;
  config.set_name("c");
  config.set_max_batch_size(8);
  auto* in = config.add_input();
  in->set_name("x");
  in->set_data_type(inference::TYPE_FP32);
  for (int64_t d : dims) in->add_dims(d);
  auto* out = config.add_output();
  out->set_name("y");
  out->set_data_type(inference::TYPE_FP32);
  out->add_dims(1000);
  return config;
}

TEST(ImageClassifierTest, ImageNetDefaultsFollowTheInputShape) {
  auto spec = ClassifierSpecFromConfig(Classifier({3, 224, 224}));
  ASSERT_TRUE(spec.ok()) << spec.status();
  EXPECT_TRUE(spec->tensor.nchw);
  EXPECT_EQ(spec->tensor.resize_shorter, 256);
  EXPECT_FLOAT_EQ(spec->tensor.mean[0], 0.485f);
  auto nhwc = ClassifierSpecFromConfig(Classifier({224, 224, 3}));
  ASSERT_TRUE(nhwc.ok());
  EXPECT_FALSE(nhwc->tensor.nchw);
}

TEST(ImageClassifierTest, ConfigParametersOverrideDefaults) {
  auto config = Classifier({1, 28, 28});
  auto& params = *config.mutable_parameters();
  params["berth.image.mean"].set_string_value("0.5");
  params["berth.image.std"].set_string_value("0.25,0.25,0.25");
  params["berth.image.invert"].set_string_value("auto");
  auto spec = ClassifierSpecFromConfig(config);
  ASSERT_TRUE(spec.ok()) << spec.status();
  EXPECT_EQ(spec->tensor.channels, 1);
  EXPECT_FLOAT_EQ(spec->tensor.mean[2], 0.5f);
  EXPECT_FLOAT_EQ(spec->tensor.std[0], 0.25f);
  EXPECT_EQ(spec->invert, ClassifierSpec::Invert::kAuto);
  params["berth.image.invert"].set_string_value("maybe");
  EXPECT_EQ(ClassifierSpecFromConfig(config).status().code(), absl::StatusCode::kInvalidArgument);
  params["berth.image.invert"].set_string_value("false");
  params["berth.image.mean"].set_string_value("0.5,x");
  EXPECT_EQ(ClassifierSpecFromConfig(config).status().code(), absl::StatusCode::kInvalidArgument);
}

TEST(ImageClassifierTest, RefusesModelsThatAreNotImageClassifiers) {
  EXPECT_FALSE(ClassifierSpecFromConfig(Classifier({16})).ok());
  EXPECT_FALSE(ClassifierSpecFromConfig(Classifier({2, 224, 224})).ok());
  EXPECT_FALSE(ClassifierSpecFromConfig(Classifier({3, -1, -1})).ok());
  auto two_inputs = Classifier({3, 224, 224});
  *two_inputs.add_input() = two_inputs.input(0);
  EXPECT_FALSE(ClassifierSpecFromConfig(two_inputs).ok());
}

TEST(ImageClassifierTest, ParsesRequestForms) {
  auto raw = ParseClassifyRequest("image/png", "PNGDATA", 8);
  ASSERT_TRUE(raw.ok());
  EXPECT_EQ(raw->images, std::vector<std::string>{"PNGDATA"});
  EXPECT_FALSE(raw->instances);
  auto batch = ParseClassifyRequest("application/json",
                                    R"({"instances":[{"image_base64":"aGk="},)"
                                    R"({"image_base64":"data:image/png;base64,aGk="}],"top_k":3})",
                                    8);
  ASSERT_TRUE(batch.ok());
  EXPECT_EQ(batch->images, (std::vector<std::string>{"hi", "hi"}));
  EXPECT_EQ(batch->top_k, 3);
  EXPECT_TRUE(batch->instances);
  auto url = ParseClassifyRequest("application/json", R"({"image_url":"http://x/a.png"})", 8);
  ASSERT_TRUE(url.ok()) << url.status();
  ASSERT_EQ(url->images.size(), 1u);
  ASSERT_EQ(url->urls.size(), 1u);
  EXPECT_EQ(url->urls[0], (std::pair<size_t, std::string>{0, "http://x/a.png"}));
  auto mixed = ParseClassifyRequest(
      "application/json",
      R"({"instances":[{"image_base64":"aGk="},{"image_url":"https://y/b.jpg"}]})", 8);
  ASSERT_TRUE(mixed.ok()) << mixed.status();
  EXPECT_EQ(mixed->images[0], "hi");
  EXPECT_EQ(mixed->urls[0].first, 1u);
  EXPECT_EQ(ParseClassifyRequest("application/json", R"({"image_url":5})", 8).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(ParseClassifyRequest("application/json", R"({"instances":[]})", 8).status().code(),
            absl::StatusCode::kInvalidArgument);
  auto over = ParseClassifyRequest(
      "application/json", R"({"instances":[{"image_base64":"aGk="},{"image_base64":"aGk="}]})", 1);
  ASSERT_FALSE(over.ok());
  EXPECT_NE(over.status().message().find("at most 1"), std::string::npos) << over.status();
  EXPECT_FALSE(ParseClassifyRequest("image/png", "", 8).ok());
  EXPECT_EQ(ParseClassifyRequest("application/json", "{", 8).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(ParseClassifyRequest("application/json", R"({"top_k":0,"image_base64":"aGk="})", 8)
                .status()
                .code(),
            absl::StatusCode::kInvalidArgument);
}

TEST(ImageClassifierTest, ParsesMultipartForms) {
  const std::string body =
      "--XyZ\r\n"
      "Content-Disposition: form-data; name=\"image\"; filename=\"a.png\"\r\n"
      "Content-Type: image/png\r\n\r\n"
      "PNG\r\n1\r\n"
      "--XyZ\r\n"
      "Content-Disposition: form-data; name=\"top_k\"\r\n\r\n"
      "2\r\n"
      "--XyZ\r\n"
      "Content-Disposition: form-data; name=\"image_url\"\r\n\r\n"
      "http://h/b.jpg\r\n"
      "--XyZ--\r\n";
  auto parsed = ParseClassifyRequest("multipart/form-data; boundary=XyZ", body, 8);
  ASSERT_TRUE(parsed.ok()) << parsed.status();
  ASSERT_EQ(parsed->images.size(), 2u);
  EXPECT_EQ(parsed->images[0], "PNG\r\n1");  // CRLF inside a part is data
  EXPECT_EQ(parsed->urls[0], (std::pair<size_t, std::string>{1, "http://h/b.jpg"}));
  EXPECT_EQ(parsed->top_k, 2);
  EXPECT_TRUE(parsed->instances);

  for (const auto& [type, bad] : std::vector<std::pair<std::string, std::string>>{
           {"multipart/form-data", body},                            // no boundary
           {"multipart/form-data; boundary=XyZ", "--XyZ\r\nabc"},    // ends inside a part
           {"multipart/form-data; boundary=XyZ", "nothing"},         // no delimiter
           {"multipart/form-data; boundary=XyZ", "--XyZ--\r\n"},     // no image
           {"multipart/form-data; boundary=XyZ",
            "--XyZ\r\nContent-Disposition: form-data; name=\"x\"\r\n\r\nv\r\n--XyZ--"}}) {
    auto result = ParseClassifyRequest(type, bad, 8);
    EXPECT_EQ(result.status().code(), absl::StatusCode::kInvalidArgument) << bad;
  }
  // One image over the model's batch limit.
  EXPECT_FALSE(ParseClassifyRequest("multipart/form-data; boundary=XyZ", body, 1).ok());
}

TEST(ImageClassifierTest, PredictionsUseLabelsOrIndices) {
  std::vector<float> scores = {0.1f, 0.7f, 0.2f, 0.6f, 0.3f, 0.1f};
  auto one = PredictionsJson(scores, 2, 1, {"a", "b"}, true);
  ASSERT_EQ(one.size(), 2u);
  EXPECT_EQ(one[0][0]["label"], "b");
  EXPECT_EQ(one[1][0]["index"], 0);
  EXPECT_EQ(one[1][0]["label"], "a");
  auto unlabelled = PredictionsJson(std::span<const float>(scores).first(3), 1, 1, {}, false);
  EXPECT_EQ(unlabelled[0]["label"], "1");
  std::vector<float> logits = {1.0f, 3.0f, 2.0f};  // not probabilities: softmax first
  EXPECT_NEAR(PredictionsJson(logits, 1, 1, {}, false)[0]["score"].get<double>(), 0.66524, 1e-4);
}

TEST(ImageClassifierTest, ThePixelBudgetCoversTheWholeRequest) {
  std::ifstream in("tests/fixtures/digits/7.png", std::ios::binary);
  const std::string png((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  ASSERT_FALSE(png.empty());
  auto spec = ClassifierSpecFromConfig(Classifier({1, 28, 28}));
  ASSERT_TRUE(spec.ok()) << spec.status();
  const std::vector<std::string> three(3, png);
  EXPECT_TRUE(ImagesToBatch(three, *spec, 3 * 28 * 28).ok());
  auto refused = ImagesToBatch(three, *spec, 2 * 28 * 28 + 100);
  ASSERT_FALSE(refused.ok());
  EXPECT_EQ(refused.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(std::string(refused.status().message()).find("image 2:"), std::string::npos)
      << refused.status();
  EXPECT_NE(std::string(refused.status().message()).find("pixels in all"), std::string::npos);
}

}  // namespace
}  // namespace berth::worker
