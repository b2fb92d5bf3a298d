// The server's data directory: where it is by default, and the lock that lets one process at
// a time own it (a second server, or `berth admin` while a server runs, would change the
// store behind the first one's in-memory state).
#pragma once

#include <string>

#include "absl/status/statusor.h"

namespace berth::app {

// $XDG_DATA_HOME/berth, else ~/.local/share/berth, else ./berth-data.
std::string DefaultDataDir();

// Holds an exclusive flock on DIR/server.lock for as long as it lives (the kernel drops it
// when the process ends, however it ends). The descriptor is close-on-exec: worker processes
// never inherit it.
class DataDirLock {
 public:
  // FailedPrecondition naming the process that holds it ("a berth server (pid 123) uses
  // DIR") when another one does; Internal when the file cannot be opened.
  static absl::StatusOr<DataDirLock> Acquire(const std::string& data_dir);

  DataDirLock(DataDirLock&& other) noexcept : fd_(other.fd_) { other.fd_ = -1; }
  DataDirLock& operator=(DataDirLock&&) = delete;
  DataDirLock(const DataDirLock&) = delete;
  ~DataDirLock();

 private:
  explicit DataDirLock(int fd) : fd_(fd) {}
  int fd_;
};

}  // namespace berth::app
