#include "protocol/grpc_codec.h"
#include "tests/protocol/protocol_test_util.h"

#include <cstdint>
#include <cstring>
#include <initializer_list>
#include <limits>
#include <string>
#include <string_view>
#include <vector>

#include "common/strings.h"
#include "gtest/gtest.h"
#include "protocol/datatype.h"
#include "protocol/infer.h"

namespace berth::protocol {
namespace {

using inference::InferParameter;
using inference::ModelInferRequest;
using inference::ModelInferResponse;

using testing::ExpectInvalid;
using testing::Raw;

ModelInferRequest::InferInputTensor* AddInput(ModelInferRequest* message, std::string name,
                                              std::string datatype,
                                              std::initializer_list<int64_t> shape) {
  auto* input = message->add_inputs();
  input->set_name(std::move(name));
  input->set_datatype(std::move(datatype));
  for (int64_t d : shape) input->add_shape(d);
  return input;
}

TEST(GrpcRequestTest, HeaderFieldsAndOutputs) {
  ModelInferRequest message;
  message.set_model_name("resnet");
  message.set_model_version("2");
  message.set_id("abc");
  message.add_outputs()->set_name("probs");
  message.add_outputs()->set_name("labels");
  InferRequest request;
  ASSERT_TRUE(FromGrpcRequest(message, &request).ok());
  EXPECT_EQ(request.model_name, "resnet");
  EXPECT_EQ(request.model_version, "2");
  EXPECT_EQ(request.id, "abc");
  EXPECT_TRUE(request.inputs.empty());
  ASSERT_EQ(request.outputs.size(), 2u);
  EXPECT_EQ(request.outputs[0].name, "probs");
  EXPECT_EQ(request.outputs[1].name, "labels");
  EXPECT_FALSE(request.outputs[0].binary_data.has_value());
}

TEST(GrpcRequestTest, SharedMemoryParametersBecomeReferences) {
  ModelInferRequest message;
  message.set_model_name("m");
  auto* in = message.add_inputs();
  in->set_name("x");
  in->set_datatype("FP32");
  in->add_shape(16);
  (*in->mutable_parameters())["shared_memory_region"].set_string_param("in0");
  (*in->mutable_parameters())["shared_memory_byte_size"].set_int64_param(64);
  (*in->mutable_parameters())["shared_memory_offset"].set_uint64_param(8);
  auto* out = message.add_outputs();
  out->set_name("y");
  (*out->mutable_parameters())["shared_memory_region"].set_string_param("out0");
  (*out->mutable_parameters())["shared_memory_byte_size"].set_int64_param(64);
  InferRequest request;
  ASSERT_TRUE(FromGrpcRequest(message, &request).ok());
  ASSERT_TRUE(request.inputs[0].shared_memory.has_value());
  EXPECT_EQ(request.inputs[0].shared_memory->region, "in0");
  EXPECT_EQ(request.inputs[0].shared_memory->offset, 8u);
  EXPECT_EQ(request.outputs[0].shared_memory->byte_size, 64u);
  // Incomplete, contradictory or unknown: refused naming the tensor and the parameter.
  in->mutable_parameters()->erase("shared_memory_byte_size");
  InferRequest second;
  ExpectInvalid(FromGrpcRequest(message, &second), {"input 'x'", "shared_memory_byte_size"});
  (*in->mutable_parameters())["shared_memory_byte_size"].set_int64_param(64);
  in->mutable_contents()->mutable_fp32_contents()->Resize(16, 0.0f);
  InferRequest third;
  ExpectInvalid(FromGrpcRequest(message, &third), {"input 'x'", "carries data too"});
  in->clear_contents();
  (*out->mutable_parameters())["shared_memory_colour"].set_int64_param(1);
  InferRequest fourth;
  ExpectInvalid(FromGrpcRequest(message, &fourth), {"output 'y'", "shared_memory_colour"});
}

TEST(GrpcRequestTest, RawInputContentsAreNotCopied) {
  ModelInferRequest message;
  AddInput(&message, "a", "FP16", {2});
  AddInput(&message, "b", "BF16", {1, 1});
  message.add_raw_input_contents(Raw<uint16_t>({0x3c00, 0xc000}));
  message.add_raw_input_contents(Raw<uint16_t>({0x3f80}));
  InferRequest request;
  ASSERT_TRUE(FromGrpcRequest(message, &request).ok());
  ASSERT_EQ(request.inputs.size(), 2u);
  EXPECT_EQ(request.inputs[0].name, "a");
  EXPECT_EQ(request.inputs[0].datatype, DataType::kFp16);
  EXPECT_EQ(request.inputs[0].shape, std::vector<int64_t>({2}));
  EXPECT_EQ(request.inputs[0].data.data(), message.raw_input_contents(0).data());
  EXPECT_EQ(request.inputs[0].data.size(), 4u);
  EXPECT_EQ(request.inputs[1].datatype, DataType::kBf16);
  EXPECT_EQ(request.inputs[1].shape, std::vector<int64_t>({1, 1}));
  EXPECT_EQ(request.inputs[1].data.data(), message.raw_input_contents(1).data());
  EXPECT_TRUE(request.inputs[0].owned.empty());
  EXPECT_TRUE(request.inputs[1].owned.empty());
}

TEST(GrpcRequestTest, TypedContentsForEveryType) {
  ModelInferRequest message;
  auto* c = AddInput(&message, "bool", "BOOL", {3})->mutable_contents();
  c->add_bool_contents(true);
  c->add_bool_contents(false);
  c->add_bool_contents(true);
  c = AddInput(&message, "u8", "UINT8", {2})->mutable_contents();
  c->add_uint_contents(0);
  c->add_uint_contents(255);
  c = AddInput(&message, "u16", "UINT16", {1})->mutable_contents();
  c->add_uint_contents(65535);
  c = AddInput(&message, "u32", "UINT32", {1})->mutable_contents();
  c->add_uint_contents(UINT32_MAX);
  c = AddInput(&message, "u64", "UINT64", {1})->mutable_contents();
  c->add_uint64_contents(UINT64_MAX);
  c = AddInput(&message, "i8", "INT8", {2})->mutable_contents();
  c->add_int_contents(-128);
  c->add_int_contents(127);
  c = AddInput(&message, "i16", "INT16", {2})->mutable_contents();
  c->add_int_contents(-32768);
  c->add_int_contents(32767);
  c = AddInput(&message, "i32", "INT32", {1})->mutable_contents();
  c->add_int_contents(INT32_MIN);
  c = AddInput(&message, "i64", "INT64", {1})->mutable_contents();
  c->add_int64_contents(INT64_MIN);
  c = AddInput(&message, "f32", "FP32", {2})->mutable_contents();
  c->add_fp32_contents(0.1f);
  c->add_fp32_contents(-2.0f);
  c = AddInput(&message, "f64", "FP64", {1})->mutable_contents();
  c->add_fp64_contents(1e300);
  c = AddInput(&message, "str", "BYTES", {2})->mutable_contents();
  c->add_bytes_contents("hi");
  c->add_bytes_contents(std::string("\0x", 2));

  InferRequest request;
  ASSERT_TRUE(FromGrpcRequest(message, &request).ok());
  ASSERT_EQ(request.inputs.size(), 12u);
  const std::string expected[] = {
      Raw<uint8_t>({1, 0, 1}),
      Raw<uint8_t>({0, 255}),
      Raw<uint16_t>({65535}),
      Raw<uint32_t>({UINT32_MAX}),
      Raw<uint64_t>({UINT64_MAX}),
      Raw<int8_t>({-128, 127}),
      Raw<int16_t>({-32768, 32767}),
      Raw<int32_t>({INT32_MIN}),
      Raw<int64_t>({INT64_MIN}),
      Raw<float>({0.1f, -2.0f}),
      Raw<double>({1e300}),
      Raw<uint32_t>({2}) + "hi" + Raw<uint32_t>({2}) + std::string("\0x", 2),
  };
  for (size_t i = 0; i < 12; ++i) {
    const InputTensor& input = request.inputs[i];
    SCOPED_TRACE(input.name);
    EXPECT_EQ(input.name, message.inputs(i).name());
    EXPECT_EQ(DataTypeName(input.datatype), message.inputs(i).datatype());
    EXPECT_EQ(input.data, expected[i]);
    // Typed contents are converted into the tensor's own buffer.
    EXPECT_EQ(input.data.data(), input.owned.data());
  }
  EXPECT_TRUE(ValidateBytesTensor(request.inputs[11].data, 2).ok());
}

TEST(GrpcRequestTest, OutOfRangeTypedContents) {
  struct Case {
    const char* datatype;
    int64_t value;
    bool is_unsigned;
  };
  const Case cases[] = {
      {"INT8", 128, false},     {"INT8", -129, false}, {"INT16", 32768, false},
      {"INT16", -32769, false}, {"UINT8", 256, true},  {"UINT16", 65536, true},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(StrCat(c.datatype, " ", c.value));
    ModelInferRequest message;
    auto* contents = AddInput(&message, "x", c.datatype, {2})->mutable_contents();
    if (c.is_unsigned) {
      contents->add_uint_contents(1);
      contents->add_uint_contents(static_cast<uint32_t>(c.value));
    } else {
      contents->add_int_contents(1);
      contents->add_int_contents(static_cast<int32_t>(c.value));
    }
    InferRequest request;
    ExpectInvalid(FromGrpcRequest(message, &request), {StrCat(c.value, " is out of range")});
  }
}

TEST(GrpcRequestTest, HalfTypesNeedRawContents) {
  for (const char* datatype : {"FP16", "BF16"}) {
    SCOPED_TRACE(datatype);
    ModelInferRequest message;
    AddInput(&message, "h", datatype, {1})->mutable_contents()->add_fp32_contents(1.0f);
    InferRequest request;
    ExpectInvalid(FromGrpcRequest(message, &request), {"'h'", datatype, "raw_input_contents"});
  }
}

TEST(GrpcRequestTest, RawCountMustMatchInputs) {
  ModelInferRequest message;
  AddInput(&message, "a", "UINT8", {1});
  AddInput(&message, "b", "UINT8", {1});
  message.add_raw_input_contents("x");
  InferRequest request;
  ExpectInvalid(FromGrpcRequest(message, &request), {"raw_input_contents has 1", "2 inputs"});

  message.add_raw_input_contents("y");
  message.add_raw_input_contents("z");
  InferRequest again;
  ExpectInvalid(FromGrpcRequest(message, &again), {"raw_input_contents has 3", "2 inputs"});
}

TEST(GrpcRequestTest, ContentsAndRawTogether) {
  ModelInferRequest message;
  AddInput(&message, "a", "UINT8", {1});
  AddInput(&message, "mixed", "UINT8", {1})->mutable_contents()->add_uint_contents(1);
  message.add_raw_input_contents("x");
  message.add_raw_input_contents("y");
  InferRequest request;
  ExpectInvalid(FromGrpcRequest(message, &request),
                {"'mixed'", "both contents and raw_input_contents"});
}

TEST(GrpcRequestTest, BadDatatypeAndShape) {
  {
    ModelInferRequest message;
    AddInput(&message, "x", "FLOAT", {1});
    InferRequest request;
    ExpectInvalid(FromGrpcRequest(message, &request), {"'x'", "unknown datatype \"FLOAT\""});
  }
  {
    ModelInferRequest message;
    AddInput(&message, "neg", "FP32", {2, -1});
    InferRequest request;
    ExpectInvalid(FromGrpcRequest(message, &request), {"'neg'", "negative dimension"});
  }
  {
    ModelInferRequest message;
    auto* input = AddInput(&message, "deep", "FP32", {});
    for (int i = 0; i < 65; ++i) input->add_shape(1);
    InferRequest request;
    ExpectInvalid(FromGrpcRequest(message, &request), {"'deep'", "more than 64 dimensions"});
  }
}

TEST(GrpcRequestTest, PriorityAndTimeoutParameters) {
  ModelInferRequest message;
  (*message.mutable_parameters())["priority"].set_uint64_param(2);
  (*message.mutable_parameters())["timeout"].set_int64_param(1500);
  (*message.mutable_parameters())["other"].set_string_param("ignored");
  InferRequest request;
  ASSERT_TRUE(FromGrpcRequest(message, &request).ok());
  EXPECT_EQ(request.priority, 2u);
  EXPECT_EQ(request.timeout_us, 1500u);

  ModelInferRequest swapped;
  (*swapped.mutable_parameters())["priority"].set_int64_param(7);
  (*swapped.mutable_parameters())["timeout"].set_uint64_param(UINT64_MAX);
  InferRequest request2;
  ASSERT_TRUE(FromGrpcRequest(swapped, &request2).ok());
  EXPECT_EQ(request2.priority, 7u);
  EXPECT_EQ(request2.timeout_us, UINT64_MAX);
}

TEST(GrpcRequestTest, BadPriorityAndTimeout) {
  const auto expect_bad = [](const char* key, auto set) {
    SCOPED_TRACE(key);
    ModelInferRequest message;
    set(&(*message.mutable_parameters())[key]);
    InferRequest request;
    ExpectInvalid(FromGrpcRequest(message, &request), {StrCat("\"", key, "\"")});
  };
  expect_bad("priority", [](InferParameter* p) { p->set_int64_param(-1); });
  expect_bad("priority", [](InferParameter* p) { p->set_string_param("high"); });
  expect_bad("priority", [](InferParameter* p) { p->set_double_param(1.0); });
  expect_bad("timeout", [](InferParameter* p) { p->set_int64_param(-5); });
  expect_bad("timeout", [](InferParameter* p) { p->set_bool_param(true); });
}

TEST(GrpcResponseTest, FillsRawOutputContents) {
  InferResponse response;
  response.model_name = "m";
  response.model_version = "4";
  response.id = "id-9";
  OutputTensor& a = response.outputs.emplace_back();
  a.name = "scores";
  a.datatype = DataType::kFp32;
  a.shape = {1, 2};
  const std::string a_bytes = Raw<float>({0.25f, 0.75f});
  a.data.assign(a_bytes.begin(), a_bytes.end());
  OutputTensor& b = response.outputs.emplace_back();
  b.name = "label";
  b.datatype = DataType::kBytes;
  b.shape = {1};
  AppendBytesElement("cat", &b.data);
  const std::string b_bytes(b.data.begin(), b.data.end());

  ModelInferResponse message;
  ToGrpcResponse(std::move(response), &message);
  EXPECT_EQ(message.model_name(), "m");
  EXPECT_EQ(message.model_version(), "4");
  EXPECT_EQ(message.id(), "id-9");
  ASSERT_EQ(message.outputs_size(), 2);
  ASSERT_EQ(message.raw_output_contents_size(), 2);
  EXPECT_EQ(message.outputs(0).name(), "scores");
  EXPECT_EQ(message.outputs(0).datatype(), "FP32");
  ASSERT_EQ(message.outputs(0).shape_size(), 2);
  EXPECT_EQ(message.outputs(0).shape(0), 1);
  EXPECT_EQ(message.outputs(0).shape(1), 2);
  EXPECT_FALSE(message.outputs(0).has_contents());
  EXPECT_EQ(message.raw_output_contents(0), a_bytes);
  EXPECT_EQ(message.outputs(1).name(), "label");
  EXPECT_EQ(message.outputs(1).datatype(), "BYTES");
  EXPECT_EQ(message.raw_output_contents(1), b_bytes);
}

TEST(GrpcResponseTest, EmptyOutputStillGetsARawEntry) {
  // raw_output_contents is matched to outputs by index, so an empty tensor needs its slot.
  InferResponse response;
  OutputTensor& empty = response.outputs.emplace_back();
  empty.name = "none";
  empty.datatype = DataType::kInt64;
  empty.shape = {0};
  OutputTensor& one = response.outputs.emplace_back();
  one.name = "one";
  one.datatype = DataType::kUint8;
  one.shape = {1};
  one.data = {7};
  ModelInferResponse message;
  ToGrpcResponse(std::move(response), &message);
  ASSERT_EQ(message.raw_output_contents_size(), 2);
  EXPECT_TRUE(message.raw_output_contents(0).empty());
  EXPECT_EQ(message.raw_output_contents(1), "\x07");
}

// A request whose raw contents came from a response round-trips byte for byte.
TEST(GrpcRoundTripTest, ResponseRawContentsFeedARequest) {
  InferResponse response;
  OutputTensor& out = response.outputs.emplace_back();
  out.name = "t";
  out.datatype = DataType::kInt16;
  out.shape = {3};
  const std::string bytes = Raw<int16_t>({-1, 0, 300});
  out.data.assign(bytes.begin(), bytes.end());
  ModelInferResponse reply;
  ToGrpcResponse(std::move(response), &reply);

  ModelInferRequest message;
  auto* input = message.add_inputs();
  input->set_name(reply.outputs(0).name());
  input->set_datatype(reply.outputs(0).datatype());
  *input->mutable_shape() = reply.outputs(0).shape();
  *message.add_raw_input_contents() = reply.raw_output_contents(0);
  InferRequest request;
  ASSERT_TRUE(FromGrpcRequest(message, &request).ok());
  EXPECT_EQ(request.inputs[0].datatype, DataType::kInt16);
  EXPECT_EQ(request.inputs[0].shape, std::vector<int64_t>({3}));
  EXPECT_EQ(request.inputs[0].data, bytes);
}

}  // namespace
}  // namespace berth::protocol
