#include "control/placer.h"

#include <sched.h>

#include <cstdio>
#include <fstream>
#include <sstream>
#include <thread>

#include "common/strings.h"

namespace berth::control {
namespace {

std::string Cpus(double cpus) {
  char text[32];
  std::snprintf(text, sizeof(text), "%g", cpus);
  return text;
}

std::string Gib(uint64_t bytes) {
  return StrCat(Fixed(static_cast<double>(bytes) / (1 << 30), 2), " GiB");
}

}  // namespace

Resources LocalPlacer::OfThisMachine() {
  Resources capacity;
  cpu_set_t set;
  CPU_ZERO(&set);
  capacity.cpus = sched_getaffinity(0, sizeof(set), &set) == 0
                      ? CPU_COUNT(&set)
                      : static_cast<double>(std::thread::hardware_concurrency());
  std::ifstream meminfo("/proc/meminfo");
  std::string line;
  while (std::getline(meminfo, line)) {
    uint64_t kib = 0;
    if (std::sscanf(line.c_str(), "MemTotal: %lu kB", &kib) == 1) {
      capacity.memory_bytes = kib * 1024;
      break;
    }
  }
  return capacity;
}

absl::Status LocalPlacer::Fits(const Resources& reserved, const Resources& ask) const {
  // A small tolerance: 0.1 + 0.2 CPUs fit in 0.3.
  if (ask.cpus > 0 && reserved.cpus + ask.cpus > capacity_.cpus + 1e-9) {
    return absl::ResourceExhaustedError(
        StrCat("no capacity: ", Cpus(reserved.cpus), " of ", Cpus(capacity_.cpus),
               " CPUs reserved, ", Cpus(ask.cpus), " more asked"));
  }
  if (ask.memory_bytes > 0 && capacity_.memory_bytes > 0 &&
      reserved.memory_bytes + ask.memory_bytes > capacity_.memory_bytes) {
    return absl::ResourceExhaustedError(
        StrCat("no capacity: ", Gib(reserved.memory_bytes), " of ", Gib(capacity_.memory_bytes),
               " memory reserved, ", Gib(ask.memory_bytes), " more asked"));
  }
  return absl::OkStatus();
}

}  // namespace berth::control
