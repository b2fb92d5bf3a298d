// libFuzzer target for the V2 REST request decoder (JSON plus the Triton binary-data
// extension) and, for requests that decode, the response encoder.
//
// Input layout: byte 0 holds flags (bit 0: send an Inference-Header-Content-Length; bit 1: give
// the body buffer spare capacity, so the JSON is parsed in place rather than copied) and, in
// its high nibble, bits 8-11 of the header length; byte 1 holds its low 8 bits. The length is
// taken modulo (body size + 2), so every length up to one past the body is reachable. The rest
// of the input is the HTTP body.

#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>

#include "protocol/infer.h"
#include "protocol/rest_codec.h"

namespace {

using berth::protocol::DataType;
using berth::protocol::ElementCount;
using berth::protocol::ElementSize;
using berth::protocol::InferRequest;
using berth::protocol::InferResponse;
using berth::protocol::OutputTensor;
using berth::protocol::ValidateBytesTensor;

// Echoes each input whose bytes agree with its shape and datatype back as an output, the way a
// backend would produce one, and encodes the response (both JSON and binary forms).
void EncodeEcho(const InferRequest& request) {
  InferResponse response;
  response.model_name = "fuzz";
  response.model_version = "1";
  response.id = request.id;
  bool binary = request.binary_data_output;
  for (const auto& input : request.inputs) {
    uint64_t count = 0;
    if (!ElementCount(input.shape, UINT64_MAX / 16, &count).ok()) continue;
    if (input.datatype == DataType::kBytes) {
      if (!ValidateBytesTensor(input.data, count).ok()) continue;
    } else if (count * ElementSize(input.datatype) != input.data.size()) {
      continue;
    }
    OutputTensor& output = response.outputs.emplace_back();
    output.name = input.name;
    output.datatype = input.datatype;
    output.shape = input.shape;
    output.data.assign(input.data.begin(), input.data.end());
    output.binary = binary;
    binary = !binary;  // alternate so both encodings appear in one response
  }
  std::string body;
  std::optional<size_t> header_length;
  berth::protocol::EncodeInferResponse(response, &body, &header_length);
  // The binary part holds exactly the binary outputs' bytes, and is announced only if non-empty.
  size_t binary_bytes = 0;
  for (const auto& output : response.outputs) {
    if (output.binary) binary_bytes += output.data.size();
  }
  if (header_length.has_value()) {
    if (*header_length > body.size() || body.size() - *header_length != binary_bytes) {
      __builtin_trap();
    }
  } else if (binary_bytes != 0) {
    __builtin_trap();
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 2) return 0;
  const bool send_header_length = (data[0] & 1) != 0;
  const bool padded = (data[0] & 2) != 0;
  const size_t length_bits = (static_cast<size_t>(data[0] >> 4) << 8) | data[1];
  auto body = std::make_shared<std::string>(reinterpret_cast<const char*>(data + 2), size - 2);
  if (padded) {
    body->reserve(body->size() + berth::protocol::kJsonPadding);
  } else {
    body->shrink_to_fit();
  }
  std::optional<size_t> header_length;
  if (send_header_length) header_length = length_bits % (body->size() + 2);
  InferRequest request;
  const absl::Status status = berth::protocol::ParseInferRequest(body, header_length, &request);
  if (status.ok()) EncodeEcho(request);
  return 0;
}
