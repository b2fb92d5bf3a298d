// Time as the control plane reads it: wall-clock milliseconds for what people read (records,
// events, charts) and monotonic milliseconds for backoff, timeouts and probe periods, which
// must not jump when the system clock is set. Components take a `const Clock&` so that tests
// drive time with a FakeClock instead of waiting for it.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>

namespace berth {

class Clock {
 public:
  virtual ~Clock() = default;
  // Milliseconds since the Unix epoch.
  virtual int64_t WallMs() const = 0;
  // Milliseconds since an arbitrary start; never goes back.
  virtual int64_t MonotonicMs() const = 0;
};

// The system's clocks. Thread-safe.
class SystemClock final : public Clock {
 public:
  int64_t WallMs() const override {
    return std::chrono::duration_cast<std::chrono::milliseconds>(
               std::chrono::system_clock::now().time_since_epoch())
        .count();
  }
  int64_t MonotonicMs() const override {
    return std::chrono::duration_cast<std::chrono::milliseconds>(
               std::chrono::steady_clock::now().time_since_epoch())
        .count();
  }
};

// The process-wide system clock.
inline const Clock& RealClock() {
  static const SystemClock clock;
  return clock;
}

// Time that moves only when a test moves it; both clocks advance together. Thread-safe.
class FakeClock final : public Clock {
 public:
  explicit FakeClock(int64_t wall_ms = 1'700'000'000'000, int64_t monotonic_ms = 1'000'000)
      : wall_ms_(wall_ms), monotonic_ms_(monotonic_ms) {}
  int64_t WallMs() const override { return wall_ms_.load(); }
  int64_t MonotonicMs() const override { return monotonic_ms_.load(); }
  void Advance(int64_t ms) {
    wall_ms_ += ms;
    monotonic_ms_ += ms;
  }

 private:
  std::atomic<int64_t> wall_ms_;
  std::atomic<int64_t> monotonic_ms_;
};

}  // namespace berth
