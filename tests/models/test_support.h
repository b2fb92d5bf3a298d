// Helpers for the models tests: temporary directories, ZIP and tar writers (so tests build
// their own archives, corrupt ones included) and child processes for real local servers.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <filesystem>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "models/model_fetch.h"

namespace berth::models::testing {

// A fresh directory under the system temp dir, removed with everything in it on destruction.
class TempDir {
 public:
  TempDir();
  ~TempDir();
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  const std::filesystem::path& path() const { return path_; }

 private:
  std::filesystem::path path_;
};

// FetchOptions with `max_bytes` and short timeouts for tests.
FetchOptions TestFetchOptions(uint64_t max_bytes);

void WriteFile(const std::filesystem::path& path, std::string_view content);
std::string ReadFile(const std::filesystem::path& path);

using ArchiveFiles = std::vector<std::pair<std::string, std::string>>;  // name, content
// A ZIP archive of `files`, stored (torch.jit.save's way) or deflated.
std::string MakeZip(const ArchiveFiles& files, bool deflate);
// A POSIX ustar archive of `files`; names ending in '/' become directories.
std::string MakeTar(const ArchiveFiles& files);

// A process started for a test; terminated (SIGTERM, then SIGKILL) and reaped on destruction.
class ChildProcess {
 public:
  // Runs argv (argv[0] searched in PATH) with stdout and stderr appended to `log`.
  static absl::StatusOr<std::unique_ptr<ChildProcess>> Start(const std::vector<std::string>& argv,
                                                             const std::filesystem::path& log);
  ~ChildProcess();
  ChildProcess(const ChildProcess&) = delete;
  ChildProcess& operator=(const ChildProcess&) = delete;

  // Waits for the process to exit and returns its exit status; DeadlineExceeded on timeout.
  absl::StatusOr<int> Wait(std::chrono::milliseconds timeout);
  bool Exited();

 private:
  explicit ChildProcess(pid_t pid) : pid_(pid) {}
  pid_t pid_;
  bool reaped_ = false;
  int exit_status_ = -1;
};

// Polls `log` until the process writes `marker` followed by a port number, then polls until
// 127.0.0.1:PORT accepts connections. Fails with the log when the process exits or time runs out.
absl::StatusOr<int> WaitForListeningPort(ChildProcess& process, const std::filesystem::path& log,
                                         std::string_view marker,
                                         std::chrono::milliseconds timeout);

// /usr/bin/python3 where present (the interpreter the integration tests use), else python3.
std::string Python3();

}  // namespace berth::models::testing
