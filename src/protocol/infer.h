// In-memory inference request and response, shared by the REST and gRPC front ends, the
// batcher and the backends. Tensor bytes are little-endian, row-major; BYTES tensors hold each
// element as a 4-byte little-endian length followed by its bytes (the binary-data layout).
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "protocol/datatype.h"

namespace berth::protocol {

// A tensor kept in a registered system shared-memory region instead of the message (Triton's
// shared-memory extension): the region's name, an offset into it and the tensor's size.
struct SharedMemoryRef {
  std::string region;
  uint64_t offset = 0;
  uint64_t byte_size = 0;
};

// A tensor whose bytes live elsewhere (the request body, a protobuf, `owned`, or a shared
// memory region named by `shared_memory`, read into `owned` before the request is queued).
struct InputTensor {
  std::string name;
  DataType datatype = DataType::kInvalid;
  std::vector<int64_t> shape;
  std::string_view data;  // points into the request's backing buffer or into `owned`
  std::vector<char> owned;  // bytes decoded from JSON or typed gRPC contents
  std::optional<SharedMemoryRef> shared_memory;

  // Stores `bytes` in `owned` and points `data` at them.
  void SetOwned(std::vector<char>&& bytes) {
    owned = std::move(bytes);
    data = std::string_view(owned.data(), owned.size());
  }
};

struct RequestedOutput {
  std::string name;
  std::optional<bool> binary_data;  // Triton binary-data extension, per output
  std::optional<SharedMemoryRef> shared_memory;  // write the output there, not in the answer
  // Triton's classification extension: the top `classification` classes of each batch row, as
  // BYTES "<value>:<index>[:<label>]", instead of the raw tensor (0: the raw tensor).
  uint32_t classification = 0;
};

// The most classes one classification output may ask for.
inline constexpr int64_t kMaxClassification = 1 << 16;

struct InferRequest {
  std::string model_name;
  std::string model_version;  // empty: the server's choice (latest ready)
  std::string id;
  std::vector<InputTensor> inputs;
  std::vector<RequestedOutput> outputs;  // empty: all outputs
  bool binary_data_output = false;       // request-level default for outputs
  uint32_t priority = 0;                 // 0: the model's default level
  uint64_t timeout_us = 0;               // 0: the model's default
  // Keeps whatever `InputTensor::data` points into alive (HTTP body, gRPC message).
  std::shared_ptr<const void> backing;
};

struct OutputTensor {
  std::string name;
  DataType datatype = DataType::kInvalid;
  std::vector<int64_t> shape;
  std::vector<char> data;
  bool binary = false;  // encode as binary data (REST) instead of a JSON array
  // Set once the output has been written to a shared-memory region (`data` is then empty and
  // `shared_memory->byte_size` is the number of bytes written).
  std::optional<SharedMemoryRef> shared_memory;
};

// The most inputs, and the most requested outputs, one request may name: far above any real
// model's, and checked while decoding, before the model's own (smaller) counts are.
inline constexpr size_t kMaxTensorsPerRequest = 1024;

// A worker's HTTP answers carry the rows of the batch the request ran in, for the gateway's
// statistics (the gateway removes it before answering).
inline constexpr char kBatchRowsHeader[] = "Berth-Batch-Rows";
// Set by the gateway on requests it forwards to a replica: the id of the caller's API key, by
// which the replica shares per-caller resources (image_url downloads). A replica trusts it
// only with --trust-caller-header (which the server passes to the replicas it launches).
inline constexpr char kCallerHeader[] = "Berth-Caller";
// Set by the gateway on requests it forwards: how long (microseconds) the request may still
// take before the gateway gives up on it. A worker drops the request unanswered by then from
// its queue (a 504 nobody waits for is work saved); it can only shorten a request's timeout.
inline constexpr char kTimeoutHeader[] = "Berth-Timeout-Us";

struct InferResponse {
  std::string model_name;
  std::string model_version;
  std::string id;
  std::vector<OutputTensor> outputs;
  int64_t batch_rows = 0;  // rows of the batch the request ran in (0: not known)
};

// Product of `shape`, or an error for a negative dimension or an overflow past `limit`.
absl::Status ElementCount(std::span<const int64_t> shape, uint64_t limit, uint64_t* count);

// Checks that `data` is a well-formed serialized BYTES tensor of exactly `count` elements.
absl::Status ValidateBytesTensor(std::string_view data, uint64_t count);

// The elements of a serialized BYTES tensor, as views into `data`; InvalidArgument when it is
// not well formed.
absl::StatusOr<std::vector<std::string_view>> SplitBytesTensor(std::string_view data);
// Calls `visit` with each whole element of length-prefixed BYTES data, in order; an error when
// the data ends inside an element (the elements before it have been visited).
absl::Status ForEachBytesElement(std::string_view data,
                                 const std::function<void(std::string_view)>& visit);

// The shared-memory parameters of an input or output, gathered while decoding it.
struct SharedMemoryParams {
  std::optional<std::string> region;
  std::optional<uint64_t> offset;
  std::optional<uint64_t> byte_size;
};

// Records one tensor parameter in `params` when it is a shared_memory_* one (true), checking
// its type; an unknown shared_memory_* parameter is InvalidArgument naming it. `kind` is
// "input" or "output".
absl::StatusOr<bool> TakeSharedMemoryParameter(std::string_view kind, std::string_view tensor,
                                               std::string_view key,
                                               const std::string* string_value,
                                               const int64_t* int_value,
                                               SharedMemoryParams* params);

// The reference the gathered parameters make, if any: a region needs a byte size (an input's
// or output's bytes are never guessed), and an offset or size without a region is an error.
absl::StatusOr<std::optional<SharedMemoryRef>> SharedMemoryRefFrom(
    std::string_view kind, std::string_view tensor, const SharedMemoryParams& params);

// Appends one BYTES element (length prefix + bytes) to `out`.
void AppendBytesElement(std::string_view element, std::vector<char>* out);

}  // namespace berth::protocol
