// The local placer: what fits beside the reservations, and the refusal that says what is short.
#include "control/placer.h"

#include <gtest/gtest.h>

namespace berth::control {
namespace {

TEST(LocalPlacerTest, FitsWhatIsLeftAndNamesWhatIsShort) {
  const LocalPlacer placer({.cpus = 2, .memory_bytes = 4ull << 30});
  EXPECT_TRUE(placer.Fits({}, {.cpus = 2}).ok());
  EXPECT_TRUE(placer.Fits({.cpus = 1.5}, {.cpus = 0.5}).ok());
  EXPECT_TRUE(placer.Fits({.cpus = 0.1 + 0.2}, {.cpus = 1.7}).ok());  // no rounding trap
  const absl::Status cpu = placer.Fits({.cpus = 1.5}, {.cpus = 1});
  EXPECT_TRUE(absl::IsResourceExhausted(cpu));
  EXPECT_EQ(cpu.message(), "no capacity: 1.5 of 2 CPUs reserved, 1 more asked");
  const absl::Status memory =
      placer.Fits({.memory_bytes = 3ull << 30}, {.memory_bytes = 2ull << 30});
  EXPECT_TRUE(absl::IsResourceExhausted(memory));
  EXPECT_EQ(memory.message(), "no capacity: 3.00 GiB of 4.00 GiB memory reserved, 2.00 GiB more asked");
  // A replica that asks for nothing always fits (it reserves nothing).
  EXPECT_TRUE(placer.Fits({.cpus = 5, .memory_bytes = 9ull << 30}, {}).ok());
}

TEST(LocalPlacerTest, ThisMachineHasSomething) {
  const Resources machine = LocalPlacer::OfThisMachine();
  EXPECT_GE(machine.cpus, 1);
  EXPECT_GT(machine.memory_bytes, 0u);
}

}  // namespace
}  // namespace berth::control
