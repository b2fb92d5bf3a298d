#include "app/data_dir.h"

#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>

#include "common/strings.h"
#include "spdlog/spdlog.h"

namespace berth::app {

std::string DefaultDataDir() {
  if (const char* xdg = getenv("XDG_DATA_HOME"); xdg && *xdg) return StrCat(xdg, "/berth");
  if (const char* home = getenv("HOME"); home && *home) return StrCat(home, "/.local/share/berth");
  return "berth-data";
}

absl::StatusOr<DataDirLock> DataDirLock::Acquire(const std::string& data_dir) {
  const std::string path = StrCat(data_dir, "/server.lock");
  const int fd = open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
  if (fd < 0) {
    return absl::InternalError(StrCat("cannot open ", path, ": ", strerror(errno)));
  }
  if (flock(fd, LOCK_EX | LOCK_NB) != 0) {
    const int error = errno;
    char pid[32] = {};
    const ssize_t n = pread(fd, pid, sizeof(pid) - 1, 0);
    close(fd);
    if (error != EWOULDBLOCK) {
      return absl::InternalError(StrCat("cannot lock ", path, ": ", strerror(error)));
    }
    std::string holder(pid, n > 0 ? static_cast<size_t>(n) : 0);
    while (!holder.empty() && (holder.back() == '\n' || holder.back() == ' ')) holder.pop_back();
    return absl::FailedPreconditionError(
        StrCat("a berth server", holder.empty() ? "" : StrCat(" (pid ", holder, ")"),
               " uses the data directory ", data_dir));
  }
  // Who holds it, for the next process's message (the lock holds without it).
  const std::string pid = StrCat(getpid(), "\n");
  const bool recorded = ftruncate(fd, 0) == 0 && pwrite(fd, pid.data(), pid.size(), 0) >= 0;
  if (!recorded) spdlog::warn("cannot write the pid into {}: {}", path, strerror(errno));
  return DataDirLock(fd);
}

DataDirLock::~DataDirLock() {
  if (fd_ >= 0) close(fd_);
}

}  // namespace berth::app
