// Where a new replica may go, as a seam: a Placer knows what the machine (or, later, each pool
// and node) can hold and decides whether a replica asking for some CPU and memory fits beside
// what the live replicas have reserved. A replica that asks for nothing reserves nothing. The
// controller asks before it creates a replica; one that does not fit waits, with an event that
// says what is short, instead of over-committing the machine silently. The accelerator pools
// extend it with slices.
#pragma once

#include <cstdint>
#include <string>

#include "absl/status/status.h"

namespace berth::control {

struct Resources {
  double cpus = 0;
  uint64_t memory_bytes = 0;

  Resources& operator+=(const Resources& other) {
    cpus += other.cpus;
    memory_bytes += other.memory_bytes;
    return *this;
  }
};

class Placer {
 public:
  virtual ~Placer() = default;
  // OK when a replica asking for `ask` fits beside `reserved`; ResourceExhausted saying what is
  // short otherwise ("no capacity: 2.5 of 2 CPUs reserved, 1 more asked").
  virtual absl::Status Fits(const Resources& reserved, const Resources& ask) const = 0;
};

// One machine: its CPUs and memory (OfThisMachine reads them), or what it is given.
class LocalPlacer final : public Placer {
 public:
  explicit LocalPlacer(Resources capacity) : capacity_(capacity) {}
  // The CPUs this process may run on and the machine's memory (MemTotal).
  static Resources OfThisMachine();
  absl::Status Fits(const Resources& reserved, const Resources& ask) const override;
  const Resources& capacity() const { return capacity_; }

 private:
  const Resources capacity_;
};

}  // namespace berth::control
