// Converts between the V2 gRPC messages (ModelInferRequest / ModelInferResponse) and berth's
// in-memory InferRequest / InferResponse.
#pragma once

#include "absl/status/status.h"
#include "grpc_service.pb.h"
#include "protocol/infer.h"

namespace berth::protocol {

// Fills `request` from `message`. Raw input contents are referenced, not copied: `message`
// must outlive the request's use.
absl::Status FromGrpcRequest(const inference::ModelInferRequest& message,
                             InferRequest* request);

// Fills `message` from `response`, with all tensors in raw_output_contents.
void ToGrpcResponse(InferResponse&& response, inference::ModelInferResponse* message);

}  // namespace berth::protocol
