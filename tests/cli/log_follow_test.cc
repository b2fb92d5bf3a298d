#include "cli/log_follow.h"

#include "gtest/gtest.h"

namespace berth::cli {
namespace {

using Lines = std::vector<std::string>;

TEST(LogFollowerTest, FirstFetchIsAllNew) {
  LogFollower follower;
  EXPECT_EQ(follower.NewLines("a\nb\n"), (Lines{"a", "b"}));
}

TEST(LogFollowerTest, LaterFetchesYieldOnlyTheNewLines) {
  LogFollower follower;
  follower.NewLines("a\nb\nc\n");
  EXPECT_EQ(follower.NewLines("b\nc\nd\ne\n"), (Lines{"d", "e"}));  // the window moved on
  EXPECT_EQ(follower.NewLines("c\nd\ne\n"), Lines{});               // nothing new
  EXPECT_EQ(follower.NewLines("e\nf\n"), Lines{"f"});               // only one line overlaps
}

TEST(LogFollowerTest, RepeatedLinesAreMatchedAtTheEnd) {
  LogFollower follower;
  follower.NewLines("x\ny\nx\n");
  EXPECT_EQ(follower.NewLines("x\ny\nx\ny\nx\nz\n"), (Lines{"y", "x", "z"}));
}

TEST(LogFollowerTest, NoOverlapMeansAllNew) {
  LogFollower follower;
  follower.NewLines("a\nb\n");
  EXPECT_EQ(follower.NewLines("p\nq\n"), (Lines{"p", "q"}));
}

TEST(LogFollowerTest, MemoryIsBounded) {
  LogFollower follower(/*memory=*/2);
  follower.NewLines("a\nb\nc\n");
  EXPECT_EQ(follower.NewLines("b\nc\nd\n"), Lines{"d"});
}

TEST(ServiceLogFollowerTest, EachReplicaIsFollowedOnItsOwn) {
  ServiceLogFollower follower;
  // The first fetch prints the last line of each replica only.
  EXPECT_EQ(follower.NewLines("[r1] a\n[r1] b\n[r2] p\n[r2] q\n", 1), (Lines{"[r1] b", "[r2] q"}));
  // The next fetch holds more of r1 than the first printed: nothing in it is new but "c".
  EXPECT_EQ(follower.NewLines("[r1] a\n[r1] b\n[r1] c\n[r2] p\n[r2] q\n"), Lines{"[r1] c"});
  EXPECT_EQ(follower.NewLines("[r1] b\n[r1] c\n[r2] q\n[r2] r\n[r3] x\n"),
            (Lines{"[r2] r", "[r3] x"}));
}

}  // namespace
}  // namespace berth::cli
