#include "protocol/rest_codec.h"
#include "tests/protocol/protocol_test_util.h"

#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/strings.h"
#include "gtest/gtest.h"
#include "protocol/datatype.h"
#include "protocol/infer.h"

namespace berth::protocol {
namespace {

// A body whose capacity equals its size, so the parser must copy the JSON to pad it.
std::shared_ptr<const std::string> ExactBody(std::string_view text) {
  auto body = std::make_shared<std::string>(text);
  body->shrink_to_fit();
  return body;
}

// A body with spare capacity for the parser's padding, parsed in place.
std::shared_ptr<const std::string> PaddedBody(std::string_view text) {
  auto body = std::make_shared<std::string>();
  body->reserve(text.size() + kJsonPadding);
  body->append(text);
  return body;
}

// Parses `text` from a padded buffer into `request`, and also from an exactly-sized one,
// expecting both to give the same result.
absl::Status Parse(std::string_view text, InferRequest* request,
                   std::optional<size_t> header_length = std::nullopt) {
  InferRequest exact_request;
  const absl::Status exact = ParseInferRequest(ExactBody(text), header_length, &exact_request);
  const absl::Status padded = ParseInferRequest(PaddedBody(text), header_length, request);
  EXPECT_EQ(exact.code(), padded.code()) << text;
  EXPECT_EQ(Msg(exact), Msg(padded)) << text;
  if (exact.ok() && padded.ok()) {
    EXPECT_EQ(exact_request.inputs.size(), request->inputs.size());
    for (size_t i = 0; i < exact_request.inputs.size() && i < request->inputs.size(); ++i) {
      EXPECT_EQ(exact_request.inputs[i].data, request->inputs[i].data) << "input " << i;
    }
  }
  return padded;
}

absl::Status Parse(std::string_view text) {
  InferRequest request;
  return Parse(text, &request);
}

using testing::ExpectInvalid;
using testing::Raw;

std::string BytesTensor(std::initializer_list<std::string_view> elements) {
  std::vector<char> out;
  for (std::string_view e : elements) AppendBytesElement(e, &out);
  return std::string(out.begin(), out.end());
}

std::string OneInput(std::string_view datatype, std::string_view shape, std::string_view data) {
  return StrCat(R"({"inputs":[{"name":"in0","datatype":")", datatype, R"(","shape":)", shape,
                R"(,"data":)", data, "}]}");
}

// ---------------------------------------------------------------------------------------------
// Valid requests

struct DatatypeCase {
  std::string_view datatype;
  std::string_view data;
  std::string expected;
};

TEST(RestParseTest, SharedMemoryParametersBecomeReferences) {
  // Before or after the name.
  InferRequest request;
  const absl::Status status = Parse(R"({"inputs":[{"parameters":{"shared_memory_region":"in0",
      "shared_memory_byte_size":64,"shared_memory_offset":8},"name":"x","datatype":"FP32",
      "shape":[16]}],"outputs":[{"name":"y","parameters":{"shared_memory_region":"out0",
      "shared_memory_byte_size":32}}]})", &request);
  ASSERT_TRUE(status.ok()) << status;
  const InferRequest* parsed = &request;
  ASSERT_TRUE(parsed->inputs[0].shared_memory.has_value());
  EXPECT_EQ(parsed->inputs[0].shared_memory->region, "in0");
  EXPECT_EQ(parsed->inputs[0].shared_memory->byte_size, 64u);
  EXPECT_EQ(parsed->inputs[0].shared_memory->offset, 8u);
  EXPECT_TRUE(parsed->inputs[0].data.empty());
  ASSERT_TRUE(parsed->outputs[0].shared_memory.has_value());
  EXPECT_EQ(parsed->outputs[0].shared_memory->region, "out0");
  EXPECT_EQ(parsed->outputs[0].shared_memory->offset, 0u);
}

TEST(RestParseTest, IncompleteOrContradictorySharedMemoryIsRefusedNamingIt) {
  ExpectInvalid(Parse(R"({"inputs":[{"name":"x","datatype":"FP32","shape":[1],"data":[1],
      "parameters":{"shared_memory_offset":0}}]})"),
                {"input 'x'", "no shared_memory_region"});
  ExpectInvalid(Parse(R"({"inputs":[{"name":"x","datatype":"FP32","shape":[1],
      "parameters":{"shared_memory_region":"r"}}]})"),
                {"input 'x'", "no shared_memory_byte_size"});
  ExpectInvalid(Parse(R"({"inputs":[{"name":"x","datatype":"FP32","shape":[1],"data":[1],
      "parameters":{"shared_memory_region":"r","shared_memory_byte_size":4}}]})"),
                {"input 'x'", "carries data too"});
  ExpectInvalid(Parse(R"({"inputs":[{"name":"x","datatype":"FP32","shape":[1],
      "parameters":{"shared_memory_region":"r","shared_memory_byte_size":-4}}]})"),
                {"shared_memory_byte_size", "non-negative integer"});
  ExpectInvalid(Parse(R"({"inputs":[{"name":"x","datatype":"FP32","shape":[1],"data":[1]}],
      "outputs":[{"name":"y","parameters":{"shared_memory_handle":"out0"}}]})"),
                {"output 'y'", "shared_memory_handle"});
}

TEST(RestParseTest, EveryDatatype) {
  const DatatypeCase cases[] = {
      {"BOOL", "[true,false]", Raw<uint8_t>({1, 0})},
      {"UINT8", "[0,255]", Raw<uint8_t>({0, 255})},
      {"UINT16", "[0,65535]", Raw<uint16_t>({0, 65535})},
      {"UINT32", "[0,4294967295]", Raw<uint32_t>({0, 4294967295u})},
      {"UINT64", "[0,18446744073709551615]", Raw<uint64_t>({0, UINT64_MAX})},
      {"INT8", "[-128,127]", Raw<int8_t>({-128, 127})},
      {"INT16", "[-32768,32767]", Raw<int16_t>({-32768, 32767})},
      {"INT32", "[-2147483648,2147483647]", Raw<int32_t>({INT32_MIN, INT32_MAX})},
      {"INT64", "[-9223372036854775808,9223372036854775807]", Raw<int64_t>({INT64_MIN, INT64_MAX})},
      {"FP16", "[1.0,-2]", Raw<uint16_t>({0x3c00, 0xc000})},
      {"BF16", "[1.0,-2]", Raw<uint16_t>({0x3f80, 0xc000})},
      {"FP32", "[0.1,-2]", Raw<float>({0.1f, -2.0f})},
      {"FP64", "[0.1,1e300]", Raw<double>({0.1, 1e300})},
      {"BYTES", R"(["ab",""])", BytesTensor({"ab", ""})},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.datatype);
    InferRequest request;
    ASSERT_TRUE(Parse(OneInput(c.datatype, "[2]", c.data), &request).ok());
    ASSERT_EQ(request.inputs.size(), 1u);
    const InputTensor& input = request.inputs[0];
    EXPECT_EQ(input.name, "in0");
    EXPECT_EQ(DataTypeName(input.datatype), c.datatype);
    EXPECT_EQ(input.shape, std::vector<int64_t>({2}));
    EXPECT_EQ(input.data, c.expected);
  }
}

TEST(RestParseTest, BytesElementsAreUnescaped) {
  InferRequest request;
  ASSERT_TRUE(Parse(OneInput("BYTES", "[2]", R"(["a\"b\\c\n", "\u00e9\u0001"])"), &request).ok());
  EXPECT_EQ(request.inputs[0].data, BytesTensor({"a\"b\\c\n", "\xc3\xa9\x01"}));
}

TEST(RestParseTest, IntegersAcceptedForFloatTypes) {
  InferRequest request;
  ASSERT_TRUE(Parse(OneInput("FP64", "[3]", "[1, -7, 1e2]"), &request).ok());
  EXPECT_EQ(request.inputs[0].data, Raw<double>({1.0, -7.0, 100.0}));
}

TEST(RestParseTest, NestedDataIsFlattenedRowMajor) {
  InferRequest request;
  ASSERT_TRUE(Parse(OneInput("INT32", "[2,3]", "[[1,2,3],[4,5,6]]"), &request).ok());
  EXPECT_EQ(request.inputs[0].shape, std::vector<int64_t>({2, 3}));
  EXPECT_EQ(request.inputs[0].data, Raw<int32_t>({1, 2, 3, 4, 5, 6}));

  InferRequest deeper;
  ASSERT_TRUE(Parse(OneInput("UINT8", "[2,2,2]", "[[[1,2],[3,4]],[[5,6],[7,8]]]"), &deeper).ok());
  EXPECT_EQ(deeper.inputs[0].data, Raw<uint8_t>({1, 2, 3, 4, 5, 6, 7, 8}));
}

TEST(RestParseTest, ScalarAndEmptyShapes) {
  InferRequest request;
  ASSERT_TRUE(Parse(OneInput("INT64", "[]", "[42]"), &request).ok());
  EXPECT_TRUE(request.inputs[0].shape.empty());
  EXPECT_EQ(request.inputs[0].data, Raw<int64_t>({42}));

  InferRequest empty;
  ASSERT_TRUE(Parse(OneInput("FP32", "[0,3]", "[]"), &empty).ok());
  EXPECT_EQ(empty.inputs[0].shape, std::vector<int64_t>({0, 3}));
  EXPECT_TRUE(empty.inputs[0].data.empty());
}

TEST(RestParseTest, DataBeforeShapeAndDatatype) {
  InferRequest request;
  ASSERT_TRUE(Parse(R"({"inputs":[{"data":[[1,2],[3,4]],"name":"x","shape":[2,2],)"
                    R"("datatype":"INT16"}]})",
                    &request)
                  .ok());
  ASSERT_EQ(request.inputs.size(), 1u);
  EXPECT_EQ(request.inputs[0].name, "x");
  EXPECT_EQ(request.inputs[0].data, Raw<int16_t>({1, 2, 3, 4}));
}

TEST(RestParseTest, DataBetweenDatatypeAndShapeWithMoreInputsAfter) {
  // The second pass must leave the parser where the next input can be read.
  InferRequest request;
  ASSERT_TRUE(Parse(R"({"inputs":[{"name":"a","datatype":"FP32","data":[1.5,2.5],"shape":[2],)"
                    R"("parameters":{"foo":1}},)"
                    R"({"data":["x"],"name":"b","datatype":"BYTES","shape":[1]}],)"
                    R"("id":"after"})",
                    &request)
                  .ok());
  ASSERT_EQ(request.inputs.size(), 2u);
  EXPECT_EQ(request.inputs[0].data, Raw<float>({1.5f, 2.5f}));
  EXPECT_EQ(request.inputs[1].name, "b");
  EXPECT_EQ(request.inputs[1].data, BytesTensor({"x"}));
  EXPECT_EQ(request.id, "after");
}

TEST(RestParseTest, ManyInputsKeepTheirOwnData) {
  // Enough inputs to make the inputs vector reallocate; each input's view must stay valid.
  std::string json = R"({"inputs":[)";
  for (int i = 0; i < 20; ++i) {
    if (i) json += ",";
    json += StrCat(R"({"name":"in)", i, R"(","datatype":"INT32","shape":[2],"data":[)", i, ",",
                   i * 10, "]}");
  }
  json += "]}";
  InferRequest request;
  ASSERT_TRUE(Parse(json, &request).ok());
  ASSERT_EQ(request.inputs.size(), 20u);
  for (int i = 0; i < 20; ++i) {
    EXPECT_EQ(request.inputs[i].name, StrCat("in", i));
    EXPECT_EQ(request.inputs[i].data, Raw<int32_t>({i, i * 10})) << i;
  }
}

TEST(RestParseTest, IdOutputsAndParameters) {
  InferRequest request;
  ASSERT_TRUE(Parse(R"({"id":"req-7","inputs":[{"name":"x","datatype":"BOOL","shape":[1],)"
                    R"("data":[true]}],"outputs":[{"name":"y","parameters":{"binary_data":true}},)"
                    R"({"name":"z","parameters":{"classification":5}},)"
                    R"({"name":"w","parameters":{"binary_data":false,"other":"v"}}],)"
                    R"("parameters":{"binary_data_output":true,"priority":3,"timeout":250000,)"
                    R"("sequence_id":"ignored"}})",
                    &request)
                  .ok());
  EXPECT_EQ(request.id, "req-7");
  ASSERT_EQ(request.outputs.size(), 3u);
  EXPECT_EQ(request.outputs[0].name, "y");
  EXPECT_EQ(request.outputs[0].binary_data, std::optional<bool>(true));
  EXPECT_EQ(request.outputs[1].name, "z");
  EXPECT_FALSE(request.outputs[1].binary_data.has_value());
  EXPECT_EQ(request.outputs[1].classification, 5u);
  EXPECT_EQ(request.outputs[0].classification, 0u);
  EXPECT_EQ(request.outputs[2].binary_data, std::optional<bool>(false));
  EXPECT_TRUE(request.binary_data_output);
  EXPECT_EQ(request.priority, 3u);
  EXPECT_EQ(request.timeout_us, 250000u);
}

TEST(RestParseTest, DefaultsWhenOptionalFieldsAreAbsent) {
  InferRequest request;
  ASSERT_TRUE(Parse(OneInput("UINT8", "[1]", "[1]"), &request).ok());
  EXPECT_TRUE(request.id.empty());
  EXPECT_TRUE(request.outputs.empty());
  EXPECT_FALSE(request.binary_data_output);
  EXPECT_EQ(request.priority, 0u);
  EXPECT_EQ(request.timeout_us, 0u);
  EXPECT_TRUE(request.model_name.empty());  // comes from the URL, not the body
  EXPECT_NE(request.backing, nullptr);
}

TEST(RestParseTest, LargestPriorityIsAccepted) {
  InferRequest request;
  ASSERT_TRUE(Parse(R"({"inputs":[],"parameters":{"priority":4294967295}})", &request).ok());
  EXPECT_EQ(request.priority, 4294967295u);
}

TEST(RestParseTest, EmptyInputsArrayParses) {
  // Whether a model accepts zero inputs is the validator's business, not the codec's.
  InferRequest request;
  ASSERT_TRUE(Parse(R"({"inputs":[]})", &request).ok());
  EXPECT_TRUE(request.inputs.empty());
}

TEST(RestParseTest, WhitespaceAroundTokens) {
  InferRequest request;
  ASSERT_TRUE(Parse(" \n{ \"inputs\" : [ { \"name\" : \"x\" , \"datatype\" : \"INT8\" , "
                    "\"shape\" : [ 2 ] , \"data\" : [ -1 , 2 ] } ] }\n ",
                    &request)
                  .ok());
  EXPECT_EQ(request.inputs[0].data, Raw<int8_t>({-1, 2}));
}

// ---------------------------------------------------------------------------------------------
// Binary data extension

TEST(RestBinaryTest, TwoBinaryInputsPointIntoTheBody) {
  const std::string json =
      R"({"inputs":[{"name":"a","datatype":"FP32","shape":[2],)"
      R"("parameters":{"binary_data_size":8}},)"
      R"({"name":"b","datatype":"BYTES","shape":[2],"parameters":{"binary_data_size":13}}]})";
  const std::string a = Raw<float>({1.0f, -1.0f});
  const std::string b = BytesTensor({"hello", ""});
  ASSERT_EQ(b.size(), 13u);
  for (bool padded : {false, true}) {
    SCOPED_TRACE(padded ? "padded" : "exact");
    const std::string text = json + a + b;
    auto body = padded ? PaddedBody(text) : ExactBody(text);
    const std::string* raw = body.get();
    InferRequest request;
    ASSERT_TRUE(ParseInferRequest(body, json.size(), &request).ok());
    ASSERT_EQ(request.inputs.size(), 2u);
    EXPECT_EQ(request.inputs[0].data, a);
    EXPECT_EQ(request.inputs[1].data, b);
    // No copy: the views point at the body's own bytes, which the request keeps alive.
    EXPECT_EQ(request.inputs[0].data.data(), raw->data() + json.size());
    EXPECT_EQ(request.inputs[1].data.data(), raw->data() + json.size() + 8);
    EXPECT_TRUE(request.inputs[0].owned.empty());
    EXPECT_EQ(request.backing.get(), static_cast<const void*>(raw));
    EXPECT_TRUE(ValidateBytesTensor(request.inputs[1].data, 2).ok());
  }
}

TEST(RestBinaryTest, MixedJsonAndBinaryInputs) {
  const std::string json =
      R"({"inputs":[{"name":"j","datatype":"INT32","shape":[1],"data":[7]},)"
      R"({"name":"b","datatype":"UINT8","shape":[3],"parameters":{"binary_data_size":3}}]})";
  InferRequest request;
  ASSERT_TRUE(Parse(json + "\x01\x02\x03", &request, json.size()).ok());
  EXPECT_EQ(request.inputs[0].data, Raw<int32_t>({7}));
  EXPECT_EQ(request.inputs[1].data, "\x01\x02\x03");
}

TEST(RestBinaryTest, ZeroSizedBinaryInput) {
  const std::string json = R"({"inputs":[{"name":"e","datatype":"FP32","shape":[0],)"
                           R"("parameters":{"binary_data_size":0}}]})";
  InferRequest request;
  ASSERT_TRUE(Parse(json, &request, json.size()).ok());
  EXPECT_TRUE(request.inputs[0].data.empty());
}

TEST(RestBinaryTest, HeaderLengthEqualToBodyWithoutBinaryInputs) {
  const std::string json = OneInput("UINT8", "[1]", "[9]");
  InferRequest request;
  ASSERT_TRUE(Parse(json, &request, json.size()).ok());
  EXPECT_EQ(request.inputs[0].data, "\x09");
}

TEST(RestBinaryTest, BinaryBytesThatLookLikeJsonAreNotParsed) {
  // The binary part continues the JSON text; the parser must stop at the header length.
  const std::string json = R"({"inputs":[{"name":"b","datatype":"UINT8","shape":[4],)"
                           R"("parameters":{"binary_data_size":4}}]})";
  InferRequest request;
  ASSERT_TRUE(Parse(json + R"(,"x")", &request, json.size()).ok());
  EXPECT_EQ(request.inputs[0].data, R"(,"x")");
}

TEST(RestBinaryTest, JsonCutShortByHeaderLengthIsAnError) {
  // The header length leaves the final '}' in the binary part, where it is claimed as the
  // input's one byte. Reading past the header length would make both halves look valid.
  const std::string json = R"({"inputs":[{"name":"b","datatype":"UINT8","shape":[1],)"
                           R"("parameters":{"binary_data_size":1}}]})";
  InferRequest request;
  EXPECT_EQ(Parse(json, &request, json.size() - 1).code(), absl::StatusCode::kInvalidArgument);
}

TEST(RestBinaryTest, BinaryDataSizeBeyondBody) {
  const std::string json = R"({"inputs":[{"name":"big","datatype":"UINT8","shape":[8],)"
                           R"("parameters":{"binary_data_size":8}}]})";
  InferRequest request;
  ExpectInvalid(Parse(json + "1234", &request, json.size()),
                {"'big'", "binary_data_size 8", "4 bytes"});
}

TEST(RestBinaryTest, SecondInputOverrunsTheBody) {
  const std::string json =
      R"({"inputs":[{"name":"a","datatype":"UINT8","shape":[2],)"
      R"("parameters":{"binary_data_size":2}},)"
      R"({"name":"b","datatype":"UINT8","shape":[2],"parameters":{"binary_data_size":2}}]})";
  InferRequest request;
  ExpectInvalid(Parse(json + "abc", &request, json.size()), {"'b'", "1 bytes"});
}

TEST(RestBinaryTest, HugeBinaryDataSizeDoesNotWrap) {
  const std::string json = R"({"inputs":[{"name":"a","datatype":"UINT8","shape":[2],)"
                           R"("parameters":{"binary_data_size":18446744073709551615}}]})";
  InferRequest request;
  ExpectInvalid(Parse(json + "ab", &request, json.size()), {"'a'", "binary_data_size"});
}

TEST(RestBinaryTest, LeftoverBinaryBytesAreAnError) {
  const std::string json = R"({"inputs":[{"name":"a","datatype":"UINT8","shape":[2],)"
                           R"("parameters":{"binary_data_size":2}}]})";
  InferRequest request;
  ExpectInvalid(Parse(json + "abcde", &request, json.size()), {"3 bytes", "not claimed"});
  // Binary bytes with no binary input at all.
  const std::string plain = OneInput("UINT8", "[1]", "[1]");
  ExpectInvalid(Parse(plain + "zz", &request, plain.size()), {"2 bytes", "not claimed"});
}

TEST(RestBinaryTest, BothDataAndBinaryDataSize) {
  ExpectInvalid(Parse(R"({"inputs":[{"name":"both","datatype":"UINT8","shape":[1],"data":[1],)"
                      R"("parameters":{"binary_data_size":1}}]})"),
                {"'both'", "both \"data\" and"});
}

TEST(RestBinaryTest, BinaryDataSizeMustBeUnsigned) {
  ExpectInvalid(Parse(R"({"inputs":[{"name":"a","datatype":"UINT8","shape":[1],)"
                      R"("parameters":{"binary_data_size":-1}}]})"),
                {"binary_data_size", "unsigned"});
}

TEST(RestBinaryTest, HeaderLengthLargerThanBody) {
  const std::string json = OneInput("UINT8", "[1]", "[1]");
  InferRequest request;
  ExpectInvalid(Parse(json, &request, json.size() + 1), {"larger than the body"});
}

TEST(RestHeaderLengthTest, ParsesDecimal) {
  size_t length = 99;
  ASSERT_TRUE(ParseHeaderLength("123", 200, &length).ok());
  EXPECT_EQ(length, 123u);
  ASSERT_TRUE(ParseHeaderLength("0", 200, &length).ok());
  EXPECT_EQ(length, 0u);
  ASSERT_TRUE(ParseHeaderLength("200", 200, &length).ok());
  EXPECT_EQ(length, 200u);
}

TEST(RestHeaderLengthTest, RejectsNonNumericAndOutOfRange) {
  size_t length = 99;
  for (std::string_view bad :
       {"", "abc", "12abc", "-1", " 12", "12 ", "+12", "1.5", "99999999999999999999999999"}) {
    SCOPED_TRACE(bad);
    ExpectInvalid(ParseHeaderLength(bad, 1000, &length),
                  {"Inference-Header-Content-Length", "not a non-negative integer"});
  }
  ExpectInvalid(ParseHeaderLength("201", 200, &length), {"201", "larger than the body (200"});
  EXPECT_EQ(length, 99u);  // untouched on error
}

// ---------------------------------------------------------------------------------------------
// Errors

TEST(RestParseErrorTest, MalformedJson) {
  for (std::string_view bad :
       {"", "{", R"({"inputs":[)", R"({"inputs":[{"name":"x",}]})", "{\"inputs\":[]",
        R"({"inputs":[{"name":"x","datatype":"INT8","shape":[1],"data":[1,]}]})",
        R"({"inputs":[{"name":"unterminated})", "nul\x00l"}) {
    SCOPED_TRACE(bad);
    EXPECT_EQ(Parse(bad).code(), absl::StatusCode::kInvalidArgument);
  }
}

TEST(RestParseErrorTest, BodyIsNotAnObject) {
  for (std::string_view bad : {"[1,2]", "42", R"("inputs")", "null", "true"}) {
    SCOPED_TRACE(bad);
    ExpectInvalid(Parse(bad), {"must be a JSON object"});
  }
}

TEST(RestParseErrorTest, MissingInputs) {
  ExpectInvalid(Parse(R"({"id":"x","outputs":[]})"), {"no \"inputs\""});
  ExpectInvalid(Parse("{}"), {"no \"inputs\""});
}

TEST(RestParseErrorTest, WrongTopLevelTypes) {
  ExpectInvalid(Parse(R"({"inputs":{}})"), {"\"inputs\" must be an array"});
  ExpectInvalid(Parse(R"({"inputs":[1]})"), {"each of \"inputs\" must be an object"});
  ExpectInvalid(Parse(R"({"inputs":[],"outputs":{}})"), {"\"outputs\" must be an array"});
  ExpectInvalid(Parse(R"({"inputs":[],"outputs":["y"]})"),
                {"each of \"outputs\" must be an object"});
  ExpectInvalid(Parse(R"({"inputs":[],"id":5})"), {"\"id\" must be a string"});
  ExpectInvalid(Parse(R"({"inputs":[],"parameters":[]})"), {"\"parameters\" must be an object"});
}

TEST(RestParseErrorTest, BadParameters) {
  ExpectInvalid(Parse(R"({"inputs":[],"parameters":{"priority":-1}})"), {"\"priority\""});
  ExpectInvalid(Parse(R"({"inputs":[],"parameters":{"priority":4294967296}})"), {"\"priority\""});
  ExpectInvalid(Parse(R"({"inputs":[],"parameters":{"priority":"high"}})"), {"\"priority\""});
  ExpectInvalid(Parse(R"({"inputs":[],"parameters":{"timeout":1.5}})"), {"\"timeout\""});
  ExpectInvalid(Parse(R"({"inputs":[],"parameters":{"timeout":-5}})"), {"\"timeout\""});
  ExpectInvalid(Parse(R"({"inputs":[],"parameters":{"binary_data_output":1}})"),
                {"\"binary_data_output\" must be a boolean"});
}

TEST(RestParseErrorTest, BadOutputs) {
  ExpectInvalid(Parse(R"({"inputs":[],"outputs":[{"parameters":{}}]})"),
                {"an output has no \"name\""});
  ExpectInvalid(Parse(R"({"inputs":[],"outputs":[{"name":3}]})"),
                {"output \"name\" must be a string"});
  ExpectInvalid(
      Parse(R"({"inputs":[],"outputs":[{"name":"y","parameters":{"binary_data":"yes"}}]})"),
      {"\"binary_data\" must be a boolean"});
  ExpectInvalid(
      Parse(R"({"inputs":[],"outputs":[{"name":"y","parameters":{"classification":0}}]})"),
      {"output 'y'", "\"classification\" must be a number of classes from 1 to 65536"});
  ExpectInvalid(
      Parse(R"({"inputs":[],"outputs":[{"name":"y","parameters":{"classification":"2"}}]})"),
      {"\"classification\""});
  ExpectInvalid(Parse(R"({"inputs":[],"outputs":[{"name":"y","parameters":7}]})"),
                {"output \"parameters\" must be an object"});
}

TEST(RestParseErrorTest, MissingInputFields) {
  ExpectInvalid(Parse(R"({"inputs":[{"datatype":"INT8","shape":[1],"data":[1]}]})"),
                {"an input has no \"name\""});
  ExpectInvalid(Parse(R"({"inputs":[{"name":"img","shape":[1],"data":[1]}]})"),
                {"'img'", "no \"datatype\""});
  ExpectInvalid(Parse(R"({"inputs":[{"name":"img","datatype":"INT8","data":[1]}]})"),
                {"'img'", "no \"shape\""});
  ExpectInvalid(Parse(R"({"inputs":[{"name":"img","datatype":"INT8","shape":[1]}]})"),
                {"'img'", "neither \"data\" nor binary data"});
}

TEST(RestParseErrorTest, WrongInputFieldTypes) {
  ExpectInvalid(Parse(R"({"inputs":[{"name":1,"datatype":"INT8","shape":[1],"data":[1]}]})"),
                {"input \"name\" must be a string"});
  ExpectInvalid(Parse(R"({"inputs":[{"name":"x","datatype":8,"shape":[1],"data":[1]}]})"),
                {"input \"datatype\" must be a string"});
  ExpectInvalid(Parse(OneInput("INT8", "3", "[1,2,3]")), {"\"shape\" must be an array"});
  ExpectInvalid(Parse(OneInput("INT8", "[1.5]", "[1]")), {"non-negative integers"});
  ExpectInvalid(Parse(OneInput("INT8", R"(["1"])", "[1]")), {"non-negative integers"});
  ExpectInvalid(Parse(OneInput("INT8", "[1]", "1")), {"input \"data\" must be an array"});
  ExpectInvalid(Parse(OneInput("INT8", "[1]", R"({"a":1})")), {"input \"data\" must be an array"});
  ExpectInvalid(Parse(R"({"inputs":[{"name":"x","datatype":"INT8","shape":[1],"data":[1],)"
                      R"("parameters":[]}]})"),
                {"input \"parameters\" must be an object"});
}

TEST(RestParseErrorTest, UnknownDatatype) {
  for (std::string_view type : {"FP8", "fp32", "STRING", "TYPE_FP32", ""}) {
    SCOPED_TRACE(type);
    ExpectInvalid(Parse(OneInput(type, "[1]", "[1]")),
                  {StrCat("unknown datatype \"", type, "\""), "BYTES"});
  }
}

TEST(RestParseErrorTest, NegativeDimension) {
  ExpectInvalid(Parse(OneInput("FP32", "[2,-1]", "[1,2]")), {"non-negative"});
}

TEST(RestParseErrorTest, TooManyDimensions) {
  std::string shape = "[";
  for (int i = 0; i < 65; ++i) shape += i ? ",1" : "1";
  shape += "]";
  ExpectInvalid(Parse(OneInput("FP32", shape, "[1]")), {"more than 64 dimensions"});
}

TEST(RestParseErrorTest, TooManyElements) {
  ExpectInvalid(Parse(OneInput("INT32", "[2]", "[1,2,3]")), {"'in0'", "more than the 2 elements"});
  ExpectInvalid(Parse(OneInput("INT32", "[2,1]", "[[1],[2],[3]]")),
                {"'in0'", "more than the 2 elements"});
  ExpectInvalid(Parse(OneInput("INT32", "[0]", "[1]")), {"'in0'", "more than the 0 elements"});
}

TEST(RestParseErrorTest, TooFewElements) {
  ExpectInvalid(Parse(OneInput("FP64", "[4]", "[1,2,3]")),
                {"'in0'", "has 3 elements", "needs 4"});
  ExpectInvalid(Parse(OneInput("BYTES", "[1]", "[]")), {"'in0'", "has 0 elements", "needs 1"});
}

TEST(RestParseErrorTest, WrongElementType) {
  ExpectInvalid(Parse(OneInput("FP32", "[2]", R"([1,"2"])")),
                {"'in0'", "element 1", "expected a number", "FP32"});
  ExpectInvalid(Parse(OneInput("BOOL", "[1]", "[1]")),
                {"'in0'", "element 0", "expected true or false", "BOOL"});
  ExpectInvalid(Parse(OneInput("BYTES", "[1]", "[1]")), {"'in0'", "expected a string", "BYTES"});
  ExpectInvalid(Parse(OneInput("INT32", "[1]", "[1.5]")), {"'in0'", "expected an integer"});
  ExpectInvalid(Parse(OneInput("INT32", "[1]", "[null]")), {"'in0'", "expected an integer"});
  ExpectInvalid(Parse(OneInput("UINT8", "[1]", "[true]")), {"'in0'", "non-negative integer"});
  ExpectInvalid(Parse(OneInput("FP16", "[1]", R"([{}])")), {"'in0'", "expected a number"});
}

TEST(RestParseErrorTest, IntegerOutOfRange) {
  ExpectInvalid(Parse(OneInput("UINT8", "[2]", "[1,300]")),
                {"'in0'", "element 1", "300 is out of range", "UINT8"});
  ExpectInvalid(Parse(OneInput("UINT32", "[1]", "[-1]")),
                {"'in0'", "expected a non-negative integer", "UINT32"});
  ExpectInvalid(Parse(OneInput("UINT32", "[1]", "[4294967296]")), {"4294967296 is out of range"});
  ExpectInvalid(Parse(OneInput("UINT16", "[1]", "[65536]")), {"65536 is out of range"});
  ExpectInvalid(Parse(OneInput("INT8", "[1]", "[128]")), {"128 is out of range", "INT8"});
  ExpectInvalid(Parse(OneInput("INT8", "[1]", "[-129]")), {"-129 is out of range"});
  ExpectInvalid(Parse(OneInput("INT16", "[1]", "[32768]")), {"32768 is out of range"});
  ExpectInvalid(Parse(OneInput("INT32", "[1]", "[-2147483649]")), {"-2147483649 is out of range"});
  ExpectInvalid(Parse(OneInput("INT64", "[1]", "[9223372036854775808]")), {"'in0'"});
  ExpectInvalid(Parse(OneInput("UINT64", "[1]", "[18446744073709551616]")), {"'in0'"});
}

TEST(RestParseErrorTest, ErrorsNameTheInput) {
  const std::string json =
      R"({"inputs":[{"name":"good","datatype":"UINT8","shape":[1],"data":[1]},)"
      R"({"name":"second_one","datatype":"UINT8","shape":[1],"data":[256]}]})";
  ExpectInvalid(Parse(json), {"input 'second_one'", "256"});
}

TEST(RestParseErrorTest, ShapeProductOverflows) {
  ExpectInvalid(Parse(OneInput("UINT8", "[4294967296,4294967296,16]", "[1]")),
                {"'in0'", "more elements"});
  ExpectInvalid(Parse(OneInput("UINT8", "[9223372036854775807,9223372036854775807]", "[1]")),
                {"'in0'", "more elements"});
}

TEST(RestParseErrorTest, HugeShapeWithTinyBodyIsRejectedBeforeAllocating) {
  // A billion FP64 elements would be 8 GB; the body cannot hold that many JSON numbers.
  ExpectInvalid(Parse(OneInput("FP64", "[1000000000]", "[1]")), {"'in0'"});
  ExpectInvalid(Parse(OneInput("BYTES", "[100000,100000]", R"(["a"])")), {"'in0'"});
  // The same data given before the shape (second pass path).
  ExpectInvalid(Parse(R"({"inputs":[{"data":[1],"name":"late","datatype":"FP64",)"
                      R"("shape":[1000000000]}]})"),
                {"'late'"});
  // Binary data: the shape is checked against the body too.
  const std::string json = R"({"inputs":[{"name":"bin","datatype":"FP64","shape":[1000000000],)"
                           R"("parameters":{"binary_data_size":8}}]})";
  InferRequest request;
  ExpectInvalid(Parse(json + std::string(8, '\0'), &request, json.size()), {"'bin'"});
}

TEST(RestParseErrorTest, DataNestedTooDeeply) {
  std::string data(40, '[');
  data += "1";
  data += std::string(40, ']');
  ExpectInvalid(Parse(OneInput("INT8", "[1]", data)), {"'in0'", "nested differently"});
  std::string shape = "[1";
  for (int i = 0; i < 39; ++i) shape += ",1";
  shape += "]";
  ExpectInvalid(Parse(OneInput("INT8", shape, data)), {"'in0'", "nested too deeply"});
}

TEST(RestParseErrorTest, RaggedOrMisnestedData) {
  ExpectInvalid(Parse(OneInput("FP64", "[2,2]", "[[1,2],[3]]")),
                {"'in0'", "nested differently", "level 1 has 1 entries"});
  ExpectInvalid(Parse(OneInput("FP64", "[2,2]", "[[1],[2,3,4]]")), {"'in0'", "nested differently"});
  ExpectInvalid(Parse(OneInput("FP64", "[2,2]", "[[1,2],3,4]")), {"'in0'", "mixes arrays"});
  ExpectInvalid(Parse(OneInput("FP64", "[4]", "[[1,2],[3,4]]")), {"'in0'", "nested differently"});
}

TEST(RestParseErrorTest, DuplicateKeysAndTrailingContent) {
  ExpectInvalid(Parse(R"({"inputs":[{"name":"x","datatype":"UINT8","shape":[2],"data":[1,2],"shape":[3]}]})"),
                {"\"shape\" twice"});
  ExpectInvalid(Parse(R"({"inputs":[]}{"inputs":[1]})"), {"content after the object"});
  ExpectInvalid(Parse(R"({"inputs":[{"name":"x","datatype":"FP32","shape":[1],"data":[1e39]}]})"),
                {"out of range"});
}

// ---------------------------------------------------------------------------------------------
// Encoding

template <typename T>
std::vector<char> RawVec(std::initializer_list<T> values) {
  const std::string raw = Raw<T>(values);
  return std::vector<char>(raw.begin(), raw.end());
}

OutputTensor Output(std::string name, DataType type, std::vector<int64_t> shape,
                    std::vector<char> data, bool binary = false) {
  OutputTensor out;
  out.name = std::move(name);
  out.datatype = type;
  out.shape = std::move(shape);
  out.data = std::move(data);
  out.binary = binary;
  return out;
}

std::string Encode(const InferResponse& response, std::optional<size_t>* header_length) {
  std::string body = "stale";
  EncodeInferResponse(response, &body, header_length);
  return body;
}

TEST(RestEncodeTest, JsonOutputs) {
  InferResponse response;
  response.model_name = "m";
  response.model_version = "3";
  response.id = "req-1";
  response.outputs.push_back(
      Output("y", DataType::kFp32, {1, 3}, RawVec<float>({0.1f, -2.0f, 1e-45f})));
  response.outputs.push_back(Output("b", DataType::kBool, {2}, {1, 0}));
  std::optional<size_t> header_length = 5;
  const std::string body = Encode(response, &header_length);
  EXPECT_FALSE(header_length.has_value());
  EXPECT_EQ(body, R"({"model_name":"m","model_version":"3","id":"req-1","outputs":[)"
                  R"({"name":"y","datatype":"FP32","shape":[1,3],"data":[0.1,-2,1e-45]},)"
                  R"({"name":"b","datatype":"BOOL","shape":[2],"data":[true,false]}]})");
}

TEST(RestEncodeTest, EmptyIdIsOmitted) {
  InferResponse response;
  response.model_name = "m";
  std::optional<size_t> header_length;
  EXPECT_EQ(Encode(response, &header_length),
            R"({"model_name":"m","model_version":"","outputs":[]})");
}

TEST(RestEncodeTest, IntegerExtremes) {
  InferResponse response;
  response.outputs.push_back(Output("u", DataType::kUint64, {1}, RawVec<uint64_t>({UINT64_MAX})));
  response.outputs.push_back(Output("i", DataType::kInt64, {1}, RawVec<int64_t>({INT64_MIN})));
  response.outputs.push_back(Output("s", DataType::kInt8, {2}, RawVec<int8_t>({-128, 127})));
  response.outputs.push_back(Output("w", DataType::kUint16, {1}, RawVec<uint16_t>({65535})));
  std::optional<size_t> header_length;
  const std::string body = Encode(response, &header_length);
  EXPECT_NE(body.find(R"("data":[18446744073709551615])"), std::string::npos) << body;
  EXPECT_NE(body.find(R"("data":[-9223372036854775808])"), std::string::npos) << body;
  EXPECT_NE(body.find(R"("data":[-128,127])"), std::string::npos) << body;
  EXPECT_NE(body.find(R"("data":[65535])"), std::string::npos) << body;
}

TEST(RestEncodeTest, HalfPrecisionOutputsAreWidened) {
  InferResponse response;
  response.outputs.push_back(
      Output("h", DataType::kFp16, {3}, RawVec<uint16_t>({0x3c00, 0xc000, 0x3555})));
  response.outputs.push_back(Output("b", DataType::kBf16, {2}, RawVec<uint16_t>({0x3f80, 0x4049})));
  std::optional<size_t> header_length;
  const std::string body = Encode(response, &header_length);
  // 0x3555 is 0.333251953125 in half precision; as a float its shortest form is 0.33325195.
  EXPECT_NE(body.find(R"("data":[1,-2,0.33325195])"), std::string::npos) << body;
  EXPECT_NE(body.find(R"("data":[1,3.140625])"), std::string::npos) << body;
}

TEST(RestEncodeTest, NonFiniteFloatsBecomeNull) {
  const float inf = std::numeric_limits<float>::infinity();
  const float nan = std::numeric_limits<float>::quiet_NaN();
  InferResponse response;
  response.outputs.push_back(
      Output("f", DataType::kFp32, {4}, RawVec<float>({nan, inf, -inf, 1.5f})));
  response.outputs.push_back(Output("d", DataType::kFp64, {2},
                                    RawVec<double>({-std::numeric_limits<double>::infinity(),
                                                    std::numeric_limits<double>::quiet_NaN()})));
  response.outputs.push_back(Output("h", DataType::kFp16, {2}, RawVec<uint16_t>({0x7c00, 0x7e00})));
  std::optional<size_t> header_length;
  const std::string body = Encode(response, &header_length);
  EXPECT_NE(body.find(R"("data":[null,null,null,1.5])"), std::string::npos) << body;
  EXPECT_NE(body.find(R"("data":[null,null]},{"name":"h")"), std::string::npos) << body;
  EXPECT_NE(body.find(R"("name":"h","datatype":"FP16","shape":[2],"data":[null,null]})"),
            std::string::npos)
      << body;
  EXPECT_EQ(body.find("inf"), std::string::npos) << body;
  EXPECT_EQ(body.find("nan"), std::string::npos) << body;
}

TEST(RestEncodeTest, BytesAreEscaped) {
  std::vector<char> data;
  AppendBytesElement("say \"hi\"", &data);
  AppendBytesElement("back\\slash", &data);
  AppendBytesElement(std::string_view("\n\r\t\x01\x1f\0", 6), &data);
  AppendBytesElement("", &data);
  InferResponse response;
  response.outputs.push_back(Output("t", DataType::kBytes, {4}, data));
  response.model_name = "quote\"model";
  std::optional<size_t> header_length;
  const std::string body = Encode(response, &header_length);
  EXPECT_NE(body.find(R"("model_name":"quote\"model")"), std::string::npos) << body;
  EXPECT_NE(body.find(R"("data":["say \"hi\"","back\\slash","\n\r\t\u0001\u001f\u0000",""])"),
            std::string::npos)
      << body;
}

TEST(RestEncodeTest, TruncatedBytesOutputStillGivesValidJson) {
  std::vector<char> data;
  AppendBytesElement("ok", &data);
  data.push_back(9);  // a partial length prefix
  InferResponse response;
  response.outputs.push_back(Output("t", DataType::kBytes, {2}, data));
  std::optional<size_t> header_length;
  const std::string body = Encode(response, &header_length);
  EXPECT_NE(body.find(R"("data":["ok"]})"), std::string::npos) << body;
}

TEST(RestEncodeTest, BinaryOutputsFollowTheJsonInOrder) {
  InferResponse response;
  response.model_name = "m";
  response.outputs.push_back(Output("a", DataType::kUint8, {3}, {'x', 'y', 'z'}, true));
  response.outputs.push_back(Output("j", DataType::kInt32, {1}, RawVec<int32_t>({5})));
  response.outputs.push_back(Output("b", DataType::kFp32, {1}, RawVec<float>({2.0f}), true));
  std::optional<size_t> header_length;
  const std::string body = Encode(response, &header_length);
  ASSERT_TRUE(header_length.has_value());
  const std::string json = body.substr(0, *header_length);
  EXPECT_EQ(json,
            R"({"model_name":"m","model_version":"","outputs":[)"
            R"({"name":"a","datatype":"UINT8","shape":[3],"parameters":{"binary_data_size":3}},)"
            R"({"name":"j","datatype":"INT32","shape":[1],"data":[5]},)"
            R"({"name":"b","datatype":"FP32","shape":[1],"parameters":{"binary_data_size":4}}]})");
  EXPECT_EQ(body.substr(*header_length), "xyz" + Raw<float>({2.0f}));
}

TEST(RestEncodeTest, EmptyBinaryOutputHasNoHeaderLength) {
  // With no binary bytes at all the body is plain JSON, so no header length is sent.
  InferResponse response;
  response.outputs.push_back(Output("a", DataType::kUint8, {0}, {}, true));
  std::optional<size_t> header_length = 3;
  const std::string body = Encode(response, &header_length);
  EXPECT_FALSE(header_length.has_value());
  EXPECT_NE(body.find(R"("binary_data_size":0)"), std::string::npos) << body;
}

// An encoded output is also a valid request input (same name/datatype/shape/data layout), so
// renaming "outputs" to "inputs" lets the decoder check that every value round-trips.
TEST(RestEncodeTest, EveryDatatypeRoundTripsThroughTheDecoder) {
  InferResponse response;
  response.outputs.push_back(Output("bool", DataType::kBool, {2}, {1, 0}));
  response.outputs.push_back(Output("u8", DataType::kUint8, {2}, RawVec<uint8_t>({0, 255})));
  response.outputs.push_back(Output("u16", DataType::kUint16, {1}, RawVec<uint16_t>({65535})));
  response.outputs.push_back(Output("u32", DataType::kUint32, {1}, RawVec<uint32_t>({UINT32_MAX})));
  response.outputs.push_back(Output("u64", DataType::kUint64, {1}, RawVec<uint64_t>({UINT64_MAX})));
  response.outputs.push_back(Output("i8", DataType::kInt8, {2}, RawVec<int8_t>({-128, 127})));
  response.outputs.push_back(Output("i16", DataType::kInt16, {1}, RawVec<int16_t>({-32768})));
  response.outputs.push_back(Output("i32", DataType::kInt32, {1}, RawVec<int32_t>({INT32_MIN})));
  response.outputs.push_back(
      Output("i64", DataType::kInt64, {2}, RawVec<int64_t>({INT64_MIN, INT64_MAX})));
  response.outputs.push_back(
      Output("f16", DataType::kFp16, {4}, RawVec<uint16_t>({0x3555, 0x0001, 0x7bff, 0x8400})));
  response.outputs.push_back(
      Output("bf16", DataType::kBf16, {2}, RawVec<uint16_t>({0x4049, 0x0001})));
  response.outputs.push_back(Output(
      "f32", DataType::kFp32, {2, 3},
      RawVec<float>({0.1f, 1e-45f, 3.4028235e38f, -1.17549435e-38f, 16777217.0f, 1.0f / 3.0f})));
  response.outputs.push_back(
      Output("f64", DataType::kFp64, {3}, RawVec<double>({0.1, 5e-324, 1.7976931348623157e308})));
  std::vector<char> bytes;
  AppendBytesElement("q\"\\\n\x01", &bytes);
  AppendBytesElement("", &bytes);
  response.outputs.push_back(Output("str", DataType::kBytes, {2}, bytes));

  std::optional<size_t> header_length;
  std::string body = Encode(response, &header_length);
  ASSERT_FALSE(header_length.has_value());
  const size_t at = body.find("\"outputs\"");
  ASSERT_NE(at, std::string::npos);
  body.replace(at, 9, "\"inputs\"");

  InferRequest request;
  const absl::Status status = Parse(body, &request);
  ASSERT_TRUE(status.ok()) << status << "\n" << body;
  ASSERT_EQ(request.inputs.size(), response.outputs.size());
  for (size_t i = 0; i < response.outputs.size(); ++i) {
    const OutputTensor& out = response.outputs[i];
    const InputTensor& in = request.inputs[i];
    SCOPED_TRACE(out.name);
    EXPECT_EQ(in.name, out.name);
    EXPECT_EQ(in.datatype, out.datatype);
    EXPECT_EQ(in.shape, out.shape);
    EXPECT_EQ(in.data, std::string_view(out.data.data(), out.data.size()));
  }
}

TEST(RestEncodeTest, ShortestFloatForm) {
  InferResponse response;
  response.outputs.push_back(
      Output("f", DataType::kFp32, {3}, RawVec<float>({0.1f, 100.0f, 0.3f})));
  response.outputs.push_back(Output("d", DataType::kFp64, {2}, RawVec<double>({0.1, 1e21})));
  std::optional<size_t> header_length;
  const std::string body = Encode(response, &header_length);
  EXPECT_NE(body.find(R"("data":[0.1,100,0.3])"), std::string::npos) << body;
  EXPECT_NE(body.find(R"("data":[0.1,1e+21])"), std::string::npos) << body;
}

}  // namespace
}  // namespace berth::protocol
