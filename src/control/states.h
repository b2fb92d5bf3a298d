// The states of replicas and revisions, and the transitions between them that the controller
// may make. The store keeps the names (ReplicaRecord::state, RevisionRecord::status); the
// controller changes a state only through the table below, so that a move the state machine
// does not have is logged and counted (UnexpectedTransitionCount) instead of passing unseen.
#pragma once

#include <cstdint>
#include <optional>
#include <string_view>

namespace berth::control {

enum class ReplicaState {
  kPending,           // waiting to be launched (new, or after a crash's backoff)
  kStarting,          // launched, not yet ready
  kReady,             // taking traffic
  kDraining,          // out of the routing table, finishing what it has, then stopped
  kCrashLoopBackOff,  // crashed twice or more in a row; launched again after the backoff
  kTerminated,        // stopped on purpose; its row goes once its process is gone
  kFailed,            // could not be launched, or its revision failed
};

enum class RevisionStatus {
  kDeploying,  // its replicas are starting
  kReady,      // all its replicas were ready once: it serves, or served
  kFailed,     // it never became ready (the reason says why)
  kRetired,    // a later revision took over
};

std::string_view Name(ReplicaState state);
std::string_view Name(RevisionStatus status);
std::optional<ReplicaState> ReplicaStateFromName(std::string_view name);
std::optional<RevisionStatus> RevisionStatusFromName(std::string_view name);

// Whether the controller may move a replica or a revision from `from` to `to`. Staying in the
// same state (with another reason) is always allowed.
bool Allowed(ReplicaState from, ReplicaState to);
bool Allowed(RevisionStatus from, RevisionStatus to);

// Terminated and Failed replicas are never supervised again.
bool IsTerminal(ReplicaState state);

// Transitions refused by the table since the process started (each is also logged).
int64_t UnexpectedTransitionCount();
void CountUnexpectedTransition();

}  // namespace berth::control
