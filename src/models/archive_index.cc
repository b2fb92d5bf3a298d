#include "models/archive_index.h"

#include <zlib.h>

#include <algorithm>

#include "common/status_macros.h"
#include "common/strings.h"

namespace berth::models {
namespace {

constexpr uint64_t kMaxEntries = 1u << 20;
constexpr uint64_t kMaxCentralDirectoryBytes = 64u << 20;
constexpr uint64_t kMaxTarHeaderDataBytes = 1u << 20;  // GNU long names and pax records
constexpr uint32_t kZipLocalHeader = 0x04034b50;
constexpr uint32_t kZipCentralHeader = 0x02014b50;
constexpr uint32_t kZipEnd = 0x06054b50;
constexpr uint32_t kZip64End = 0x06064b50;
constexpr uint32_t kZip64Locator = 0x07064b50;
constexpr uint64_t kZipEndBytes = 22;
constexpr uint64_t kZip64LocatorBytes = 20;
constexpr uint64_t kTarBlock = 512;

// Little-endian integer of `bytes` bytes at `pos`; the caller has checked the bounds.
uint64_t LittleEndian(std::string_view s, size_t pos, int bytes) {
  uint64_t value = 0;
  for (int i = bytes - 1; i >= 0; --i) value = value << 8 | static_cast<uint8_t>(s[pos + i]);
  return value;
}

absl::Status CorruptZip(std::string_view what) {
  return absl::InvalidArgumentError(StrCat("corrupt ZIP archive: ", what));
}

absl::Status CorruptTar(std::string_view what) {
  return absl::InvalidArgumentError(StrCat("corrupt tar archive: ", what));
}

// Applies a ZIP64 extended-information extra field to the 32-bit fields that overflowed.
absl::Status ApplyZip64Extra(std::string_view extra, ArchiveEntry* entry) {
  while (extra.size() >= 4) {
    const uint64_t id = LittleEndian(extra, 0, 2);
    const uint64_t length = LittleEndian(extra, 2, 2);
    if (length > extra.size() - 4) return CorruptZip("an extra field runs past its entry");
    if (id == 1) {
      std::string_view field = extra.substr(4, length);
      for (uint64_t* value : {&entry->size, &entry->stored_size, &entry->offset}) {
        if (*value != 0xFFFFFFFF) continue;
        if (field.size() < 8) return CorruptZip("a ZIP64 extra field is too short");
        *value = LittleEndian(field, 0, 8);
        field.remove_prefix(8);
      }
    }
    extra.remove_prefix(4 + length);
  }
  return absl::OkStatus();
}

absl::StatusOr<std::string> InflateRaw(std::string_view compressed, uint64_t size) {
  z_stream stream{};
  if (inflateInit2(&stream, -MAX_WBITS) != Z_OK) return absl::InternalError("zlib init failed");
  std::string out(size, '\0');
  stream.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(compressed.data()));
  stream.avail_in = static_cast<uInt>(compressed.size());
  stream.next_out = reinterpret_cast<Bytef*>(out.data());
  stream.avail_out = static_cast<uInt>(size);
  const int rc = inflate(&stream, Z_FINISH);
  const bool complete = rc == Z_STREAM_END && stream.total_out == size;
  inflateEnd(&stream);
  if (!complete) return CorruptZip("a deflated entry does not inflate to its stated size");
  return out;
}

// A NUL-terminated string inside a fixed-width tar header field.
std::string TarString(std::string_view header, size_t pos, size_t width) {
  std::string_view field = header.substr(pos, width);
  return std::string(field.substr(0, std::min(field.find('\0'), field.size())));
}

// A tar number field: octal text, or GNU base-256 when the high bit of the first byte is set.
std::optional<uint64_t> TarNumber(std::string_view field) {
  uint64_t value = 0;
  if (static_cast<uint8_t>(field[0]) & 0x80) {
    value = static_cast<uint8_t>(field[0]) & 0x7F;
    for (size_t i = 1; i < field.size(); ++i) {
      if (value >> 55) return std::nullopt;
      value = value << 8 | static_cast<uint8_t>(field[i]);
    }
    return value;
  }
  size_t i = 0;
  while (i < field.size() && field[i] == ' ') ++i;
  bool digits = false;
  for (; i < field.size() && field[i] >= '0' && field[i] <= '7'; ++i) {
    if (value >> 60) return std::nullopt;
    value = value * 8 + static_cast<uint64_t>(field[i] - '0');
    digits = true;
  }
  if (!digits) return std::nullopt;
  return value;
}

bool TarChecksumMatches(std::string_view header) {
  const std::optional<uint64_t> stored = TarNumber(header.substr(148, 8));
  if (!stored) return false;
  uint64_t unsigned_sum = 0;
  int64_t signed_sum = 0;
  for (size_t i = 0; i < header.size(); ++i) {
    const bool in_field = i >= 148 && i < 156;
    unsigned_sum += in_field ? ' ' : static_cast<uint8_t>(header[i]);
    signed_sum += in_field ? ' ' : static_cast<signed char>(header[i]);
  }
  return *stored == unsigned_sum || static_cast<int64_t>(*stored) == signed_sum;
}

// The `path` record of a pax extended header ("LEN path=VALUE\n" records), if present.
std::optional<std::string> PaxPath(std::string_view records) {
  while (!records.empty()) {
    const size_t space = records.find(' ');
    if (space == std::string_view::npos) return std::nullopt;
    uint64_t record_length = 0;
    for (char c : records.substr(0, space)) {
      if (c < '0' || c > '9' || record_length > records.size()) return std::nullopt;
      record_length = record_length * 10 + static_cast<uint64_t>(c - '0');
    }
    if (record_length <= space + 1 || record_length > records.size()) {
      return std::nullopt;
    }
    std::string_view record = records.substr(space + 1, record_length - space - 2);
    if (record.starts_with("path=")) return std::string(record.substr(5));
    records.remove_prefix(record_length);
  }
  return std::nullopt;
}

}  // namespace

std::optional<ArchiveKind> ArchiveIndex::Sniff(std::string_view head) {
  if (head.starts_with(std::string_view("PK\x03\x04", 4)) ||
      head.starts_with(std::string_view("PK\x05\x06", 4))) {
    return ArchiveKind::kZip;
  }
  if (head.size() >= 263 && head.substr(257, 5) == "ustar") return ArchiveKind::kTar;
  return std::nullopt;
}

absl::StatusOr<ArchiveIndex> ArchiveIndex::Open(const std::filesystem::path& path,
                                                ArchiveKind kind) {
  ASSIGN_OR_RETURN(RandomAccessFile file, RandomAccessFile::Open(path));
  ArchiveIndex index(std::move(file), kind);
  RETURN_IF_ERROR(kind == ArchiveKind::kZip ? index.ListZip() : index.ListTar());
  return index;
}

absl::Status ArchiveIndex::ListZip() {
  const uint64_t file_size = file_.size();
  if (file_size < kZipEndBytes) return CorruptZip("too short for an end-of-directory record");
  const uint64_t tail_length = std::min<uint64_t>(file_size, kZipEndBytes + 0xFFFF);
  const uint64_t tail_start = file_size - tail_length;
  ASSIGN_OR_RETURN(const std::string tail, file_.ReadExact(tail_start, tail_length));
  std::optional<size_t> end;
  for (size_t i = tail.size() - kZipEndBytes + 1; i-- > 0;) {
    if (LittleEndian(tail, i, 4) == kZipEnd &&
        i + kZipEndBytes + LittleEndian(tail, i + 20, 2) <= tail.size()) {
      end = i;
      break;
    }
  }
  if (!end) return CorruptZip("no end-of-central-directory record");
  uint64_t count = LittleEndian(tail, *end + 10, 2);
  uint64_t directory_size = LittleEndian(tail, *end + 12, 4);
  uint64_t directory_offset = LittleEndian(tail, *end + 16, 4);
  if (count == 0xFFFF || directory_size == 0xFFFFFFFF || directory_offset == 0xFFFFFFFF) {
    const uint64_t end_pos = tail_start + *end;
    if (end_pos < kZip64LocatorBytes) return CorruptZip("ZIP64 sizes without a ZIP64 locator");
    ASSIGN_OR_RETURN(const std::string locator,
                     file_.ReadExact(end_pos - kZip64LocatorBytes, kZip64LocatorBytes));
    if (LittleEndian(locator, 0, 4) != kZip64Locator) {
      return CorruptZip("ZIP64 sizes without a ZIP64 locator");
    }
    auto record = file_.ReadExact(LittleEndian(locator, 8, 8), 56);
    if (!record.ok() || LittleEndian(*record, 0, 4) != kZip64End) {
      return CorruptZip("the ZIP64 end-of-directory record is missing or outside the file");
    }
    count = LittleEndian(*record, 32, 8);
    directory_size = LittleEndian(*record, 40, 8);
    directory_offset = LittleEndian(*record, 48, 8);
  }
  if (directory_offset > file_size || directory_size > file_size - directory_offset) {
    return CorruptZip(StrCat("the central directory (", directory_size, " bytes at offset ",
                             directory_offset, ") lies outside the file (", file_size, " bytes)"));
  }
  if (directory_size > kMaxCentralDirectoryBytes || count > kMaxEntries) {
    return CorruptZip(StrCat("more than ", kMaxEntries, " entries"));
  }
  ASSIGN_OR_RETURN(const std::string directory, file_.ReadExact(directory_offset, directory_size));
  size_t pos = 0;
  for (uint64_t i = 0; i < count; ++i) {
    if (directory.size() - pos < 46 || LittleEndian(directory, pos, 4) != kZipCentralHeader) {
      return CorruptZip(StrCat("central directory entry ", i, " of ", count, " is malformed"));
    }
    ArchiveEntry entry;
    entry.zip_method = static_cast<uint16_t>(LittleEndian(directory, pos + 10, 2));
    entry.stored_size = LittleEndian(directory, pos + 20, 4);
    entry.size = LittleEndian(directory, pos + 24, 4);
    const uint64_t name_length = LittleEndian(directory, pos + 28, 2);
    const uint64_t extra_length = LittleEndian(directory, pos + 30, 2);
    const uint64_t comment_length = LittleEndian(directory, pos + 32, 2);
    entry.offset = LittleEndian(directory, pos + 42, 4);
    const uint64_t record_length = 46 + name_length + extra_length + comment_length;
    if (record_length > directory.size() - pos) {
      return CorruptZip(StrCat("central directory entry ", i, " runs past the directory"));
    }
    entry.name = directory.substr(pos + 46, name_length);
    RETURN_IF_ERROR(ApplyZip64Extra(
        std::string_view(directory).substr(pos + 46 + name_length, extra_length), &entry));
    // The entry's local header and data must lie before the central directory.
    if (entry.offset > directory_offset || directory_offset - entry.offset < 30 ||
        entry.stored_size > directory_offset - entry.offset - 30) {
      return CorruptZip(StrCat("entry '", entry.name, "' claims ", entry.stored_size,
                               " bytes at offset ", entry.offset,
                               ", beyond the data area of the file (", file_size, " bytes)"));
    }
    entries_.push_back(std::move(entry));
    pos += record_length;
  }
  return absl::OkStatus();
}

absl::Status ArchiveIndex::ListTar() {
  const uint64_t file_size = file_.size();
  uint64_t pos = 0;
  std::optional<std::string> next_name;  // from a GNU long-name or pax header
  while (pos < file_size) {
    if (entries_.size() >= kMaxEntries)
      return CorruptTar(StrCat("more than ", kMaxEntries, " entries"));
    if (file_size - pos < kTarBlock) return CorruptTar(StrCat("ends inside the header at ", pos));
    ASSIGN_OR_RETURN(const std::string header, file_.ReadExact(pos, kTarBlock));
    if (std::all_of(header.begin(), header.end(), [](char c) { return c == '\0'; })) break;
    if (!TarChecksumMatches(header)) {
      return CorruptTar(StrCat("the header at byte ", pos, " fails its checksum"));
    }
    const std::optional<uint64_t> size = TarNumber(header.substr(124, 12));
    const uint64_t data = pos + kTarBlock;
    if (!size || *size > file_size - data) {
      return CorruptTar(StrCat("the entry at byte ", pos, " claims more bytes than the file has"));
    }
    const char type = header[156];
    std::string name;
    if (next_name) {
      name = *std::move(next_name);
      next_name.reset();
    } else {
      name = TarString(header, 0, 100);
      if (header.substr(257, 5) == "ustar") {
        const std::string prefix = TarString(header, 345, 155);
        if (!prefix.empty()) name = StrCat(prefix, "/", name);
      }
    }
    if (type == 'L' || type == 'x') {
      if (*size > kMaxTarHeaderDataBytes) return CorruptTar("an extended header is too large");
      ASSIGN_OR_RETURN(std::string text, file_.ReadExact(data, *size));
      if (type == 'L') {
        next_name = text.substr(0, std::min(text.find('\0'), text.size()));
      } else {
        next_name = PaxPath(text);
      }
    } else if (type == '0' || type == '\0' || type == '7' || type == '5') {
      if (type == '5' && !name.ends_with('/')) name.push_back('/');
      entries_.push_back(ArchiveEntry{
          .name = std::move(name), .offset = data, .stored_size = *size, .size = *size});
    }
    pos = data + (*size + kTarBlock - 1) / kTarBlock * kTarBlock;
  }
  return absl::OkStatus();
}

absl::StatusOr<std::string> ArchiveIndex::Read(const ArchiveEntry& entry, uint64_t max_bytes) {
  if (entry.size > max_bytes) {
    return absl::InvalidArgumentError(
        StrCat("'", entry.name, "' in the archive is larger than ", max_bytes, " bytes"));
  }
  if (kind_ == ArchiveKind::kTar) return file_.ReadExact(entry.offset, entry.size);
  auto local = file_.ReadExact(entry.offset, 30);
  if (!local.ok() || LittleEndian(*local, 0, 4) != kZipLocalHeader) {
    return CorruptZip(StrCat("no local header for '", entry.name, "'"));
  }
  const uint64_t data =
      entry.offset + 30 + LittleEndian(*local, 26, 2) + LittleEndian(*local, 28, 2);
  // Deflate never grows data by more than a few bytes per 16 KiB block.
  if (entry.stored_size > entry.size + entry.size / 64 + 1024) {
    return CorruptZip(StrCat("'", entry.name, "' states an impossible compressed size"));
  }
  auto stored = file_.ReadExact(data, entry.stored_size);
  if (!stored.ok()) return CorruptZip(StrCat("'", entry.name, "': ", Msg(stored.status())));
  if (entry.zip_method == 0) {
    if (entry.stored_size != entry.size) {
      return CorruptZip(StrCat("stored entry '", entry.name, "' has two different sizes"));
    }
    return stored;
  }
  if (entry.zip_method == 8) return InflateRaw(*stored, entry.size);
  return absl::InvalidArgumentError(StrCat("'", entry.name, "' uses ZIP compression method ",
                                           entry.zip_method, ", which berth does not read"));
}

}  // namespace berth::models
