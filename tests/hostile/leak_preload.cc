// A deliberately planted leak for the memory-growth check (tests/hostile/memory_growth_test.py):
// loaded with LD_PRELOAD, it wraps accept() and accept4() and keeps 64 KiB of touched memory
// for every accepted connection, for good. The check must fail against a process that has it;
// that is how the check shows it can fail. Never linked into berth.
#include <dlfcn.h>
#include <sys/socket.h>

#include <cstdlib>
#include <cstring>

namespace {

constexpr size_t kLeakPerConnection = 64 * 1024;

void Leak() {
  void* p = std::malloc(kLeakPerConnection);
  if (p != nullptr) std::memset(p, 0x5a, kLeakPerConnection);  // touched: it counts in RSS
}

}  // namespace

extern "C" int accept(int fd, sockaddr* addr, socklen_t* len) {
  using Fn = int (*)(int, sockaddr*, socklen_t*);
  static Fn real = reinterpret_cast<Fn>(dlsym(RTLD_NEXT, "accept"));
  const int out = real(fd, addr, len);
  if (out >= 0) Leak();
  return out;
}

extern "C" int accept4(int fd, sockaddr* addr, socklen_t* len, int flags) {
  using Fn = int (*)(int, sockaddr*, socklen_t*, int);
  static Fn real = reinterpret_cast<Fn>(dlsym(RTLD_NEXT, "accept4"));
  const int out = real(fd, addr, len, flags);
  if (out >= 0) Leak();
  return out;
}
