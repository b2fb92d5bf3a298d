// Lists the entries of a ZIP or uncompressed tar archive and reads small ones, so that the
// format detector can look inside TorchScript, SavedModel and MLflow archives. Every size and
// offset the archive states is checked against the file before it is used.
#pragma once

#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "models/random_access_file.h"

namespace berth::models {

enum class ArchiveKind { kZip, kTar };

struct ArchiveEntry {
  std::string name;          // path inside the archive, '/'-separated; directories end in '/'
  uint64_t offset = 0;       // ZIP: offset of the local header; tar: offset of the data
  uint64_t stored_size = 0;  // bytes in the file (compressed size for ZIP)
  uint64_t size = 0;         // bytes once extracted
  uint16_t zip_method = 0;   // ZIP compression method (0 stored, 8 deflate); 0 for tar
};

// The entry list of one archive file. Not thread-safe (reads share one file position).
class ArchiveIndex {
 public:
  // The archive kind the first bytes of a file announce (at least 263 bytes for tar), if any.
  static std::optional<ArchiveKind> Sniff(std::string_view head);

  // Reads the entry list; InvalidArgument naming the problem when the archive is corrupt.
  static absl::StatusOr<ArchiveIndex> Open(const std::filesystem::path& path, ArchiveKind kind);

  ArchiveKind kind() const { return kind_; }
  const std::vector<ArchiveEntry>& entries() const { return entries_; }

  // The extracted content of a file entry no larger than `max_bytes`.
  absl::StatusOr<std::string> Read(const ArchiveEntry& entry, uint64_t max_bytes);

 private:
  ArchiveIndex(RandomAccessFile file, ArchiveKind kind) : file_(std::move(file)), kind_(kind) {}
  absl::Status ListZip();
  absl::Status ListTar();

  RandomAccessFile file_;
  ArchiveKind kind_;
  std::vector<ArchiveEntry> entries_;
};

}  // namespace berth::models
