#include "models/random_access_file.h"

#include "common/strings.h"

namespace berth::models {

absl::StatusOr<RandomAccessFile> RandomAccessFile::Open(const std::filesystem::path& path) {
  std::error_code ec;
  const uint64_t size = std::filesystem::file_size(path, ec);
  if (ec) {
    return absl::InvalidArgumentError(StrCat(path.string(), ": cannot read: ", ec.message()));
  }
  std::ifstream in(path, std::ios::binary);
  if (!in) return absl::InvalidArgumentError(StrCat(path.string(), ": cannot open for reading"));
  return RandomAccessFile(path, std::move(in), size);
}

absl::StatusOr<std::string> RandomAccessFile::ReadUpTo(uint64_t offset, uint64_t length) {
  if (offset >= size_) return std::string();
  if (length > size_ - offset) length = size_ - offset;
  std::string out(length, '\0');
  in_.clear();
  in_.seekg(static_cast<std::streamoff>(offset));
  in_.read(out.data(), static_cast<std::streamsize>(length));
  if (static_cast<uint64_t>(in_.gcount()) != length) {
    return absl::InvalidArgumentError(
        StrCat(path_.string(), ": read failed at byte ", offset, " (file changed while read?)"));
  }
  return out;
}

absl::StatusOr<std::string> RandomAccessFile::ReadExact(uint64_t offset, uint64_t length) {
  if (offset > size_ || length > size_ - offset) {
    return absl::InvalidArgumentError(StrCat(length, " bytes at offset ", offset,
                                             " run past the end of the file (", size_, " bytes)"));
  }
  return ReadUpTo(offset, length);
}

}  // namespace berth::models
