// Decodes V2 REST inference requests (JSON, optionally followed by Triton binary tensor data)
// and encodes V2 REST inference responses. Every size is checked against the body before any
// allocation it would drive.
#pragma once

#include <cstddef>
#include <memory>
#include <optional>
#include <string>

#include "absl/status/status.h"
#include "protocol/infer.h"

namespace berth::protocol {

// Extra bytes a body buffer should have beyond its size so the JSON parser can read it in
// place (see simdjson's padding rule); bodies without them are copied once.
inline constexpr size_t kJsonPadding = 64;

// Parses `body` into `request`. `header_length` is the value of Inference-Header-Content-Length
// (nullopt: the whole body is JSON). The request keeps `body` alive and its input tensors point
// into it. Model name and version are not touched (they come from the URL).
absl::Status ParseInferRequest(std::shared_ptr<const std::string> body,
                               std::optional<size_t> header_length, InferRequest* request);

// Parses the value of an Inference-Header-Content-Length header.
absl::Status ParseHeaderLength(std::string_view value, size_t body_size, size_t* length);

// Encodes `response`. Outputs flagged `binary` are appended after the JSON and
// `*header_length` is set to the JSON's length; otherwise it is left nullopt.
void EncodeInferResponse(const InferResponse& response, std::string* body,
                         std::optional<size_t>* header_length);

}  // namespace berth::protocol
