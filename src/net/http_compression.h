// HTTP content codings (RFC 9110 8.4): request bodies a client sent with
// `Content-Encoding: gzip|deflate`, and responses compressed for a client that sent
// `Accept-Encoding`. Triton's clients compress requests this way
// (`--request-compression-algorithm`) and ask for compressed answers. zlib does the work.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

#include "absl/status/statusor.h"

namespace berth::net {

enum class ContentCoding { kIdentity, kGzip, kDeflate };

// The coding a Content-Encoding value names: empty or "identity" is kIdentity; "gzip",
// "x-gzip" and "deflate" (case-insensitive). Anything else, and a list of several codings, is
// UnsupportedMediaType (415) naming the value and what is accepted.
absl::StatusOr<ContentCoding> ParseContentEncoding(std::string_view value);

// Decodes `body` in `coding`. The decoded body may not exceed `limit` bytes: a body that would
// is PayloadTooLarge (413) as soon as the limit is passed, so a small compressed body cannot
// make the server allocate more than `limit` (a decompression bomb). A body that is not valid
// in its coding, or that has bytes after its end, is InvalidArgument (400).
absl::StatusOr<std::string> Decode(ContentCoding coding, std::string_view body, size_t limit);

// The coding to answer with for an Accept-Encoding value: gzip or deflate when the client
// accepts one (gzip first, q-values respected, "*" counts as gzip), else identity.
ContentCoding ChooseResponseCoding(std::string_view accept_encoding);

// Encodes `body` in `coding` (kIdentity returns it unchanged). Fails only when zlib cannot
// (out of memory, a body over 4 GiB); the caller then answers uncompressed.
absl::StatusOr<std::string> Encode(ContentCoding coding, std::string_view body);

// The Content-Encoding token for a coding ("gzip", "deflate"; empty for identity).
std::string_view CodingName(ContentCoding coding);

}  // namespace berth::net
