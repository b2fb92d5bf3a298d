#include "worker/shared_memory.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "common/status_macros.h"
#include "common/strings.h"
#include "worker/model_config_loader.h"

namespace berth::worker {

struct SharedMemoryManager::Region {
  SharedMemoryRegionInfo info;
  int fd = -1;
  ~Region() {
    if (fd >= 0) ::close(fd);
  }
};

namespace {

// A key is "/" and a plain name: no further "/", so shm_open can only reach /dev/shm/NAME.
bool IsValidKey(std::string_view key) {
  return key.size() >= 2 && key.size() <= 255 && key[0] == '/' &&
         IsValidModelName(key.substr(1)) && key.find('/', 1) == std::string_view::npos;
}

// offset + length, or false when it overflows.
bool End(uint64_t offset, uint64_t length, uint64_t* end) {
  return !__builtin_add_overflow(offset, length, end);
}

}  // namespace

absl::Status SharedMemoryManager::Register(const std::string& name, const std::string& key,
                                           uint64_t offset, uint64_t byte_size) {
  if (!IsValidModelName(name)) {
    return absl::InvalidArgumentError(StrCat(
        "'", std::string_view(name).substr(0, 128),
        "' is not a valid region name ([A-Za-z0-9_.-], 1 to 128 characters, not starting "
        "with '.')"));
  }
  if (!IsValidKey(key)) {
    return absl::InvalidArgumentError(StrCat(
        "shared-memory key '", std::string_view(key).substr(0, 128),
        "' is not the name of a POSIX shared-memory object: it must be '/' followed by a "
        "plain name ([A-Za-z0-9_.-]), as passed to shm_open"));
  }
  if (byte_size == 0) {
    return absl::InvalidArgumentError(StrCat("region '", name, "' must have a byte_size above 0"));
  }
  uint64_t end = 0;
  if (!End(offset, byte_size, &end)) {
    return absl::InvalidArgumentError(StrCat("region '", name, "': offset + byte_size overflows"));
  }
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (regions_.contains(name)) {
      return absl::AlreadyExistsError(StrCat("a shared-memory region named '", name,
                                             "' is already registered; unregister it first"));
    }
    if (regions_.size() >= kMaxRegions) {
      return absl::ResourceExhaustedError(StrCat("no more than ", kMaxRegions,
                                                 " shared-memory regions may be registered"));
    }
  }
  const int fd = shm_open(key.c_str(), O_RDWR | O_CLOEXEC, 0);
  if (fd < 0) {
    const int error = errno;
    if (error == ENOENT) {
      return absl::NotFoundError(StrCat("no shared-memory object '", key,
                                        "' on this host (create it with shm_open first; shared "
                                        "memory works only with a worker on the same host)"));
    }
    if (error == EACCES) {
      return absl::PermissionDeniedError(
          StrCat("the worker may not open shared-memory object '", key, "' read-write"));
    }
    return absl::InvalidArgumentError(
        StrCat("cannot open shared-memory object '", key, "': ", std::strerror(error)));
  }
  auto region = std::make_shared<Region>();
  region->fd = fd;
  region->info = {name, key, offset, byte_size};
  struct stat st{};
  if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
    return absl::InvalidArgumentError(
        StrCat("shared-memory object '", key, "' is not a regular shared-memory object"));
  }
  if (static_cast<uint64_t>(st.st_size) < end) {
    return absl::InvalidArgumentError(StrCat(
        "region '", name, "' (offset ", offset, ", byte_size ", byte_size,
        ") ends past the end of shared-memory object '", key, "', which has ", st.st_size,
        " bytes"));
  }
  std::lock_guard<std::mutex> lock(mu_);
  if (regions_.size() >= kMaxRegions) {
    return absl::ResourceExhaustedError(
        StrCat("no more than ", kMaxRegions, " shared-memory regions may be registered"));
  }
  if (!regions_.emplace(name, std::move(region)).second) {
    return absl::AlreadyExistsError(StrCat("a shared-memory region named '", name,
                                           "' is already registered; unregister it first"));
  }
  return absl::OkStatus();
}

absl::Status SharedMemoryManager::Unregister(std::string_view name) {
  std::lock_guard<std::mutex> lock(mu_);
  if (name.empty()) {
    regions_.clear();
    return absl::OkStatus();
  }
  auto it = regions_.find(name);
  if (it == regions_.end()) {
    return absl::NotFoundError(
        StrCat("no shared-memory region named '", name.substr(0, 128), "' is registered"));
  }
  regions_.erase(it);
  return absl::OkStatus();
}

absl::StatusOr<std::vector<SharedMemoryRegionInfo>> SharedMemoryManager::Status(
    std::string_view name) const {
  std::lock_guard<std::mutex> lock(mu_);
  std::vector<SharedMemoryRegionInfo> out;
  if (!name.empty()) {
    auto it = regions_.find(name);
    if (it == regions_.end()) {
      return absl::NotFoundError(
          StrCat("no shared-memory region named '", name.substr(0, 128), "' is registered"));
    }
    out.push_back(it->second->info);
    return out;
  }
  for (const auto& [region_name, region] : regions_) out.push_back(region->info);
  return out;
}

absl::StatusOr<std::shared_ptr<const SharedMemoryManager::Region>> SharedMemoryManager::Find(
    const protocol::SharedMemoryRef& ref, std::string_view kind, std::string_view tensor,
    uint64_t length) const {
  std::shared_ptr<const Region> region;
  {
    std::lock_guard<std::mutex> lock(mu_);
    auto it = regions_.find(ref.region);
    if (it == regions_.end()) {
      return absl::InvalidArgumentError(StrCat(kind, " '", tensor, "' names shared-memory region '",
                                               std::string_view(ref.region).substr(0, 128),
                                               "', which is not registered"));
    }
    region = it->second;
  }
  uint64_t end = 0;
  if (!End(ref.offset, length, &end) || end > region->info.byte_size) {
    return absl::InvalidArgumentError(StrCat(
        kind, " '", tensor, "': ", length, " bytes at offset ", ref.offset,
        " do not fit in shared-memory region '", ref.region, "' of ", region->info.byte_size,
        " bytes"));
  }
  // The object may have been shrunk since it was registered.
  struct stat st{};
  uint64_t object_end = 0;
  if (fstat(region->fd, &st) != 0 || !End(region->info.offset, end, &object_end) ||
      static_cast<uint64_t>(st.st_size) < object_end) {
    return absl::FailedPreconditionError(StrCat(
        "shared-memory object '", region->info.key, "' of region '", ref.region,
        "' is smaller than the region now (it was truncated after it was registered); "
        "unregister the region and register it again"));
  }
  return region;
}

absl::StatusOr<std::vector<char>> SharedMemoryManager::Read(const protocol::SharedMemoryRef& ref,
                                                            std::string_view tensor) const {
  ASSIGN_OR_RETURN(auto region, Find(ref, "input", tensor, ref.byte_size));
  std::vector<char> bytes(ref.byte_size);
  const uint64_t base = region->info.offset + ref.offset;
  for (size_t done = 0; done < bytes.size();) {
    const ssize_t n = ::pread(region->fd, bytes.data() + done, bytes.size() - done,
                              static_cast<off_t>(base + done));
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      return absl::FailedPreconditionError(StrCat(
          "input '", tensor, "': reading shared-memory region '", ref.region, "' failed",
          n == 0 ? " (the object was truncated)" : StrCat(": ", std::strerror(errno))));
    }
    done += static_cast<size_t>(n);
  }
  return bytes;
}

absl::Status SharedMemoryManager::Write(const protocol::SharedMemoryRef& ref,
                                        std::string_view tensor,
                                        std::span<const char> data) const {
  if (data.size() > ref.byte_size) {
    return absl::InvalidArgumentError(StrCat(
        "output '", tensor, "' has ", data.size(), " bytes, more than the shared_memory_byte_size ",
        ref.byte_size, " its request gave in region '", ref.region, "'"));
  }
  ASSIGN_OR_RETURN(auto region, Find(ref, "output", tensor, ref.byte_size));
  const uint64_t base = region->info.offset + ref.offset;
  for (size_t done = 0; done < data.size();) {
    const ssize_t n = ::pwrite(region->fd, data.data() + done, data.size() - done,
                               static_cast<off_t>(base + done));
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      return absl::InternalError(StrCat("output '", tensor, "': writing shared-memory region '",
                                        ref.region, "' failed: ", std::strerror(errno)));
    }
    done += static_cast<size_t>(n);
  }
  return absl::OkStatus();
}

}  // namespace berth::worker
