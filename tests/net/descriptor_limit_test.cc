#include "net/descriptor_limit.h"

#include <gtest/gtest.h>
#include <sys/resource.h>

namespace berth::net {
namespace {

using std::chrono::milliseconds;

TEST(AcceptBackoffTest, PausesGrowAndASuccessResetsThem) {
  AcceptBackoff backoff("test");
  const auto emfile =
      boost::system::errc::make_error_code(boost::system::errc::too_many_files_open);
  EXPECT_EQ(backoff.Failed(emfile), milliseconds(5));
  EXPECT_EQ(backoff.Failed(emfile), milliseconds(10));
  for (int i = 0; i < 20; ++i) backoff.Failed(emfile);
  EXPECT_EQ(backoff.Failed(emfile), milliseconds(1000));
  backoff.Succeeded();
  EXPECT_EQ(backoff.Failed(emfile), milliseconds(5));
}

TEST(DescriptorLimitTest, TellsTheProcesssOwnShortageFromOtherErrors) {
  using boost::system::errc::make_error_code;
  EXPECT_TRUE(
      IsOutOfDescriptorsOrMemory(make_error_code(boost::system::errc::too_many_files_open)));
  EXPECT_TRUE(IsOutOfDescriptorsOrMemory(
      make_error_code(boost::system::errc::too_many_files_open_in_system)));
  EXPECT_TRUE(IsOutOfDescriptorsOrMemory(make_error_code(boost::system::errc::not_enough_memory)));
  EXPECT_FALSE(
      IsOutOfDescriptorsOrMemory(make_error_code(boost::system::errc::connection_aborted)));
}

TEST(DescriptorLimitTest, ConnectionsLeaveAReserve) {
  rlimit limit{};
  ASSERT_EQ(getrlimit(RLIMIT_NOFILE, &limit), 0);
  const uint64_t soft = RaiseDescriptorLimit();
  EXPECT_GE(soft, static_cast<uint64_t>(limit.rlim_cur));
  const int capped = CappedConnectionLimit(1 << 30, "test");
  EXPECT_LT(static_cast<uint64_t>(capped), soft);
  EXPECT_LE(static_cast<uint64_t>(capped), soft - 256);
  EXPECT_EQ(CappedConnectionLimit(10, "test"), 10);
}

}  // namespace
}  // namespace berth::net
