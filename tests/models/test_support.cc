#include "tests/models/test_support.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <spawn.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>
#include <zlib.h>

#include <cstring>
#include <fstream>
#include <sstream>
#include <stdexcept>
#include <thread>

#include "common/strings.h"

extern char** environ;

namespace berth::models::testing {
namespace fs = std::filesystem;

TempDir::TempDir() {
  std::string pattern = (fs::temp_directory_path() / "berth-models-XXXXXX").string();
  if (mkdtemp(pattern.data()) == nullptr) throw std::runtime_error("mkdtemp failed");
  path_ = pattern;
}

TempDir::~TempDir() {
  std::error_code ec;
  fs::remove_all(path_, ec);
}

FetchOptions TestFetchOptions(uint64_t max_bytes) {
  FetchOptions options;
  options.max_bytes = max_bytes;
  options.connect_timeout = std::chrono::seconds(5);
  options.total_timeout = std::chrono::seconds(60);
  return options;
}

void WriteFile(const fs::path& path, std::string_view content) {
  fs::create_directories(path.parent_path());
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(content.data(), static_cast<std::streamsize>(content.size()));
  if (!out) throw std::runtime_error("cannot write " + path.string());
}

std::string ReadFile(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream content;
  content << in.rdbuf();
  return content.str();
}

namespace {

void PutLe(std::string* out, uint64_t value, int bytes) {
  for (int i = 0; i < bytes; ++i) out->push_back(static_cast<char>((value >> (8 * i)) & 0xFF));
}

std::string DeflateRaw(std::string_view data) {
  z_stream stream{};
  deflateInit2(&stream, Z_DEFAULT_COMPRESSION, Z_DEFLATED, -MAX_WBITS, 8, Z_DEFAULT_STRATEGY);
  std::string out(deflateBound(&stream, data.size()), '\0');
  stream.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(data.data()));
  stream.avail_in = static_cast<uInt>(data.size());
  stream.next_out = reinterpret_cast<Bytef*>(out.data());
  stream.avail_out = static_cast<uInt>(out.size());
  deflate(&stream, Z_FINISH);
  out.resize(stream.total_out);
  deflateEnd(&stream);
  return out;
}

}  // namespace

std::string MakeZip(const ArchiveFiles& files, bool deflate) {
  std::string archive, directory;
  for (const auto& [name, content] : files) {
    const uint32_t crc = static_cast<uint32_t>(
        crc32(0, reinterpret_cast<const Bytef*>(content.data()), content.size()));
    const std::string stored = deflate ? DeflateRaw(content) : content;
    const uint64_t offset = archive.size();
    // Local header: signature, version, flags, method, time, date, crc, sizes, name, extra.
    PutLe(&archive, 0x04034b50, 4);
    PutLe(&archive, 20, 2);
    PutLe(&archive, 0, 2);
    PutLe(&archive, deflate ? 8 : 0, 2);
    PutLe(&archive, 0, 4);
    PutLe(&archive, crc, 4);
    PutLe(&archive, stored.size(), 4);
    PutLe(&archive, content.size(), 4);
    PutLe(&archive, name.size(), 2);
    PutLe(&archive, 0, 2);
    archive += name;
    archive += stored;
    // Central directory record.
    PutLe(&directory, 0x02014b50, 4);
    PutLe(&directory, 20, 2);
    PutLe(&directory, 20, 2);
    PutLe(&directory, 0, 2);
    PutLe(&directory, deflate ? 8 : 0, 2);
    PutLe(&directory, 0, 4);
    PutLe(&directory, crc, 4);
    PutLe(&directory, stored.size(), 4);
    PutLe(&directory, content.size(), 4);
    PutLe(&directory, name.size(), 2);
    PutLe(&directory, 0, 2);  // extra
    PutLe(&directory, 0, 2);  // comment
    PutLe(&directory, 0, 2);  // disk
    PutLe(&directory, 0, 2);  // internal attributes
    PutLe(&directory, 0, 4);  // external attributes
    PutLe(&directory, offset, 4);
    directory += name;
  }
  const uint64_t directory_offset = archive.size();
  archive += directory;
  PutLe(&archive, 0x06054b50, 4);
  PutLe(&archive, 0, 2);
  PutLe(&archive, 0, 2);
  PutLe(&archive, files.size(), 2);
  PutLe(&archive, files.size(), 2);
  PutLe(&archive, directory.size(), 4);
  PutLe(&archive, directory_offset, 4);
  PutLe(&archive, 0, 2);
  return archive;
}

std::string MakeTar(const ArchiveFiles& files) {
  std::string archive;
  for (const auto& [name, content] : files) {
    std::string header(512, '\0');
    const bool directory = name.ends_with('/');
    name.copy(header.data(), std::min<size_t>(name.size(), 100));
    std::snprintf(header.data() + 100, 8, "%07o", directory ? 0755 : 0644);
    std::snprintf(header.data() + 108, 8, "%07o", 0);
    std::snprintf(header.data() + 116, 8, "%07o", 0);
    std::snprintf(header.data() + 124, 12, "%011llo",
                  static_cast<unsigned long long>(directory ? 0 : content.size()));
    std::snprintf(header.data() + 136, 12, "%011o", 0);
    header[156] = directory ? '5' : '0';
    std::memcpy(header.data() + 257,
                "ustar\0"
                "00",
                8);
    std::memset(header.data() + 148, ' ', 8);
    unsigned sum = 0;
    for (char c : header) sum += static_cast<uint8_t>(c);
    std::snprintf(header.data() + 148, 8, "%06o", sum);
    archive += header;
    if (!directory) {
      archive += content;
      archive.append((512 - content.size() % 512) % 512, '\0');
    }
  }
  archive.append(1024, '\0');
  return archive;
}

absl::StatusOr<std::unique_ptr<ChildProcess>> ChildProcess::Start(
    const std::vector<std::string>& argv, const fs::path& log) {
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, STDOUT_FILENO, log.c_str(),
                                   O_WRONLY | O_CREAT | O_APPEND, 0644);
  posix_spawn_file_actions_adddup2(&actions, STDOUT_FILENO, STDERR_FILENO);
  std::vector<char*> args;
  for (const std::string& arg : argv) args.push_back(const_cast<char*>(arg.c_str()));
  args.push_back(nullptr);
  pid_t pid = 0;
  const int rc = posix_spawnp(&pid, args[0], &actions, nullptr, args.data(), environ);
  posix_spawn_file_actions_destroy(&actions);
  if (rc != 0) {
    return absl::FailedPreconditionError(StrCat("cannot start ", argv[0], ": ", strerror(rc)));
  }
  return std::unique_ptr<ChildProcess>(new ChildProcess(pid));
}

bool ChildProcess::Exited() {
  if (reaped_) return true;
  int status = 0;
  if (waitpid(pid_, &status, WNOHANG) == pid_) {
    reaped_ = true;
    exit_status_ = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  }
  return reaped_;
}

absl::StatusOr<int> ChildProcess::Wait(std::chrono::milliseconds timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (!Exited()) {
    if (std::chrono::steady_clock::now() > deadline) {
      return absl::DeadlineExceededError(StrCat("process ", pid_, " still running"));
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  return exit_status_;
}

ChildProcess::~ChildProcess() {
  if (Exited()) return;
  kill(pid_, SIGTERM);
  if (!Wait(std::chrono::seconds(5)).ok()) {
    kill(pid_, SIGKILL);
    waitpid(pid_, nullptr, 0);
  }
}

namespace {

bool Accepts(int port) {
  const int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return false;
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_port = htons(static_cast<uint16_t>(port));
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  const bool ok = connect(fd, reinterpret_cast<sockaddr*>(&address), sizeof(address)) == 0;
  close(fd);
  return ok;
}

}  // namespace

absl::StatusOr<int> WaitForListeningPort(ChildProcess& process, const fs::path& log,
                                         std::string_view marker,
                                         std::chrono::milliseconds timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  int port = 0;
  while (std::chrono::steady_clock::now() < deadline) {
    if (port == 0) {
      const std::string text = ReadFile(log);
      const size_t at = text.find(marker);
      if (at != std::string::npos) {
        size_t end = at + marker.size();
        while (end < text.size() && text[end] >= '0' && text[end] <= '9') {
          port = port * 10 + (text[end++] - '0');
        }
      }
    }
    if (port > 0 && Accepts(port)) return port;
    if (process.Exited()) {
      return absl::FailedPreconditionError(StrCat("the server exited; its log:\n", ReadFile(log)));
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  return absl::DeadlineExceededError(
      StrCat("the server did not start listening in time; its log:\n", ReadFile(log)));
}

std::string Python3() {
  std::error_code ec;
  return fs::exists("/usr/bin/python3", ec) ? "/usr/bin/python3" : "python3";
}

}  // namespace berth::models::testing
