// System shared memory (Triton's shared-memory extension): a client on the same host puts
// tensors in a POSIX shared-memory object, registers a region of it by name, and names the
// region in its requests instead of sending the bytes through the socket.
//
// Safety: a region opens only the object the caller names under /dev/shm (a key is "/" and a
// plain name, never a path), opened read-write without creating it. Every read and write
// checks the offset and size against the region and the region against the object's current
// size, and goes through pread/pwrite on the object's descriptor rather than a mapping, so
// that a client that shrinks its object after registering gets an error, never a SIGBUS in
// the worker. A region stays open while a request that uses it runs, even if it is
// unregistered meanwhile.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "protocol/infer.h"

namespace berth::worker {

struct SharedMemoryRegionInfo {
  std::string name;
  std::string key;
  uint64_t offset = 0;
  uint64_t byte_size = 0;
};

class SharedMemoryManager {
 public:
  // The most regions registered at once.
  static constexpr size_t kMaxRegions = 4096;

  SharedMemoryManager() = default;
  SharedMemoryManager(const SharedMemoryManager&) = delete;
  SharedMemoryManager& operator=(const SharedMemoryManager&) = delete;

  // Registers `byte_size` bytes at `offset` of the object `key` as region `name`. Errors:
  // InvalidArgument (a bad name or key, a region past the object's end, a zero size),
  // NotFound (no such object), PermissionDenied, AlreadyExists (the name is taken),
  // ResourceExhausted (kMaxRegions).
  absl::Status Register(const std::string& name, const std::string& key, uint64_t offset,
                        uint64_t byte_size);
  // Unregisters one region, or every region when `name` is empty. NotFound for an unknown name.
  absl::Status Unregister(std::string_view name);
  // One region's status, or every region's (sorted by name) when `name` is empty.
  absl::StatusOr<std::vector<SharedMemoryRegionInfo>> Status(std::string_view name) const;

  // The `ref.byte_size` bytes at `ref.offset` of the region `ref.region`. `tensor` names the
  // input in errors.
  absl::StatusOr<std::vector<char>> Read(const protocol::SharedMemoryRef& ref,
                                         std::string_view tensor) const;
  // Writes `data` at `ref.offset` of the region; it must fit in `ref.byte_size`.
  absl::Status Write(const protocol::SharedMemoryRef& ref, std::string_view tensor,
                     std::span<const char> data) const;

 private:
  struct Region;
  absl::StatusOr<std::shared_ptr<const Region>> Find(const protocol::SharedMemoryRef& ref,
                                                     std::string_view kind,
                                                     std::string_view tensor,
                                                     uint64_t length) const;

  mutable std::mutex mu_;
  std::map<std::string, std::shared_ptr<const Region>, std::less<>> regions_;
};

}  // namespace berth::worker
