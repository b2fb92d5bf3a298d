#include "control/states.h"

#include <atomic>
#include <initializer_list>

namespace berth::control {
namespace {

using R = ReplicaState;
using V = RevisionStatus;

constexpr R kReplicaStates[] = {R::kPending,          R::kStarting,   R::kReady, R::kDraining,
                                R::kCrashLoopBackOff, R::kTerminated, R::kFailed};
constexpr V kRevisionStatuses[] = {V::kDeploying, V::kReady, V::kFailed, V::kRetired};

std::atomic<int64_t> unexpected_transitions{0};

bool In(R state, std::initializer_list<R> states) {
  for (R s : states) {
    if (s == state) return true;
  }
  return false;
}

}  // namespace

std::string_view Name(ReplicaState state) {
  switch (state) {
    case R::kPending: return "Pending";
    case R::kStarting: return "Starting";
    case R::kReady: return "Ready";
    case R::kDraining: return "Draining";
    case R::kCrashLoopBackOff: return "CrashLoopBackOff";
    case R::kTerminated: return "Terminated";
    case R::kFailed: return "Failed";
  }
  return "Unknown";
}

std::string_view Name(RevisionStatus status) {
  switch (status) {
    case V::kDeploying: return "Deploying";
    case V::kReady: return "Ready";
    case V::kFailed: return "Failed";
    case V::kRetired: return "Retired";
  }
  return "Unknown";
}

std::optional<ReplicaState> ReplicaStateFromName(std::string_view name) {
  for (R s : kReplicaStates) {
    if (Name(s) == name) return s;
  }
  return std::nullopt;
}

std::optional<RevisionStatus> RevisionStatusFromName(std::string_view name) {
  for (V s : kRevisionStatuses) {
    if (Name(s) == name) return s;
  }
  return std::nullopt;
}

bool Allowed(ReplicaState from, ReplicaState to) {
  if (from == to) return true;
  switch (from) {
    case R::kPending:
    case R::kCrashLoopBackOff:
      // Launched; refused by the driver; or no longer wanted (it has no process to drain).
      return In(to, {R::kStarting, R::kFailed, R::kTerminated});
    case R::kStarting:
    case R::kReady:
      // Ready; drained; crashed (backoff); stopped; or its revision failed.
      return In(to, {R::kReady, R::kDraining, R::kPending, R::kCrashLoopBackOff,
                     R::kTerminated, R::kFailed});
    case R::kDraining:
      // Its process ended; or its revision failed while it drained.
      return In(to, {R::kTerminated, R::kFailed});
    case R::kTerminated:
    case R::kFailed:
      return false;
  }
  return false;
}

bool Allowed(RevisionStatus from, RevisionStatus to) {
  if (from == to) return true;
  switch (from) {
    case V::kDeploying:
      return to == V::kReady || to == V::kFailed;
    case V::kReady:
      return to == V::kRetired;
    case V::kFailed:
    case V::kRetired:
      return false;
  }
  return false;
}

bool IsTerminal(ReplicaState state) { return state == R::kTerminated || state == R::kFailed; }

int64_t UnexpectedTransitionCount() { return unexpected_transitions.load(); }
void CountUnexpectedTransition() { unexpected_transitions.fetch_add(1); }

}  // namespace berth::control
