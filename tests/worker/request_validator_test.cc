#include "worker/request_validator.h"

#include <gtest/gtest.h>

namespace berth::worker {
namespace {

using protocol::DataType;

inference::ModelConfig AddSub() {
  inference::ModelConfig config;
  config.set_name("add_sub");
  config.set_max_batch_size(8);
  for (const char* name : {"INPUT0", "INPUT1"}) {
    auto* in = config.add_input();
    in->set_name(name);
    in->set_data_type(inference::TYPE_FP32);
    in->add_dims(16);
  }
  auto* out = config.add_output();
  out->set_name("OUTPUT0");
  out->set_data_type(inference::TYPE_FP32);
  out->add_dims(16);
  return config;
}

protocol::InputTensor Input(const std::string& name, std::vector<int64_t> shape,
                            DataType type = DataType::kFp32, size_t bytes = 0) {
  protocol::InputTensor input;
  input.name = name;
  input.datatype = type;
  input.shape = std::move(shape);
  if (bytes == 0) {
    bytes = 4;
    for (int64_t d : input.shape) bytes *= static_cast<size_t>(d);
  }
  input.SetOwned(std::vector<char>(bytes));
  return input;
}

protocol::InferRequest Valid(int64_t rows) {
  protocol::InferRequest request;
  request.inputs.push_back(Input("INPUT0", {rows, 16}));
  request.inputs.push_back(Input("INPUT1", {rows, 16}));
  return request;
}

std::string Error(const protocol::InferRequest& request,
                  const inference::ModelConfig& config = AddSub()) {
  int64_t rows = 0;
  absl::Status status = ValidateRequest(config, request, &rows);
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument) << status;
  return std::string(status.message());
}

TEST(RequestValidatorTest, AcceptsAValidBatchAndReportsItsRows) {
  int64_t rows = 0;
  ASSERT_TRUE(ValidateRequest(AddSub(), Valid(3), &rows).ok());
  EXPECT_EQ(rows, 3);
}

TEST(RequestValidatorTest, NamesEachProblem) {
  auto request = Valid(1);
  request.inputs.pop_back();
  EXPECT_NE(Error(request).find("expects 2 inputs"), std::string::npos);

  request = Valid(1);
  request.inputs[1].name = "INPUT9";
  EXPECT_NE(Error(request).find("'INPUT1' is missing"), std::string::npos);

  request = Valid(1);
  request.inputs[1].name = "INPUT0";
  EXPECT_NE(Error(request).find("appears twice"), std::string::npos);

  request = Valid(1);
  request.inputs[0] = Input("INPUT0", {1, 16}, DataType::kFp64, 128);
  EXPECT_NE(Error(request).find("must be FP32, got FP64"), std::string::npos);

  request = Valid(1);
  request.inputs[0] = Input("INPUT0", {1, 15});
  EXPECT_NE(Error(request).find("has shape [1,15]"), std::string::npos);

  request = Valid(9);
  EXPECT_NE(Error(request).find("outside 1..8"), std::string::npos);

  request = Valid(1);
  request.inputs[1] = Input("INPUT1", {2, 16});
  EXPECT_NE(Error(request).find("disagree on the batch size"), std::string::npos);

  request = Valid(1);
  request.inputs[0] = Input("INPUT0", {1, 16}, DataType::kFp32, 60);
  EXPECT_NE(Error(request).find("needs 64 bytes but carries 60"), std::string::npos);

  request = Valid(1);
  request.inputs[0] = Input("INPUT0", {16}, DataType::kFp32, 64);
  EXPECT_NE(Error(request).find("add the batch dimension"), std::string::npos);

  request = Valid(1);
  request.outputs.push_back({"NOPE", std::nullopt});
  EXPECT_NE(Error(request).find("no output 'NOPE'"), std::string::npos);
}

TEST(RequestValidatorTest, RefusesRepeatedOrTooManyOutputs) {
  auto request = Valid(1);
  request.outputs.push_back({"OUTPUT0", std::nullopt});
  int64_t rows = 0;
  EXPECT_TRUE(ValidateRequest(AddSub(), request, &rows).ok());
  // The model has one output: naming it twice is refused before any name is compared.
  request.outputs.push_back({"OUTPUT0", std::nullopt});
  EXPECT_NE(Error(request).find("names 2 outputs but model 'add_sub' has 1"), std::string::npos);
  auto config = AddSub();
  auto* second = config.add_output();
  second->set_name("OUTPUT1");
  second->set_data_type(inference::TYPE_FP32);
  second->add_dims(16);
  EXPECT_NE(Error(request, config).find("output 'OUTPUT0' is requested twice"), std::string::npos);
  for (int i = 0; i < 100000; ++i) request.outputs.push_back({"OUTPUT0", std::nullopt});
  EXPECT_NE(Error(request, config).find("names 100002 outputs"), std::string::npos);
}

TEST(RequestValidatorTest, ChecksBytesTensorsElementByElement) {
  inference::ModelConfig config;
  config.set_name("text");
  auto* in = config.add_input();
  in->set_name("s");
  in->set_data_type(inference::TYPE_STRING);
  in->add_dims(-1);
  protocol::InferRequest request;
  auto& input = request.inputs.emplace_back();
  input.name = "s";
  input.datatype = DataType::kBytes;
  input.shape = {2};
  std::vector<char> bytes;
  protocol::AppendBytesElement("hello", &bytes);
  input.SetOwned(std::vector<char>(bytes));
  EXPECT_NE(Error(request, config).find("ends before element 1"), std::string::npos);
  protocol::AppendBytesElement("", &bytes);
  input.SetOwned(std::move(bytes));
  int64_t rows = 0;
  EXPECT_TRUE(ValidateRequest(config, request, &rows).ok());
  EXPECT_EQ(rows, 1);
}

}  // namespace
}  // namespace berth::worker
