// Positioned, bounded reads from a file whose size is known up front: the format detector and
// the archive reader check every offset and length they get from a file against its size.
#pragma once

#include <cstdint>
#include <filesystem>
#include <fstream>
#include <string>

#include "absl/status/statusor.h"

namespace berth::models {

// A read-only file opened once. Not thread-safe (one stream position).
class RandomAccessFile {
 public:
  static absl::StatusOr<RandomAccessFile> Open(const std::filesystem::path& path);

  uint64_t size() const { return size_; }
  const std::filesystem::path& path() const { return path_; }

  // Up to `length` bytes at `offset`; fewer only where the file ends first.
  absl::StatusOr<std::string> ReadUpTo(uint64_t offset, uint64_t length);
  // Exactly `length` bytes at `offset`; InvalidArgument when they run past the end.
  absl::StatusOr<std::string> ReadExact(uint64_t offset, uint64_t length);

 private:
  RandomAccessFile(std::filesystem::path path, std::ifstream in, uint64_t size)
      : path_(std::move(path)), in_(std::move(in)), size_(size) {}

  std::filesystem::path path_;
  std::ifstream in_;
  uint64_t size_;
};

}  // namespace berth::models
