#include "routing/routing.h"

#include <random>

namespace berth::routing {

void Endpoint::RecordFailure(int64_t now_ms) {
  if (consecutive_failures_.fetch_add(1, std::memory_order_relaxed) + 1 >= kFailuresToEject) {
    ejected_until_ms_.store(now_ms + kEjectMs);
  }
  CloseIdle();
}

std::unique_ptr<UpstreamConnection> Endpoint::TakeIdle() {
  std::lock_guard lock(mu_);
  if (idle_.empty()) return nullptr;
  auto connection = std::move(idle_.back());
  idle_.pop_back();
  return connection;
}

void Endpoint::ReturnIdle(std::unique_ptr<UpstreamConnection> connection) {
  std::lock_guard lock(mu_);
  if (idle_.size() < 256) {
    connection->reused = true;
    idle_.push_back(std::move(connection));
  }
}

void Endpoint::CloseIdle() {
  std::vector<std::unique_ptr<UpstreamConnection>> closing;
  std::lock_guard lock(mu_);
  closing.swap(idle_);
}

size_t ServiceRoute::ReadyReplicas() const {
  size_t n = 0;
  for (const RevisionRoute& r : revisions) n += r.endpoints.size();
  return n;
}

namespace {

uint64_t DefaultRandom() {
  thread_local std::minstd_rand rng{std::random_device{}()};
  return rng();
}

bool HasCandidate(const RevisionRoute& revision, const Endpoint* exclude) {
  for (const auto& e : revision.endpoints) {
    if (e.get() != exclude) return true;
  }
  return false;
}

}  // namespace

std::shared_ptr<Endpoint> Router::Pick(const ServiceRoute& route, const Endpoint* exclude,
                                       int64_t now_ms, uint64_t (*random)()) {
  if (random == nullptr) random = DefaultRandom;
  // The revision: by weight, among those that have a replica to offer.
  const RevisionRoute* chosen_revision = nullptr;
  uint64_t total = 0;
  for (const RevisionRoute& r : route.revisions) {
    if (r.weight > 0 && HasCandidate(r, exclude)) total += static_cast<uint64_t>(r.weight);
  }
  if (total == 0) return nullptr;
  uint64_t point = route.revisions.size() == 1 ? 0 : random() % total;
  for (const RevisionRoute& r : route.revisions) {
    if (r.weight <= 0 || !HasCandidate(r, exclude)) continue;
    if (point < static_cast<uint64_t>(r.weight)) {
      chosen_revision = &r;
      break;
    }
    point -= static_cast<uint64_t>(r.weight);
  }
  const auto& endpoints = chosen_revision->endpoints;
  // The replica: the pool is the healthy ones, or every one when all are ejected. Counted and
  // indexed in place, so that a pick allocates nothing.
  size_t healthy = 0, any = 0;
  for (const auto& e : endpoints) {
    if (e.get() == exclude) continue;
    ++any;
    if (!e->Ejected(now_ms)) ++healthy;
  }
  const bool only_healthy = healthy > 0;
  const size_t pool = only_healthy ? healthy : any;
  auto nth = [&](size_t n) -> const std::shared_ptr<Endpoint>& {
    for (const auto& e : endpoints) {
      if (e.get() == exclude || (only_healthy && e->Ejected(now_ms))) continue;
      if (n-- == 0) return e;
    }
    return endpoints.front();  // not reached: n < pool
  };
  if (pool == 1) return nth(0);
  const auto& a = nth(random() % pool);
  const auto& b = nth(random() % pool);
  return a->in_flight.load(std::memory_order_relaxed) <= b->in_flight.load(std::memory_order_relaxed)
             ? a
             : b;
}

void Router::CloseIdle() const {
  for (const auto& [name, route] : Snapshot()->services) {
    for (const RevisionRoute& r : route.revisions) {
      for (const auto& endpoint : r.endpoints) endpoint->CloseIdle();
    }
  }
}

}  // namespace berth::routing
