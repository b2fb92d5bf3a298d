// The transition tables of replicas and revisions.
#include "control/states.h"

#include <gtest/gtest.h>

namespace berth::control {
namespace {

using R = ReplicaState;
using V = RevisionStatus;

TEST(StatesTest, NamesRoundTripAndUnknownNamesAreRefused) {
  for (R s : {R::kPending, R::kStarting, R::kReady, R::kDraining, R::kCrashLoopBackOff,
              R::kTerminated, R::kFailed}) {
    EXPECT_EQ(ReplicaStateFromName(Name(s)), s) << Name(s);
  }
  for (V s : {V::kDeploying, V::kReady, V::kFailed, V::kRetired}) {
    EXPECT_EQ(RevisionStatusFromName(Name(s)), s) << Name(s);
  }
  EXPECT_EQ(ReplicaStateFromName("ready"), std::nullopt);
  EXPECT_EQ(RevisionStatusFromName(""), std::nullopt);
}

TEST(StatesTest, AReplicaFollowsItsLifecycle) {
  // Launched, ready, drained, stopped.
  EXPECT_TRUE(Allowed(R::kPending, R::kStarting));
  EXPECT_TRUE(Allowed(R::kStarting, R::kReady));
  EXPECT_TRUE(Allowed(R::kReady, R::kDraining));
  EXPECT_TRUE(Allowed(R::kDraining, R::kTerminated));
  // Crashes and backoff.
  EXPECT_TRUE(Allowed(R::kReady, R::kPending));
  EXPECT_TRUE(Allowed(R::kStarting, R::kCrashLoopBackOff));
  EXPECT_TRUE(Allowed(R::kCrashLoopBackOff, R::kStarting));
  // The driver refused it, or its revision failed.
  EXPECT_TRUE(Allowed(R::kPending, R::kFailed));
  EXPECT_TRUE(Allowed(R::kStarting, R::kFailed));
}

TEST(StatesTest, NoReplicaLeavesAnEndOrSkipsAStep) {
  for (R to : {R::kPending, R::kStarting, R::kReady, R::kDraining, R::kCrashLoopBackOff}) {
    EXPECT_FALSE(Allowed(R::kTerminated, to)) << Name(to);
    EXPECT_FALSE(Allowed(R::kFailed, to)) << Name(to);
  }
  EXPECT_FALSE(Allowed(R::kTerminated, R::kFailed));
  EXPECT_FALSE(Allowed(R::kPending, R::kReady)) << "ready without being started";
  EXPECT_FALSE(Allowed(R::kCrashLoopBackOff, R::kReady));
  EXPECT_FALSE(Allowed(R::kDraining, R::kReady)) << "a draining replica never takes traffic again";
  EXPECT_FALSE(Allowed(R::kDraining, R::kPending));
  EXPECT_FALSE(Allowed(R::kReady, R::kStarting));
  EXPECT_TRUE(IsTerminal(R::kTerminated));
  EXPECT_TRUE(IsTerminal(R::kFailed));
  EXPECT_FALSE(IsTerminal(R::kCrashLoopBackOff));
}

TEST(StatesTest, ARevisionEndsRetiredOrFailed) {
  EXPECT_TRUE(Allowed(V::kDeploying, V::kReady));
  EXPECT_TRUE(Allowed(V::kDeploying, V::kFailed));
  EXPECT_TRUE(Allowed(V::kReady, V::kRetired));
  EXPECT_FALSE(Allowed(V::kFailed, V::kReady));
  EXPECT_FALSE(Allowed(V::kRetired, V::kReady));
  EXPECT_FALSE(Allowed(V::kReady, V::kDeploying));
  EXPECT_FALSE(Allowed(V::kDeploying, V::kRetired));
}

}  // namespace
}  // namespace berth::control
